"""Tracklist input: plain text, CSV and JSON; malformed input names file, line and expectation."""

from __future__ import annotations

import json

import pytest

from underdog.soundtrack.tracklist import (TracklistError, parse_line, parse_time,
                                          read_tracklist)

from .conftest import ROOT

TEXT = """\
# Never Back Down (2008)

00:03:10 The Bravery - Above and Below [film]
Kanye West – Stronger [marketing] [film-only]   # en dash
Wolf Like Me by TV on the Radio [film] 1:12:40
Rise Against — Under the Knife [film, album] (45:07)
12 Stones - Anthem for the Underdog
Ben E. King - Stand by Me [trailer]
"""


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_plain_text_every_form(tmp_path):
    entries = read_tracklist(write(tmp_path, "nbd.txt", TEXT))
    got = [(e.artist, e.title, e.tags, e.time, e.line) for e in entries]
    assert got == [
        ("The Bravery", "Above and Below", ["film"], "00:03:10", 3),
        ("Kanye West", "Stronger", ["marketing", "film-only"], None, 4),
        ("TV on the Radio", "Wolf Like Me", ["film"], "01:12:40", 5),
        ("Rise Against", "Under the Knife", ["film", "album"], "00:45:07", 6),
        ("12 Stones", "Anthem for the Underdog", [], None, 7),
        # a dash wins over " by ": the title keeps its "by"
        ("Ben E. King", "Stand by Me", ["trailer"], None, 8),
    ]


def test_the_example_tracklist_reads():
    entries = read_tracklist(ROOT / "examples" / "tracklists" / "never-back-down-2008.txt")
    assert len(entries) == 10
    stronger = [e for e in entries if e.title == "Stronger"][0]
    assert stronger.artist == "Kanye West" and set(stronger.tags) == {"marketing", "film-only"}
    assert all(e.tags for e in entries)


def test_csv_with_and_without_header(tmp_path):
    with_header = ("artist,title,tags,time\n"
                   "The Bravery,Above and Below,film,00:03:10\n"
                   "Kanye West,Stronger,\"marketing; film-only\",\n"
                   "\"Simon & Garfunkel\",\"Mrs. Robinson\",[trailer] [album],1:02\n")
    entries = read_tracklist(write(tmp_path, "a.csv", with_header))
    assert [(e.artist, e.title, e.tags, e.time_s, e.line) for e in entries] == [
        ("The Bravery", "Above and Below", ["film"], 190.0, 2),
        ("Kanye West", "Stronger", ["marketing", "film-only"], None, 3),
        ("Simon & Garfunkel", "Mrs. Robinson", ["trailer", "album"], 62.0, 4),
    ]
    bare = read_tracklist(write(tmp_path, "b.csv", "Mellowdrone,Orange Marmalade\n"))
    assert (bare[0].artist, bare[0].title, bare[0].tags, bare[0].time_s) == \
        ("Mellowdrone", "Orange Marmalade", [], None)


def test_json_list_and_tracks_object(tmp_path):
    items = [{"artist": "The Cribs", "title": "Be Safe", "tags": ["film"], "time": "0:55:01"},
             {"artist": "TobyMac", "title": "The Slam", "tags": "film film-only", "time": 61}]
    for doc in (items, {"tracks": items}):
        entries = read_tracklist(write(tmp_path, "t.json", json.dumps(doc, indent=2)))
        assert [(e.artist, e.title, e.tags, e.time_s) for e in entries] == [
            ("The Cribs", "Be Safe", ["film"], 3301.0),
            ("TobyMac", "The Slam", ["film", "film-only"], 61.0)]
        assert entries[0].line < entries[1].line


@pytest.mark.parametrize("name,text,line,expect", [
    ("bad.txt", "# header\nThe Bravery - Above and Below\nJust a title here\n", 3,
     "expected 'Artist - Title' or 'Title by Artist'"),
    ("tag.txt", "A - B [film]\nC - D [flim]\n", 2, "unknown tag [flim]"),
    ("time.txt", "A - B\n\nC - D 01:75:00\n", 3, "below 60"),
    ("empty.txt", "A - B\n - Title\n", 2, "expected"),
    ("cols.csv", "artist,title,tags,time\nA,B,film,0:10\nA,B,film,0:10,extra\n", 3,
     "expected 2 to 4 columns"),
    ("tagcsv.csv", "A,B,soundtrack\n", 1, "unknown tag [soundtrack]"),
    ("syntax.json", '[\n {"artist": "A", "title": "B"},\n {"artist": "C" "title": "D"}\n]', 3,
     "invalid JSON"),
    ("item.json", '[\n {"artist": "A", "title": "B"},\n {"artist": "C"}\n]', 3,
     "non-empty string 'artist' and 'title'"),
    ("keys.json", '[\n {"artist": "A", "title": "B", "year": 2008}\n]', 2, "unknown keys"),
])
def test_malformed_input_names_file_and_line(tmp_path, name, text, line, expect):
    p = write(tmp_path, name, text)
    with pytest.raises(TracklistError) as info:
        read_tracklist(p)
    err = info.value
    assert err.line == line
    assert str(err).startswith(f"{p}:{line}: ")
    assert expect in str(err)


def test_unreadable_or_empty_files(tmp_path):
    with pytest.raises(TracklistError, match="cannot read"):
        read_tracklist(tmp_path / "nope.txt")
    with pytest.raises(TracklistError, match="no entries"):
        read_tracklist(write(tmp_path, "c.txt", "# only a comment\n\n"))
    p = tmp_path / "latin1.txt"
    p.write_bytes("Beyonc\xe9 - Halo\n".encode("latin-1"))
    with pytest.raises(TracklistError, match="not UTF-8"):
        read_tracklist(p)


def test_parse_time_and_line_details():
    assert parse_time("1:02:03") == 3723.0 and parse_time("04:05") == 245.0
    with pytest.raises(ValueError):
        parse_time("1:2")
    assert parse_line("   # comment") is None and parse_line("") is None
    # "#1" inside a title is not a comment; " # " is.
    e = parse_line("Garbage - #1 Crush [film] # heard at 1:10")
    assert (e.artist, e.title, e.tags) == ("Garbage", "#1 Crush", ["film"])
