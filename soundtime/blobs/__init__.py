"""BLAKE3 content-addressed blob storage (see :mod:`soundtime.blobs.store`)."""
