"""Our search filter's terms, collected by the database in pieces and finished in Python, are exactly the words of
every track's title, artist and album as SoundTime splits and lower-cases them (real PostgreSQL)."""

from __future__ import annotations

from soundtime.kit.db import Database
from soundtime.library.repository import writes as library
from soundtime.search import repository as repo
from soundtime.search.bloom import add_terms

# Awkward text: other Unicode spaces, runs of spaces, case that PostgreSQL and Rust/Python lower differently
# (dotted capital I, final sigma), one-letter words (kept only when not ASCII), repeated names.
TRACKS = [
    ("Bohemian  Rhapsody", "Queen", "A Night at the Opera"),
    ("İstanbul\u00a0NIGHTS", "ΟΔΟΣ Band", "Tab\tSeparated"),
    ("x é Ω", "Queen", None),
    ("Ünïcödé\u3000Words\u2003here", "The Üml", "A Night at the Opera"),
]


async def _collect(db: Database, batch: int) -> set[str]:
    terms: set[str] = set()
    async with db.transaction() as session:
        async for pieces in repo.stream_library_pieces(session, batch):
            add_terms(terms, pieces)
    return terms


async def test_terms_are_the_words_of_every_track_title_artist_and_album(db: Database) -> None:
    async with db.transaction() as session:
        artists = await library.upsert_artists(session, [artist for _, artist, _ in TRACKS] + ["Nobody Plays"])
        albums = await library.upsert_albums(
            session,
            [library.AlbumValues(album, artists[artist], None, None, None) for _, artist, album in TRACKS if album],
        )
        await library.insert_tracks(
            session,
            [
                {
                    "title": title,
                    "artist_id": artists[artist],
                    "album_id": albums[(album, artists[artist])] if album else None,
                    "duration_secs": 1.0,
                    "format": "flac",
                    "content_hash": f"{index:064x}",
                    "file_size": 1,
                }
                for index, (title, artist, album) in enumerate(TRACKS)
            ],
        )
    expected: set[str] = set()
    add_terms(expected, [text for track in TRACKS for text in track])
    # Python's (and Rust's) lower-casing, not PostgreSQL's
    assert "i̇stanbul" in expected
    assert "οδος" in expected
    assert await _collect(db, batch=3) == expected  # "Nobody Plays" performs no track: not a word of the library
