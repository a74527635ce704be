"""Clustering on embeddings: k-means, hierarchical k-means, balanced sampling."""
