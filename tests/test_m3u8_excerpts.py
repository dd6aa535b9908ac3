"""M3U8 of an excerpt plan (issue 14): each excerpt gets #EXTVLCOPT start-time/stop-time
lines between its #EXTINF and its path, so VLC plays the excerpts as planned; whole-track
entries get none; the playlist still reads back to the same paths."""

from __future__ import annotations

import re
from types import SimpleNamespace

from underdog.export.playlists import excerpt_span, m3u8_lines, read_playlist, write_m3u8


def _e(path, in_s=None, out_s=None, duration_s=200.0, title="T"):
    return SimpleNamespace(path=path, artist="A", title=title, duration_s=duration_s,
                           in_s=in_s, out_s=out_s)


def vlc_spans(lines: list[str]) -> list[tuple[float | None, float | None]]:
    """(start, stop) of each path line, from the #EXTVLCOPT lines before it."""
    out, opts = [], {}
    for ln in lines:
        m = re.match(r"#EXTVLCOPT:(start|stop)-time=([0-9.]+)$", ln)
        if m:
            opts[m.group(1)] = float(m.group(2))
        elif ln.startswith("#EXTINF"):
            opts = {}
        elif ln and not ln.startswith("#"):
            out.append((opts.get("start"), opts.get("stop")))
            opts = {}
    return out


def test_excerpts_get_vlc_start_and_stop(tmp_path):
    entries = [_e("/m/a.mp3", 12.0, 52.25), _e("/m/b.mp3"), _e("/m/c.mp3", 0.0, 200.0),
               _e("/m/d.mp3", 0.0, 33.3333), _e("/m/e.mp3", 150.5, 199.99)]
    lines = m3u8_lines(entries)
    assert lines[1:5] == ["#EXTINF:40,A - T", "#EXTVLCOPT:start-time=12",
                          "#EXTVLCOPT:stop-time=52.25", "/m/a.mp3"]
    assert vlc_spans(lines) == [(12.0, 52.25), (None, None), (None, None), (0.0, 33.333),
                                (150.5, 199.99)]
    # #EXTINF gives what plays: the excerpt's length, the whole duration otherwise.
    assert [ln for ln in lines if ln.startswith("#EXTINF")] == [
        "#EXTINF:40,A - T", "#EXTINF:200,A - T", "#EXTINF:200,A - T", "#EXTINF:33,A - T",
        "#EXTINF:49,A - T"]
    out = tmp_path / "p.m3u8"
    write_m3u8(entries, out)
    assert read_playlist(out) == [e.path for e in entries]


def test_whole_track_and_odd_spans_get_no_options():
    assert excerpt_span(_e("/x", None, None)) is None
    assert excerpt_span(_e("/x", 0.0, 199.97)) is None  # the whole file to 50 ms
    assert excerpt_span(_e("/x", 10.0, 10.0)) is None  # empty
    assert excerpt_span(_e("/x", -1.0, 10.0)) is None
    assert excerpt_span(_e("/x", float("nan"), 10.0)) is None
    assert excerpt_span({"path": "/x", "in_s": 5, "out_s": 9, "duration_s": None}) == (5.0, 9.0)
    assert excerpt_span(SimpleNamespace(path="/x")) is None  # objects without the fields


def test_spans_read_back_from_m3u8_and_json(tmp_path):
    from underdog.export.playlists import write_json

    entries = [_e("/m/a.mp3", 12.0, 52.25), _e("/m/b.mp3"), _e("/m/d.mp3", 0.0, 33.3333)]
    m3u = tmp_path / "p.m3u8"
    write_m3u8(entries, m3u)
    spans: list = []
    assert read_playlist(m3u, spans=spans) == ["/m/a.mp3", "/m/b.mp3", "/m/d.mp3"]
    assert spans == [(12.0, 52.25), None, (0.0, 33.333)]
    js = tmp_path / "p.json"
    write_json({"entries": [{"path": e.path, "in_s": e.in_s, "out_s": e.out_s,
                             "duration_s": e.duration_s} for e in entries]}, js)
    spans = []
    read_playlist(js, spans=spans)
    assert spans == [(12.0, 52.25), None, (0.0, 33.3333)]
    # A hand-made M3U with a remote entry between: spans stay aligned with the paths.
    hand = tmp_path / "h.m3u"
    hand.write_text("#EXTM3U\n#EXTVLCOPT:start-time=5\n#EXTVLCOPT:stop-time=9.5\n"
                    "http://radio/x.mp3\n/m/a.mp3\n#EXTINF:4,x\n#EXTVLCOPT:stop-time=4\n"
                    "/m/b.mp3\n")
    spans = []
    assert read_playlist(hand, notes=[], spans=spans) == ["/m/a.mp3", "/m/b.mp3"]
    assert spans == [None, (0.0, 4.0)]


def test_score_grades_the_excerpts_and_shows_them():
    """score_tracks with spans: each track counts as its excerpt (length, energy over the
    span, drops inside it); rows show in_s, out_s and the drop's session time."""
    import numpy as np

    from underdog.models import Track
    from underdog.planning.arcs import hiit
    from underdog.planning.score import score_tracks

    curve = np.concatenate([np.full(50, 0.1), np.full(50, 0.9)]).astype(np.float32)
    mk = lambda i: Track(id=i, path=f"/m/{i}.mp3", artist=f"A{i}", title="T",  # noqa: E731
                         duration_s=200.0, bpm=130.0, energy=0.5, energy_curve=curve,
                         energy_curve_hop_s=2.0, drops=[{"time_s": 150.0, "strength": 0.8},
                                                        {"time_s": 20.0, "strength": 0.3}])
    tracks = [mk(1), mk(2), mk(3)]
    tl = hiit(work=1.0, rest=1.0, rounds=2).timeline(6.0)
    whole = score_tracks(tracks, tl)
    part = score_tracks(tracks, tl, spans=[(10.0, 50.0), None, (140.0, 180.0)])
    assert whole.minutes == 10.0 and part.minutes == round((40 + 200 + 40) / 60, 2)
    r1, r2, r3 = part.rows
    assert (r1["in_s"], r1["out_s"], r2["in_s"], r3["in_s"], r3["out_s"]) == (
        10.0, 50.0, None, 140.0, 180.0)
    assert r1["energy"] == 1.9 and r3["energy"] == 9.1  # the calm and the loud half
    assert r1["drop_at_s"] == 10.0  # drop at 20 s, excerpt from 10 s, entering at 0
    assert r2["drop_at_s"] == 40.0 + 150.0  # whole track: its strongest drop
    assert r3["drop_at_s"] == 240.0 + 10.0
    assert "in_s" not in whole.rows[0]
