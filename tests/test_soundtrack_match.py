"""Soundtrack matching: normalization rules, verdicts (found / missing / ambiguous), the
film-order playlist, and `underdog soundtrack match` end to end on a real SQLite library of
retagged demo copies (in tmp; examples/library is never written)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import mutagen
import pytest
from typer.testing import CliRunner

from underdog.analysis import TrackAnalysis
from underdog.cli import app
from underdog.export.playlists import read_playlist
from underdog.library.db import open_library
from underdog.library.tags import read_tags
from underdog.soundtrack import (AMBIGUOUS, FOUND, MISSING, LibraryIndex, LibraryItem,
                                 m3u8_lines, match_tracklist, normalize, write_m3u8)
from underdog.soundtrack.match import names_from_path
from underdog.soundtrack.tracklist import TracklistEntry, parse_line

from .conftest import DEMO_LIBRARY, ROOT

NBD = ROOT / "examples" / "tracklists" / "never-back-down-2008.txt"
runner = CliRunner()


def same(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Both sides normalize to the same artist, featured credits, title and markers."""
    na, nb = normalize(*a), normalize(*b)
    assert (na.artist, na.featured, na.title, na.markers) == \
        (nb.artist, nb.featured, nb.title, nb.markers), (na, nb)


# ---------------------------------------------------------------- normalization rules

def test_case_diacritics_punctuation():
    same(("BEYONCÉ", "Déjà Vu"), ("beyonce", "deja vu"))
    same(("Sigur Rós", "Hoppípolla"), ("Sigur Ros", "Hoppipolla"))
    same(("Guns N' Roses", "Sweet Child O' Mine"), ("Guns N Roses", "Sweet Child O Mine"))
    same(("AC/DC", "T.N.T."), ("ac dc", "t n t"))
    assert normalize("Mötley Crüe", "Don't Go Away Mad").title == "dont go away mad"


def test_leading_the():
    same(("The Bravery", "The Ocean"), ("Bravery", "Ocean"))
    # Only a leading "The": inside a name it stays.
    assert normalize("TV on the Radio", "Wolf Like Me").artist == "tv on the radio"


def test_and_ampersand_plus():
    same(("Simon & Garfunkel", "Sound and Vision"), ("Simon and Garfunkel", "Sound & Vision"))
    same(("Florence + The Machine", "Dog Days"), ("Florence and the Machine", "Dog Days"))


@pytest.mark.parametrize("credit", [
    ("Kanye West feat. Chris Martin", "Homecoming"),
    ("Kanye West ft. Chris Martin", "Homecoming"),
    ("Kanye West Featuring Chris Martin", "Homecoming"),
    ("Kanye West With Chris Martin", "Homecoming"),
    ("Kanye West", "Homecoming (feat. Chris Martin)"),   # moved into the title
    ("Kanye West", "Homecoming ft. Chris Martin"),
    ("Kanye West", "Homecoming [featuring Chris Martin]"),
    ("Kanye West", "Homecoming - with Chris Martin"),
])
def test_featured_credit_moves_between_artist_and_title(credit):
    n = normalize(*credit)
    assert (n.artist, n.title, n.featured) == ("kanye west", "homecoming",
                                               frozenset({"chris martin"}))


@pytest.mark.parametrize("suffix", [" - Remastered 2011", " (Remastered 2011)", " (Live)",
                                    " - Live", " (Radio Edit)", " (Album Version)",
                                    " - Single Version", " [2009 Remaster]", " (Mono)"])
def test_same_recording_suffixes_are_dropped(suffix):
    n = normalize("The Beatles", "Let It Be" + suffix)
    assert n.title == "let it be"
    assert not (n.markers & {"remix", "acoustic", "instrumental"})


@pytest.mark.parametrize("suffix,marker", [(" (Remix)", "remix"),
                                           (" (Steve Aoki Remix)", "remix"),
                                           (" - Acoustic", "acoustic"),
                                           (" (Acoustic Version)", "acoustic"),
                                           (" (Instrumental)", "instrumental"),
                                           (" (Live)", "live")])
def test_song_changing_suffixes_are_kept(suffix, marker):
    assert marker in normalize("Rise Against", "Swing Life Away" + suffix).markers


def test_a_parenthetical_that_is_part_of_the_title_stays():
    n = normalize("Simon & Garfunkel", "Bridge Over Troubled Water (Part 1)")
    assert "part 1" in n.title and n.title_core == "bridge over troubled water"


def test_names_from_path():
    assert names_from_path("/m/12 Stones/Never Back Down/03 Anthem for the Underdog.opus") == \
        ("12 Stones", "Anthem for the Underdog", "Never Back Down")
    assert names_from_path("/m/The Bravery - Above and Below.mp3")[:2] == \
        ("The Bravery", "Above and Below")


# ---------------------------------------------------------------- verdicts

LIB = [
    LibraryItem("/m/bravery.mp3", "Bravery", "Above & Below - Remastered 2011", id=1),
    LibraryItem("/m/kanye.flac", "Kanye West", "Stronger (Album Version)", id=2),
    LibraryItem("/m/slam-remix.m4a", "TobyMac", "The Slam (Remix)", id=3),
    LibraryItem("/m/12 Stones/Never Back Down/03 Anthem for the Underdog.opus", None, None,
                id=4),
    LibraryItem("/m/12 Stones/Other/07 Anthem for the Lost.opus", None, None, id=5),
    LibraryItem("/m/live.mp3", "The Bravery", "Time Won't Let Me Go (Live)", id=6),
    LibraryItem("/m/studio.mp3", "The Bravery", "Time Won't Let Me Go", id=7),
    LibraryItem("/m/copy.mp3", "The Bravery", "Time Won't Let Me Go", id=8),  # duplicate file
    LibraryItem("/m/beyonce.mp3", "Beyoncé", "Halo", id=9),
]


def one(line: str, items=LIB):
    return match_tracklist([parse_line(line)], items)[0]


def test_found_through_normalization_and_file_names():
    assert one("The Bravery - Above and Below").match.id == 1
    assert one("Kanye West - Stronger").match.id == 2
    assert one("Halo by Beyonce").match.id == 9
    r = one("12 Stones - Anthem for the Underdog")  # no tags: from Artist/Album/NN Title
    assert r.status == FOUND and r.match.id == 4 and r.match.source == "path"
    assert 0.9 <= r.confidence < 1.0  # a file name counts for a little less than tags


def test_a_remix_is_another_song():
    r = one("TobyMac - The Slam")
    assert r.status == MISSING and r.match is None
    assert [c.item.id for c in r.candidates] == [3]  # named as the nearest, not matched
    assert one("TobyMac - The Slam (Remix)").match.id == 3


def test_live_only_when_the_list_asks_for_it():
    # Duplicate files of one recording are one candidate, not an ambiguity.
    plain = one("The Bravery - Time Won't Let Me Go")
    assert plain.status == FOUND and plain.match.id == 7
    assert one("The Bravery - Time Won't Let Me Go [live]").match.id == 6
    assert one("The Bravery - Time Won't Let Me Go (Live)").match.id == 6


def test_close_candidates_are_ambiguous_and_both_named():
    r = one("12 Stones - Anthem for the…")  # a cut-off title that fits two songs
    assert r.status == AMBIGUOUS and r.match is None
    assert {c.item.id for c in r.candidates} == {4, 5}
    assert abs(r.candidates[0].confidence - r.candidates[1].confidence) < 0.03
    lines = m3u8_lines([r])
    assert any(ln.startswith("# ambiguous: 12 Stones - Anthem for the") and
               "03 Anthem for the Underdog.opus" in ln and "07 Anthem for the Lost.opus" in ln
               for ln in lines)
    assert not any(not ln.startswith("#") for ln in lines)  # neither is in the playlist


def test_look_alikes_are_not_matched():
    assert one("The Bravery - Above and Beyond").status == MISSING
    assert one("Jay-Z - Stronger").status == MISSING          # same title, other artist
    assert one("Kanye West - Gold Digger").status == MISSING  # same artist, other title


def test_index_blocks_and_still_finds_typos():
    items = [LibraryItem(f"/x/{i}.mp3", f"Artist {i:05d}", f"Song number {i}", id=i)
             for i in range(3000)]
    items.append(LibraryItem("/x/target.mp3", "Red Jumpsuit Apparatus", "False Pretense",
                             id=-1))
    index = LibraryIndex(items)
    e = normalize("The Red Jumpsiut Apparatus", "False Pretnese")
    assert len(index.candidates(e)) <= index.params.n_rescore
    r = index.match(TracklistEntry("The Red Jumpsiut Apparatus", "False Pretnese"))
    assert r.status == FOUND and r.match.id == -1


# ---------------------------------------------------------------- playlist

def test_playlist_is_in_film_order_with_missing_comments(tmp_path):
    entries = [parse_line(s) for s in [
        "TobyMac - The Slam [film] 01:10:00",
        "The Bravery - Above and Below [film] 00:03:10",
        "Mellowdrone - Orange Marmalade [film-only] 00:45:00",
        "Kanye West - Stronger [marketing] [film-only] 00:20:00",
    ]]
    results = match_tracklist(entries, LIB)
    out = tmp_path / "pl" / "complete.m3u8"
    out.parent.mkdir()
    write_m3u8(results, out, title="nbd", relative_to=tmp_path)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:nbd"]
    body = [ln for ln in lines[2:] if not ln.startswith("#EXTINF")]
    assert body == [
        os.path.relpath("/m/bravery.mp3", tmp_path),
        os.path.relpath("/m/kanye.flac", tmp_path),
        "# missing: Mellowdrone - Orange Marmalade [film-only] @00:45:00",
        "# missing: TobyMac - The Slam [film] @01:10:00",
    ]
    # Without times everywhere the file order is the film order; absolute paths by default.
    entries[0].time_s = None
    results = match_tracklist(entries, LIB)
    write_m3u8(results, out)
    body = [ln for ln in out.read_text().splitlines()[1:] if not ln.startswith("#EXTINF")]
    assert body == ["# missing: TobyMac - The Slam [film]", "/m/bravery.mp3",
                    "# missing: Mellowdrone - Orange Marmalade [film-only] @00:45:00",
                    "/m/kanye.flac"]
    assert not list(out.parent.glob(".underdog-*"))  # the atomic write left no temp file


# ---------------------------------------------------------------- CLI end to end

def _load_demo_builder():
    spec = importlib.util.spec_from_file_location(
        "make_soundtrack_demo", ROOT / "examples" / "make_soundtrack_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A real SQLite library of retagged demo copies, stored as the scanner stores tags."""
    folder = tmp_path_factory.mktemp("nbd")
    files = _load_demo_builder().build(folder / "music")
    before = {p.name: p.stat().st_mtime_ns for p in DEMO_LIBRARY.iterdir()}
    db = folder / "library.db"
    with open_library(db) as lib:
        for p in files:
            tags = read_tags(str(p))
            st = p.stat()
            lib.save_analysis(str(p), tags, (st.st_size, st.st_mtime_ns), None,
                              TrackAnalysis(str(p), duration_s=tags["duration_s"]))
    assert {p.name: p.stat().st_mtime_ns for p in DEMO_LIBRARY.iterdir()} == before
    return folder, db


def test_demo_builder_retags_real_files(demo_db):
    folder, _ = demo_db
    t = read_tags(str(folder / "music" / "Bravery - Above & Below.mp3"))
    assert (t["artist"], t["title"]) == ("Bravery", "Above & Below - Remastered 2011")
    untagged = mutagen.File(folder / "music" / "12 Stones" / "Never Back Down" /
                            "03 Anthem for the Underdog.opus", easy=True)
    assert "artist" not in untagged.tags and "title" not in untagged.tags
    with pytest.raises(SystemExit, match="refusing"):
        _load_demo_builder().build(DEMO_LIBRARY)


def test_cli_table_and_playlist(demo_db):
    folder, db = demo_db
    out = folder / "complete.m3u8"  # paths relative to the playlist's own folder
    r = runner.invoke(app, ["soundtrack", "match", str(NBD), "--db", str(db), "-o", str(out),
                            "--relative-to", str(folder)])
    assert r.exit_code == 0, r.output
    assert "4 of 10 found, 6 missing, 0 ambiguous" in r.output
    lines = out.read_text(encoding="utf-8").splitlines()
    paths = [ln for ln in lines if not ln.startswith("#")]
    assert paths == ["music/Bravery - Above & Below.mp3", "music/Kanye West - Stronger.flac",
                     "music/tv on the radio - wolf like me.ogg",
                     "music/12 Stones/Never Back Down/03 Anthem for the Underdog.opus"]
    missing = [ln for ln in lines if ln.startswith("# missing: ")]
    assert missing == ["# missing: The Red Jumpsuit Apparatus - False Pretense [film]",
                       "# missing: The Cribs - Be Safe [film]",
                       "# missing: Rise Against - Under the Knife [film]",
                       "# missing: TobyMac - The Slam [film]",
                       "# missing: The Bravery - Time Won't Let Me Go [film]",
                       "# missing: Mellowdrone - Orange Marmalade [film-only]"]
    # Film order: the essay's order, found and missing interleaved.
    order = [ln for ln in lines if not ln.startswith("#EXT")]
    assert order.index(paths[0]) < order.index(missing[0]) < order.index(paths[1]) \
        < order.index(missing[1])
    # The playlist reads back to the real files.
    assert [Path(p) for p in read_playlist(out)] == [folder / p for p in paths]


def test_cli_json_objects_exactly_as_specified(demo_db):
    _, db = demo_db
    r = runner.invoke(app, ["soundtrack", "match", str(NBD), "--db", str(db), "-f", "jsonl"])
    assert r.exit_code == 0, r.output
    objs = [json.loads(ln) for ln in r.output.splitlines() if ln.strip()]
    assert len(objs) == 10
    for o in objs:
        assert set(o) == {"entry", "status", "confidence", "match", "candidates"}
        assert set(o["entry"]) == {"artist", "title", "tags", "time"}
        assert o["status"] in ("found", "missing", "ambiguous")
        assert 0.0 <= o["confidence"] <= 1.0
        if o["status"] == "found":
            assert set(o["match"]) == {"path", "artist", "title"}
            assert os.path.exists(o["match"]["path"])
        else:
            assert o["match"] is None
        for c in o["candidates"]:
            assert set(c) == {"path", "artist", "title", "confidence"}
    # Input order, the entry as written in the tracklist.
    assert [o["entry"]["title"] for o in objs][:3] == ["Above and Below", "False Pretense",
                                                      "Stronger"]
    assert objs[2]["entry"] == {"artist": "Kanye West", "title": "Stronger",
                                "tags": ["marketing", "film-only"], "time": None}
    assert objs[2]["match"]["title"] == "Stronger (Album Version)"
    slam = objs[6]
    assert slam["status"] == "missing" and slam["candidates"][0]["title"] == "The Slam (Remix)"


def test_cli_missing_only(demo_db):
    _, db = demo_db
    r = runner.invoke(app, ["soundtrack", "match", str(NBD), "--db", str(db), "-f", "json",
                            "--missing-only"])
    assert r.exit_code == 0, r.output
    objs = json.loads(r.output)  # one JSON document
    assert [o["status"] for o in objs] == ["missing"] * 6
    t = runner.invoke(app, ["soundtrack", "match", str(NBD), "--db", str(db), "--missing-only"])
    assert t.exit_code == 0 and "Mellowdrone" in t.output and "Kanye" not in t.output


def test_cli_every_input_format(demo_db, tmp_path):
    _, db = demo_db
    (tmp_path / "t.csv").write_text("artist,title,tags,time\nKanye West,Stronger,marketing,"
                                    "00:20:00\nThe Bravery,Above and Below,film,00:03:10\n")
    (tmp_path / "t.json").write_text(json.dumps([
        {"artist": "Kanye West", "title": "Stronger", "time": "00:20:00"},
        {"artist": "The Bravery", "title": "Above and Below", "time": 190}]))
    (tmp_path / "t.txt").write_text("Stronger by Kanye West 00:20:00\n"
                                    "The Bravery – Above and Below 00:03:10\n")
    for name in ("t.csv", "t.json", "t.txt"):
        out = tmp_path / (name + ".m3u8")
        r = runner.invoke(app, ["soundtrack", "match", str(tmp_path / name), "--db", str(db),
                                "-o", str(out)])
        assert r.exit_code == 0, (name, r.output)
        paths = [Path(ln).name for ln in out.read_text().splitlines() if not ln.startswith("#")]
        assert paths == ["Bravery - Above & Below.mp3", "Kanye West - Stronger.flac"], name


def test_cli_errors_name_file_and_line(demo_db, tmp_path):
    _, db = demo_db
    bad = tmp_path / "bad.txt"
    bad.write_text("The Bravery - Above and Below\nno separator here\n")
    r = runner.invoke(app, ["soundtrack", "match", str(bad), "--db", str(db)])
    assert r.exit_code == 2
    assert f"{bad}:2:" in " ".join(r.output.split())
    r = runner.invoke(app, ["soundtrack", "match", str(NBD), "--db", str(tmp_path / "no.db")])
    assert r.exit_code == 2 and "no library database" in r.output
