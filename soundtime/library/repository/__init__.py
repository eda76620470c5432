"""All SQL of the library, by role: :mod:`.rows` (the row values lists, details and search read, and their selects),
:mod:`.lists` (keyset pages), :mod:`.details` (one item, rows by ids, covers) and :mod:`.writes` (ingest upserts,
the files a folder import read, upkeep of blobs and covers, deletion)."""
