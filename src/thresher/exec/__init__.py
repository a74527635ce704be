"""Executors: the planner, the local process-pool executor, checkpoints and the audit ledger."""
