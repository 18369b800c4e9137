"""Cost models: the exact per-rank communication model (and, later, the calibrated planner)."""
