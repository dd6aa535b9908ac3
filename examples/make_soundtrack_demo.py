"""Build a small test library that holds some of the Never Back Down songs.

It copies demo tracks from examples/library into OUT_DIR and retags the copies (mutagen) so
that they carry names from examples/tracklists/never-back-down-2008.txt, written the way
real files often are: a dropped "The", "&" for "and", a "- Remastered 2011" suffix, an
"(Album Version)", odd case, a remix (a different song: it must not count), and one file with
no artist/title tags at all, named ``Artist/Album/NN Title.opus``. Two demo tracks are copied
as they are. Nothing is ever written into examples/library.

    .venv/bin/python examples/make_soundtrack_demo.py /tmp/nbd-library
    .venv/bin/underdog scan /tmp/nbd-library --db /tmp/nbd-library/library.db
    .venv/bin/underdog soundtrack match examples/tracklists/never-back-down-2008.txt \\
        --db /tmp/nbd-library/library.db -o /tmp/nbd-library/complete.m3u8 \\
        --relative-to /tmp/nbd-library
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import mutagen

DEMO = Path(__file__).resolve().parent / "library"
KEEP = object()  # copy the file with its own tags

# (demo file, destination under OUT_DIR, artist tag, title tag); None removes the tag.
PLAN: list[tuple[str, str, object, object]] = [
    ("Nexuiz - Stairs.mp3", "Bravery - Above & Below.mp3",
     "Bravery", "Above & Below - Remastered 2011"),
    ("Shawn Parrotte - Caves.flac", "Kanye West - Stronger.flac",
     "Kanye West", "Stronger (Album Version)"),
    ("Max McCracken - Through Space.ogg", "tv on the radio - wolf like me.ogg",
     "TV ON THE RADIO", "Wolf Like Me"),
    ("Sectoid - War of Freedom.m4a", "TobyMac - The Slam (Remix).m4a",
     "TobyMac", "The Slam (Remix)"),
    ("Nexuiz - Digital Pursuit.opus", "12 Stones/Never Back Down/03 Anthem for the Underdog.opus",
     None, None),
    ("Muldjord - Chaos God.ogg", "Muldjord - Chaos God.ogg", KEEP, KEEP),
    ("Shawn Parrotte - Hell.mp3", "Shawn Parrotte - Hell.mp3", KEEP, KEEP),
]


def retag(path: Path, artist: object, title: object) -> None:
    """Set (or, for None, remove) the artist and title tags; drop the album (it named the
    demo track's real album)."""
    f = mutagen.File(path, easy=True)
    if f is None:
        raise SystemExit(f"{path}: mutagen cannot read it")
    if f.tags is None:
        f.add_tags()
    for name, value in (("artist", artist), ("title", title), ("album", None)):
        if value is None:
            if name in f.tags:
                del f.tags[name]
        else:
            f.tags[name] = [str(value)]
    f.save()


def build(out_dir: str | os.PathLike, source: str | os.PathLike = DEMO) -> list[Path]:
    """Copy and retag the demo tracks into ``out_dir``; returns the written files."""
    out, src = Path(out_dir).resolve(), Path(source).resolve()
    if out == src or src in out.parents:
        raise SystemExit(f"refusing to write into the demo library {src}")
    written = []
    for name, dest, artist, title in PLAN:
        target = out / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, target)
        if artist is not KEEP:
            retag(target, artist, title)
        written.append(target)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="folder to write the test library into (created)")
    ap.add_argument("--source", default=str(DEMO), help="demo library (default: %(default)s)")
    args = ap.parse_args()
    for p in build(args.out_dir, args.source):
        print(p)


if __name__ == "__main__":
    sys.exit(main())
