"""Process groups, grids, communication logs and launching."""
