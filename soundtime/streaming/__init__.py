"""HTTP delivery of audio and cover art, with byte ranges."""
