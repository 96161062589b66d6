"""Methods AHUNT is measured against: baselines (static, isolation forests), ALOE, the active layer, coniferest's forests."""
