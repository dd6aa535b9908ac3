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


def test_bytes_round_trip_and_edge_cases(copies):
    p = next(iter(copies.values()))["flac"]
    assert p.dtype == np.uint32 and len(p) > 250  # ~10.8 words a second
    assert np.array_equal(ident.from_bytes(ident.to_bytes(p)), p)
    assert len(ident.from_bytes(None)) == 0 and len(ident.from_bytes(b"abc")) == 0
    assert not ident.compare(p, np.zeros(0, np.uint32), STEP_S).same
    assert len(ident.sound_print(np.ones((64, 10), np.float32))) == 0  # too short
