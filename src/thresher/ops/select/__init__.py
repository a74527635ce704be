"""Selection ops: rebalancing classes, importance resampling toward a target (DSIR)."""
