"""Turn a trained backbone into per-video embeddings and accuracy numbers."""
