"""Library sync per peer, as administrators see and steer it: counts, state, and a re-sync with live progress."""
