"""Style reads the genre tags: tag parsing in every format, the genre → style table,
tag-versus-audio resolution, and a real scan into SQLite.

Files are 20-s stream copies of demo tracks (ffmpeg, no re-encode) with their tags stripped,
then tagged with mutagen the way taggers write them (ID3 TCON "(17)Rock", "17", several
values; Vorbis/Opus/FLAC GENRE; MP4 ©gen and the numeric gnre atom).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from underdog.analysis import genre, style
from underdog.library.tags import read_tags

from .conftest import DEMO_LIBRARY

pytestmark = pytest.mark.timeout(240)

METAL_MP3 = DEMO_LIBRARY / "Muldjord - Armygeddon.mp3"
METAL_OGG = DEMO_LIBRARY / "Muldjord - Chaos God.ogg"
ROCK_M4A = DEMO_LIBRARY / "Sectoid - War of Freedom.m4a"
SYNTH_OPUS = DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus"
AMBIENT_FLAC = DEMO_LIBRARY / "Shawn Parrotte - Caves.flac"


def clip(src: Path, dst: Path, seconds: float = 20.0) -> Path:
    """The first ``seconds`` of ``src``, stream-copied, every tag dropped."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                    "-map", "0:a", "-c", "copy", "-map_metadata", "-1", str(dst)], check=True)
    return dst


def id3(path: Path, values: list[str], v2_version: int = 4) -> Path:
    from mutagen.id3 import ID3, TCON

    tags = ID3()
    tags.add(TCON(encoding=3, text=values))
    tags.save(str(path), v2_version=v2_version)
    return path


def vorbis(path: Path, values: list[str]) -> Path:
    import mutagen

    f = mutagen.File(str(path))
    if f.tags is None:
        f.add_tags()
    f.tags["GENRE"] = values
    f.save()
    return path


def mp4_gen(path: Path, values: list[str]) -> Path:
    from mutagen.mp4 import MP4

    f = MP4(str(path))
    f["\xa9gen"] = values
    f.save()
    return path


def mp4_gnre(path: Path, number: int) -> Path:
    """A numeric ``gnre`` atom (ID3v1 number + 1, as iTunes writes it). mutagen cannot write
    one, so a same-sized ©gen atom with a 2-byte text is rewritten in place."""
    mp4_gen(path, ["ab"])
    raw = bytearray(path.read_bytes())
    i = raw.find(b"\xa9gen")  # atom name; then [size 18, "data", type 1 (UTF-8), locale, "ab"]
    assert raw[i + 4:i + 12] == (18).to_bytes(4, "big") + b"data" and raw[i + 20:i + 22] == b"ab"
    raw[i:i + 4] = b"gnre"
    raw[i + 12:i + 16] = (0).to_bytes(4, "big")  # type 0: implicit (binary)
    raw[i + 20:i + 22] = (number + 1).to_bytes(2, "big")
    path.write_bytes(bytes(raw))
    return path


# ------------------------------------------------------------------ tag reading


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> dict[str, Path]:
    """One small real file per tag layout (name → path)."""
    d = tmp_path_factory.mktemp("tagged")
    files = {
        "id3_paren_text": id3(clip(METAL_MP3, d / "a.mp3"), ["(17)Rock"]),
        "id3_number": id3(clip(METAL_MP3, d / "b.mp3"), ["2"]),
        "id3_hiphop_rap": id3(clip(METAL_MP3, d / "c.mp3"), ["Hip-Hop/Rap"]),
        "id3_multi": id3(clip(METAL_MP3, d / "d.mp3"), ["Country", "Folk"]),
        "id3_v23_refs": id3(clip(METAL_MP3, d / "e.mp3"), ["(2)(80)"], v2_version=3),
        "id3_split": id3(clip(METAL_MP3, d / "f.mp3"), ["Synth-Pop; Drum & Bass"]),
        "vorbis_country": vorbis(clip(METAL_OGG, d / "g.ogg"), ["Country"]),
        "vorbis_multi": vorbis(clip(METAL_OGG, d / "h.ogg"), ["hip hop", "R&B"]),
        "opus": vorbis(clip(SYNTH_OPUS, d / "i.opus"), ["Blues"]),
        "flac": vorbis(clip(AMBIENT_FLAC, d / "j.flac"), ["HipHop"]),
        "mp4_gen": mp4_gen(clip(ROCK_M4A, d / "k.m4a"), ["Alt. Rock/Pop"]),
        "mp4_gnre": mp4_gnre(clip(ROCK_M4A, d / "l.m4a"), 2),
        "untagged_mp3": clip(METAL_MP3, d / "m.mp3"),
        "vague": vorbis(clip(METAL_OGG, d / "n.ogg"), ["Soundtrack", "Other"]),
    }
    return files


@pytest.mark.parametrize("name,genres", [
    ("id3_paren_text", ["Rock"]),
    ("id3_number", ["Country"]),
    ("id3_hiphop_rap", ["Hip-Hop/Rap"]),
    ("id3_multi", ["Country", "Folk"]),
    ("id3_v23_refs", ["Country", "Folk"]),
    ("id3_split", ["Synth-Pop", "Drum & Bass"]),
    ("vorbis_country", ["Country"]),
    ("vorbis_multi", ["hip hop", "R&B"]),
    ("opus", ["Blues"]),
    ("flac", ["HipHop"]),
    ("mp4_gen", ["Alt. Rock", "Pop"]),
    ("mp4_gnre", ["Country"]),
    ("vague", ["Soundtrack", "Other"]),
])
def test_read_tags_genres(tagged, name, genres):
    t = read_tags(str(tagged[name]))
    assert t.get("genres") == genres
    assert t["genre"] == "; ".join(genres)  # the DB column keeps one display string


def test_untagged_file_has_no_genre(tagged):
    t = read_tags(str(tagged["untagged_mp3"]))
    assert "genres" not in t and "genre" not in t


# ------------------------------------------------------------------ the table


@pytest.mark.parametrize("spellings,want", [
    (["Hip-Hop", "hip hop", "HipHop", "HIP-HOP", "Rap", "Trap", "Hip-Hop/Rap", "Gangsta"], "hiphop"),
    (["R&B", "RnB", "r'n'b", "Rhythm and Blues", "Soul", "Funk"], "hiphop"),
    (["Drum & Bass", "drum and bass", "Drum n Bass", "DnB", "D&B", "Synthpop", "synth-pop",
      "Synth Pop", "Techno", "House", "Trance", "Electronic", "Pop", "Disco", "Chiptune"],
     "indie_synth"),
    (["Rock", "Metal", "Nu Metal", "nu-metal", "Alt Rock", "Alt. Rock", "AlternRock", "Punk",
      "Metalcore", "Hardcore", "Melodic Death Metal", "Dubstep", "Industrial"], "heavy"),
    (["Country", "Blues", "Folk", "Jazz", "Post-Rock", "post rock", "Ambient", "Classical",
      "New Age", "Lo-Fi", "Bluegrass", "Americana"], "atmospheric"),
    (["Other", "Soundtrack", "Game", "Unknown", "Misc", "Podcast", "Vocal", "World",
      "Video Game Score"], genre.VAGUE),
])
def test_genre_table(spellings, want):
    for s in spellings:
        assert genre.genre_style(s) == want, s


def test_every_id3v1_genre_is_mapped():
    assert len(genre.ID3V1_GENRES) == 192
    assert (genre.ID3V1_GENRES[0], genre.ID3V1_GENRES[17], genre.ID3V1_GENRES[127],
            genre.ID3V1_GENRES[191]) == ("Blues", "Rock", "Drum & Bass", "Psybient")
    unmapped = [g for g in genre.ID3V1_GENRES if genre.genre_key(g) not in genre._LOOKUP]
    assert unmapped == []


def test_split_genres_forms():
    assert genre.split_genres(["(17)Rock"]) == ["Rock"]
    assert genre.split_genres(["(9)Heavy Metal"]) == ["Heavy Metal", "Metal"]
    assert genre.split_genres(["17", "(26)"]) == ["Rock", "Ambient"]
    assert genre.split_genres(["Rock/Pop", "rock"]) == ["Rock", "Pop"]
    assert genre.split_genres(["Hip-Hop/Rap"]) == ["Hip-Hop/Rap"]
    assert genre.split_genres(["R&B/Soul"]) == ["R&B/Soul"]
    assert genre.split_genres(["Rock, Pop | Jazz"]) == ["Rock", "Pop", "Jazz"]
    assert genre.split_genres(["((Not a number)"]) == ["(Not a number)"]
    assert genre.split_genres(["255", "", "  "]) == []


# ------------------------------------------------------------------ tag vs audio

HEAVY_AUDIO = {"heavy": 0.7, "indie_synth": 0.1, "hiphop": 0.15, "atmospheric": 0.05}


def test_resolve_specific_tag_decides():
    label, probs, source = style.resolve_style(HEAVY_AUDIO, ["Country"])
    assert (label, source) == ("atmospheric", "tag")
    assert max(probs, key=probs.get) == "atmospheric"
    assert sum(probs.values()) == pytest.approx(1.0)
    assert probs["heavy"] == pytest.approx((1 - style.TAG_WEIGHT) * 0.7)


def test_resolve_missing_or_vague_tag_leaves_audio():
    for genres in (None, [], ["Other"], ["Soundtrack", "Unknown"], ["Zydeco-Polka Fusion X"]):
        label, probs, source = style.resolve_style(HEAVY_AUDIO, genres)
        assert (label, source) == ("heavy", "audio"), genres
        assert probs == HEAVY_AUDIO


def test_resolve_vague_first_then_specific():
    assert style.resolve_style(HEAVY_AUDIO, ["Soundtrack", "Hip-Hop"])[::2] == ("hiphop", "tag")


def test_resolve_conflicting_tags_audio_picks_among_them():
    # "Jazz; Hip-Hop": both specific; the audio model prefers hiphop of the two
    assert style.resolve_style(HEAVY_AUDIO, ["Jazz", "Hip-Hop"])[0] == "hiphop"
    # without audio, tag order decides
    label, probs, source = style.resolve_style({}, ["Jazz", "Hip-Hop"])
    assert (label, source, probs["atmospheric"]) == ("atmospheric", "tag", 1.0)


# ------------------------------------------------------------------ scan and CLI


def test_scan_uses_tags(tmp_path, tagged):
    """A metal clip tagged Country is atmospheric from the tag; untagged or vaguely tagged
    it stays heavy from the audio. Fails on code that ignores tags."""
    from underdog.library.db import open_library
    from underdog.library.executors import SerialExecutor
    from underdog.library.scan import scan

    lib_dir = tmp_path / "music"
    lib_dir.mkdir()
    for name in ("vorbis_country", "id3_paren_text", "untagged_mp3", "vague", "flac"):
        shutil.copy(tagged[name], lib_dir / tagged[name].name)
    db = tmp_path / "lib.sqlite"
    lib = open_library(str(db))
    try:
        scan([str(lib_dir)], lib, executor=SerialExecutor())
    finally:
        lib.close()
    con = sqlite3.connect(db)
    cols = {r[1] for r in con.execute("PRAGMA table_info(tracks)")}
    src_col = ", style_source" if "style_source" in cols else ", NULL"
    rows = {Path(p).name: (g, lab, src) for p, g, lab, src in con.execute(
        f"SELECT path, genre, style_label{src_col} FROM tracks")}
    con.close()
    assert rows["g.ogg"][:2] == ("Country", "atmospheric")  # metal audio, Country tag
    assert rows["a.mp3"][:2] == ("Rock", "heavy")
    assert rows["j.flac"][:2] == ("HipHop", "hiphop")  # ambient audio, HipHop tag
    assert rows["m.mp3"][:2] == (None, "heavy")  # no tag: the audio decides
    assert rows["n.ogg"][:2] == ("Soundtrack; Other", "heavy")  # vague tag: the audio decides
    if "style_source" in cols:
        assert {k: v[2] for k, v in rows.items()} == {
            "g.ogg": "tag", "a.mp3": "tag", "j.flac": "tag", "m.mp3": "audio", "n.ogg": "audio"}


def test_cli_analyze_reports_style_source(tagged):
    from underdog.app.analyze import analyze_file as analyze_one

    a = analyze_one(str(tagged["vorbis_country"]))
    assert (a["style_label"], a["style_source"]) == ("atmospheric", "tag")
    b = analyze_one(str(tagged["untagged_mp3"]))
    assert (b["style_label"], b["style_source"]) == ("heavy", "audio")
