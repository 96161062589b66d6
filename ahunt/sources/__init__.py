"""Ingest: where images come in: readers (FITS, image folders, Galaxy10, arrays), stretches, the simulated survey."""
