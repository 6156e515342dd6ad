"""The scenario contract: grid and params (`grid`), the Scenario spec (`spec`), the Context a
variant gets (`context`), discovery (`registry`), the one answer check (`answers`) and the
helpers a scenario's `normalise` is built from (`normalise`).

`from harness.scenario import Scenario, Grid, Skip, ...` is the old import path of the names
below and keeps working; like `from harness import ...`, they load on first use, so that
`harness.scenario.grid` stays light. The normalise helpers are imported from here too::

    from harness.scenario import approx, compose, unordered

    Scenario(..., normalise=unordered + approx(rel=0.05))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.scenario.grid import AxisValue, Grid, Params
    from harness.scenario.normalise import (
        Normaliser,
        Rule,
        approx,
        compose,
        nan_equal,
        tuples_as_lists,
        unordered,
        unordered_rows,
    )
    from harness.scenario.spec import Scenario, Skip, Variant

# the normalise helpers: from their own module (stdlib only), not through `harness`
_NORMALISE = (
    "Normaliser",
    "Rule",
    "approx",
    "compose",
    "nan_equal",
    "tuples_as_lists",
    "unordered",
    "unordered_rows",
)

__all__ = [
    "AxisValue",
    "Grid",
    "Normaliser",
    "Params",
    "Rule",
    "Scenario",
    "Skip",
    "Variant",
    "approx",
    "compose",
    "nan_equal",
    "tuples_as_lists",
    "unordered",
    "unordered_rows",
]


def __getattr__(name: str) -> Any:
    if name in _NORMALISE:
        return getattr(importlib.import_module("harness.scenario.normalise"), name)
    if name not in __all__:
        raise AttributeError(f"module 'harness.scenario' has no attribute {name!r}")
    import harness

    return getattr(harness, name)
