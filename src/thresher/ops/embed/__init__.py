"""Embeddings: encoders, the cache, the embed op."""
