"""Administration: instance settings and statistics."""
