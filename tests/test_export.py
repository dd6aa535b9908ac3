"""Playlist writers and reader: M3U8 and XSPF round trips, the XSPF schema, JSON safety,
malformed input errors."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xmlschema

from underdog.errors import PlaylistError, UnderdogError
from underdog.export import (
    PlaylistComment,
    m3u8_lines,
    read_playlist,
    write_json,
    write_m3u8,
    write_xspf,
)
from underdog.models import Track

XSD = Path(__file__).parent / "data" / "xspf-1_0.xsd"
XSPF_NS = "{http://xspf.org/ns/0/}"

# Names a playlist writer gets wrong: spaces, non-ASCII, quotes, '#', '&', '%', brackets.
AWKWARD = [
    ("Sigur Rós", "Hoppípolla", 'Sigur Rós - Hoppípolla "live".flac', 268.4),
    ("Motörhead", "Ace of Spades", "Motörhead - Ace of Spades (it's 'loud').mp3", 169.0),
    (None, None, "#1 hit & 100% <mix>.ogg", None),
    ("坂本龍一", "戦場のメリークリスマス", "坂本龍一 - 戦場のメリークリスマス.m4a", 301.7),
    ("AC/DC", "T.N.T.", "sub dir/AC_DC - T.N.T. [remaster].opus", 214.5),
]


@pytest.fixture()
def library(tmp_path: Path) -> tuple[Path, list[Track]]:
    """A small folder of files with awkward names (contents do not matter to playlists)."""
    root = tmp_path / "Müsic library"
    tracks = []
    for i, (artist, title, name, dur) in enumerate(AWKWARD):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        tracks.append(Track(id=i, path=str(p), artist=artist, title=title, duration_s=dur))
    return root, tracks


@pytest.fixture(scope="module")
def xspf_schema() -> xmlschema.XMLSchema11:
    return xmlschema.XMLSchema11(str(XSD))


# ---------------------------------------------------------------- M3U8


def test_m3u8_absolute_round_trip(library, tmp_path):
    root, tracks = library
    out = tmp_path / "elsewhere" / "plan.m3u8"
    out.parent.mkdir()
    write_m3u8(tracks, out)
    raw = out.read_bytes()
    assert b"\r" not in raw
    text = raw.decode("utf-8")
    lines = text.split("\n")
    assert lines[0] == "#EXTM3U" and text.endswith("\n")
    assert lines[1] == "#EXTINF:268,Sigur Rós - Hoppípolla"
    assert lines[2] == tracks[0].path and os.path.isabs(lines[2])
    # Unknown tags fall back to the file name, unknown duration to -1.
    assert "#EXTINF:-1,#1 hit & 100% <mix>" in lines
    assert read_playlist(out) == [t.path for t in tracks]


def test_m3u8_relative_round_trip(library, tmp_path):
    root, tracks = library
    folder = tmp_path / "playlists"
    folder.mkdir()
    out = folder / "plan.m3u8"
    write_m3u8(tracks, out, relative_to=folder)
    paths = [ln for ln in out.read_text("utf-8").split("\n") if ln and not ln.startswith("#")]
    assert all(not os.path.isabs(p) and p.startswith("../Müsic library/") for p in paths)
    assert read_playlist(out) == [t.path for t in tracks]
    # Moving library and playlist together keeps the relative playlist valid.
    moved = tmp_path / "moved"
    shutil.copytree(root, moved / root.name)
    shutil.copytree(folder, moved / folder.name)
    got = read_playlist(moved / folder.name / "plan.m3u8")
    assert got == [str(moved / Path(t.path).relative_to(tmp_path)) for t in tracks]


def test_m3u8_relative_hash_name_is_not_a_comment(tmp_path):
    t = Track(None, str(tmp_path / "#1 hit.mp3"), "A", "B", duration_s=60)
    out = tmp_path / "p.m3u8"
    write_m3u8([t], out, relative_to=tmp_path)
    assert "./#1 hit.mp3" in out.read_text("utf-8").split("\n")
    assert read_playlist(out) == [t.path]


def test_m3u8_comment_entries_and_title(tmp_path):
    t = Track(None, str(tmp_path / "a.mp3"), "Survivor", "Eye of the Tiger", duration_s=245.6)
    entries = [PlaylistComment("missing: Bill Conti - Going the Distance @01:52:10"), t]
    lines = m3u8_lines(entries, title="Rocky\nIII")
    assert lines == ["#EXTM3U", "#PLAYLIST:Rocky III",
                     "# missing: Bill Conti - Going the Distance @01:52:10",
                     "#EXTINF:246,Survivor - Eye of the Tiger", t.path]
    out = tmp_path / "p.m3u8"
    write_m3u8(entries, out)
    assert read_playlist(out) == [t.path]


def test_m3u8_accepts_mappings_and_refuses_line_breaks(tmp_path):
    out = tmp_path / "p.m3u8"
    write_m3u8([{"path": str(tmp_path / "x.mp3"), "artist": "A", "title": "T",
                 "duration_s": 10.4}], out)
    assert "#EXTINF:10,A - T" in out.read_text("utf-8")
    with pytest.raises(PlaylistError, match="line break"):
        write_m3u8([Track(None, str(tmp_path / "bad\nname.mp3"))], tmp_path / "q.m3u8")
    assert not (tmp_path / "q.m3u8").exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no debris


def test_read_m3u_windows_and_uris(tmp_path):
    """A Windows-made .m3u (CRLF, backslashes, cp1252), with file:// URIs and comments."""
    (tmp_path / "sub").mkdir()
    body = ("#EXTM3U\r\n"
            "#EXTINF:200,Café del Mar - Entre Dos Aguas\r\n"
            "sub\\Café.mp3\r\n"
            "# a plain comment\r\n"
            "\r\n"
            "..\\up one.flac\r\n"
            "file:///srv/music/Sigur%20R%C3%B3s/A%26B.ogg\r\n"
            "file://localhost/srv/x%23y.mp3\r\n"
            "C:\\Music\\z.mp3\r\n")
    pl = tmp_path / "win.m3u"
    pl.write_bytes(body.encode("cp1252"))
    got = read_playlist(pl)
    assert got[0] == str(tmp_path / "sub" / "Café.mp3")
    assert got[1] == str(tmp_path.parent / "up one.flac")
    assert got[2] == "/srv/music/Sigur Rós/A&B.ogg"
    assert got[3] == "/srv/x#y.mp3"
    assert got[4].replace("\\", "/") == "C:/Music/z.mp3"
    assert len(got) == 5


def test_read_m3u8_bom_and_exotic_separators(tmp_path):
    name = "odd\u2028name.mp3"  # a character str.splitlines() would split on
    pl = tmp_path / "bom.m3u8"
    pl.write_bytes(b"\xef\xbb\xbf#EXTM3U\n" + name.encode("utf-8") + b"\n")
    assert read_playlist(pl) == [str(tmp_path / name)]


@pytest.mark.parametrize("body, line, message", [
    ("#EXTM3U\n#EXTINF:abc,Title\na.mp3\n", 2, "malformed #EXTINF"),
    ("#EXTM3U\n#EXTINF:10,One\n#EXTINF:20,Two\nb.mp3\n", 2, "without a path"),
    ("#EXTM3U\na.mp3\n#EXTINF:10,Last\n", 3, "without a path"),
    ("#EXTM3U\na.mp3\nb\x00c.mp3\n", 3, "NUL"),
])
def test_malformed_m3u_names_file_and_line(tmp_path, body, line, message):
    pl = tmp_path / "bad.m3u8"
    pl.write_text(body, encoding="utf-8")
    with pytest.raises(PlaylistError, match=message) as e:
        read_playlist(pl)
    assert e.value.line == line
    assert str(e.value).startswith(f"{pl}:{line}: ")
    assert isinstance(e.value, UnderdogError)


def test_m3u8_must_be_utf8(tmp_path):
    pl = tmp_path / "latin.m3u8"
    pl.write_bytes(b"#EXTM3U\na.mp3\nCaf\xe9.mp3\n")
    with pytest.raises(PlaylistError, match="not UTF-8") as e:
        read_playlist(pl)
    assert e.value.line == 3
    # The same bytes as a classic .m3u decode as cp1252.
    m3u = tmp_path / "latin.m3u"
    m3u.write_bytes(pl.read_bytes())
    assert read_playlist(m3u)[1] == str(tmp_path / "Café.mp3")


def test_unknown_extension_and_missing_file(tmp_path):
    pls = tmp_path / "list.pls"
    pls.write_text("[playlist]\n")
    with pytest.raises(PlaylistError, match=r"unknown playlist type '\.pls'") as e:
        read_playlist(pls)
    assert str(pls) in str(e.value)
    with pytest.raises(PlaylistError, match="cannot read"):
        read_playlist(tmp_path / "nope.m3u8")


# ---------------------------------------------------------------- XSPF


def test_xspf_valid_against_schema_and_round_trips(library, tmp_path, xspf_schema):
    root, tracks = library
    out = tmp_path / "plan.xspf"
    tracks[1].comment = "peak 2: drop at 0:45"  # annotation comes from .comment
    write_xspf(tracks, out, title="Montage — 45 min")
    xspf_schema.validate(str(out))  # raises with the reason when invalid
    assert read_playlist(out) == [t.path for t in tracks]

    doc = xspf_schema.to_dict(str(out))
    assert doc["title"] == "Montage — 45 min"
    first = doc["trackList"]["track"][0]
    assert first["creator"] == "Sigur Rós" and first["title"] == "Hoppípolla"
    assert first["duration"] == 268400  # milliseconds
    assert first["location"][0].startswith("file:///")
    assert " " not in first["location"][0] and "ó" not in first["location"][0]
    assert "%C3%B3" in first["location"][0]  # UTF-8 percent-encoding of "ó"
    assert doc["trackList"]["track"][1]["annotation"] == "peak 2: drop at 0:45"
    untagged = doc["trackList"]["track"][2]
    assert untagged["title"] == "#1 hit & 100% <mix>" and "creator" not in untagged
    assert "duration" not in untagged


def test_schema_rejects_what_the_spec_forbids(xspf_schema, tmp_path):
    """The bundled schema is a real check: each broken variant of a valid file fails."""
    good = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<playlist version="1" xmlns="http://xspf.org/ns/0/"><title>t</title>'
            '<trackList><track><location>file:///a.mp3</location><title>a</title>'
            '<duration>1000</duration></track></trackList></playlist>')
    assert xspf_schema.is_valid(good)
    broken = [
        good.replace('version="1"', 'version="2"'),
        good.replace("<duration>1000", "<duration>-5"),
        good.replace("<duration>1000", "<duration>1.5"),
        good.replace("<title>t</title>", "<title>t</title><title>u</title>"),
        good.replace("<title>a</title>", "<title>a<b/></title>"),
        good.replace("<trackList>", "<trackList><song/>"),
        good.replace("<trackList>", "<trackNum>1</trackNum><trackList>"),
        good.replace("<trackList><track>", "<trackList><track><trackNum>0</trackNum>"),
        good.replace('xmlns="http://xspf.org/ns/0/"', 'xmlns="http://xspf.org/ns/1/"'),
        '<playlist version="1" xmlns="http://xspf.org/ns/0/"><title>t</title></playlist>',
    ]
    for doc in broken:
        assert not xspf_schema.is_valid(doc), doc


def test_xspf_skips_comment_entries(tmp_path, xspf_schema):
    t = Track(None, str(tmp_path / "a b.mp3"), "A", "B", duration_s=1.0)
    out = tmp_path / "p.xspf"
    write_xspf([PlaylistComment("missing: X - Y"), t], out)
    xspf_schema.validate(str(out))
    assert read_playlist(out) == [t.path]


def test_read_foreign_xspf(tmp_path):
    """Relative locations, several locations per track (first wins), a track without one."""
    (tmp_path / "pl").mkdir()
    pl = tmp_path / "pl" / "mix.xspf"
    pl.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<playlist version="1" xmlns="http://xspf.org/ns/0/">\n'
        '  <location>http://example.com/this-playlist.xspf</location>\n'
        '  <trackList>\n'
        '    <track><title>x</title><location>../songs/Ol%C3%A1%20mundo.mp3</location>'
        '<location>file:///elsewhere.mp3</location></track>\n'
        '    <track><title>only a name, to be resolved by a player</title></track>\n'
        '    <track><location>\n   file:///srv/a%20b.flac\n  </location></track>\n'
        '  </trackList>\n</playlist>\n', encoding="utf-8")
    assert read_playlist(pl) == [str(tmp_path / "songs" / "Olá mundo.mp3"), "/srv/a b.flac"]


@pytest.mark.parametrize("body, line, message", [
    ('<playlist version="1" xmlns="http://xspf.org/ns/0/">\n<trackList>\n'
     '<track><location>a.mp3</location>\n</trackList>\n</playlist>\n', 4, "malformed XML"),
    ('<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>\n', 2, "root element is <rss>"),
    ('<playlist version="7" xmlns="http://xspf.org/ns/0/"><trackList/></playlist>', 1,
     "unsupported XSPF version"),
    ('<playlist version="1" xmlns="http://xspf.org/ns/0/"><trackList>\n\n<track>'
     '<location>  </location></track></trackList></playlist>', 3, "empty <location>"),
])
def test_malformed_xspf_names_file_and_line(tmp_path, body, line, message):
    pl = tmp_path / "bad.xspf"
    pl.write_text(body, encoding="utf-8")
    with pytest.raises(PlaylistError, match=message) as e:
        read_playlist(pl)
    assert e.value.line == line and str(e.value).startswith(f"{pl}:{line}: ")


# ---------------------------------------------------------------- JSON


def test_json_numpy_safe(tmp_path):
    track = Track(id=np.int64(7), path=str(tmp_path / "é.mp3"), bpm=np.float32(139.5),
                  energy_curve=np.array([0.1, np.nan, 0.3], dtype=np.float32),
                  style={"rock": np.float64(0.75)})
    obj = {
        "plan": [track],
        "matrix": np.arange(6, dtype=np.int16).reshape(2, 3),
        "scores": (np.float64(-np.inf), np.float16(0.5), float("nan"), np.bool_(True)),
        np.int32(3): "numpy key",
        "path": tmp_path,
        "tags": {"b", "a"},
    }
    out = tmp_path / "plan.json"
    write_json(obj, out)
    text = out.read_text("utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert "é.mp3" in text  # UTF-8, not \u escapes
    assert text.startswith("{\n  ") and text.endswith("}\n")  # pretty
    back = json.loads(text)
    t = back["plan"][0]
    assert t["id"] == 7 and t["bpm"] == 139.5 and t["style"] == {"rock": 0.75}
    assert t["energy_curve"][0] == pytest.approx(0.1) and t["energy_curve"][1] is None
    assert back["matrix"] == [[0, 1, 2], [3, 4, 5]]
    assert back["scores"] == [None, 0.5, None, True]
    assert back["3"] == "numpy key" and back["path"] == str(tmp_path)
    assert back["tags"] == ["a", "b"]


def test_json_refuses_unknown_objects(tmp_path):
    with pytest.raises(TypeError, match="object"):
        write_json({"x": object()}, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_written_files_get_normal_permissions(tmp_path):
    out = tmp_path / "p.json"
    write_json([1.0, math.pi], out)
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
