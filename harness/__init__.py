"""patternbench's harness. What a scenario module imports is re-exported here::

    from harness import Context, DatasetSpec, Grid, Scenario, Skip

The names load on first use, so that a process which needs one part of the harness (the locust
recorder, the delay proxy) does not import the drivers and SQLAlchemy with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.data.dataset import DatasetSpec
    from harness.data.domain import Base, Comment, Post, User
    from harness.data.own_tables import OwnTables
    from harness.measure.ceilings import NativeQuery, NativeReference, PsqlCopy
    from harness.runners.http.appserver import AppPlan
    from harness.runners.http.runner import ParityRequest
    from harness.runners.pools import PoolPlan, PoolSettings
    from harness.scenario.context import Context
    from harness.scenario.grid import AxisValue, Grid, Params
    from harness.scenario.normalise import (
        approx,
        compose,
        nan_equal,
        tuples_as_lists,
        unordered,
        unordered_rows,
    )
    from harness.scenario.spec import Scenario, Skip, Variant

# name -> the module that defines it
_EXPORTS = {
    "AxisValue": "harness.scenario.grid",
    "Grid": "harness.scenario.grid",
    "Params": "harness.scenario.grid",
    "Scenario": "harness.scenario.spec",
    "Skip": "harness.scenario.spec",
    "Variant": "harness.scenario.spec",
    "Context": "harness.scenario.context",
    "approx": "harness.scenario.normalise",
    "compose": "harness.scenario.normalise",
    "nan_equal": "harness.scenario.normalise",
    "tuples_as_lists": "harness.scenario.normalise",
    "unordered": "harness.scenario.normalise",
    "unordered_rows": "harness.scenario.normalise",
    "DatasetSpec": "harness.data.dataset",
    "Base": "harness.data.domain",
    "User": "harness.data.domain",
    "Post": "harness.data.domain",
    "Comment": "harness.data.domain",
    "OwnTables": "harness.data.own_tables",
    "NativeQuery": "harness.measure.ceilings",
    "NativeReference": "harness.measure.ceilings",
    "PsqlCopy": "harness.measure.ceilings",
    "PoolPlan": "harness.runners.pools",
    "PoolSettings": "harness.runners.pools",
    "AppPlan": "harness.runners.http.appserver",
    "ParityRequest": "harness.runners.http.runner",
}

__all__ = [
    "AppPlan",
    "AxisValue",
    "Base",
    "Comment",
    "Context",
    "DatasetSpec",
    "Grid",
    "NativeQuery",
    "NativeReference",
    "OwnTables",
    "Params",
    "ParityRequest",
    "PoolPlan",
    "PoolSettings",
    "Post",
    "PsqlCopy",
    "Scenario",
    "Skip",
    "User",
    "Variant",
    "approx",
    "compose",
    "nan_equal",
    "tuples_as_lists",
    "unordered",
    "unordered_rows",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
