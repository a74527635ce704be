"""Deduplication ops."""
