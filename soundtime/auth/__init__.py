"""Accounts: Argon2id passwords, short-lived access tokens, rotating refresh tokens."""
