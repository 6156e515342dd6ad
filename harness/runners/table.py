"""The runners a scenario can name (`Scenario(runner=...)`). A new runner is one module and one
entry here."""

from __future__ import annotations

from harness.runners.base import PROFILE_NAMES, Runner
from harness.runners.http.runner import HttpRunner
from harness.runners.latency import LatencyRunner
from harness.runners.throughput import ThroughputRunner

RUNNERS: dict[str, Runner] = {
    "latency": LatencyRunner(),
    "throughput": ThroughputRunner(),
    "http": HttpRunner(),
}


def runner_named(name: str) -> Runner:
    """The runner called `name`; ValueError naming the valid ones."""
    runner = RUNNERS.get(name)
    if runner is None:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got {name!r}")
    missing = [p for p in PROFILE_NAMES if p not in runner.profiles]
    if missing:
        raise ValueError(f"runner {name!r} has no timing for profile {missing[0]!r}")
    return runner
