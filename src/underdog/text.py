"""Text for people: every character a terminal (or a plot label) would act on written as
an escape (the CLI's consoles, the plot's labels), and times as m:ss."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def visible(text: object, keep_newlines: bool = False) -> str:
    """``text`` with every character a terminal would act on written as an escape.

    Control characters (ESC, BEL, ...), format characters (bidi overrides, zero-width
    marks) and other non-printable ones become ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN`` (``\\n``,
    ``\\t``, ``\\r`` by name); an undecodable file-name byte (a lone surrogate from
    ``os.fsdecode``) becomes ``\\xNN`` of that byte. The result is printable, valid UTF-8,
    and unchanged by a second call.
    """
    s = str(text)
    if s.isprintable():
        return s
    out = []
    for c in s:
        if c.isprintable() or (keep_newlines and c == "\n"):
            out.append(c)
        elif c in _NAMED:
            out.append(_NAMED[c])
        else:
            o = ord(c)
            if 0xDC80 <= o <= 0xDCFF:  # os.fsdecode's escape for the byte o - 0xDC00
                out.append(f"\\x{o - 0xDC00:02x}")
            elif o < 0x100:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    return "".join(out)


def mmss(seconds: float, hours: bool = False) -> str:
    """Seconds (rounded, at least 0) as m:ss; ``hours``: h:mm:ss from an hour on."""
    s = max(int(round(seconds)), 0)
    h, m = divmod(s, 3600) if hours else (0, s)
    return f"{h}:{m // 60:02d}:{m % 60:02d}" if h else f"{m // 60}:{m % 60:02d}"
