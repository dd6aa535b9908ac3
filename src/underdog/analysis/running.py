"""Running maximum and median over a window sliding along a 1-D array.

They give what scipy.ndimage's ``maximum_filter1d`` and ``median_filter`` give (window of
``size`` centred at ``size // 2``; ``mode`` says how the ends are extended) without
importing scipy.ndimage on the analysis path.
"""

from __future__ import annotations

import numpy as np

_PAD = {"nearest": "edge", "reflect": "symmetric"}


def _extend(x: np.ndarray, size: int, mode: str) -> np.ndarray:
    if mode not in _PAD:
        raise ValueError(f"mode must be one of {sorted(_PAD)}, not {mode!r}")
    left = size // 2
    return np.pad(x, (left, size - 1 - left), mode=_PAD[mode])


def running_max(x: np.ndarray, size: int, mode: str = "reflect") -> np.ndarray:
    """Running maximum, O(n) for any window (van Herk / Gil-Werman: prefix and suffix
    maxima per block of ``size``).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Values.
    size : int > 0
        Window length in samples.
    mode : str
        How the ends are extended (``numpy.pad`` modes).

    Returns
    -------
    np.ndarray [shape=(n,), x.dtype]
        ``out[i] = max(x[i - size // 2 : i - size // 2 + size])``.
    """
    x = np.asarray(x)
    if x.ndim != 1 or size < 1:
        raise ValueError("running_max takes a 1-D array and size >= 1")
    if len(x) == 0 or size == 1:
        return x.copy()
    xp = _extend(x, size, mode)
    if not np.issubdtype(xp.dtype, np.floating):
        xp = xp.astype(np.float64)
    blocks = -(-len(xp) // size)
    padded = np.full(blocks * size, -np.inf, dtype=xp.dtype)
    padded[:len(xp)] = xp
    grid = padded.reshape(blocks, size)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    n = len(x)
    return np.maximum(suffix[:n], prefix[size - 1:size - 1 + n]).astype(x.dtype, copy=False)


def running_median(x: np.ndarray, size: int, mode: str = "reflect") -> np.ndarray:
    """Running median (the element of rank ``size // 2`` in each window).

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Values (e.g. an onset envelope, one a frame).
    size : int > 0
        Window length in samples; the median for odd ``size``.
    mode : str
        How the ends are extended (``numpy.pad`` modes).

    Returns
    -------
    np.ndarray [shape=(n,)]
        ``out[i]`` = the rank-``size // 2`` value of ``x[i - size // 2 : i - size // 2 + size]``.
    """
    x = np.asarray(x)
    if x.ndim != 1 or size < 1:
        raise ValueError("running_median takes a 1-D array and size >= 1")
    if len(x) == 0 or size == 1:
        return x.copy()
    windows = np.lib.stride_tricks.sliding_window_view(_extend(x, size, mode), size)
    out = np.empty(len(x), dtype=x.dtype)
    # a few thousand windows at a time: partition copies them (all at once, a 3-hour
    # envelope's 1-s windows would be 80 MB)
    step = max(1, (1 << 21) // size)
    for i in range(0, len(x), step):
        out[i:i + step] = np.partition(windows[i:i + step], size // 2, axis=1)[:, size // 2]
    return out
