"""Opt-in BPM/key tag writing: right frames per format, audio packets untouched, dry runs,
notation conversions and refusals. Works on copies of the demo files in tmp only."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf

from underdog.errors import UnderdogError
from underdog.export.tags import MP4_KEY, TagWriteError, write_bpm_key_tags
from underdog.library.tags import read_tags
from underdog.theory import camelot_code, parse_camelot, parse_key
from underdog.theory import short_name as key_name  # TKEY notation: Am, F#, Bb

from .conftest import demo_tracks


def _one_per_format() -> list[Path]:
    seen: dict[str, Path] = {}
    for p in demo_tracks():
        seen.setdefault(p.suffix.lower(), p)
    return sorted(seen.values())


def audio_digest(path: Path) -> tuple[int, str]:
    """(packet count, sha256 of every audio packet's bytes in order): the audio as stored."""
    h = hashlib.sha256()
    n = 0
    with av.open(str(path)) as c:
        for pkt in c.demux(c.streams.audio[0]):
            if pkt.size:
                h.update(bytes(pkt))
                n += 1
    return n, h.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def copy_of(tmp_path):
    def make(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copyfile(src, dst)
        return dst
    return make


@pytest.mark.parametrize("src", _one_per_format(), ids=lambda p: p.suffix[1:])
def test_writes_tags_and_leaves_audio_alone(src, copy_of):
    f = copy_of(src)
    before_audio = audio_digest(f)
    before_tags = read_tags(str(f))
    assert before_audio[0] > 100

    changes = write_bpm_key_tags(f, 127.6, "A minor", "8A")
    assert changes and all(old is None for old, _ in changes.values())

    assert audio_digest(f) == before_audio
    after = read_tags(str(f))
    assert after["tag_bpm"] == pytest.approx(128 if f.suffix in (".mp3", ".m4a") else 127.6)
    assert after["tag_key"] == "Am"
    for k in ("artist", "title", "album", "genre"):  # the other tags survive
        assert after.get(k) == before_tags.get(k)
    assert after["duration_s"] == pytest.approx(before_tags["duration_s"], abs=0.05)

    raw = mutagen.File(f).tags
    if f.suffix == ".mp3":
        assert raw["TBPM"].text == ["128"] and raw["TKEY"].text == ["Am"]
    elif f.suffix == ".m4a":
        assert raw["tmpo"] == [128] and bytes(raw[MP4_KEY][0]) == b"Am"
    else:
        assert raw["BPM"] == ["127.6"] and raw["INITIALKEY"] == ["Am"]

    # Same values again: nothing to change, the file is not rewritten.
    digest = file_digest(f)
    assert write_bpm_key_tags(f, 127.6, "Am", None) == {}
    assert file_digest(f) == digest

    # New values replace the old ones (no duplicates), audio still untouched.
    changes = write_bpm_key_tags(f, 140, None, "2B")
    assert set(changes.values()) == ({("128", "140"), ("Am", "F#")} if f.suffix == ".mp3"
                                     else {(128, 140), ("Am", "F#")} if f.suffix == ".m4a"
                                     else {("127.6", "140"), ("Am", "F#")})
    assert read_tags(str(f))["tag_key"] == "F#"
    assert audio_digest(f) == before_audio


def test_dry_run_changes_nothing(copy_of):
    f = copy_of(_one_per_format()[0])
    digest = file_digest(f)
    planned = write_bpm_key_tags(f, 92.0, "Ebm", None, dry_run=True)
    assert file_digest(f) == digest
    assert planned == write_bpm_key_tags(f, 92.0, "Ebm", None)
    assert file_digest(f) != digest


def test_camelot_notation_and_partial_writes(copy_of):
    f = copy_of(next(p for p in demo_tracks() if p.suffix == ".flac"))
    write_bpm_key_tags(f, None, "C# minor", None, key_notation="camelot")
    tags = mutagen.File(f).tags
    assert tags["INITIALKEY"] == ["12A"] and "BPM" not in tags
    write_bpm_key_tags(f, 174, None, None)  # BPM only: the key stays
    tags = mutagen.File(f).tags
    assert tags["BPM"] == ["174"] and tags["INITIALKEY"] == ["12A"]


def test_mp3_without_tags_and_id3v23(copy_of, tmp_path):
    from mutagen.id3 import ID3

    src = next(p for p in demo_tracks() if p.suffix == ".mp3")
    bare = copy_of(src)
    audio = audio_digest(bare)
    ID3(bare).delete()
    assert mutagen.File(bare).tags is None
    write_bpm_key_tags(bare, 100, "G", None)
    assert read_tags(str(bare))["tag_key"] == "G"
    assert audio_digest(bare) == audio

    v23 = tmp_path / "v23.mp3"
    shutil.copyfile(src, v23)
    t = ID3(v23)
    t.save(v2_version=3)
    assert ID3(v23).version[:2] == (2, 3)
    write_bpm_key_tags(v23, 100, "G", None)
    assert ID3(v23).version[:2] == (2, 3)
    assert ID3(v23)["TKEY"].text == ["G"]


def test_wav_through_id3(tmp_path):
    wav = tmp_path / "tone.wav"
    t = np.arange(22050) / 22050
    sf.write(wav, 0.2 * np.sin(2 * np.pi * 440 * t), 22050)
    samples = sf.read(wav)[0]
    write_bpm_key_tags(wav, 120, None, "8B")
    assert mutagen.File(wav).tags["TKEY"].text == ["C"]
    assert np.array_equal(sf.read(wav)[0], samples)


def test_refusals(copy_of, tmp_path):
    f = copy_of(_one_per_format()[0])
    digest = file_digest(f)
    with pytest.raises(TagWriteError, match="contradicts Camelot"):
        write_bpm_key_tags(f, 120, "A minor", "8B")
    with pytest.raises(TagWriteError, match="not a key"):
        write_bpm_key_tags(f, 120, "H dur", None)
    with pytest.raises(TagWriteError, match="not a Camelot code"):
        write_bpm_key_tags(f, 120, None, "13A")
    for bad in (float("nan"), 0, -5, 5000, "fast"):
        with pytest.raises(TagWriteError, match="BPM"):
            write_bpm_key_tags(f, bad, None, None)
    assert file_digest(f) == digest
    txt = tmp_path / "notes.txt"
    txt.write_text("not audio")
    with pytest.raises(TagWriteError, match="unsupported format") as e:
        write_bpm_key_tags(txt, 120, "C", None)
    assert isinstance(e.value, UnderdogError) and str(txt) in str(e.value)


def test_key_notations_round_trip():
    names = set()
    for n in range(1, 13):
        for letter in "AB":
            pc, minor = parse_camelot(f"{n}{letter}")
            assert camelot_code(pc, minor) == f"{n}{letter}"
            assert parse_key(key_name(pc, minor)) == (pc, minor)
            names.add(key_name(pc, minor))
    assert len(names) == 24
    # Anchors of the wheel, and neighbours a fifth apart.
    assert key_name(*parse_camelot("8B")) == "C" and key_name(*parse_camelot("8A")) == "Am"
    assert key_name(*parse_camelot("9B")) == "G" and key_name(*parse_camelot("1A")) == "G#m"
    for spelled, expect in [("A minor", "Am"), ("a", "Am"), ("F# major", "F#"), ("Gb", "F#"),
                            ("ebm", "Ebm"), ("D♭ maj", "Db"), ("A:min", "Am"), ("B♯", "C")]:
        assert key_name(*parse_key(spelled)) == expect, spelled


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".m4a"])
def test_audio_digest_sees_a_changed_byte(copy_of, suffix):
    """The audio check above is meaningful: one flipped byte mid-file changes the digest."""
    f = copy_of(next(p for p in demo_tracks() if p.suffix == suffix))
    before = audio_digest(f)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    assert audio_digest(f) != before
