"""Selection ops: rebalancing classes."""
