"""Fuzzing: hostile inputs against the wire codec, peer-message validation, the audio integrity checkers and the
multipart upload parser; cases/s and failures per target.

Run from the repository root:  .venv/bin/python bench/fuzz_bench.py [--cases 100000] [--seed 1]

Each case starts from a valid input (the golden frames of tests/p2p, generated audio files of every format, a
well-formed multipart body) and mutates it: bit flips, random or boundary bytes, inserted, deleted or repeated
slices, truncation, splices of two inputs, or (JSON frames) one value replaced by a hostile one (2^64, -1, 1e308,
100,000 characters, NUL, lone surrogates, wrong types, deep nesting). What counts as a failure:

- **codec** (``wire.decode``): any exception but ``ProtocolError``; a decoded message that does not encode, or
  whose encoding does not decode to the same bytes again (encode . decode is a fixed point after one round);
  ``frame_length`` on any 4-byte prefix: anything but a length within the limit or ``ProtocolError``.
- **validation**: ``announcement_problem`` or ``tidy`` raising, or keeping a track (accepted, then its descriptive
  fields repaired by ``tidy`` as ingest does) whose identifying fields are not strict (hash and cover hash 64
  lowercase hex, origin the sender, 0 <= file size <= 1 TiB, a short alphanumeric format) or whose duration is not
  a finite number of seconds in range, or whose text still holds a NUL;
  ``BloomFilter.from_wire`` raising anything but ``InvalidFilter``; ``direct_address`` raising, or normalising
  to something it does not accept again unchanged.
- **integrity** (``check_stream`` then ``check_metadata`` on the mutated file): anything but ``IncompleteAudio``,
  or one case taking more than 2 s; the unmutated files must pass.
- **multipart** (``receive_files`` over a real Starlette request fed in chunks of random sizes): anything but an
  ``AppError`` with a 4xx status; an unmutated body whose files do not come out with the same names and bytes;
  staged files left behind once every writer is finished or aborted.

``--cases`` is split 40 % codec, 25 % validation, 20 % integrity, 15 % multipart. The last line printed is one JSON
object: cases, cases/s and failures per target and in all (target: 0 failures), with up to 5 examples each
(the case number reproduces it with the same ``--seed``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib  # noqa: F401 - puts the repository on sys.path
from blake3 import blake3
from starlette.requests import Request

from soundtime.blobs.store import BlobStore
from soundtime.kit.errors import AppError
from soundtime.library.integrity import IncompleteAudio, check_metadata, check_stream
from soundtime.library.tags import MAX_DURATION_SECS
from soundtime.library.upload import receive_files
from soundtime.p2p import wire
from soundtime.p2p.transport.addresses import is_node_id
from soundtime.p2p.validation import announcement_problem, direct_address, tidy
from soundtime.search.bloom import BloomFilter, InvalidFilter
from tests.support.audio import EXTENSIONS, FORMATS, AudioFactory, TrackSpec, make_cover_png

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "p2p" / "golden-frames.jsonl"
SHARES = {"codec": 0.40, "validation": 0.25, "integrity": 0.20, "multipart": 0.15}
SLOW_CASE_SECONDS = 2.0
HEX64 = "0123456789abcdef"
_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x5C, 0x0A, 0x0D, 0x2D)


@dataclass
class Outcome:
    """Cases run on one target, how many were refused cleanly, and the failures."""

    cases: int = 0
    refused: int = 0
    failures: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def fail(self, case: int, what: str) -> None:
        self.failures += 1
        if len(self.examples) < 5:
            self.examples.append(f"case {case}: {what[:300]}")

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "refused": self.refused,
            "failures": self.failures,
            "cases_per_s": round(self.cases / self.seconds) if self.seconds else None,
            "examples": self.examples,
        }


# --- mutations -----------------------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """``data`` with 1-4 random byte-level mutations."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(9)
        at = rng.randrange(len(out) + 1)
        if kind == 0 and out:  # flip a bit
            index = min(at, len(out) - 1)
            out[index] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:  # a boundary byte
            out[min(at, len(out) - 1)] = rng.choice(_INTERESTING)
        elif kind == 2:  # insert random bytes
            out[at:at] = rng.randbytes(rng.choice((1, 2, 4, 16, 300)))
        elif kind == 3 and out:  # delete a slice
            del out[at : at + rng.choice((1, 2, 8, 64, 4096))]
        elif kind == 4 and out:  # repeat a slice
            piece = out[at : at + rng.choice((1, 4, 32, 512))]
            out[at:at] = piece * rng.choice((2, 3, 50))
        elif kind == 5:  # truncate
            del out[at:]
        elif kind == 6 and others:  # splice another input in
            other = rng.choice(others)
            start = rng.randrange(len(other) + 1)
            out[at:] = other[start:]
        elif kind == 7 and len(out) >= 4:  # a 32-bit field set to a boundary value
            index = min(at, len(out) - 4)
            out[index : index + 4] = rng.choice((b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"))
        else:  # append junk
            out += rng.randbytes(rng.choice((1, 10, 1000)))
    return bytes(out)


def hostile_value(rng: random.Random) -> Any:
    return rng.choice(
        (
            2**64,
            2**63,
            2**32,
            -1,
            -(2**63) - 1,
            0,
            1e308,
            -0.0,
            1.5,
            True,
            None,
            "",
            "x" * 100_000,
            "a\x00b",
            "\ud800",
            "😀" * 300,
            "FLAC",
            "../../etc/passwd",
            "G" * 64,
            "0" * 63,
            [],
            {},
            [[[[[[[[[[[]]]]]]]]]]],
            {"nested": {"deep": [1, 2, {"x": None}]}},
            "2026-13-45T99:99:99Z",
            "1970-01-01T00:00:00+14:00",
        )
    )


def mutate_json(rng: random.Random, value: Any) -> Any:
    """``value`` (parsed JSON) with one leaf replaced by a hostile value, a key dropped or a key added."""
    if isinstance(value, dict) and value:
        key, roll = rng.choice(list(value)), rng.random()
        if roll < 0.1:
            return {k: v for k, v in value.items() if k != key}
        if roll < 0.15:
            key = rng.choice(("extra", "Ping", key + "_"))
        nested = roll < 0.55 and isinstance(value.get(key), (dict, list)) and value[key]
        return {**value, key: mutate_json(rng, value[key]) if nested else hostile_value(rng)}
    if isinstance(value, list) and value:
        copy, roll = list(value), rng.random()
        if roll < 0.1:
            return copy * rng.choice((2, 100))
        index = rng.randrange(len(value))
        copy[index] = mutate_json(rng, copy[index]) if roll < 0.7 else hostile_value(rng)
        return copy
    return hostile_value(rng)


def _dumps(value: Any) -> bytes:
    """JSON as UTF-8 (lone surrogates escaped: they have no UTF-8 form)."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()


# --- targets -------------------------------------------------------------------------------------------------


def golden_bodies() -> list[bytes]:
    return [json.loads(line)["json"].encode() for line in GOLDEN.read_text().splitlines() if line.strip()]


def _announcements(message: wire.Message) -> list[wire.TrackAnnouncement]:
    if isinstance(message, (wire.CatalogSync, wire.CatalogDelta)):
        return list(message.tracks)
    if isinstance(message, wire.AnnounceTrack):
        return [message.track]
    return []


def run_codec(rng: random.Random, cases: int, seeds: list[bytes], accepted: list[wire.Message]) -> Outcome:
    """Mutated frames through ``wire.decode``; decoded messages must round-trip; ``accepted`` collects them."""
    outcome = Outcome()
    parsed = [json.loads(body) for body in seeds]
    started = time.perf_counter()
    for case in range(cases):
        if case % 10 == 0:
            prefix = rng.randbytes(4)
            try:
                length = wire.frame_length(prefix)
                if not 0 <= length <= wire.MAX_FRAME_SIZE:
                    outcome.fail(case, f"frame_length({prefix.hex()}) = {length}")
            except wire.ProtocolError:
                outcome.refused += 1
            except Exception as error:
                outcome.fail(case, f"frame_length({prefix.hex()}): {error!r}")
            outcome.cases += 1
            continue
        index = rng.randrange(len(seeds))
        body = _dumps(mutate_json(rng, parsed[index])) if rng.random() < 0.5 else mutate(rng, seeds[index], seeds)
        outcome.cases += 1
        try:
            message = wire.decode(body)
        except wire.ProtocolError:
            outcome.refused += 1
            continue
        except Exception as error:
            outcome.fail(case, f"decode raised {error!r} on {body[:120]!r}")
            continue
        try:
            first = wire.encode(message)
            again = wire.encode(wire.decode(first))
        except Exception as error:
            outcome.fail(case, f"a decoded {type(message).__name__} does not round-trip: {error!r}")
            continue
        if first != again:
            outcome.fail(case, f"{type(message).__name__} encodes differently after a round: {first[:80]!r}")
        if len(accepted) < 20_000:
            accepted.append(message)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _is_hex64(value: str) -> bool:
    return len(value) == 64 and all(c in HEX64 for c in value)


def _texts(track: wire.TrackAnnouncement) -> tuple[str | None, ...]:
    return (track.title, track.artist_name, track.album_artist_name, track.album_title, track.genre)


def _strict_problem(track: wire.TrackAnnouncement, sender: str) -> str | None:
    """What is wrong with a kept track (identifying fields strict, descriptive ones repaired), if anything."""
    checks = (
        (_is_hex64(track.hash), f"hash {track.hash[:80]!r}"),
        (track.cover_hash is None or _is_hex64(track.cover_hash), f"cover_hash {str(track.cover_hash)[:80]!r}"),
        (track.origin_node == sender, "origin_node is not the sender"),
        (0 <= track.file_size <= 1 << 40, f"file_size {track.file_size}"),
        (
            1 <= len(track.format) <= 16 and track.format.isascii() and track.format.isalnum(),
            f"format {track.format!r}",
        ),
        (
            math.isfinite(track.duration_secs) and 0 <= track.duration_secs <= MAX_DURATION_SECS,
            f"duration_secs {track.duration_secs}",
        ),
        (not any("\x00" in (text or "") for text in _texts(track)), "a NUL in its text"),
    )
    return next((problem for ok, problem in checks if not ok), None)


def _track_case(rng: random.Random, tracks: list[wire.TrackAnnouncement], outcome: Outcome, case: int) -> None:
    track = rng.choice(tracks)
    sender = track.origin_node if rng.random() < 0.8 else rng.randbytes(32).hex()
    if announcement_problem(track, sender) is not None:
        outcome.refused += 1
    elif (problem := _strict_problem(tidy(track)[0], sender)) is not None:
        outcome.fail(case, f"kept a track with {problem}")


def _bloom_case(rng: random.Random, blooms: list[wire.BloomFilterData], outcome: Outcome) -> None:
    data = rng.choice(blooms)
    fields: list[Any] = [data.bitmap, data.num_hashes, data.bitmap_bits, data.sip_keys, data.item_count]
    position = rng.randrange(5)
    if position == 0:
        fields[0] = mutate(rng, bytes(data.bitmap), [])
    elif position == 3:
        fields[3] = rng.choice(([], [[1, 2]], [[2**64, 0], [0, 0]], [[-1, 0], [0, 0]], [[0, 0]] * 3))
    else:
        fields[position] = rng.choice((0, 1, -1, 2**32, 2**64, 2**64 - 1, 7, len(data.bitmap) * 8 + 1))
    try:
        BloomFilter.from_wire(wire.BloomFilterData(*fields))
    except InvalidFilter:
        outcome.refused += 1


_ADDRESSES = ("127.0.0.1:11204", "[::1]:11204", "192.168.1.20:1", "[fe80::1%eth0]:80", "8.8.8.8:65535")


def _address_case(rng: random.Random, outcome: Outcome, case: int) -> None:
    seeds = [a.encode() for a in _ADDRESSES]
    text = mutate(rng, rng.choice(seeds), seeds).decode("utf-8", "replace")
    is_node_id(text)
    normal = direct_address(text)
    if normal is None:
        outcome.refused += 1
    elif direct_address(normal) != normal:
        outcome.fail(case, f"direct_address({text!r}) = {normal!r}, which it does not accept unchanged")


def run_validation(rng: random.Random, cases: int, messages: list[wire.Message]) -> Outcome:
    """Decoded announcements, Bloom filters and peer addresses through the validators."""
    outcome = Outcome()
    tracks = [t for m in messages for t in _announcements(m)]
    blooms = [m.bloom for m in messages if isinstance(m, wire.BloomExchange)]
    blooms.append(BloomFilter.of_terms(["love", "night", "queen"]).to_wire())
    started = time.perf_counter()
    for case in range(cases):
        outcome.cases += 1
        try:
            if case % 4 <= 1 and tracks:
                _track_case(rng, tracks, outcome, case)
            elif case % 4 == 2:
                _bloom_case(rng, blooms, outcome)
            else:
                _address_case(rng, outcome, case)
        except Exception as error:
            outcome.fail(case, f"raised {error!r}")
    outcome.seconds = time.perf_counter() - started
    return outcome


def audio_seeds(folder: Path) -> list[tuple[str, bytes]]:
    """(format, bytes) of a short tagged file of every format, one with a cover each."""
    factory = AudioFactory(folder)
    cover = make_cover_png(3, size=32)
    seeds = []
    for index, fmt in enumerate(FORMATS):
        spec = TrackSpec(title=f"Fuzz {index}", artist="Fuzz", album="Fuzz", track_number=1, duration=0.5, cover=cover)
        seeds.append((fmt, factory.make(folder / f"seed{EXTENSIONS[fmt]}", fmt, spec).read_bytes()))
    return seeds


def _check(scratch: Path, data: bytes, fmt: str) -> None:
    """The import's checks on ``data`` as a file (the checkers read files, not buffers)."""
    scratch.write_bytes(data)
    with scratch.open("rb") as fileobj:
        check_stream(fileobj, fmt)
        fileobj.seek(0)
        check_metadata(fileobj, fmt, 1 << 20)


def run_integrity(rng: random.Random, cases: int, seeds: list[tuple[str, bytes]], scratch: Path) -> Outcome:
    """Mutated audio files through ``check_stream`` and, when it passes, ``check_metadata``."""
    outcome = Outcome()
    for fmt, data in seeds:  # the unmutated files must pass
        try:
            _check(scratch, data, fmt)
        except Exception as error:
            outcome.fail(-1, f"the unmutated {fmt} file is refused: {error!r}")
    others = [data for _, data in seeds]
    started = time.perf_counter()
    for case in range(cases):
        fmt, data = rng.choice(seeds)
        mutated = mutate(rng, data, others)
        outcome.cases += 1
        began = time.perf_counter()
        try:
            _check(scratch, mutated, fmt)
        except IncompleteAudio:
            outcome.refused += 1
        except Exception as error:
            outcome.fail(case, f"{fmt}: {error!r}")
        if (took := time.perf_counter() - began) > SLOW_CASE_SECONDS:
            outcome.fail(case, f"{fmt}: one check took {took:.1f} s")
    outcome.seconds = time.perf_counter() - started
    return outcome


_NAMES = (
    "song.mp3",
    "Été à Paris.flac",
    "Песня.ogg",
    "夜に駆ける.m4a",
    "emoji 🎵.opus",
    'quote " name.wav',
    "a;b=c.mp3",
)


def multipart_body(rng: random.Random) -> tuple[bytes, str, list[tuple[str, str]]]:
    """(a well-formed body, its boundary, [(file name, BLAKE3 of its bytes)])."""
    boundary = "----fuzz" + rng.randbytes(8).hex()
    parts, files = [], []
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'.encode())
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(_NAMES)
        content = rng.randbytes(rng.choice((0, 1, 100, 5000, 70_000)))
        quoted = name.replace('"', "%22")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
        files.append((name, blake3(content).hexdigest()))  # browsers escape a quote as %22: it comes back
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), boundary, files


def _request(body: bytes, content_type: bytes, rng: random.Random) -> Request:
    sizes = []
    at = 0
    while at < len(body):
        size = rng.choice((1, 7, 100, 4096, 65536))
        sizes.append(body[at : at + size])
        at += size
    chunks = iter(sizes)

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/upload/batch",
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        "query_string": b"",
    }
    return Request(scope, receive)


async def _received(request: Request, store: BlobStore) -> AsyncIterator[tuple[str, str]]:
    async for received in receive_files(request, store, max_file_size=1 << 20, max_files=5):
        try:
            yield received.filename, received.writer.digest()
        finally:
            received.writer.abort()


async def run_multipart(rng: random.Random, cases: int, store: BlobStore) -> Outcome:
    """Mutated multipart bodies through ``receive_files``; a fifth of the cases are left intact."""
    outcome = Outcome()
    started = time.perf_counter()
    for case in range(cases):
        body, boundary, files = multipart_body(rng)
        intact = case % 5 == 0
        content_type = f"multipart/form-data; boundary={boundary}".encode()
        if not intact:
            if rng.random() < 0.1:
                content_type = mutate(rng, content_type, [])
            else:
                body = mutate(rng, body, [])
        outcome.cases += 1
        try:
            got = [item async for item in _received(_request(body, content_type, rng), store)]
        except AppError as error:
            if intact or not 400 <= error.status_code < 500:
                outcome.fail(case, f"{'intact body ' if intact else ''}{error.status_code}: {error}")
            else:
                outcome.refused += 1
            continue
        except Exception as error:
            outcome.fail(case, f"raised {error!r}")
            continue
        if intact and got != files:
            outcome.fail(case, f"an intact body gave {got!r}, not {files!r}")
    staged = store.temp_dir.glob("*.part") if store.temp_dir.exists() else []
    if left := [path.name for path in staged]:  # (a live process's ``.owner`` lock file may stay)
        outcome.fail(-1, f"{len(left)} staged files left behind: {left[:3]}")
    outcome.seconds = time.perf_counter() - started
    return outcome


# --- the run -------------------------------------------------------------------------------------------------


def run(cases: int, seed: int) -> dict[str, Any]:
    counts = {name: round(cases * share) for name, share in SHARES.items()}
    outcomes: dict[str, Outcome] = {}
    accepted: list[wire.Message] = []
    steps: dict[str, Callable[[random.Random], Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="soundtime-fuzz-") as tmp:
        work = Path(tmp)
        seeds = golden_bodies()
        steps["codec"] = lambda rng: run_codec(rng, counts["codec"], seeds, accepted)
        steps["validation"] = lambda rng: run_validation(rng, counts["validation"], accepted)
        audio = audio_seeds(work / "audio")
        steps["integrity"] = lambda rng: run_integrity(rng, counts["integrity"], audio, work / "scratch")
        store = BlobStore(work / "store", fsync=False)
        steps["multipart"] = lambda rng: asyncio.run(run_multipart(rng, counts["multipart"], store))
        for name, step in steps.items():
            outcomes[name] = step(random.Random(f"{seed}-{name}"))
            print(f"{name}: {outcomes[name].figures()}", file=sys.stderr, flush=True)
    total_seconds = sum(o.seconds for o in outcomes.values())
    total_cases = sum(o.cases for o in outcomes.values())
    return {
        "cases": total_cases,
        "cases_per_s": round(total_cases / total_seconds),
        "failures": sum(o.failures for o in outcomes.values()),
        "seed": seed,
        **{name: outcome.figures() for name, outcome in outcomes.items()},
    }


def main() -> None:
    logging.disable(logging.WARNING)  # the multipart parser logs every malformed body it meets
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    print(json.dumps(run(arguments.cases, arguments.seed)))


if __name__ == "__main__":
    main()
