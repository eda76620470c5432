"""Backups: a consistent snapshot of an instance (database, audio, covers, keys) taken while it runs, and its
restoration on a fresh data folder with the same node identity."""
