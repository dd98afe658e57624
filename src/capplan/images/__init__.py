"""Product images: one image to its WebP variants (convert), the batch runner (batch), and the
statistics of a converted tree (stats)."""
