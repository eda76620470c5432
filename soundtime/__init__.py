"""soundtime: a self-hosted music server that federates over iroh."""

__version__ = "0.1.0"
