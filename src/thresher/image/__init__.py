"""Images: safe decoding and the measures taken on each image when it is read."""
