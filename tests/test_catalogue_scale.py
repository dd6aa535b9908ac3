"""Catalogue-scale queries (bench/scale.py measures them at 1,000,000 rows).

A page of a broad filter in artist order on a large library walks the artist index
instead of reading and sorting every match; the rows must be exactly those of the plain
query. Counts by style + BPM and by status come from the covering index of schema 4.
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from underdog.library.db import open_library

N = 60_000  # above Library._page_index's 50,000-row floor
STYLES = ("heavy", "atmospheric", "hiphop", "indie_synth")


@pytest.fixture(scope="module")
def big_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("scale") / "big.db"
    open_library(db).close()
    con = sqlite3.connect(db)
    now = time.time()
    with con:
        con.executemany(
            "INSERT INTO tracks (path, status, artist, album, track_no, bpm, energy, "
            "style_label, camelot, duration_s, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(f"/c/{i:06d}.mp3", "ok" if i % 50 else "failed", f"Artist {(i * 7919) % 3001}",
              f"Album {i % 13}", i % 12, 60 + (i * 37 % 1300) / 10, (i % 100) / 100,
              STYLES[i % 4] if i % 9 else STYLES[(i // 9) % 4], f"{1 + i % 12}A", 200.0,
              now, now) for i in range(N)])
    con.close()
    return db


def test_page_of_a_broad_filter_walks_the_artist_index_and_matches(big_db):
    with open_library(big_db) as lib:
        sql: list[str] = []
        lib._conn.set_trace_callback(sql.append)
        every = lib.tracks(bpm=(100, 140), style="heavy")
        offsets = (0, 100, 4000)  # the last page is deep: sorting the matches is cheaper
        pages, walked = [], []
        for o in offsets:
            sql.clear()
            pages.append(lib.tracks(bpm=(100, 140), style="heavy", limit=100, offset=o))
            walked.append(any("INDEXED BY tracks_artist" in s for s in sql))
        lib._conn.set_trace_callback(None)
        assert len(every) > 4100
        for o, page in zip(offsets, pages):
            assert [t.id for t in page] == [t.id for t in every[o:o + 100]], o
        assert walked == [True, True, False]
        # a narrow filter keeps the filters' index (walking would read most of the library)
        sql.clear()
        lib._conn.set_trace_callback(sql.append)
        narrow = lib.tracks(bpm=(100, 101), style="heavy", key="1A", limit=10)
        lib._conn.set_trace_callback(None)
        assert not any("INDEXED BY" in s for s in sql)
        assert [t.id for t in narrow] == [t.id for t in lib.tracks(
            bpm=(100, 101), style="heavy", key="1A")][:10]


def test_counts_read_the_covering_index(big_db):
    with open_library(big_db) as lib:
        assert lib.schema_version >= 4
        plan = " ".join(r[3] for r in lib._conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM tracks WHERE status IN ('ok') AND "
            "bpm >= 100 AND bpm <= 140 AND style_label = 'heavy'"))
        assert "COVERING INDEX tracks_style_bpm_status" in plan
        plan = " ".join(r[3] for r in lib._conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM tracks WHERE status = 'ok'"))
        assert "COVERING INDEX" in plan
        assert lib.count() == N - N // 50
        assert lib.count_tracks(bpm=(100, 140), style="heavy") == len(
            lib.tracks(bpm=(100, 140), style="heavy"))


def test_a_counted_page_counts_its_matches_once(big_db):
    """A page with its total (the web's library page, `query_tracks`) counts the matches
    once: the count that chooses the page's index is the total it returns."""
    with open_library(big_db) as lib:
        sql: list[str] = []
        lib._conn.set_trace_callback(sql.append)
        rows, total = lib.page(bpm=(100, 140), style="heavy", limit=100, offset=100)
        lib._conn.set_trace_callback(None)
        assert sum("count(*)" in s for s in sql) == 1, sql
        assert any("INDEXED BY tracks_artist" in s for s in sql)
        assert total == lib.count_tracks(bpm=(100, 140), style="heavy")
        assert [t.id for t in rows] == [t.id for t in lib.tracks(
            bpm=(100, 140), style="heavy", limit=100, offset=100)]
