"""Selection ops: rebalancing classes, decontamination against eval sets."""
