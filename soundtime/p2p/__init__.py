"""Peer-to-peer federation over iroh."""
