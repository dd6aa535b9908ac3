"""Hardening, round 8: the excerpt reader (render/source.py) on damaged files made at test
time from the demo library. A read past a damaged stretch of an Ogg lands where a full
decode (the analysis's count) has the sample: FFmpeg drops an Ogg page whose CRC is wrong,
so the reader's own page index must not count it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from underdog.render import source
from underdog.render.source import read_span

from .conftest import DEMO_LIBRARY

pytestmark = pytest.mark.timeout(300)
SR = 44100


def _damage_pages(src: Path, dst: Path, pages: int = 5) -> None:
    """``src`` with the payload of ``pages`` Ogg pages from its middle on flipped (page
    headers, lacing and stored CRCs kept): the CRCs no longer match."""
    b = bytearray(src.read_bytes())
    i = b.find(b"OggS", len(b) // 2)
    for _ in range(pages):
        nseg = b[i + 26]
        data = i + 27 + nseg
        end = data + sum(b[i + 27:data])
        for k in range(data + 10, end, 13):
            b[k] ^= 0xA5
        i = end
    dst.write_bytes(bytes(b))


def test_a_read_past_ogg_pages_with_bad_crcs_lands_where_the_full_decode_has_it(tmp_path):
    """Old code: the page index counted the 5 pages FFmpeg drops; this read (after them)
    came back from the wrong place (every sample off)."""
    bad = tmp_path / "feelings-bad-crc.opus"
    _damage_pages(DEMO_LIBRARY / "Sectoid - Feelings.opus", bad)
    full = read_span(bad)
    assert full.shape[1] < 287 * SR  # the damaged pages are gone from the decode
    t0 = 212.25
    x = read_span(bad, t0, t0 + 3)
    a = int(round(t0 * SR))
    assert x.shape[1] == 3 * SR
    np.testing.assert_array_equal(x, full[:, a:a + 3 * SR])
    assert source._ogg_index(str(bad), "opus") is None  # counted by demuxing instead


@pytest.mark.parametrize("name, codec", [("Sectoid - Feelings.opus", "opus"),
                                         ("Muldjord - Chaos God.ogg", "vorbis")])
def test_an_undamaged_oggs_pages_pass_the_crc_check(name, codec):
    """The CRC check is Ogg's own: a clean file is still indexed from its pages."""
    assert source._ogg_index(str(DEMO_LIBRARY / name), codec) is not None


def test_fill_windows_gives_up_on_a_search_too_large_rather_than_growing_without_bound():
    """An arc file's work rounds each at its own length and level make one slot kind each:
    fill_windows' cells grow as 2 to the kinds (old code, 14 kinds: 150 s CPU, 9 GB).
    Past FILL_WORK it answers inf at once (the planner then plans as before)."""
    import resource
    import time

    from underdog.planning.excerpts import fill_windows

    rng = np.random.default_rng(0)
    tracks = [(rng.uniform(0, 10, 100), 1.0) for _ in range(3)]
    kinds = 11
    t = time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value, wins = fill_windows(tracks, list(range(4, 4 + kinds)), [7.0] * kinds, [1] * kinds)
    assert time.process_time() - t < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100_000  # KiB
    assert value == float("inf") and wins == [[] for _ in range(kinds)]
    # a search within the bound still answers: two kinds, as the round arcs make
    value, wins = fill_windows(tracks, [8, 16], [7.0, 6.0], [3, 2])
    assert np.isfinite(value) and [len(w) for w in wins] == [3, 2]


def test_a_render_refuses_an_excerpt_past_the_end_of_a_file_cut_since_the_plan(tmp_path):
    """Old code: the excerpt of a file cut to 300 kB (of 288 s, about 30 s left) was laid
    out on beats that are not there (a '-7.080x' rate, silence written) and the render
    went on. Now: one line naming the entry, and no output file."""
    from underdog.errors import UnderdogError
    from underdog.render.render import plan_from_json, render

    cut = tmp_path / "Feelings.opus"
    cut.write_bytes((DEMO_LIBRARY / "Sectoid - Feelings.opus").read_bytes()[:300_000])
    stairs = str(DEMO_LIBRARY / "Nexuiz - Stairs.mp3")
    plan = plan_from_json({"entries": [
        {"path": stairs, "in_s": 4.0, "out_s": 34.0, "start_s": 0.0},
        {"path": str(cut), "in_s": 156.7, "out_s": 171.6, "start_s": 28.0}]})
    out = tmp_path / "mix.wav"
    with pytest.raises(UnderdogError, match="entry 2.*after the track's last beat"):
        render(plan, out, refine=False)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["Feelings.opus"]
