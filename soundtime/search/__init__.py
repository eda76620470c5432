"""Search: local full-text search, SoundTime-compatible Bloom routing filters, and distributed search."""
