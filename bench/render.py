"""The renderer's building blocks, measured: which time-stretcher, at what cost.

    .venv/bin/python bench/render.py [--clips N] [--seconds S]

Stretchers: underdog's WSOLA and phase vocoder (src/underdog/render/stretch.py), FFmpeg's
``atempo`` (through PyAV), Rubber Band through pedalboard (GPL-3: measured only, from a
throwaway venv given by $RUBBERBAND_PY, default /tmp/rbvenv/bin/python; skipped when absent)
and, as a reference that does *not* keep the pitch, plain resampling (varispeed).

Clips: S-second excerpts (default 20) of the demo library and of gtzan-dev (10 genres), as
stereo 44.1 kHz. Each is played at 0.92, 0.96, 1.04 and 1.08 of its tempo. Measures:

- speed: output seconds per CPU second, one core (bench/_one_core.py; process time, so
  other load on the machine counts less);
- tempo: the tempo of underdog's beats on the output over that on the input, against the
  rate: share within 0.5 % (after dividing out a switch of metrical level, ×2, ×3/2, ...,
  which is the tracker's, not the stretcher's);
- spectral distance: mean |Δ| (dB) of 64-band log-magnitude spectrograms of output and input,
  the output's frames taken at the input frames' times divided by the rate (time-aligned);
  0 would be a perfect stretch, a pitch shift shows as a large distance;
- transient sharpness: on the strongest onsets of the input (spectral flux peaks), the
  flux peak over its ±50 ms mean, output over input (1.0 = as sharp, lower = smeared);
- pitch: |spectral centroid of the output / the input's - 1| (0 = pitch kept).
"""

from __future__ import annotations

import os

import _one_core  # noqa: F401  (before numpy: one thread, one CPU)

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("UNDERDOG_SHARED_DATA", ROOT.parent / "shared" / "data"))
warnings.filterwarnings("ignore")

from scipy.signal import resample_poly  # noqa: E402

from underdog.analysis import analyze_signal  # noqa: E402
from underdog.render.source import MIX_SR, read_span  # noqa: E402
from underdog.render.stretch import stretch  # noqa: E402

RATES = (0.92, 0.96, 1.04, 1.08)
RB_PY = os.environ.get("RUBBERBAND_PY", "/tmp/rbvenv/bin/python")
N_FFT, HOP = 2048, 512
LEVELS = (0.5, 2 / 3, 0.75, 1.0, 4 / 3, 1.5, 2.0)  # metrical levels a beat tracker may switch to


def clips(n_demo: int, n_gtzan: int, seconds: float) -> list[tuple[str, np.ndarray]]:
    out = []
    demo = sorted((ROOT / "examples" / "library").glob("*.*"))
    demo = [p for p in demo if p.suffix != ".md"][:n_demo]
    for p in demo:
        out.append((p.stem, read_span(p, 45.0, 45.0 + seconds)))
    gz = DATA / "gtzan-dev" / "audio"
    if gz.is_dir():
        genres = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                  "reggae", "rock")
        for g in genres[:n_gtzan]:
            p = next(iter(sorted(gz.glob(f"{g}.*"))), None)
            if p is not None:
                out.append((p.stem, read_span(p, 2.0, 2.0 + seconds)))
    return out


def bpm(y: np.ndarray) -> float | None:
    """The tempo of underdog's beats: 60 over the least-squares beat period (the tempo
    estimate alone is too coarse on a short clip for a 0.5 % check)."""
    m = resample_poly(y.mean(axis=0), 1, 2).astype(np.float32)
    try:
        beats = analyze_signal(m, MIX_SR // 2, steps={"tempo"}).beats
    except Exception:
        return None
    if len(beats) < 8:
        return None
    return 60.0 / float(np.polyfit(np.arange(len(beats)), beats, 1)[0])


def _band_matrix() -> np.ndarray:
    edges = np.geomspace(50.0, 16000.0, 65)
    f = np.fft.rfftfreq(N_FFT, 1.0 / MIX_SR)
    m = np.zeros((64, len(f)), np.float32)
    for b in range(64):
        m[b, (f >= edges[b]) & (f < edges[b + 1])] = 1.0
    m[m.sum(axis=1) == 0, :] = 0
    return m


BANDS = _band_matrix()


def band_db(y: np.ndarray, starts: np.ndarray) -> np.ndarray:
    m = y.mean(axis=0)
    m = np.pad(m, (0, N_FFT))
    starts = starts[starts + N_FFT <= len(m)]
    win = np.hanning(N_FFT).astype(np.float32)
    spec = np.abs(np.fft.rfft(m[starts[:, None] + np.arange(N_FFT)] * win, axis=1)) ** 2
    p = spec @ BANDS.T
    db = 10 * np.log10(p + 1e-12)
    return np.maximum(db, db.max() - 80.0)


def spectral_distance(x: np.ndarray, y: np.ndarray, rate: float) -> float:
    n = (x.shape[1] - N_FFT) // HOP
    sx = np.arange(n) * HOP
    sy = np.round(sx / rate).astype(np.int64)
    a, b = band_db(x, sx), band_db(y, sy)
    k = min(len(a), len(b))
    k0 = 4  # edge frames (start-up of the stretchers) left out
    return float(np.mean(np.abs(a[k0:k - k0] - b[k0:k - k0])))


def flux(y: np.ndarray, hop: int = 256) -> np.ndarray:
    starts = np.arange((y.shape[1] - N_FFT) // hop) * hop
    db = band_db(y, starts)
    return np.maximum(np.diff(db, axis=0), 0).sum(axis=1)


def transient_sharpness(x: np.ndarray, y: np.ndarray, rate: float, hop: int = 256) -> float:
    fx, fy = flux(x, hop), flux(y, hop)
    w = int(0.05 * MIX_SR / hop)
    thr = fx.mean() + 2 * fx.std()
    peaks = [i for i in range(w, len(fx) - w)
             if fx[i] > thr and fx[i] == fx[i - w:i + w + 1].max()]
    ratios = []
    for i in peaks[:40]:
        j = int(round(i / rate))
        if j - 2 * w < 0 or j + 2 * w >= len(fy):
            continue
        jj = j - 2 + int(np.argmax(fy[j - 2:j + 3]))  # ±12 ms around the mapped time
        sx = fx[i] / fx[i - w:i + w + 1].mean()
        sy = fy[jj] / fy[jj - w:jj + w + 1].mean()
        ratios.append(sy / sx)
    return float(np.mean(ratios)) if ratios else float("nan")


def centroid(y: np.ndarray) -> float:
    starts = np.arange((y.shape[1] - N_FFT) // 2048) * 2048
    m = y.mean(axis=0)
    spec = np.abs(np.fft.rfft(m[starts[:, None] + np.arange(N_FFT)] * np.hanning(N_FFT), axis=1))
    f = np.fft.rfftfreq(N_FFT, 1.0 / MIX_SR)
    return float((spec * f).sum() / spec.sum())


def varispeed(x: np.ndarray, rate: float) -> np.ndarray:
    from fractions import Fraction

    fr = Fraction(rate).limit_denominator(100)
    return resample_poly(x, fr.denominator, fr.numerator, axis=1).astype(np.float32)


def rubberband_all(items: list[tuple[str, np.ndarray]]) -> dict | None:
    """Rubber Band (pedalboard, GPL-3) run in its own venv: {(clip, rate): (y, cpu_s)}."""
    if not os.path.exists(RB_PY):
        return None
    with tempfile.TemporaryDirectory() as d:
        for i, (_, x) in enumerate(items):
            np.save(f"{d}/in{i}.npy", x)
        code = (
            "import sys,time,numpy as np,os\n"
            "os.sched_setaffinity(0,{min(os.sched_getaffinity(0))})\n"
            "from pedalboard import time_stretch\n"
            f"d=sys.argv[1]; rates={list(RATES)!r}; n={len(items)}\n"
            "out={}\n"
            "for i in range(n):\n"
            "  x=np.load(f'{d}/in{i}.npy')\n"
            "  for r in rates:\n"
            "    t=time.process_time(); y=time_stretch(x,44100.0,r); t=time.process_time()-t\n"
            "    np.save(f'{d}/out{i}_{r}.npy',y.astype(np.float32)); out[f'{i}_{r}']=t\n"
            "import json; print(json.dumps(out))\n")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        r = subprocess.run([RB_PY, "-c", code, d], capture_output=True, text=True, env=env)
        if r.returncode:
            print("rubberband (pedalboard) failed:", r.stderr.strip().splitlines()[-1:])
            return None
        times = json.loads(r.stdout.strip().splitlines()[-1])
        res = {}
        for i, _ in enumerate(items):
            for rate in RATES:
                res[(i, rate)] = (np.load(f"{d}/out{i}_{rate}.npy"), times[f"{i}_{rate}"])
        return res


def bench_stretch(items) -> list[dict]:
    ref_bpm = [bpm(x) for _, x in items]
    methods = ["wsola", "pv", "atempo", "rubberband (GPL)", "varispeed (pitch moves)"]
    rb = rubberband_all(items)
    rows = []
    for meth in methods:
        if meth.startswith("rubberband") and rb is None:
            continue
        for band in (0.04, 0.08):
            acc = {"cpu": 0.0, "out_s": 0.0, "tempo_ok": 0, "tempo_n": 0, "dist": [],
                   "sharp": [], "cent": []}
            for i, (_, x) in enumerate(items):
                for rate in (1 - band, 1 + band):
                    if meth.startswith("rubberband"):
                        y, cpu = rb[(i, round(rate, 2))]
                    else:
                        t = time.process_time()
                        if meth.startswith("varispeed"):
                            y = varispeed(x, rate)
                        else:
                            y = stretch(x, MIX_SR, rate, meth)
                        cpu = time.process_time() - t
                    acc["cpu"] += cpu
                    acc["out_s"] += y.shape[1] / MIX_SR
                    b = bpm(y)
                    if ref_bpm[i] and b:
                        acc["tempo_n"] += 1
                        q = b / ref_bpm[i] / rate  # a tracker switching metrical level is
                        lvl = min(LEVELS, key=lambda v: abs(np.log(q / v)))  # not the stretcher's
                        acc["tempo_ok"] += abs(q / lvl - 1) <= 0.005
                    acc["dist"].append(spectral_distance(x, y, rate))
                    acc["sharp"].append(transient_sharpness(x, y, rate))
                    acc["cent"].append(abs(centroid(y) / centroid(x) - 1))
            rows.append({"method": meth, "band": band,
                         "speed_x": acc["out_s"] / max(acc["cpu"], 1e-9),
                         "tempo_ok": f"{acc['tempo_ok']}/{acc['tempo_n']}",
                         "dist_db": float(np.mean(acc["dist"])),
                         "sharp": float(np.nanmean(acc["sharp"])),
                         "centroid": float(np.mean(acc["cent"]))})
            r = rows[-1]
            print(f"{meth:24s} ±{band * 100:.0f}%  {r['speed_x']:7.1f}x  tempo {r['tempo_ok']:>6s}"
                  f"  dist {r['dist_db']:.2f} dB  sharp {r['sharp']:.3f}  centroid Δ {r['centroid']:.3f}",
                  flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", type=int, default=4)
    ap.add_argument("--gtzan", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    items = clips(args.demo, args.gtzan, args.seconds)
    print(f"{len(items)} clips of {args.seconds:.0f} s: {', '.join(n for n, _ in items)}")
    rows = bench_stretch(items)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "render_stretch.json").write_text(json.dumps(rows, indent=1))
    print("\n| stretcher | ± | speed (× realtime, 1 core) | tempo within 0.5 % | spectral distance (dB) "
          "| transient sharpness | centroid |Δ| |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['band'] * 100:.0f} % | {r['speed_x']:.0f} | {r['tempo_ok']} | "
              f"{r['dist_db']:.2f} | {r['sharp']:.3f} | {r['centroid']:.3f} |")


if __name__ == "__main__":
    main()
