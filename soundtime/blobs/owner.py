"""Who owns the temporary files in a store's ``.tmp``: a live process, or nobody any more.

A process writing into a store holds an exclusive ``flock`` on ``.tmp/<owner>.owner`` for as long as it runs,
and names its temporary files after that owner (``<owner>-<random>.part``). The kernel drops the lock when the
process ends, however it ends (``kill -9`` included), so a lock that can be taken marks files nobody will ever
finish: they can go at once, while the files of a live process (the server and a ``soundtime import`` share
the stores) are left alone. The owner is random, so a reused pid cannot make a dead owner look alive.
Worker processes of a folder import write under their parent's owner: their files live as long as the import.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
from pathlib import Path

#: An owner: 16 lowercase hex characters.
OWNER_RE = re.compile(r"\A[0-9a-f]{16}\Z")
_SUFFIX = ".owner"

_lock = threading.Lock()
#: This process's owner per temp folder, and the open lock file that proves it is alive.
_owned: dict[Path, tuple[str, int]] = {}


def _forget_after_fork() -> None:
    """A forked child is not its parent: it gets owners of its own (the parent's locks stay the parent's)."""
    for _, fd in _owned.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _owned.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def lock_path(temp_dir: Path, owner: str) -> Path:
    """The lock file of ``owner`` in ``temp_dir``."""
    return temp_dir / f"{owner}{_SUFFIX}"


def owner_of_lock(name: str) -> str | None:
    """The owner a file name in ``.tmp`` is the lock file of, or None."""
    owner = name.removesuffix(_SUFFIX)
    return owner if name.endswith(_SUFFIX) and OWNER_RE.match(owner) else None


def own(temp_dir: Path) -> str:
    """This process's owner in ``temp_dir``, taking its lock the first time."""
    key = temp_dir.resolve()
    with _lock:
        found = _owned.get(key)
        if found is not None:
            return found[0]
        for _ in range(8):
            owner = secrets.token_hex(8)
            try:
                fd = os.open(lock_path(key, owner), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX)  # a new file nobody else knows: never blocks
            _owned[key] = (owner, fd)
            return owner
        raise OSError(f"could not create an owner lock in {temp_dir}")


def release(temp_dir: Path, owner: str) -> None:
    """Give up ``owner`` in ``temp_dir`` if this process holds it (at a clean exit): its lock file goes, so
    whatever temp files it left are anyone's to remove."""
    key = temp_dir.resolve()
    with _lock:
        found = _owned.get(key)
        if found is None or found[0] != owner:
            return
        del _owned[key]
        lock_path(key, found[0]).unlink(missing_ok=True)
        os.close(found[1])


def is_alive(temp_dir: Path, owner: str) -> bool:
    """Whether the process that owns ``owner``'s files in ``temp_dir`` is still running."""
    key = temp_dir.resolve()
    mine = _owned.get(key)
    if mine is not None and mine[0] == owner:
        return True
    try:
        fd = os.open(lock_path(key, owner), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, if it got one
    return False
