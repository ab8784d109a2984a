"""FR-Train and every baseline, one module each, sharing one estimator shape."""
