"""The per-user cache folder: what patternbench keeps between runs and can always rebuild (the
`list` catalogue, ready embedded clusters). Importing this module is cheap (`--help` and `list`
use it).

`PATTERNBENCH_CACHE` names the folder (default `$XDG_CACHE_HOME/patternbench`, else
`~/.cache/patternbench`); `PATTERNBENCH_CACHE=off` turns caching off; `patternbench clean
--cache` removes the folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV_CACHE = "PATTERNBENCH_CACHE"


def cache_root() -> Path | None:
    """The cache folder, or None when caching is off or there is no home to put it in."""
    named = os.environ.get(ENV_CACHE, "")
    if named.lower() in ("off", "0", "no", "false"):
        return None
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    if base.startswith("~"):  # no home to expand
        return None
    return Path(base) / "patternbench"


def remove_cache() -> tuple[Path | None, int]:
    """Removes the whole cache folder; its path (None: caching is off) and the bytes it held."""
    root = cache_root()
    if root is None or not root.exists():
        return root, 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(root, ignore_errors=True)
    return root, size
