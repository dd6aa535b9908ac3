"""The layers of docs/architecture.md, checked on the source: every import of every module
under src/underdog (function-level imports included) is parsed with ``ast``, and

- no module imports a module of a higher layer (the drawing's arrows never run upward);
- the command line and the web layer call the application layer, not the operations below
  it (opening the library, scanning, decoding, planning, reading or writing files);
- pure layers stay pure: ``planning`` reads no files, opens no database and decodes nothing
  (the exceptions are named below, with their reason);
- no module imports another module's private (underscore) name.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Iterator

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "underdog"

# Layer of each top-level module or package, lowest first (docs/architecture.md). A module
# may import its own package, the base layer and any lower layer; never a higher one, nor
# another package of the same layer.
LAYERS: dict[str, int] = {
    # base: records, the exception family, music theory, text and file helpers
    "underdog": 0, "errors": 0, "models": 0, "fields": 0, "theory": 0, "ramp": 0, "text": 0,
    "fileio": 0, "filtergraph": 0,
    "audio": 1,        # decode (streaming)
    "analysis": 2,     # pure functions on arrays
    "library": 3,      # storage (SQLite), scan, executors
    "planning": 4,     # arcs, sequencer, excerpts, score, reference learning
    "export": 5,       # playlists, rekordbox, plot, tags
    "render": 5,       # the mix
    "soundtrack": 6,   # tracklists matched against tracks (writes playlists through export)
    "app": 7,          # one function per user operation
    "web": 8,          # ASGI over the app layer
    "cli": 9,          # Typer over the app layer (``serve`` starts the web layer)
}
BASE = 0

# What the user-facing layers may not import: the operations themselves (they go through
# underdog.app). Whole modules, or (module, name) pairs.
OPERATION_MODULES = ("underdog.audio", "underdog.analysis", "underdog.library.scan",
                     "underdog.library.executors", "underdog.library.tags",
                     "underdog.library.fingerprint", "underdog.render",
                     "underdog.export.tags", "underdog.export.plot",
                     "underdog.soundtrack.tracklist")
OPERATION_NAMES = {
    "underdog.library.db": {"open_library", "Library"},
    "underdog.planning.sequencer": {"plan", "plan_candidates", "alternatives",
                                    "load_candidates"},
    "underdog.planning.reference": {"learn", "like"},
    "underdog.export.playlists": {"write_m3u8", "write_xspf", "write_json", "read_playlist",
                                  "read_arc_spec"},
    "underdog.soundtrack.match": {"match_tracklist"},
    "underdog.soundtrack.report": {"write_m3u8", "match_file"},
}
USER_LAYERS = ("cli", "web")

# Pure planning: no decoding, no files, no SQL. Named exceptions, each with its reason.
IMPURE_FOR_PLANNING = ("underdog.audio", "underdog.analysis", "underdog.library",
                       "underdog.export", "underdog.soundtrack", "underdog.render",
                       "underdog.fileio")
PLANNING_EXCEPTIONS = {
    # one file per recording: the pure matching of sound prints (analysis/identity.py);
    # candidates come through the TrackSource protocol, not from library.db itself.
    "underdog.planning.sequencer": {"underdog.analysis.identity"},
}


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


@functools.lru_cache(maxsize=None)
def imports(name: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import in the file."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                out.append((mod, a.name, node.lineno))
    return [(m, n, ln) for m, n, ln in out if m == "underdog" or m.startswith("underdog.")]


def where(path: Path) -> str:
    return str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name


def top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "underdog"


MODULES = modules()
PRIVATE_CHECKED = tuple({top(name) for name in MODULES})  # every module of the package


def resolve(mod: str, name: str | None) -> str:
    """``from underdog.x import y`` names the module underdog.x.y when that is one."""
    return f"{mod}.{name}" if name and f"{mod}.{name}" in MODULES else mod


def test_every_module_has_a_layer():
    missing = sorted({top(m) for m in MODULES} - set(LAYERS))
    assert not missing, f"add these to LAYERS and to docs/architecture.md: {missing}"


def upward_imports() -> list[str]:
    bad = []
    for name, path in MODULES.items():
        mine = top(name)
        for mod, imported, line in imports(name, path):
            target = top(resolve(mod, imported))
            if target == mine or LAYERS[target] == BASE:
                continue
            if LAYERS[target] >= LAYERS[mine]:
                bad.append(f"{where(path)}:{line}: {mine} (layer {LAYERS[mine]}) "
                           f"imports {resolve(mod, imported)} (layer {LAYERS[target]})")
    return bad


def test_no_layer_imports_a_higher_one():
    bad = upward_imports()
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def imports_of(layers) -> Iterator[tuple[str, Path, str, str | None, int]]:
    """(module, file, imported module, imported name, line) for the modules of ``layers``."""
    for name, path in MODULES.items():
        if top(name) in layers:
            for mod, imported, line in imports(name, path):
                yield name, path, mod, imported, line


def within(full: str, modules) -> bool:
    return any(full == m or full.startswith(m + ".") for m in modules)


def test_the_user_layers_call_the_app_layer():
    bad = []
    for _, path, mod, imported, line in imports_of(USER_LAYERS):
        full = resolve(mod, imported)
        if within(full, OPERATION_MODULES) or imported in OPERATION_NAMES.get(mod, ()):
            bad.append(f"{where(path)}:{line}: imports {mod}.{imported or ''}".rstrip("."))
    assert not bad, "commands must go through underdog.app:\n" + "\n".join(bad)


def test_planning_reads_no_files_and_decodes_nothing():
    bad = []
    for name, path, mod, imported, line in imports_of(("planning",)):
        full = resolve(mod, imported)
        if full not in PLANNING_EXCEPTIONS.get(name, set()) and within(full, IMPURE_FOR_PLANNING):
            bad.append(f"{where(path)}:{line}: imports {full}")
    assert not bad, "planning must stay pure:\n" + "\n".join(bad)


def test_no_private_name_crosses_a_module():
    bad = []
    for name, path, mod, imported, line in imports_of(PRIVATE_CHECKED):
        if mod == name:
            continue
        if any(p.startswith("_") and p != "__init__" for p in mod.split(".")):
            bad.append(f"{where(path)}:{line}: imports private module {mod}")
        elif (imported and imported.startswith("_") and not imported.endswith("__")
              and resolve(mod, imported) == mod):
            bad.append(f"{where(path)}:{line}: imports {mod}.{imported}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


# ---------------------------------------------------------------- the checker itself

@pytest.mark.parametrize("src, expect", [
    ("from ..cli.output import fail", "analysis (layer 2) imports underdog.cli.output"),
    ("from ..app import scan", "analysis (layer 2) imports underdog.app"),
    ("from .. import app", "analysis (layer 2) imports underdog.app"),
    ("def f():\n    from ..planning import sequencer", "imports underdog.planning.sequencer"),
])
def test_the_checker_finds_an_upward_import(tmp_path, monkeypatch, src, expect):
    """A module of the analysis layer that imports upward is reported (the test can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text(src + "\n")
    monkeypatch.setitem(MODULES, "underdog.analysis.bad", bad)
    found = [b for b in upward_imports() if "bad" in b]
    assert found and expect in found[0], found


def test_the_checker_reads_private_names(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("from .plan import _fail, plot_rows\nfrom ..errors import UnderdogError\n")
    got = imports("underdog.cli.x", f)
    assert ("underdog.cli.plan", "_fail", 1) in got
    assert ("underdog.errors", "UnderdogError", 2) in got


# ---------------------------------------------------------------- one exception family

def test_every_exception_is_of_the_family():
    """Every exception class defined under src/underdog derives from UnderdogError (one
    line for the user and an exit code), except the signal that stops a scan
    (a KeyboardInterrupt, as Ctrl-C is)."""
    import importlib

    from underdog.errors import UnderdogError

    bad, seen = [], 0
    for name in MODULES:
        if name.endswith(".__main__"):  # runs the program
            continue
        try:
            mod = importlib.import_module(name)
        except ImportError:  # an optional extra (ray, starlette) not installed
            continue
        for obj in vars(mod).values():
            if (isinstance(obj, type) and issubclass(obj, BaseException)
                    and obj.__module__ == name):
                seen += 1
                if issubclass(obj, KeyboardInterrupt):
                    continue
                if not issubclass(obj, UnderdogError):
                    bad.append(f"{name}.{obj.__name__}")
                elif not isinstance(obj.exit_code, int):
                    bad.append(f"{name}.{obj.__name__}: no exit code")
    assert seen >= 10
    assert not bad, "exceptions outside the UnderdogError family: " + ", ".join(bad)
