"""Model-aware ops: scores from a model's outputs or from a cross-fitted proxy model."""
