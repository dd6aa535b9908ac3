"""The get-free-music library as benchmarks use it."""

from __future__ import annotations

from pathlib import Path


def stereo_oggs(root: Path, limit: int) -> list[str]:
    """Full-length (> 60 s) 44.1 kHz stereo Ogg files under ``root``, sorted, at most ``limit``."""
    import soundfile as sf

    out = []
    for p in sorted(Path(root).rglob("*.ogg")):
        try:
            info = sf.info(str(p))
        except Exception:
            continue
        if info.samplerate == 44100 and info.channels == 2 and info.duration > 60:
            out.append(str(p))
    return out[:limit]
