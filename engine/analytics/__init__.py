"""Results: per-step funnels, experiment statistics and the journey report."""
