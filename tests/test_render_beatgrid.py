"""Beat lines as the audio has them (render/beatgrid.py): an overlap's beats meet where a
beat tracker hears them even when the library's beats for that window sit a 16th or an
eighth off (another phase), and a track that drifts against a straight line is pinned beat
by beat. Real audio: demo-library tracks, the drift made with the render's own stretcher."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from underdog.render import beatgrid, mix
from underdog.render.render import (Plan, PlanEntry, analysis_beats, apart, audio_refiner,
                                    unsteady_warnings)
from underdog.render.source import MIX_SR, read_span
from underdog.render.stretch import TimeMap, stretch

from .test_render_mix import A


@pytest.mark.parametrize("forward", [False, True])
@pytest.mark.parametrize("off_beats", [0.25, 0.5, -0.25])
def test_library_beats_off_phase_are_placed_where_the_tracker_hears_the_beat(forward, off_beats):
    """A library whose stored beats for a window are a 16th (a quarter beat) or an eighth
    off: the render's refiner used to keep (or tilt) the line there, ±50 ms from it at
    most, so two tracks met 100-250 ms apart; it now places the same beats as on the
    library's own line (within 10 ms; a line half a beat off may land on the next beat)."""
    beats, down = analysis_beats(A)
    period = float(np.median(np.diff(beats)))
    refine = audio_refiner([A])
    t = float(down[np.argmin(np.abs(down - (30.0 if forward else 60.0)))])
    at, per = mix.fit_beats(beats, t, 32, forward)
    want = refine(0, at, per, 32, forward)
    at_off, per_off = mix.fit_beats(beats + off_beats * period, t + off_beats * period, 32,
                                    forward)
    got = refine(0, at_off, per_off, 32, forward)
    gap = (got - want + 0.5 * period) % period - 0.5 * period  # modulo whole beats
    assert np.max(np.abs(gap)) < 0.010


def test_tracker_line_keeps_a_line_on_the_beat_and_moves_one_off_it():
    """On the library's own line the tracker hears no other beat; on a line an eighth
    off it hears the beat half a beat away."""
    beats, _ = analysis_beats(A)
    sel = beats[(beats >= 20.0) & (beats <= 40.0)]
    at, period = mix.fit_beats(beats, float(sel[0]), len(sel) - 1, forward=True)
    line = at + np.arange(len(sel)) * period
    x = read_span(A, 12.0, 41.0)
    assert beatgrid.tracker_line(x, MIX_SR, 12.0, line) is None
    got = beatgrid.tracker_line(x, MIX_SR, 12.0, line + 0.5 * period)
    assert got is not None
    assert abs(abs(got[0] - line[0] - 0.5 * period) - 0.5 * period) < 0.05 * period
    assert got[1] == pytest.approx(period, rel=0.01)


def _warped(time_map):
    """16 s of the demo's Stairs played through ``time_map`` (output s -> input s):
    (the stretched audio, where its beats' onsets land, their best straight line, frames
    per second of the onset envelope)."""
    sr = MIX_SR
    fps = sr / beatgrid.HOP
    beats, _ = analysis_beats(A)
    t0, t1 = 20.0, 36.0
    x = read_span(A, t0, t1)
    u = np.linspace(0.0, x.shape[1] / sr, 400)
    tin = time_map(u)
    keep = tin <= x.shape[1] / sr
    y = stretch(x, sr, TimeMap(u[keep] * sr, tin[keep] * sr), "wsola")
    # the beats' onsets in the original (the library's beats are on 23 ms frames), then
    # where the map puts them
    src = beats[(beats >= t0 + 1.0) & (beats <= t1 - 1.0)] - t0
    ex = np.convolve(beatgrid.onset_envelope(x, sr), [0.25, 0.5, 0.25], mode="same")
    w = int(0.03 * fps)
    src = np.array([b + (np.argmax(ex[int(round(b * fps)) - w:int(round(b * fps)) + w + 1]) - w)
                    / fps for b in src])
    true = np.interp(src, tin[keep], u[keep])
    true = true[true < y.shape[1] / sr - 0.5]
    k = np.arange(len(true))
    slope, icpt = np.polyfit(k, true, 1)
    return y, true, icpt + slope * k, fps


def test_a_drifting_track_is_pinned_beat_by_beat():
    """A track whose tempo wanders (made here: 16 s of a demo track played through a
    time map whose rate swings ±1.3 %, so its beats leave the best straight line by up to
    ~25 ms): each beat is pinned onto its onset, where the line misses."""
    # output time u (s) -> input time u + a sin(2 pi u / T)
    y, true, line, fps = _warped(lambda u: u + 0.03 * np.sin(2 * np.pi * u / 15.0))
    miss = np.abs(line - true)
    assert miss.max() > 0.02  # a line cannot follow it
    pinned = beatgrid.pin_beats(beatgrid.onset_envelope(y, MIX_SR), fps, line)
    err = np.abs(pinned - true)
    assert np.median(err) < 0.004
    assert err.max() < 0.5 * miss.max()


def test_a_track_that_speeds_up_past_the_reach_is_followed():
    """The same 16 s, its second half played ever faster (the input runs 3 ms/s² ahead
    from 8 s on): its beats leave the best straight line by 30 ms in the middle and 57 ms
    at the end, past the ±30 ms a beat looks for its onset. Pinned beats follow the drift
    from beat to beat (the old pins stopped at the reach: up to 57 ms off)."""
    y, true, line, fps = _warped(lambda u: u + 0.003 * np.maximum(0.0, u - 8.0) ** 2)
    assert np.abs(line - true).max() > 0.05
    pinned = beatgrid.pin_beats(beatgrid.onset_envelope(y, MIX_SR), fps, line)
    assert np.abs(pinned - true).max() < 0.010


FREE_MUSIC = Path(os.environ.get("UNDERDOG_FREE_MUSIC",
                                 Path(__file__).resolve().parents[2] / "free-music"))


def _jumped(x: np.ndarray, sr: int, at_s: float, by_s: float) -> np.ndarray:
    """``x`` with ``by_s`` of itself played again at ``at_s``: from there on, every beat
    comes ``by_s`` later (a beat that moves inside a window, made from real audio)."""
    a, d = int(round(at_s * sr)), int(round(by_s * sr))
    return np.concatenate([x[:, :a], x[:, a - d:]], axis=1)


def _stairs_line():
    """32 beats of the demo's Stairs from its downbeat nearest 30 s: (its audio from a beat
    before them, sample 0 at track time lo, with the tracker's context after, at the mix
    rate; the library's line of 33 beats, its start and period, lo)."""
    beats, down = analysis_beats(A)
    t = float(down[np.argmin(np.abs(down - 30.0))])
    at, per = mix.fit_beats(beats, t, 32, forward=True)
    line = at + np.arange(33) * per
    lo = at - per
    return read_span(A, lo, line[-1] + beatgrid.CONTEXT_S + per), line, at, per, lo


def test_a_reading_that_hears_three_beats_as_two_is_not_steady():
    """The free tracker compared at the coarser level: at half tempo on the beats (or
    with one stray beat) the beats count as heard; hearing three beats as two (every
    other tracked beat half a beat off, as the acceptance bench's free reading heard
    warzone2100's track14 in a blend of its montage), they do not."""
    from scipy.ndimage import median_filter

    per = 0.45
    beats = 20.0 + per * np.arange(32)
    rng = np.random.default_rng(3)

    def heard(got):
        d = beatgrid.heard_off(np.sort(got), beats, per)
        return median_filter(d, size=3, mode="nearest") <= beatgrid.STEADY_TOL * per

    assert heard(beats[::2] + rng.normal(0, 0.005, 16)).all()  # half tempo, on the beats
    assert not heard(beats[::2] + 0.5 * per).any()  # half tempo, on the off-beats
    stray = beats.copy()
    stray[10] += 0.3 * per
    assert heard(stray).all()
    three_two = beats[0] + 1.5 * per * np.arange(21) + rng.normal(0, 0.005, 21)
    assert heard(three_two).mean() < 0.5


def test_steady_beats_finds_where_a_beat_moves_by_a_16th(tmp_path):
    """The demo's Stairs over 32 beats: the tracker hears every beat on the line; with
    the audio moved by a 16th from beat 16 on (a quarter beat repeated there), the beats
    after the jump are unsteady and those before are not, and the render's refiner
    records it for a warning."""
    import soundfile as sf

    sr = MIX_SR
    x, line, at, per, lo = _stairs_line()
    assert beatgrid.steady_beats(x, sr, lo, line, forward=True).all()
    y = _jumped(x, sr, line[16] - 0.1 * per - lo, 0.25 * per)
    ok = beatgrid.steady_beats(y, sr, lo, line, forward=True)
    assert ok[:14].mean() >= 0.9 and ok[19:].mean() <= 0.1
    # through the render's refiner, from a file
    path = tmp_path / "jumped.wav"
    sf.write(path, y.T, sr)
    heard: dict = {}
    got = audio_refiner([str(path)], heard=heard)(0, at - lo, per, 32, True)
    assert len(got) == 33
    placed, steady, off = heard[(0, True)]
    np.testing.assert_array_equal(placed, got)
    assert len(off) == 33  # where the tracker told the tempo hears each (told_offsets)
    bad, n = int(np.count_nonzero(~steady)), len(steady)
    assert n == 33 and bad > n / 4
    # the render's report: one warning for that blend, none for a cut or a steady side
    plan = Plan([PlanEntry(path="a.flac", title="Before"),
                 PlanEntry(path=str(path), title="Jumped"),
                 PlanEntry(path="c.flac", title="After", transition=mix.Transition("cut"))])
    def side(n_bad: int) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(33.0), np.arange(33) >= n_bad

    notes = unsteady_warnings(plan, {(0, False): side(2), (1, True): (placed, steady),
                                     (2, True): side(33)})
    assert len(notes) == 1 and "Before -> Jumped" in notes[0] and f"{bad} of 33" in notes[0]


def test_a_blend_whose_beats_the_tracker_hears_apart_is_reported():
    """The demo's Stairs on both sides of a blend: where both lines sit on its beats, the
    tracker told the tempo hears them meet; where one line is 25 ms early against its
    audio (pinned to the same session beats as the other), it hears the beats 25 ms apart
    and the render's report says so, once, for that blend."""
    sr = MIX_SR
    x, line, at, per, lo = _stairs_line()
    here = beatgrid.told_offsets(x, sr, lo, line, True)
    assert np.isfinite(here).mean() > 0.9 and np.nanmedian(np.abs(here)) <= 0.012
    early = line + 0.025  # a line 25 ms late: the tracker hears the beats 25 ms before it
    there = beatgrid.told_offsets(x, sr, lo, early, True)
    assert abs(np.nanmedian(there) + 0.025) <= 0.012
    same = mix.Placement(np.array([0.0, 600.0]), np.array([0.0, 600.0]), 1.0, 1.0)
    moved = mix.Placement(np.array([0.0, 600.0]), np.array([0.025, 600.025]), 1.0, 1.0)
    ok = np.ones(33, bool)
    assert apart(same, same, (line, ok, here), (line, ok, here)) is None
    med, p95, met = apart(same, moved, (line, ok, here), (early, ok, there))
    assert 0.015 < med <= 0.04 and p95 >= med and met[0].mean() < 0.5 and met[1].mean() < 0.5
    plan = Plan([PlanEntry(path="a.flac", title="Out"), PlanEntry(path=A, title="In")])
    heard = {(0, False): (line, ok, here), (1, True): (early, ok, there)}
    notes = unsteady_warnings(plan, heard, [same, moved])
    assert len(notes) == 1 and "Out -> In" in notes[0] and "apart" in notes[0]
    assert unsteady_warnings(plan, heard) == []  # without the layout: the steady check only


def _refined_free_line(name: str, from_s: float):
    """The refiner's 33 beats for the library's 32-beat line of warzone2100's ``name``
    from ``from_s`` (skipped without the free library); (beats, line start, period)."""
    path = FREE_MUSIC / "warzone2100" / name
    if not path.exists():
        pytest.skip(f"{path} absent (the free library)")
    beats, _ = analysis_beats(str(path))
    at, per = mix.fit_beats(beats, from_s, 32, forward=True)
    return audio_refiner([str(path)])(0, at, per, 32, True), at, per


def test_an_intro_without_a_clear_beat_keeps_the_trackers_period():
    """Warzone 2100's track20 opens with 9 s where its beat is unclear (the tracker reads
    152 or 79 BPM there, 161 after): the onsets alone tilted its first 32 beats' line by
    1 % (0.368 s for a 0.3715-s beat), so the line left the beat by ~115 ms at the end of
    the overlap; the tracker, told each tempo, follows the track's own, which is kept."""
    got, at, per = _refined_free_line("track20.opus", 0.0)
    slope = float(np.polyfit(np.arange(len(got)), got, 1)[0])
    assert slope == pytest.approx(per, rel=0.003)


def test_a_shared_memo_gives_the_same_beats_and_steady_flags():
    """The refiner analyses each window as heard once (``memo``, issue 15): refine_beats
    and steady_beats with one memo across them give exactly the beats and flags they give
    each on its own, on a line an eighth off (the tracker tells the tempo twice there)."""
    sr = MIX_SR
    beats, down = analysis_beats(A)
    per0 = float(np.median(np.diff(beats)))
    t = float(down[np.argmin(np.abs(down - 30.0))]) + 0.5 * per0
    at, per = mix.fit_beats(beats + 0.5 * per0, t, 16, forward=True)
    lo = at - per
    x = read_span(A, lo, at + 16 * per + beatgrid.CONTEXT_S + per)
    want = beatgrid.refine_beats(x, sr, lo, at, per, 16, True)
    memo: dict = {}
    got = beatgrid.refine_beats(x, sr, lo, at, per, 16, True, memo)
    assert np.array_equal(got, want)
    assert any(k[0] == "onset" for k in memo)  # the window's onset strength is kept
    ok = beatgrid.steady_beats(x, sr, lo, got, True)
    assert np.array_equal(beatgrid.steady_beats(x, sr, lo, got, True, memo=memo), ok)
    # once more from the memo alone (nothing recomputed): the same flags
    assert np.array_equal(beatgrid.steady_beats(x, sr, lo, got, True, memo=memo), ok)


def _envelope(shape: np.ndarray, beat_s: float, n: int, fps: float) -> np.ndarray:
    """An onset envelope with ``shape`` (frames from the beat on) at beats ``beat_s`` apart
    from 1 s, ``n`` of them, on a small floor."""
    env = np.full(int((2.0 + n * beat_s) * fps), 0.1)
    for b in range(n):
        c = int(round((1.0 + b * beat_s) * fps))
        env[c:c + len(shape)] += shape
    return env


def test_a_soft_attack_does_not_pull_the_line_onto_its_lump():
    """Strings or pads spread their onset strength over tens of ms after the beat (on
    Warzone 2100's track25, a small rise at the beat and a lump peaking 30 ms later): the
    refiner moved the tracker's line onto the lump, 28-36 ms late, so two tracks met 29-35
    ms apart (montage overlap 1, 2026-12-02). A broad peak may move the line by half the
    tracker's frame at most; a sharp hit still moves it the whole way."""
    fps = MIX_SR / beatgrid.HOP
    t = np.arange(int(0.09 * fps)) / fps
    soft = 0.4 * (t < 0.006) + np.exp(-0.5 * ((t - 0.03) / 0.02) ** 2)  # rise, then a lump
    env = _envelope(soft, 0.5, 34, fps)
    at, per = 1.0, 0.5
    got_at, got_per = beatgrid.refine_line(env, fps, at, per, 32, True)
    assert abs(got_at - at) <= beatgrid.SOFT_MOVE_S + 1.0 / fps
    assert got_per == pytest.approx(per, rel=0.001)
    # a sharp hit 25 ms from the line: the line moves onto it
    sharp = np.array([0.0, 1.0, 0.3])
    env = _envelope(sharp, 0.5, 34, fps)
    got_at, _ = beatgrid.refine_line(env, fps, at - 0.025, per, 32, True)
    assert abs(got_at - (1.0 + 1.0 / fps)) < 0.003


def test_track25s_soft_beats_keep_the_trackers_line():
    """The same on the audio (Warzone 2100's track25 from 158 s, 32 beats, skipped without
    the free library): the refined beats stay within 15 ms of the library's line (about
    half a tracker frame; the old code put them 28-36 ms late)."""
    got, at, per = _refined_free_line("track25.opus", 158.0)
    assert np.max(np.abs(got - (at + np.arange(33) * per))) <= 0.015
