"""Peers: who they are and how to reach them (:mod:`.registry`), when we contact them (:mod:`.contacts`), and what
we tell each other about the rest of the network (:mod:`.exchange`)."""
