"""Evaluate: whole hunts on data with known truth, answered by the truth oracle and measured (the demo, experiments)."""
