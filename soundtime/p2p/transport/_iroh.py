"""The iroh bindings: the only module of the project that imports ``iroh`` (the package takes ``ffi`` from here).

Sending: at import the generated per-byte copy loop of ``_UniffiRustBufferBuilder.write`` is replaced by one
``memmove`` (only while the installed method still has the loop; ``set_send_patch`` toggles it for benchmarks).
``IrohError`` messages are read with ``_message`` (``str()`` of one is empty, note #6).
"""

from __future__ import annotations

import ctypes
import dis
from collections.abc import Callable
from typing import Any

from iroh import iroh_ffi as ffi

__all__ = ["ffi", "send_patch_applied", "set_send_patch"]

# --- send-path patch (note #2) --------------------------------------------------------------------------------

_Builder = ffi._UniffiRustBufferBuilder
_ORIGINAL_WRITE: Callable[[Any, Any], None] = _Builder.write
_WRITE = "write"


def _has_per_byte_loop(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    return "enumerate" in code.co_names and any(op.opname == "FOR_ITER" for op in dis.get_instructions(code))


def _memmove_write(builder: Any, value: Any) -> None:
    """One ``memmove`` into the reserved Rust buffer instead of one Python assignment per byte."""
    if type(value) is not bytes:
        if isinstance(value, bytearray) or (isinstance(value, memoryview) and value.ndim == 1 and value.itemsize == 1):
            value = bytes(value)
        else:
            _ORIGINAL_WRITE(builder, value)
            return
    size = len(value)
    with builder._reserve(size):
        if size:
            base = ctypes.cast(builder.rbuf.data, ctypes.c_void_p).value
            if base is None:
                raise MemoryError("the Rust buffer has no data pointer")
            ctypes.memmove(base + builder.rbuf.len, value, size)


_PATCHABLE = _has_per_byte_loop(_ORIGINAL_WRITE)


def set_send_patch(enabled: bool) -> bool:
    """Install (or remove) the fast send path; returns whether it is active afterwards."""
    setattr(_Builder, _WRITE, _memmove_write if enabled and _PATCHABLE else _ORIGINAL_WRITE)
    return send_patch_applied()


def send_patch_applied() -> bool:
    """Whether sends currently use the single-``memmove`` path."""
    return bool(getattr(_Builder, _WRITE) is _memmove_write)


set_send_patch(True)


def _message(exc: BaseException) -> str:
    """The most specific line of an ``IrohError`` (``str()`` of one is empty, note #6)."""
    if isinstance(exc, ffi.IrohError):
        lines = [line.strip() for line in exc.message().splitlines() if line.strip()]
        return lines[-1] if lines else exc.kind().name.lower()
    return str(exc) or type(exc).__name__
