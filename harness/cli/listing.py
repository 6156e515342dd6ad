"""`patternbench list`: every scenario's question, variants (sync or async, and for load
scenarios the kind of pool or app) and grids (points per profile, and how many its skip rule
leaves out).

Listing needs the scenario specs, and a scenario module imports what its variants use
(SQLAlchemy, the drivers): seconds. So the listing is kept as a catalogue in the user's cache
folder (harness.cache), keyed by the size and
modification time of every `.py` file of the harness, of `scenarios/` and of each
`--scenario-path` folder: a listing after any of them changed imports the scenarios again (and
reports any error in them); `--fresh` always does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cache import cache_root

if TYPE_CHECKING:
    from rich.console import Console

    from harness.scenario.grid import Params
    from harness.scenario.spec import Scenario, Variant

CATALOGUE_VERSION = 1
HARNESS = Path(__file__).resolve().parents[1]
BUILTIN_SCENARIOS = HARNESS.parent / "scenarios"


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    entries = catalogue(list(args.scenario_path), fresh=args.fresh)
    for entry in entries:
        console.print(f"[bold]{entry['name']}[/bold]: {entry['question']}")
        width = max(len(v["name"]) for v in entry["variants"]) if entry["variants"] else 0
        kind_width = max(len(v["kind"]) for v in entry["variants"]) if entry["variants"] else 0
        for v in entry["variants"]:
            ref = " [dim](reference)[/dim]" if v["name"] == entry["reference"] else ""
            console.print(f"  {v['name']:{width}} {v['kind']:{kind_width}} {v['description']}{ref}")
        for p in entry["profiles"]:
            axes = "; ".join(f"{name}={','.join(values)}" for name, values in p["axes"])
            console.print(f"  [dim]{p['profile']}: {axes} ({points_text(p)})[/dim]")
    return 0


def points_text(profile: dict[str, Any]) -> str:
    """ "17 points", or "18 of 21 points; skips 3: pool sizes more than ..." with a skip rule."""
    points, skipped = profile["points"], profile["skipped"]
    if not skipped:
        return f"{points} point{'s' if points != 1 else ''}"
    note = f": {profile['skip_note']}" if profile["skip_note"] else ""
    return f"{points} of {points + skipped} points; skips {skipped}{note}"


# --- the catalogue ----------------------------------------------------------------------------


def catalogue(paths: list[Path], fresh: bool = False) -> list[dict[str, Any]]:
    """What `list` shows of every scenario, as plain data: from the cache when nothing it is
    made from changed since, else from the scenarios themselves (then kept for next time)."""
    key = fingerprint(paths)
    file = _cache_file(paths)
    if not fresh and file is not None:
        try:
            kept = json.loads(file.read_text())
            if kept.get("fingerprint") == key:
                entries: list[dict[str, Any]] = kept["entries"]
                return entries
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    from harness.scenario import registry

    entries = [describe(s) for s in registry.discover(paths).values()]
    if file is not None:
        _write(file, {"fingerprint": key, "entries": entries})
    return entries


def fingerprint(paths: list[Path]) -> str:
    """The size and modification time of every `.py` file the listing can depend on."""
    digest = hashlib.sha256(f"{CATALOGUE_VERSION} {sys.version} {sys.executable}".encode())
    folders = [HARNESS, BUILTIN_SCENARIOS, *(p.resolve() for p in paths)]
    for folder in folders:
        digest.update(f"\0{folder}".encode())
        if not folder.is_dir():
            digest.update(b"\0missing")  # discovery says what is wrong with it
            continue
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                if name.endswith(".py"):
                    try:
                        st = os.stat(os.path.join(root, name))
                    except OSError:
                        continue
                    digest.update(f"\0{root}/{name} {st.st_size} {st.st_mtime_ns}".encode())
    return digest.hexdigest()


def _cache_file(paths: list[Path]) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    which = hashlib.sha256("\0".join(str(p.resolve()) for p in paths).encode()).hexdigest()
    return root / f"list-{which[:16]}.json"


def _write(file: Path, data: dict[str, Any]) -> None:
    """Atomically, or not at all: a cache that cannot be written is only slower next time."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
            os.replace(tmp, file)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


# --- one scenario, as listed ------------------------------------------------------------------


def describe(scenario: Scenario) -> dict[str, Any]:
    probe = _first_point(scenario)
    return {
        "name": scenario.name,
        "question": scenario.question,
        "runner": scenario.runner,
        "reference": scenario.reference,
        "variants": [
            {"name": v.name, "kind": variant_kind(scenario, v, probe), "description": v.description}
            for v in scenario.variants.values()
        ],
        "profiles": [_profile(scenario, profile) for profile in ("quick", "full")],
    }


def _profile(scenario: Scenario, profile: str) -> dict[str, Any]:
    grid = scenario.grid(profile)
    points = len(grid)
    product = math.prod(len(values) for _, values in grid.axes)
    return {
        "profile": profile,
        "axes": [[name, [str(v) for v in values]] for name, values in grid.axes],
        "points": points,
        "skipped": product - points,
        "skip_note": grid.skip_note,
    }


def _first_point(scenario: Scenario) -> Params | None:
    return next(iter(scenario.quick.points()), None)


class _ProbeContext:
    """What a load scenario's variant gets to say which plan it makes: the grid point and
    nothing else (the plan's pool or app is made later, by the runner; it is not made here)."""

    def __init__(self, params: Params) -> None:
        self.params = params

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"{name} is not known while listing")


def variant_kind(scenario: Scenario, variant: Variant, probe: Params | None) -> str:
    """sync or async for one operation; for the throughput runner the pool its plan opens
    ("async pool": asyncio tasks, "sync pool": threads); "app" for the http runner's."""
    if scenario.runner == "http":
        return "ASGI app"
    if scenario.runner != "throughput":
        return "async" if variant.is_async else "sync"
    if probe is None:
        return "pool"
    try:
        plan = variant.fn(_ProbeContext(probe))
    except Exception:
        return "pool"
    is_async = getattr(plan, "is_async", None)
    if not isinstance(is_async, bool):
        return "pool"
    return "async pool" if is_async else "sync pool"
