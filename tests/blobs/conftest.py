"""Fixtures for the blob store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from soundtime.blobs.store import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")
