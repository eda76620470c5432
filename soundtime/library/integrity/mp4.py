"""MP4 (M4A): top-level atoms, and the atoms mutagen walks and reads."""

from __future__ import annotations

from soundtime.library.integrity.common import _MAX_BOXES, _box_name, _Budget, _corrupt, _Reader, _truncated


def _check_mp4(reader: _Reader) -> None:
    pos, count, names = 0, 0, set[bytes]()
    while pos < reader.size:
        count += 1
        if count > _MAX_BOXES:
            raise _corrupt("the MP4 file has too many top-level atoms")
        head = reader.read_at(pos, 16)
        size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
        if size == 1:
            size, header = int.from_bytes(head[8:16], "big"), 16
        elif size == 0:
            size = reader.size - pos
        if len(head) < header:
            raise _truncated("the MP4 file ends inside an atom header")
        if size < header:
            raise _corrupt(f"the MP4 atom at byte {pos} has an impossible size")
        if pos + size > reader.size:
            raise _truncated(f"the MP4 '{_box_name(kind)}' atom runs past its end")
        names.add(kind)
        pos += size
    if b"moov" not in names:
        raise _corrupt("the MP4 file has no 'moov' atom")
    if b"mdat" not in names:
        raise _corrupt("the MP4 file has no media data")


# -- metadata bounds ----------------------------------------------------------------------------

# The atoms mutagen descends into, and the leaves it reads whole (udta holds the tags).
_MP4_CONTAINERS = frozenset({b"moov", b"udta", b"trak", b"mdia", b"meta", b"ilst", b"stbl", b"minf", b"moof", b"traf"})
_MP4_READ_WHOLE = frozenset({b"udta", b"mvhd", b"mdhd", b"hdlr", b"stsd"})
_MP4_MAX_DEPTH = 32


def _mp4_atom(reader: _Reader, pos: int, *, top: bool) -> tuple[bytes, int, int]:
    """(kind, header length, total size) of the atom at `pos`, as mutagen reads it."""
    head = reader.read_at(pos, 16)
    if len(head) < 8:
        raise _truncated("the MP4 file ends inside an atom header")
    size, kind, header = int.from_bytes(head[:4], "big"), head[4:8], 8
    if size == 1:
        if len(head) < 16:
            raise _truncated("the MP4 file ends inside an atom header")
        size, header = int.from_bytes(head[8:16], "big"), 16
    elif size == 0 and top:
        size = reader.size - pos
    if size < header:
        raise _corrupt(f"the MP4 atom at byte {pos} has an impossible size")
    return kind, header, size


def _measure_mp4(reader: _Reader, budget: _Budget) -> None:
    # Every atom in a container becomes an object in mutagen, and so does each value in a tag item.
    atoms = 0
    # Sibling runs still to walk: (start, end, parent kind, depth, whether inside udta).
    pending: list[tuple[int, int, bytes, int, bool]] = [(0, reader.size, b"", 0, False)]
    while pending:
        pos, end, parent, depth, in_udta = pending.pop()
        top = not parent
        while pos + 8 <= end if top else pos < end:
            atoms += 1
            if atoms > _MAX_BOXES:
                raise _corrupt("the MP4 file has too many atoms")
            kind, header, size = _mp4_atom(reader, pos, top=top)
            if kind in _MP4_READ_WHOLE and not in_udta:
                budget.take(size)
            if kind in _MP4_CONTAINERS and parent != b"item":
                inner, child = kind, pos + header + (4 if kind == b"meta" else 0)
            elif parent == b"ilst":  # a tag item, whose values mutagen parses one by one
                inner, child = b"item", pos + header
            else:
                inner, child = b"", 0
            if inner:
                if depth >= _MP4_MAX_DEPTH:
                    raise _corrupt("the MP4 atoms are nested too deeply")
                pending.append((child, pos + size, inner, depth + 1, in_udta or kind == b"udta"))
            pos += size
