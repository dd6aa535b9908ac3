"""Readers of user files never hang, never crash: tracklists, arcs, M3U8 and XSPF playlists
(issue 19, item 4 and the "Arcs and arguments" and "Playlists" rows).

Each reader returns a result or raises one ``UnderdogError`` with a one-line message, in
time linear in its input: a 1 MB line takes well under 2 s. Times are CPU times of this
process, so a busy machine does not make them flaky. ``UNDERDOG_PARSER_FUZZ_EXAMPLES``
raises the hypothesis example count (60 per reader test by default).
"""

from __future__ import annotations

import json
import logging
import os
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from underdog.errors import PlaylistError, UnderdogError
from underdog.export import playlists
from underdog.export.playlists import read_playlist
from underdog.planning.arcs import (MAX_MINUTES, ArcError, Arc, Segment, hiit, load_arc,
                                    load_toml, parse_toml)
from underdog.soundtrack.match import LibraryItem, match_tracklist
from underdog.soundtrack.normalize import normalize
from underdog.soundtrack.tracklist import (MAX_ENTRIES, TracklistEntry, TracklistError,
                                          parse_line, read_tracklist)

MB = 1_000_000
FUZZ = settings(max_examples=int(os.environ.get("UNDERDOG_PARSER_FUZZ_EXAMPLES", "60")),
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


class cpu_under:
    """``with cpu_under(2.0): ...`` fails if the block used more CPU seconds than that."""

    def __init__(self, limit_s: float):
        self.limit_s = limit_s

    def __enter__(self):
        self.t0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.used = time.process_time() - self.t0
        assert self.used < self.limit_s, f"took {self.used:.2f} s CPU"
        return False


def one_line_error(exc: BaseException) -> None:
    assert isinstance(exc, UnderdogError), repr(exc)
    msg = str(exc)
    assert msg and "\n" not in msg and len(msg) < 600, msg


# ---------------------------------------------------------------- tracklists

@pytest.mark.parametrize("line", [
    "A - B" + " " * MB + "x",                 # the time-at-end-of-line pattern
    "[film] " * (MB // 7),                    # one tag after another
    "A" + " " * MB + "by B [film]",
    "x by " * (MB // 5),
    " - " * (MB // 3),
    "Song by" + "\t " * (MB // 2) + "Band 1:02:03",
])
def test_tracklist_1mb_line_is_linear(line):
    with cpu_under(2.0):
        try:
            parse_line(line)
        except ValueError:
            pass


def test_tracklist_long_line_is_a_clear_error(tmp_path):
    p = tmp_path / "long.txt"
    p.write_text("A - B\n" + "C - D" + " " * 200_000 + "x\n" + "[film] " * 100_000 + "\n")
    with cpu_under(2.0), pytest.raises(TracklistError, match=r"long.txt:2: line is "):
        read_tracklist(p)


def _json_list(n: int) -> str:
    return json.dumps([{"artist": f"Band {i}", "title": f"Song {i}", "tags": ["film"],
                        "time": i % 86_000} for i in range(n)], indent=1)


def test_tracklist_entry_limit_and_10k_entries_fast(tmp_path):
    p = tmp_path / "big.json"
    p.write_text(_json_list(40_000))
    with cpu_under(5.0), pytest.raises(TracklistError, match="at most 10,000"):
        read_tracklist(p)
    p.write_text(_json_list(MAX_ENTRIES))
    with cpu_under(2.0):
        assert len(read_tracklist(p)) == MAX_ENTRIES
    t = tmp_path / "big.txt"
    t.write_text("".join(f"Band {i} - Song {i} [film] 1:{i % 60:02d}\n" for i in range(20_000)))
    with pytest.raises(TracklistError, match="at most 10,000"):
        read_tracklist(t)


@pytest.mark.parametrize("name, body, expect", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("deep2.json", '{"tracks": [{"artist": "A", "title": "B"}], "x": ' + "[" * 50_000 +
     "]" * 50_000 + "}", "nested too deeply"),
    ("field.csv", "A," + "x" * 200_000 + "\n", "malformed CSV: field larger"),
    ("inf.json", '[{"artist": "A", "title": "B", "time": Infinity}]', "under 86400"),
    ("nan.json", '[{"artist": "A", "title": "B", "time": NaN}]', "under 86400"),
    ("digits.json", '[{"artist": "A", "title": "B", "time": ' + "9" * 400 + "}]",
     "under 86400"),
    ("digits5k.json", '[{"artist": "A", "title": "B", "time": ' + "9" * 5000 + "}]",
     "invalid JSON"),
    ("e400.json", '[{"artist": "A", "title": "B", "time": 1e400}]', "under 86400"),
    ("hours.txt", "A - B 99:00:00\n", "under 24:00:00"),
    ("name.csv", "A," + "t" * 600 + "\n", "title is 600 characters long"),
])
def test_tracklist_bad_values_are_clear_errors(tmp_path, name, body, expect):
    p = tmp_path / name
    p.write_text(body)
    with cpu_under(2.0), pytest.raises(TracklistError, match=expect) as info:
        read_tracklist(p)
    one_line_error(info.value)


def test_tracklist_json_reads_only_the_tracks_key(tmp_path):
    p = tmp_path / "decoy.json"
    p.write_text(json.dumps({"comment": "tracks", "decoy": [{"artist": "D", "title": "E"}],
                             "tracks": [{"artist": "A", "title": "B"},
                                        {"artist": "C", "title": "F"}]}, indent=1))
    got = [(e.artist, e.title, e.line) for e in read_tracklist(p)]
    assert got == [("A", "B", 10), ("C", "F", 14)]


def test_tracklist_file_size_limit(tmp_path):
    p = tmp_path / "huge.txt"
    p.write_bytes(b"A - B\n" * 1_000_000)
    with cpu_under(2.0), pytest.raises(TracklistError, match="larger than 5 MB"):
        read_tracklist(p)


def test_matcher_long_names_and_repeated_entries_are_fast():
    name = "a" + " " * MB + "feat b" + "x" * MB + "..." + " " * 10_000 + "!"
    with cpu_under(2.0):
        normalize(name, name)
    lib = [LibraryItem(path=f"/m/{i}.ogg", artist=f"Band {i}", title=f"Song {i}")
           for i in range(300)]
    entries = [TracklistEntry("Band 7", "Song 7", ["film"])] * 10_000
    with cpu_under(2.0):
        res = match_tracklist(entries, lib)
    assert len(res) == 10_000 and res[-1].status == "found"
    assert res[-1].entry is entries[-1]


_line_chars = st.sampled_from(list(" \t[]()-–—:#,;0123456789byBYfilm") +
                              list(string.ascii_letters))


@FUZZ
@given(text=st.one_of(st.text(max_size=300), st.text(_line_chars, max_size=300)),
       fmt=st.sampled_from(["text", "csv", "json"]))
def test_tracklist_fuzz_text(tmp_path, text, fmt):
    p = tmp_path / f"t.{fmt}"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_tracklist(p, fmt)
    except UnderdogError as exc:
        one_line_error(exc)


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                       st.text(max_size=20), st.sampled_from(["film", "1:02:03", "A"]))
_json = st.recursive(_json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=5),
    st.dictionaries(st.sampled_from(["artist", "title", "tags", "time", "tracks", "x"]),
                    kids, max_size=5)), max_leaves=30)


@FUZZ
@given(doc=_json)
def test_tracklist_fuzz_json_structures(tmp_path, doc):
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    try:
        entries = read_tracklist(p)
    except UnderdogError as exc:
        one_line_error(exc)
        return
    for e in entries:
        assert e.time_s is None or 0 <= e.time_s < 86_400
        e.to_json()


@FUZZ
@given(data=st.binary(max_size=400))
def test_tracklist_fuzz_bytes(tmp_path, data):
    for ext in ("txt", "csv", "json"):
        p = tmp_path / f"b.{ext}"
        p.write_bytes(data)
        try:
            read_tracklist(p)
        except UnderdogError as exc:
            one_line_error(exc)


# ---------------------------------------------------------------- arcs

SEG = "[[segment]]\nshare = 1\nbpm = 120\n"


@pytest.mark.parametrize("text, expect", [
    ("segment = [1, 2]\n", r"a.toml:1: segment 1: 'segment' must be tables"),
    ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 32 deep"),
    ("x = " + "{a=" * 5_000 + "1" + "}" * 5_000 + "\n", "nested more than 32 deep"),
    # tomllib takes time and memory quadratic in a dotted key's parts (31 s, then
    # MemoryError at 100,000)
    ("a" + ".a" * 100_000 + " = 1\n", "dotted keys nested more than 32 deep"),
    ("[[a" + ".a" * 100_000 + "]]\n", "dotted keys nested more than 32 deep"),
    ("[[segment]]\nshare = 1e-320\nbpm = 120\n[[segment]]\nshare = 1e308\nbpm = 120\n",
     r"a.toml:2: segment 1: 'share'"),
    ("segment = [" + ", ".join("{share = 1, bpm = 120}" for _ in range(10_000)) + "]\n",
     "10,000 segments; an arc has at most 200"),
    ("name = { a = 1 }\n" + SEG, r"a.toml:1: 'name' must be a string"),
    ("description = 3\n" + SEG, r"a.toml:1: 'description' must be a string"),
    ("[[segment]]\nname = 3\nshare = 1\nbpm = 120\n", r"a.toml:2: segment 1: 'name' must"),
    ("[[segment]]\nminutes = \"5\"\nbpm = 120\n", r"a.toml:2: segment 1: 'minutes' must"),
    ("[[segment]]\nminutes = 99999999999999999999\nbpm = 120\n", "'minutes' must be a number"),
    ("[[segment]]\nminutes = 1e6\nbpm = 120\n", "at most 600"),
    ("minutes = 1e6\n" + SEG, r"a.toml:1: 'minutes' = 1e\+06: a session must"),
    ("[[segment]]\nshare = 1\nbpm = \"fast\"\n", "'bpm' must be a number"),
    ("[[segment]]\nshare = 1\nbpm = [1, 2, 3]\n", "'bpm' must be a number or"),
    ("[[segment]]\nshare = 1\nbpm = 120\nenergy = true\n", "'energy' must be a number"),
    ("[[segment]]\nshare = 1\nbpm = 120\nstyle = 3\n", "'style' must be a table"),
    ("[[segment]]\nshare = 1\nbpm = 120\nstyle = { heavy = \"x\" }\n", "must be a number"),
    ("[[segment]]\nshare = 1\nbpm = 120\ntolerance = []\n", "'tolerance' must be a number"),
    ("[[segment]]\nshare = 1\nbpm = 120\nhalf_double = \"yes\"\n", "true or false"),
    ("track_minutes = \"x\"\n" + SEG, "'track_minutes' must be a number"),
    ("segment = 3\n", "at least one"),
    ("[segment]\nshare = 1\n", "at least one"),
])
def test_arc_bad_input_is_a_clear_error(tmp_path, text, expect):
    p = tmp_path / "a.toml"
    p.write_text(text)
    with cpu_under(3.0), pytest.raises(ArcError, match=expect) as info:
        load_toml(p)
    one_line_error(info.value)
    assert str(info.value).startswith(str(p))


def test_arc_file_size_limit(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text("# " + "x" * 300_000 + "\n" + SEG)
    with cpu_under(2.0), pytest.raises(ArcError, match="larger than 256 KB"):
        load_toml(p)


def test_arc_sizes_are_bounded_where_arcs_are_built():
    with cpu_under(2.0):
        for make in (lambda: load_arc("montage").timeline(1e6),
                     lambda: load_arc("montage").timeline(1e9),
                     lambda: load_arc("hiit", rounds=100_000),
                     lambda: hiit(work=60, rest=60, rounds=100),
                     lambda: hiit(work=float("nan")),
                     lambda: load_arc("run", cadence=float("nan"))):
            with pytest.raises(ArcError) as info:
                make()
            one_line_error(info.value)
    assert hiit(rounds=50).timeline().total_s == (10 + 50 * 7) * 60
    # Shares of any scale split the session without overflow.
    seg = lambda sh: Segment("s", (120.0, 120.0), (5.0, 5.0), share=sh)  # noqa: E731
    tl = Arc("a", [seg(1e-300), seg(1e308), seg(1e308)]).timeline(30)
    assert [round(sp.end_s) for sp in tl.spans] == [0, 900, 1800]
    assert load_arc("montage").timeline(MAX_MINUTES).total_s == MAX_MINUTES * 60


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v).replace("inf", "inf").replace("nan", "nan")
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"


_toml_leaf = st.one_of(st.booleans(), st.integers(-10**20, 10**20),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                       st.sampled_from([120, 140.5, 1, 0.3, "heavy", 1e-320, 1e308]))
_toml_any = st.recursive(_toml_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.sampled_from(["heavy", "indie_synth", "x", "a b"]), kids, max_size=3)),
    max_leaves=12)
_seg_keys = ["name", "minutes", "share", "bpm", "tolerance", "half_double", "energy", "style",
             "style_min", "style_max", "peak", "bogus"]


@FUZZ
@given(top=st.dictionaries(st.sampled_from(["name", "description", "minutes", "style_min",
                                            "style_max", "track_minutes", "bogus"]),
                           _toml_any, max_size=4),
       segs=st.lists(st.dictionaries(st.sampled_from(_seg_keys), _toml_any, max_size=7),
                     max_size=5))
def test_arc_fuzz_structures(top, segs):
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for s in segs:
        lines.append("[[segment]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in s.items()]
    try:
        arc = parse_toml("\n".join(lines) + "\n", "f.toml")
    except ArcError as exc:
        one_line_error(exc)
        return
    try:
        arc.timeline()
    except ArcError as exc:
        one_line_error(exc)


@FUZZ
@given(text=st.one_of(st.text(max_size=400),
                      st.text(st.sampled_from(list("[]{}=\"'#\n .,0123456789absegmnt")),
                              max_size=400)))
def test_arc_fuzz_text(text):
    try:
        parse_toml(text, "f.toml")
    except ArcError as exc:
        one_line_error(exc)


# ---------------------------------------------------------------- playlists

def test_m3u8_url_entry_is_skipped_with_a_note(tmp_path, caplog):
    pl = tmp_path / "mix.m3u8"
    pl.write_text("#EXTM3U\na.mp3\n\nhttp://example.com/stream.mp3\n"
                  "file://server/share/b.mp3\nc.mp3\n")
    notes: list[str] = []
    assert read_playlist(pl, notes=notes) == [str(tmp_path / "a.mp3"), str(tmp_path / "c.mp3")]
    assert notes == [f"{pl}:4: skipped 'http://example.com/stream.mp3': not a local file",
                     f"{pl}:5: skipped 'file://server/share/b.mp3': not a local file"]
    with caplog.at_level(logging.WARNING):
        assert len(read_playlist(pl)) == 2
    assert "mix.m3u8:4: skipped" in caplog.text


def test_xspf_url_entry_is_skipped_with_a_note(tmp_path):
    pl = tmp_path / "mix.xspf"
    pl.write_text('<playlist version="1" xmlns="http://xspf.org/ns/0/">\n<trackList>\n'
                  '<track><location>a.mp3</location></track>\n'
                  '<track><location>https://example.com/a.mp3</location></track>\n'
                  '</trackList></playlist>\n')
    notes: list[str] = []
    assert read_playlist(pl, notes) == [str(tmp_path / "a.mp3")]
    assert notes and notes[0].startswith(f"{pl}:4: skipped 'https://example.com/a.mp3'")


def test_m3u8_entry_limit_and_long_line(tmp_path):
    pl = tmp_path / "big.m3u8"
    pl.write_text("".join(f"/music/{i}.mp3\n" for i in range(200_000)))
    with cpu_under(5.0), pytest.raises(PlaylistError, match="at most 50,000"):
        read_playlist(pl)
    pl.write_text("#EXTM3U\n#EXTINF:" + "1" * MB + "x\n" + "a" * MB + ".mp3\n")
    with cpu_under(2.0):
        try:
            read_playlist(pl)
        except UnderdogError as exc:
            one_line_error(exc)


def test_playlist_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(playlists, "MAX_PLAYLIST_BYTES", 1000)
    for ext in ("m3u8", "xspf"):
        pl = tmp_path / f"big.{ext}"
        pl.write_text("a.mp3\n" * 200)
        with pytest.raises(PlaylistError, match="larger than"):
            read_playlist(pl)


@pytest.mark.parametrize("dtd", [
    # billion laughs
    '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
    '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">'
    '<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>',
    # an external entity
    '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
])
def test_xspf_entities_are_refused(tmp_path, dtd):
    pl = tmp_path / "evil.xspf"
    ent = "&h;" if "ENTITY h" in dtd else "&x;"
    pl.write_text(f'<?xml version="1.0"?>\n{dtd}\n<playlist version="1" '
                  f'xmlns="http://xspf.org/ns/0/"><trackList><track><location>{ent}'
                  '</location></track></trackList></playlist>\n')
    with cpu_under(2.0), pytest.raises(PlaylistError, match="entity declaration") as info:
        read_playlist(pl)
    one_line_error(info.value)
    assert "root:" not in str(info.value)


_m3u_chars = st.sampled_from(list("#EXTINF:,-.0123456789 \t/\\abcé\x00\r\n") +
                             ["http://", "file://", "file:///x/", "C:\\", "%ff", "\u2028"])


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), st.lists(_m3u_chars, max_size=80).map(
    lambda xs: "".join(xs).encode("utf-8", "surrogatepass"))),
       ext=st.sampled_from(["m3u8", "m3u"]))
def test_m3u_fuzz(tmp_path, body, ext):
    pl = tmp_path / f"f.{ext}"
    pl.write_bytes(body)
    notes: list[str] = []
    try:
        out = read_playlist(pl, notes)
    except UnderdogError as exc:
        one_line_error(exc)
        return
    assert all(isinstance(p, str) for p in out)
    assert all("\n" not in n for n in notes)


_xml_text = st.lists(st.sampled_from(list("ab/%.:é ") + ["&amp;", "&lt;", "http://",
                                                           "file:///", "&#0;", "&x;"]),
                     max_size=12).map("".join)


@st.composite
def xspf_docs(draw) -> bytes:
    tracks = []
    for _ in range(draw(st.integers(0, 4))):
        locs = "".join(f"<location>{draw(_xml_text)}</location>"
                       for _ in range(draw(st.integers(0, 2))))
        extra = draw(st.sampled_from(["", "<title>t</title>", "<x:y xmlns:x='u'/>"]))
        tracks.append(f"<track>{extra}{locs}</track>")
    ns = draw(st.sampled_from(["http://xspf.org/ns/0/", "http://example.com/", ""]))
    ver = draw(st.sampled_from(['version="1"', 'version="0"', 'version="2"', ""]))
    head = draw(st.sampled_from(["", '<?xml version="1.0"?>\n', '<!DOCTYPE p>\n',
                                 '<!DOCTYPE p [<!ENTITY x "y">]>\n']))
    doc = (f'{head}<playlist {ver} xmlns="{ns}"><trackList>{"".join(tracks)}'
           '</trackList></playlist>')
    cut = draw(st.integers(0, len(doc)))
    return (doc if draw(st.booleans()) else doc[:cut]).encode("utf-8")


@FUZZ
@given(body=st.one_of(xspf_docs(), st.binary(max_size=200)))
def test_xspf_fuzz(tmp_path, body):
    pl = tmp_path / "f.xspf"
    pl.write_bytes(body)
    try:
        out = read_playlist(pl, [])
    except UnderdogError as exc:
        one_line_error(exc)
        return
    assert all(isinstance(p, str) for p in out)
