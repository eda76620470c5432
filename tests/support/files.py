"""What a blob store holds on disk, as tests look at it (the owners' lock files are not data)."""

from __future__ import annotations

import os
from pathlib import Path

from soundtime.blobs.owner import owner_of_lock


def temp_entries(temp_dir: Path) -> list[str]:
    """Names in a store's ``.tmp`` besides the lock files of the processes owning them."""
    return sorted(name for name in os.listdir(temp_dir) if owner_of_lock(name) is None)


def stored_files(root: Path) -> list[Path]:
    """Every file under a store, temp area included, lock files excluded."""
    return sorted(p for p in root.rglob("*") if p.is_file() and owner_of_lock(p.name) is None)
