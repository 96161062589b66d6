"""Data sources for ahunt: simulated and survey galaxy cutouts."""
