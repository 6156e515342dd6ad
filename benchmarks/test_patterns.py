"""Every variant of the chosen patternbench scenarios, at the chosen grid points, timed by
pytest-benchmark (one test per scenario, variant and grid point; see harness/pytest_plugin/).

    uv run pytest benchmarks --benchmark-only                       # every scenario, first + last point
    uv run pytest benchmarks --benchmark-only --pb-scenario reads --pb-point rows=1,100
    uv run pytest benchmarks --benchmark-only --pb-scenario-path=my_scenarios \\
        --benchmark-autosave --benchmark-compare --benchmark-compare-fail=median:10%

A variant whose answer differs from the scenario's reference variant fails as WRONG and is not
timed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

    from harness.pytest_plugin import PatternCase


def test_pattern(patternbench_case: PatternCase, benchmark: BenchmarkFixture) -> None:
    """Check the variant's answer against the reference, then time it."""
    patternbench_case.measure(benchmark)
