"""Search: local full-text search (and, later, SoundTime-compatible Bloom routing and distributed search)."""
