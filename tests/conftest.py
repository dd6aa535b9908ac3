"""Shared fixtures: the bundled demo library and the shared real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_LIBRARY = ROOT / "examples" / "library"
SHARED_DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
# the 146-track free library (../shared/data/get-free-music; .ci/run fetches it)
FREE_MUSIC = Path(os.environ.get("UNDERDOG_FREE_MUSIC", ROOT.parent / "free-music"))


def demo_tracks() -> list[Path]:
    return sorted(p for p in DEMO_LIBRARY.iterdir() if p.suffix != ".md")


@pytest.fixture(scope="session")
def demo_library() -> Path:
    return DEMO_LIBRARY


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with a reason (a user's clone does not have it)."""
    if not (SHARED_DATA / "gtzan-dev" / "tempo.csv").exists():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only CI and developers have it)")
    return SHARED_DATA


# Python expression for a child process's own peak RSS in MB. VmHWM, not getrusage's
# ru_maxrss: Linux carries the (large) pytest parent's ru_maxrss across fork and exec.
PEAK_RSS_MB = ("[int(l.split()[1]) for l in open('/proc/self/status') "
               "if l.startswith('VmHWM:')][0] / 1024")


def flac_clip(src: str | os.PathLike, dst: str | bytes | os.PathLike, start_s: float,
              seconds: float) -> None:
    """``seconds`` of real audio from ``src`` (from ``start_s``) written to ``dst`` as FLAC,
    channels and rate kept, through libsndfile, so no ffmpeg binary is needed (it reads the
    demo library's Ogg, MP3, FLAC and most Opus files; not M4A, nor Sectoid - Feelings.opus)."""
    import soundfile as sf

    with sf.SoundFile(os.fspath(src)) as f:
        f.seek(int(start_s * f.samplerate))
        data = f.read(int(seconds * f.samplerate), dtype="float32", always_2d=True)
        sr = f.samplerate
    with open(dst, "wb") as out:
        sf.write(out, data, sr, format="FLAC")


def clip_folder(folder: Path, clips, seconds: float | None = None) -> Path:
    """``folder`` made and filled with FLAC clips of demo tracks (:func:`flac_clip`): each of
    ``clips`` is (file name, start_s) taking ``seconds``, or (file name, start_s, seconds)."""
    folder.mkdir()
    for src, start, *length in clips:
        flac_clip(DEMO_LIBRARY / src, folder / (Path(src).stem + ".flac"), start,
                  length[0] if length else seconds)
    return folder
