"""underdog.theory: one set of key names, Camelot/Open Key codes and wheel distances, and the
library, planner, tag writer and analysis all reading keys through it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from underdog import theory
from underdog.analysis import key as key_analysis
from underdog.export.tags import write_bpm_key_tags
from underdog.library.db import open_library
from underdog.models import Track
from underdog.planning.score import Pool, camelot_distance

from .conftest import demo_tracks

# The Camelot wheel as DJ references print it (short names, fewer-accidental spelling).
WHEEL = {
    "1A": "G#m", "2A": "Ebm", "3A": "Bbm", "4A": "Fm", "5A": "Cm", "6A": "Gm", "7A": "Dm",
    "8A": "Am", "9A": "Em", "10A": "Bm", "11A": "F#m", "12A": "C#m",
    "1B": "B", "2B": "F#", "3B": "Db", "4B": "Ab", "5B": "Eb", "6B": "Bb", "7B": "F",
    "8B": "C", "9B": "G", "10B": "D", "11B": "A", "12B": "E",
}


def test_the_wheel_and_every_notation_round_trip():
    seen = set()
    for code, short in WHEEL.items():
        k = theory.parse_camelot(code)
        assert k.short == short and k.camelot == code, code
        assert theory.parse_key(short) == k and theory.parse_key(k.name) == k
        assert theory.parse_key(k.open_key) == k and theory.parse_key(code.lower()) == k
        assert k.name == f"{short.removesuffix('m')} {'minor' if k.minor else 'major'}"
        seen.add(k)
    assert len(seen) == 24
    # Open Key's anchors: 1d = C major, 1m = A minor, 12d = F major.
    assert theory.parse_key("1d").name == "C major" and theory.parse_key("1m").name == "A minor"
    assert theory.parse_key("12d").name == "F major"


@pytest.mark.parametrize("text,name", [
    ("A minor", "A minor"), ("Am", "A minor"), ("a", "A minor"), ("a#m", "Bb minor"),
    ("A#m", "Bb minor"), ("F# major", "F# major"), ("Gb", "F# major"), ("D♭ maj", "Db major"),
    ("C♯ min", "C# minor"), ("A:min", "A minor"), ("B♯", "C major"), ("Cb", "B major"),
    ("ebm", "Eb minor"), ("D#m", "Eb minor"), ("Ab minor", "G# minor"), ("C# major", "Db major"),
    ("AM", "A major"), ("A MINOR", "A minor"), (" 8A ", "A minor"), ("08b", "C major"),
    ("12a", "C# minor"), ("2d", "G major"),
])
def test_parse_any_notation(text, name):
    assert theory.parse_key(text).name == name


@pytest.mark.parametrize("text", ["", "H minor", "13A", "0B", "AB", "A minorx", "8C", "Amm",
                                  "C##", "major"])
def test_not_a_key(text):
    with pytest.raises(ValueError):
        theory.parse_key(text)
    assert theory.try_parse_key(text) is None
    assert theory.wheel_coords(text) == (-1, -1)


def test_camelot_parser_reads_only_camelot():
    with pytest.raises(ValueError):
        theory.parse_camelot("Am")
    with pytest.raises(ValueError):
        theory.parse_camelot("1m")


def test_distance_and_compatibility_against_the_definition():
    codes = list(WHEEL)
    coords = [theory.wheel_coords(c) for c in codes]
    num = np.array([c[0] for c in coords])
    side = np.array([c[1] for c in coords])
    vec = theory.wheel_steps(num[:, None], side[:, None], num[None, :], side[None, :])
    for (i, a), (j, b) in itertools.product(enumerate(codes), repeat=2):
        na, nb = int(a[:-1]), int(b[:-1])
        around = min((na - nb) % 12, (nb - na) % 12)
        expect = around + (a[-1] != b[-1])
        assert theory.camelot_distance(a, b) == expect == vec[i, j], (a, b)
        # Key names, short names and Camelot codes measure alike.
        assert theory.camelot_distance(WHEEL[a], theory.key_of_camelot(b)) == expect
        assert theory.compatible(a, b) == (expect <= 1)
    assert theory.compatible("Am", "C major") and theory.compatible("8A", "Em")
    assert not theory.compatible("Am", "G major")
    assert theory.relative("A minor") == "C major" and theory.relative("C") == "A minor"
    assert theory.wheel_steps(-1, -1, 7, 0) == -1


def test_planner_key_distance_is_the_theory_one():
    """The planner's vectorized distance reads keys through theory, in any notation."""
    tracks = [Track(id=i, path=f"/m/{i}.mp3", camelot=c, bpm=120.0, duration_s=200.0)
              for i, c in enumerate(["8A", "9a", "Am", None, "garbage"])]
    pool = Pool(tracks)
    d = camelot_distance(pool.cam_num[0], pool.cam_let[0], pool.cam_num, pool.cam_let)
    assert d.tolist() == [0, 1, 0, -1, -1]


def test_library_key_query_takes_any_notation(tmp_path):
    """tracks --key "Am", "A minor", "8a" and "1m" find the same tracks (before theory, only
    a Camelot code or the exact stored name matched: "Am" found nothing)."""
    with open_library(tmp_path / "lib.db") as lib:
        lib.add_tracks([
            Track(id=None, path="/m/a.mp3", key="A minor", camelot="8A", bpm=120.0),
            Track(id=None, path="/m/c.mp3", key="C major", camelot="8B", bpm=120.0),
            Track(id=None, path="/m/e.mp3", key="E minor", camelot="9A", bpm=120.0),
        ])
        for q in ("Am", "A minor", "8a", "1m", "a"):
            assert [t.path for t in lib.tracks(key=q)] == ["/m/a.mp3"], q
        assert [t.path for t in lib.tracks(key="G major")] == []


def test_tag_writer_spells_keys_as_theory_does(tmp_path):
    src = next(p for p in demo_tracks() if p.suffix == ".mp3")
    f = tmp_path / "x.mp3"
    f.write_bytes(src.read_bytes())
    for given, camelot, written in [("a#m", None, "Bbm"), ("Ab minor", None, "G#m"),
                                    (None, "3B", "Db"), ("1m", None, "Am")]:
        changes = write_bpm_key_tags(f, None, given, camelot, dry_run=True)
        assert changes["TKEY"][1] == written, (given, camelot)
    changes = write_bpm_key_tags(f, None, "C# major", None, dry_run=True, key_notation="camelot")
    assert changes["TKEY"][1] == "3B"


def test_analysis_names_keys_as_theory_does():
    assert key_analysis.key_name is theory.key_name
    assert key_analysis.camelot_of is theory.camelot_of
    # The two spellings analysis used to write differently now follow the one convention.
    assert theory.key_name(1, False) == "Db major" and theory.key_name(8, True) == "G# minor"


def test_web_key_filter_takes_any_notation():
    from underdog.web.ops import WebError, parse_query

    for q in ("8A", "8a", "Am", "A minor", "1m"):
        assert parse_query({"key": q}).key == "8A", q
    assert parse_query({}).key is None
    for bad in ("H", "13A", "x" * 50):
        with pytest.raises(WebError):
            parse_query({"key": bad})


def test_fold_octaves_is_one_half_open_octave():
    """Tempi fold by whole octaves into [center - 0.5, center + 0.5) (log2 BPM): the
    reference learner, the soundtrack stand-ins and rekordbox cue times use it."""
    c = np.log2(140.0)
    got = 2 ** theory.fold_octaves(np.log2([70, 140, 280, 35, 99.0, 198.0]), c)
    assert np.allclose(got, [140, 140, 140, 140, 99, 99])  # 99/140, 198/140 ~ 0.7071, 1.4143
    assert np.isnan(theory.fold_octaves(np.nan, c))
    assert theory.fold_octaves(np.log2([[60, 240]]), 7.0).shape == (1, 2)
