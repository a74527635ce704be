"""Reading inputs into Arrow batches with stable ids, and writing outputs."""
