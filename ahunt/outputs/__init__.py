"""Outputs: what a hunt shows: candidate catalogues, contact sheets, latent-space maps, plots and the report."""
