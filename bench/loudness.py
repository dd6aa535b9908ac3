"""Loudness against pyloudnorm (the reference) and essentia on the same native-rate channels.

    .venv/bin/python bench/loudness.py [--free]

Every tool meters the same array: the file's channels at its own rate, as the decoder's
channel sink sees them (the pipeline meters exactly these, before any resampling). One more
row shows what metering *after* resampling to the 22,050 Hz analysis rate would cost.
|Δ| is against pyloudnorm's integrated loudness; LRA is compared with essentia's (pyloudnorm
has none). Speed: audio seconds per second of metering alone (decode excluded), one core.
``--free`` adds the get-free-music library (/work/free-music) as a third dataset.
"""

from __future__ import annotations

import os

import _one_core  # noqa: E402,F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
FREE = ROOT.parent / "free-music"
warnings.filterwarnings("ignore")

from scipy.signal import resample_poly  # noqa: E402

from underdog.analysis.loudness import LoudnessMeter  # noqa: E402
from underdog.audio import _BLOCK as BLOCK  # noqa: E402  (the decoder's block size)
from underdog.audio import ANALYSIS_SR, decode  # noqa: E402

AUDIO_EXT = {".flac", ".ogg", ".opus", ".mp3", ".m4a", ".wav", ".oga"}


def native(path: Path) -> tuple[np.ndarray, int]:
    blocks, rate = [], []

    def sink(b, sr):
        blocks.append(np.array(b, dtype=np.float32, copy=True))
        rate.append(sr)

    decode(path, channel_sink=sink)
    return np.concatenate(blocks, axis=1), rate[0]


def ours(x: np.ndarray, sr: int):
    m = LoudnessMeter()
    for i in range(0, x.shape[1], BLOCK):
        m.push(x[:, i:i + BLOCK], sr)
    r = m.result()
    return r.integrated_lufs, r.range_lu


def ours_22k(x: np.ndarray, sr: int):
    """The same meter on channels resampled to the analysis rate first."""
    y = x if sr == ANALYSIS_SR else resample_poly(x, ANALYSIS_SR, sr, axis=1).astype(np.float32)
    return ours(y, ANALYSIS_SR)


def pyloudnorm(x: np.ndarray, sr: int):
    import pyloudnorm as pyln

    return pyln.Meter(sr).integrated_loudness(x.T.astype(np.float64)), float("nan")


def essentia(x: np.ndarray, sr: int):
    import essentia.standard as es

    if x.shape[0] == 2:
        _, _, i, lra = es.LoudnessEBUR128(sampleRate=sr)(np.ascontiguousarray(x.T))
        return i, lra
    # essentia meters stereo only: mono copied to both channels reads 3.01 LU too loud
    _, _, i, lra = es.LoudnessEBUR128(sampleRate=sr)(np.ascontiguousarray(np.repeat(x, 2, 0).T))
    return i - 10 * np.log10(2), lra


TOOLS = {"underdog (native rate, shipped)": ours, "underdog after resampling to 22,050 Hz": ours_22k,
         "essentia LoudnessEBUR128": essentia, "pyloudnorm (reference)": pyloudnorm}


def files(name: str) -> list[Path]:
    if name == "demo":
        return sorted(p for p in (ROOT / "examples" / "library").iterdir() if p.suffix in AUDIO_EXT)
    if name == "gtzan-dev":
        return sorted((DATA / "gtzan-dev" / "audio").glob("*.flac"))
    return sorted(p for p in FREE.rglob("*") if p.suffix.lower() in AUDIO_EXT)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--free", action="store_true")
    args = ap.parse_args()
    sets = ["demo", "gtzan-dev"] + (["free-music"] if args.free else [])
    rows = []
    for ds in sets:
        res = {t: [] for t in TOOLS}
        spent = {t: 0.0 for t in TOOLS}
        audio_s, n = 0.0, 0
        for f in files(ds):
            try:
                x, sr = native(f)
            except Exception:
                continue
            n += 1
            audio_s += x.shape[1] / sr
            for t, fn in TOOLS.items():
                t0 = time.perf_counter()
                res[t].append(fn(x, sr))
                spent[t] += time.perf_counter() - t0
        ref = np.array([r[0] for r in res["pyloudnorm (reference)"]])
        lra_ref = np.array([r[1] for r in res["essentia LoudnessEBUR128"]])
        ok = np.isfinite(ref)
        for t in TOOLS:
            i = np.array([r[0] for r in res[t]])
            lra = np.array([r[1] for r in res[t]])
            d = np.abs(i - ref)[ok]
            dl = np.abs(lra - lra_ref)[ok]
            rows.append((ds, t, n, d.max(), d.mean(), float(np.mean(d <= 0.3)),
                         dl.max() if np.isfinite(dl).all() else None,
                         dl.mean() if np.isfinite(dl).all() else None,
                         audio_s / spent[t], spent[t]))
    print("## integrated loudness vs pyloudnorm, LRA vs essentia, metering speed (one core)")
    print("| dataset | tool | files | max abs Δ LUFS | mean abs Δ LUFS | within ±0.3 LU "
          "| max abs Δ LRA | mean abs Δ LRA | x realtime | tool time / underdog time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {r[0]: r[9] for r in rows if r[1].endswith("shipped)")}
    for ds, t, n, dmax, dmean, share, lmax, lmean, xrt, sec in rows:
        lm = "–" if lmax is None else f"{lmax:.2f}"
        la = "–" if lmean is None else f"{lmean:.2f}"
        print(f"| {ds} | {t} | {n} | {dmax:.3f} | {dmean:.3f} | {share:.0%} | {lm} | {la} "
              f"| {xrt:.0f}x | {sec / base[ds]:.2f} |")


if __name__ == "__main__":
    main()
