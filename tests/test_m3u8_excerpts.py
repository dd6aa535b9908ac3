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
