"""The scenario contract: grid and params (`grid`), the Scenario spec (`spec`), the Context a
variant gets (`context`), discovery (`registry`), and the one answer check (`answers`).

`from harness.scenario import Scenario, Grid, Skip, ...` is the old import path of the names
below and keeps working; like `from harness import ...`, they load on first use, so that
`harness.scenario.grid` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenario.grid import AxisValue, Grid, Params
    from harness.scenario.spec import Scenario, Skip, Variant

__all__ = ["AxisValue", "Grid", "Params", "Scenario", "Skip", "Variant"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'harness.scenario' has no attribute {name!r}")
    import harness

    return getattr(harness, name)
