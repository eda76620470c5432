"""Credentials for client apps (Subsonic API): per-device app passwords and API keys."""
