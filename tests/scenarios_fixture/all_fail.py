"""Is a scenario whose every variant fails called failed? (test fixture, not a benchmark)"""

from __future__ import annotations

from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

scenario = Scenario(
    name="all_fail",
    question="Is a scenario whose every variant fails called failed?",
    quick=Grid.of(users=[1]),
    full=Grid.of(users=[1]),
    reference="raises",
)


@scenario.variant
def raises(ctx: Context) -> None:
    """Always fails."""
    raise RuntimeError("boom")


@scenario.variant
def raises_too(ctx: Context) -> None:
    """Fails as well."""
    raise ValueError("bang")
