"""Selection ops: rebalancing classes, decontamination against eval sets, importance resampling
toward a target (DSIR), influence-based utility for a target set (TRAK)."""
