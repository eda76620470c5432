"""Pure planners of federation: each takes state (and the time or randomness it needs) and returns what to do.

No database, no sockets, no tasks: the components that own the state run the I/O the plans ask for, and unit
tests (with hypothesis where a property fits) check the decisions on their own.

- :mod:`.schedule`: back-off after failed contacts, fan-out rotation over online peers.
- :mod:`.learning`: what to take from a peer's list (ids, address hints) and which new ids to register.
- :mod:`.pushes`: catalog push coalescing (one push per peer at a time, requests meanwhile merged).
- :mod:`.transfer`: which bytes of a running transfer a listener may have (the last ones only once verified).
- :mod:`.sources`: remote-track records, source ranking and the recovery walk over a track's sources.
"""
