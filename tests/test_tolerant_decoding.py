"""Tolerant decoding: damaged files are analyzed for what decodes, with a warning; only a
file from which too little decodes is refused.

Every damaged file is made at test time from the demo library: byte cuts, an Ogg
concatenated page by page as a stream copy does, a final packet the codec rejects, an MP3
whose header length is a (wrong) estimate.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from underdog.analysis import analyze
from underdog.audio import decode
from underdog.errors import DecodeError

from .conftest import DEMO_LIBRARY, FREE_MUSIC

OGG = DEMO_LIBRARY / "Nexuiz - Beast of Insanity.ogg"  # 152.6 s, 140 BPM
OPUS = DEMO_LIBRARY / "Nexuiz - Digital Pursuit.opus"
MP3 = DEMO_LIBRARY / "Nexuiz - Stairs.mp3"  # has a Xing/Info frame: its length is exact
FLAC = DEMO_LIBRARY / "Shawn Parrotte - Caves.flac"
M4A = DEMO_LIBRARY / "Sectoid - War of Freedom.m4a"  # moov after mdat, as most encoders write
CHRISTMAS = FREE_MUSIC / "supertux" / "christmas_theme.ogg"


# --- Ogg pages: just enough to cut, join and damage an Ogg the way real files are --------

_BITREV = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, MSB first, init 0, no final xor), computed as
    zlib's reflected CRC of the bit-reversed bytes, then reversed."""
    raw = zlib.crc32(page.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def read_pages(data: bytes) -> list[dict]:
    pages, i = [], 0
    while i < len(data):
        assert data[i:i + 4] == b"OggS", f"no page at byte {i}"
        n = data[i + 26]
        lacing = list(data[i + 27:i + 27 + n])
        start = i + 27 + n
        pages.append({"head": bytearray(data[i:i + 27]), "lacing": lacing,
                      "body": data[start:start + sum(lacing)]})
        i = start + sum(lacing)
    return pages


def write_pages(pages: list[dict]) -> bytes:
    out = []
    for p in pages:
        head = bytearray(p["head"])
        head[26] = len(p["lacing"])
        head[22:26] = bytes(4)
        page = bytes(head) + bytes(p["lacing"]) + p["body"]
        out.append(page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:])
    return b"".join(out)


def granule(p: dict) -> int:
    return struct.unpack("<q", p["head"][6:14])[0]


def set_granule(p: dict, g: int) -> None:
    p["head"][6:14] = struct.pack("<q", g)


def test_ogg_page_helpers_rebuild_a_real_file_byte_for_byte():
    data = OGG.read_bytes()
    assert write_pages(read_pages(data)) == data  # so the CRC is right


def ogg_stream_copy_concat(data: bytes, times: int = 2, wrap: int = 0) -> bytes:
    """``times`` copies of an Ogg stream joined as ``ffmpeg -c copy`` joins them: one
    logical stream, the later copies' header pages dropped, page numbers continued,
    granules offset, one end-of-stream mark. ``wrap`` is added to the last granule."""
    pages = read_pages(data)
    audio_from = next(i for i, p in enumerate(pages) if granule(p) > 0)
    total = granule(pages[-1])
    out = []
    for k in range(times):
        for p in pages if k == 0 else pages[audio_from:]:
            q = {"head": bytearray(p["head"]), "lacing": p["lacing"], "body": p["body"]}
            q["head"][18:22] = struct.pack("<I", len(out))
            if granule(q) > 0:
                set_granule(q, granule(q) + k * total)
            if k < times - 1:
                q["head"][5] &= ~0x04
            out.append(q)
    set_granule(out[-1], granule(out[-1]) + wrap)
    return write_pages(out)


def _decoded_s(warning: str) -> float:
    return float(re.search(r"decoded ([0-9.]+) s", warning).group(1))


# --- the two refused files of the issue --------------------------------------------------

def test_stream_copy_concatenation_with_a_wild_header_length_is_analyzed(tmp_path):
    """The issue's file: "header says 97791.6 s, decoded 400.0 s". 97791.6 - 400.0 s is
    2**32 samples at 44.1 kHz: the concatenation's last granule carries a 32-bit wrap. The
    file plays to its end, so this is an unreliable header, not a truncation."""
    p = tmp_path / "twice.ogg"
    p.write_bytes(ogg_stream_copy_concat(OGG.read_bytes(), wrap=2 ** 32))
    with av.open(str(p)) as c:
        assert c.duration / 1e6 > 90_000  # FFmpeg believes the wrapped granule
    a = analyze(p)
    assert 2 * 152.0 < a.duration_s < 2 * 153.0
    assert len(a.warnings) == 1, a.warnings
    w = a.warnings[0]
    assert "estimate" in w and "truncated" not in w
    assert abs(_decoded_s(w) - a.duration_s) < 0.1
    assert a.bpm == pytest.approx(140.0, rel=0.02)
    assert -14.0 < a.loudness_lufs < -12.0


def test_stream_copy_concatenation_of_an_opus_is_clean(tmp_path):
    p = tmp_path / "twice.opus"
    p.write_bytes(ogg_stream_copy_concat(OPUS.read_bytes()))
    a = decode(p)
    with av.open(str(OPUS)) as c:
        one = c.duration / 1e6
    assert abs(a.duration_s - 2 * one) < 0.2
    assert a.warnings == []  # a correct concatenation needs no warning


def _zero_length_final_packet(data: bytes) -> bytes:
    """supertux's christmas_theme.ogg: its last page ends with a zero-length packet,
    which FFmpeg's Vorbis decoder rejects ("Invalid argument")."""
    pages = read_pages(data)
    pages[-1]["lacing"] = pages[-1]["lacing"] + [0]
    return write_pages(pages)


def test_bad_final_packet_is_skipped_with_a_warning(tmp_path):
    p = tmp_path / "christmas-like.ogg"
    p.write_bytes(_zero_length_final_packet(OGG.read_bytes()))
    a = analyze(p)
    assert 152.0 < a.duration_s < 153.0  # nothing lost
    assert len(a.warnings) == 1 and a.warnings[0].startswith("skipped 1 undecodable packet at 152.")
    assert a.bpm == pytest.approx(140.0, rel=0.02) and -14.0 < a.loudness_lufs < -12.0


def test_undecodable_packets_mid_stream_are_skipped_and_decoding_goes_on(tmp_path):
    pages = read_pages(OGG.read_bytes())
    mid = len(pages) // 2
    for j in (mid, mid + 10, mid + 20):
        assert pages[j]["head"][5] == 0  # the page starts a packet: one may go before it
        pages[j]["lacing"] = [0] + pages[j]["lacing"]
    p = tmp_path / "three-bad.ogg"
    p.write_bytes(write_pages(pages))
    a = decode(p)
    assert 152.0 < a.duration_s < 153.0
    assert len(a.warnings) == 1
    assert re.fullmatch(r"skipped 3 undecodable packets between 7\d\.\d and 9\d\.\d s",
                        a.warnings[0])


def test_supertux_christmas_theme():
    if not CHRISTMAS.exists():
        pytest.skip(f"{CHRISTMAS} not here (run ../shared/data/get-free-music {FREE_MUSIC})")
    a = decode(CHRISTMAS)
    assert 134.0 < a.duration_s < 136.0
    assert a.warnings == ["skipped 1 undecodable packet at 135.0 s"]


def test_vbr_mp3_without_a_xing_frame_is_not_called_truncated(tmp_path):
    """Without a Xing frame FFmpeg estimates the length from the first frame's bitrate: a
    VBR file that starts quiet (2 s at 32 kbps, then 320 kbps) is "stated" ~9x too long."""
    with av.open(str(OGG)) as c:
        frames, n = [], 0
        for fr in c.decode(audio=0):
            frames.append(fr)
            n += fr.samples
            if n > 44100 * 20:
                break
    split = int(np.searchsorted(np.cumsum([f.samples for f in frames]), 2 * 44100))
    p = tmp_path / "vbr-no-xing.mp3"
    p.write_bytes(_mp3(frames[:split], 32_000) + _mp3(frames[split:], 320_000))
    with av.open(str(p)) as c:
        stated = c.duration / 1e6
    a = decode(p)
    assert stated > 5 * a.duration_s and 19.0 < a.duration_s < 21.0
    assert len(a.warnings) == 1 and "estimate" in a.warnings[0]
    assert "truncated" not in a.warnings[0]
    assert abs(_decoded_s(a.warnings[0]) - a.duration_s) < 0.1


def _mp3(frames, bit_rate: int) -> bytes:
    """CBR MP3 without a Xing frame or an ID3 tag, so that two can be joined byte-wise."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out:
        st = out.add_stream("libmp3lame", rate=44100)
        st.bit_rate = bit_rate
        st.layout = "stereo"
        for fr in frames:
            fr.pts = None
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue()


# --- downloads cut at 50 % -------------------------------------------------------------

def _faststart(src: Path, dst: Path) -> None:
    """The M4A remuxed with its moov first, as streaming sites serve it."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="ipod",
                                           options={"movflags": "faststart"}) as out:
        s = inp.streams.audio[0]
        o = out.add_stream_from_template(s)
        for pkt in inp.demux(s):
            if pkt.dts is None:
                continue
            pkt.stream = o
            out.mux(pkt)


@pytest.mark.parametrize("src", [OGG, OPUS, MP3, FLAC, M4A, FLAC.with_suffix(".wav")],
                         ids=lambda p: p.suffix)
def test_download_cut_at_half_is_analyzed_with_its_decoded_length(tmp_path, src):
    if src.suffix == ".m4a":
        full = tmp_path / "faststart.m4a"
        _faststart(src, full)
    elif src.suffix == ".wav":  # libsndfile counts a cut WAV's frames from its size
        full = tmp_path / "full.wav"
        y, sr = sf.read(FLAC, dtype="int16")
        sf.write(full, y, sr, subtype="PCM_16")
    else:
        full = src
    with av.open(str(full)) as c:
        whole = c.duration / 1e6
    data = full.read_bytes()
    p = tmp_path / f"cut{src.suffix}"
    p.write_bytes(data[: len(data) // 2])
    a = analyze(p)
    assert 0.3 * whole < a.duration_s < 0.7 * whole
    assert a.warnings and "truncated" in a.warnings[0], a.warnings
    assert f"{a.duration_s:.1f} s" in a.warnings[0]  # the decoded length
    assert 40.0 < a.bpm < 250.0 and -30.0 < a.loudness_lufs < 0.0


def test_m4a_cut_before_its_moov_is_an_error_that_says_so(tmp_path):
    """Most M4As keep their index (moov) at the end: a cut one has nothing to decode with."""
    data = M4A.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")
    p = tmp_path / "cut.m4a"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="no moov atom.*cut before its end"):
        decode(p)


def test_too_little_decodes_is_refused_with_the_reason(tmp_path):
    """The line: a damaged file that yields less than MIN_DURATION_S (2 s) is refused."""
    data = FLAC.read_bytes()
    p = tmp_path / "stub.flac"
    p.write_bytes(data[:40_000])  # about 0.8 s of a 58-s file
    with pytest.raises(DecodeError, match=r"only 0\.\d s decodes: too little to analyze"):
        decode(p)


# --- still errors ------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".ogg", ".opus", ".mp3", ".flac", ".m4a", ".wav"])
def test_empty_and_text_files_are_still_errors(tmp_path, ext):
    empty = tmp_path / f"empty{ext}"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file"):
        decode(empty)
    text = tmp_path / f"text{ext}"
    text.write_text("this is not audio, only a text file\n" * 200)
    with pytest.raises(DecodeError):
        analyze(text)


# --- through the library -----------------------------------------------------------------

def test_scan_stores_damaged_files_and_errors_lists_their_warnings(tmp_path):
    import subprocess
    import sys

    music = tmp_path / "music"
    music.mkdir()
    data = OGG.read_bytes()
    (music / "cut.ogg").write_bytes(data[: len(data) // 2])
    (music / "christmas-like.ogg").write_bytes(_zero_length_final_packet(data))
    (music / "text.mp3").write_text("not audio\n" * 100)
    exe = [str(Path(sys.executable).parent / "underdog")]
    db = ["--db", str(tmp_path / "lib.db")]
    scan = subprocess.run(exe + ["scan", str(music), "-j", "0"] + db, capture_output=True,
                          text=True, timeout=300)
    assert scan.returncode == 1, scan.stdout + scan.stderr  # the text file failed
    out = subprocess.run(exe + ["errors"] + db, capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert any("text.mp3" in s and "warning" not in s for s in lines), out.stdout
    cut = [s for s in lines if s.startswith("warning ") and "cut.ogg" in s]
    assert len(cut) == 1 and "truncated" in cut[0] and re.search(r"decoded 7\d\.\d s", cut[0])
    assert any(s.startswith("warning ") and "christmas-like.ogg" in s
               and "skipped 1 undecodable packet" in s for s in lines), out.stdout
    assert "1 files failed, 2 analyzed with warnings" in out.stdout


def _mp3_frame_after(data: bytes, pos: int) -> int:
    """Offset of the first MPEG audio frame header at or after ``pos`` whose next frame
    follows where its length says (a real header, not sync-like bytes in the data)."""
    rates, bitrates = (44100, 48000, 32000), (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160,
                                             192, 224, 256, 320)
    for i in range(pos, len(data) - 4):
        if data[i] != 0xFF or data[i + 1] & 0xFE != 0xFA:  # MPEG-1 layer III
            continue
        b, r = data[i + 2] >> 4, (data[i + 2] >> 2) & 3
        if not 0 < b < 15 or r == 3:
            continue
        n = 144000 * bitrates[b] // rates[r] + ((data[i + 2] >> 1) & 1)
        if data[i + n:i + n + 1] == b"\xff":
            return i
    raise AssertionError("no MP3 frame found")


def _lag(x: np.ndarray, ref: np.ndarray, at: int, n: int, reach: int) -> int:
    """The shift of ``x[at:at+n]`` within ``ref`` (samples), by least absolute difference."""
    return min(range(-reach, reach + 1),
               key=lambda k: float(np.abs(x[at:at + n] - ref[at + k:at + k + n]).max()))


def test_an_mp3_frame_whose_header_says_another_sample_rate_is_skipped(tmp_path):
    """One frame's sample-rate bits damaged (44.1 -> 32 kHz) mid-file. It was refused
    ("sample rate changes mid-stream"); now it is analyzed with a warning, the damaged
    frame silent, and after it the analysis's audio sits where a render reads it (FFmpeg's
    parser loses two frames there: both see the same shift), so the beats still line up."""
    from underdog.render.source import read_span

    data = bytearray(MP3.read_bytes())
    i = _mp3_frame_after(data, len(data) // 2)
    data[i + 2] = (data[i + 2] & 0xF3) | 0x08  # sample-rate index 2: 32 kHz
    bad = tmp_path / "damaged header.mp3"
    bad.write_bytes(bytes(data))
    clean, got = decode(MP3), decode(bad)
    assert any("skipped" in w and "undecodable" in w for w in got.warnings)
    sr = got.sr
    changed = np.flatnonzero(np.abs(got.samples[:sr * 150] - clean.samples[:sr * 150]) > 1e-4)
    hit = changed[0] / sr
    assert 60 < hit < 110 and abs(len(got.samples) - len(clean.samples)) < 0.1 * sr
    t = hit + 5.0  # well after the damage: the same audio, shifted as the render shifts it
    lag = _lag(got.samples, clean.samples, int(t * sr), sr // 2, sr // 10)
    assert np.allclose(got.samples[int(t * sr):int(t * sr) + sr],
                       clean.samples[int(t * sr) + lag:int(t * sr) + lag + sr], atol=1e-4)
    rs, rc = read_span(bad, t, t + 2).mean(axis=0), read_span(MP3, t - 1, t + 3).mean(axis=0)
    r_lag = min(range(-4410, 4411), key=lambda k: float(
        np.abs(rs[:22050] - rc[44100 + k:44100 + k + 22050]).max()))
    assert abs(r_lag - 2 * lag) <= 2
    assert analyze(bad).bpm == pytest.approx(analyze(MP3).bpm, rel=0.01)
