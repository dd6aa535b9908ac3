"""Identity by sound (issue 16.3): the same recording in another encoding, or trimmed, has a
matching print; other recordings do not (real audio re-encoded at test time)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from underdog.analysis import identity as ident
from underdog.analysis.spectral import HOP, compute
from underdog.audio import ANALYSIS_SR, decode

from .conftest import DEMO_LIBRARY

SOURCES = [("Shawn Parrotte - Caves.flac", 10), ("Muldjord - Armygeddon.mp3", 60),
           ("Nexuiz - Stairs.mp3", 30)]
CLIP_S = 30.0
STEP_S = ident.step_seconds(ANALYSIS_SR, HOP)


def sound_print(path) -> np.ndarray:
    y = decode(path).samples
    return ident.sound_print(compute(y, ANALYSIS_SR, key_chroma=False).mel)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """{source: {kind: print}}: a mono clip as FLAC, MP3, Ogg Vorbis, and MP3 trimmed 0.5 s
    (libsndfile's LAME and Vorbis encoders)."""
    d = tmp_path_factory.mktemp("identity")
    out = {}
    for i, (src, start) in enumerate(SOURCES):
        with sf.SoundFile(str(DEMO_LIBRARY / src)) as f:
            f.seek(int(start * f.samplerate))
            x = f.read(int(CLIP_S * f.samplerate), dtype="float32", always_2d=True)
            x = x.mean(axis=1)  # mono: half the encoding time
            sr = f.samplerate
        cut = int(0.5 * sr)
        files = {"flac": (x, "FLAC", None), "mp3": (x, "MP3", "MPEG_LAYER_III"),
                 "ogg": (x, "OGG", "VORBIS"), "trim": (x[cut:], "MP3", "MPEG_LAYER_III")}
        out[src] = {}
        for kind, (data, fmt, sub) in files.items():
            p = d / f"{i}-{kind}.{fmt.lower()}"
            sf.write(str(p), data, sr, format=fmt, subtype=sub,
                     **({"compression_level": 0.6} if fmt != "FLAC" else {}))
            out[src][kind] = sound_print(p)
    return out


def test_same_recording_matches_in_any_encoding(copies):
    for src, prints in copies.items():
        for kind in ("mp3", "ogg", "trim"):
            m = ident.compare(prints["flac"], prints[kind], STEP_S)
            assert m.same and m.ber < 0.15, (src, kind, m)
        m = ident.compare(prints["flac"], prints["trim"], STEP_S)
        assert m.offset_s == pytest.approx(0.5, abs=STEP_S)  # it found the cut


def test_other_recordings_do_not(copies):
    srcs = list(copies)
    for i, a in enumerate(srcs):
        for b in srcs[i + 1:]:
            for ka in ("flac", "ogg"):
                for kb in ("mp3", "trim"):
                    m = ident.compare(copies[a][ka], copies[b][kb], STEP_S)
                    assert not m.same and m.ber > 0.35, (a, b, ka, kb, m)


def test_groups_follow_the_recordings(copies):
    items, truth = [], {}
    for n, (src, prints) in enumerate(copies.items()):
        for k, kind in enumerate(("flac", "mp3", "ogg", "trim")):
            key = 10 * n + k
            items.append((key, CLIP_S - (0.5 if kind == "trim" else 0.0), prints[kind]))
            truth.setdefault(src, []).append(key)
    items.append((999, CLIP_S, np.zeros(0, np.uint32)))  # no print: alone
    groups = ident.recording_groups(items, STEP_S)
    assert sorted(map(sorted, groups)) == sorted(map(sorted, truth.values()))


def test_matches_finds_the_copies_of_the_references(copies):
    srcs = list(copies)
    refs = [(0, CLIP_S, copies[srcs[0]]["flac"])]
    items = [(10 * n + k, CLIP_S, copies[src][kind]) for n, src in enumerate(srcs)
             for k, kind in enumerate(("mp3", "ogg", "trim"))]
    assert ident.matches(refs, items, STEP_S) == {0, 1, 2}


def test_bytes_round_trip_and_edge_cases(copies):
    p = next(iter(copies.values()))["flac"]
    assert p.dtype == np.uint32 and len(p) > 250  # ~10.8 words a second
    assert np.array_equal(ident.from_bytes(ident.to_bytes(p)), p)
    assert len(ident.from_bytes(None)) == 0 and len(ident.from_bytes(b"abc")) == 0
    assert not ident.compare(p, np.zeros(0, np.uint32), STEP_S).same
    assert len(ident.sound_print(np.ones((64, 10), np.float32))) == 0  # too short


# ---------------------------------------------------------------- stored, planned, like

LIB = [("Nexuiz - Beast of Insanity.ogg", 30), ("Muldjord - Chaos God.ogg", 30),
       ("Muldjord - Armygeddon.mp3", 40), ("Shawn Parrotte - Caves.flac", 10),
       ("Nexuiz - Stairs.mp3", 30), ("Shawn Parrotte - Hell.mp3", 20)]


def _clip(src: str, start: float, dst, fmt: str = "FLAC", sub=None, tags=None) -> None:
    with sf.SoundFile(str(DEMO_LIBRARY / src)) as f:
        f.seek(int(start * f.samplerate))
        x = f.read(int(35 * f.samplerate), dtype="float32", always_2d=True)
        sr = f.samplerate
    sf.write(str(dst), x, sr, format=fmt, subtype=sub)
    if tags:
        import mutagen

        m = mutagen.File(str(dst))
        for k, v in tags.items():
            m[k] = v
        m.save()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A scanned library of six clips, plus an MP3 copy of Caves in another folder."""
    from typer.testing import CliRunner

    from underdog.cli import app

    d = tmp_path_factory.mktemp("idlib")
    (d / "music" / "a").mkdir(parents=True)
    (d / "music" / "copies").mkdir()
    for src, start in LIB:
        _clip(src, start, d / "music" / "a" / (src.rsplit(".", 1)[0] + ".flac"))
    _clip("Shawn Parrotte - Caves.flac", 10, d / "music" / "copies" / "caves.mp3", "MP3",
          "MPEG_LAYER_III")
    db = str(d / "lib.db")
    r = CliRunner().invoke(app, ["scan", str(d / "music"), "--db", db])
    assert r.exit_code == 0, r.output
    return d, db


def test_prints_are_stored_and_one_recording_is_planned_once(scanned):
    from underdog.library.db import open_library
    from underdog.planning.arcs import montage
    from underdog.planning.sequencer import plan

    d, db = scanned
    with open_library(db) as lib:
        tracks = lib.tracks()
        prints = lib.identities(t.id for t in tracks)
        assert len(prints) == len(tracks) == 7
        caves = [t.id for t in tracks if "Caves" in t.path or "caves" in t.path]
        assert len(caves) == 2
        a, b = (prints[i] for i in caves)
        assert ident.compare(a, b, ident.STEP_S).same
        # a session long enough to want every track: still one Caves
        p = plan(lib, montage(), 6.0)
    ids = [t.id for t in p.tracks]
    assert len(set(ids) & set(caves)) == 1, [t.path for t in p.tracks]


def test_like_leaves_out_the_references_recordings_and_orders_a_folder(scanned, tmp_path):
    import json

    from typer.testing import CliRunner

    from underdog.cli import app

    d, db = scanned
    ref = tmp_path / "ref"  # not scanned: analyzed on the fly
    ref.mkdir()
    # file names against track numbers: the order must follow the numbers
    _clip("Shawn Parrotte - Caves.flac", 10, ref / "a.ogg", "OGG", "VORBIS",
          {"tracknumber": "2"})
    _clip("Nexuiz - Stairs.mp3", 30, ref / "b.flac", tags={"tracknumber": "1"})
    _clip("Muldjord - Chaos God.ogg", 30, ref / "c.flac")
    out = tmp_path / "like.json"
    r = CliRunner().invoke(app, ["like", str(ref), "--db", db, "--minutes", "6",
                                 "--no-record", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "folder ordered by track number, then by file name" in r.output
    doc = json.loads(out.read_text())
    assert [p.rsplit("/", 1)[-1] for p in doc["reference"]["tracks"]] == [
        "b.flac", "a.ogg", "c.flac"]
    planned = [e["path"] for e in doc["entries"]]
    # neither Caves (two files, other encodings), nor Stairs, nor Chaos God
    assert not [p for p in planned if any(k in p for k in ("Caves", "caves", "Stairs",
                                                           "Chaos God"))], planned
    assert planned  # the rest of the library still plans


def test_soundtrack_stand_in_is_never_a_copy_of_a_found_track(scanned, tmp_path):
    import json

    from typer.testing import CliRunner

    from underdog.cli import app

    d, db = scanned
    runner = CliRunner()
    rows = json.loads(runner.invoke(app, ["tracks", "--db", db, "-f", "json"]).stdout)
    caves = next(t for t in rows if t["path"].endswith("Shawn Parrotte - Caves.flac"))
    tl = tmp_path / "film.csv"  # the gap asks for exactly Caves's tempo and energy
    tl.write_text("artist,title,bpm,energy\nShawn Parrotte,Caves,,\n"
                  f"Nobody,Absent,{caves['bpm']},{caves['energy']}\n", encoding="utf-8")
    r = runner.invoke(app, ["soundtrack", "match", str(tl), "--db", db, "--fill", "-f", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc[0]["status"] == "found" and doc[1]["status"] == "missing"
    offered = [s["path"] for s in doc[1]["gap"]["stand_ins"]]
    assert offered and not [p for p in offered if p.endswith("caves.mp3")], offered
