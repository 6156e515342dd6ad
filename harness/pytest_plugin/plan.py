"""What a pytest session benchmarks: the cases (scenario, variant, grid point) its options choose, validated before collection with the command line's own checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import server
from harness.cli.plans import check_axis_names, grid_with
from harness.data.dataset import DatasetSpec
from harness.errors import UserError
from harness.scenario import registry
from harness.scenario.grid import AxisValue, Params
from harness.scenario.spec import Scenario, Variant
from harness.server.provider import SpecError

PICKS = ("ends", "first", "last", "all")


# --- what to run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    """One generated test: a variant of a scenario at one grid point of a profile."""

    scenario: Scenario
    variant: Variant
    params: Params
    profile: str

    @property
    def id(self) -> str:
        """Readable and stable, e.g. ``loading-lazy-users=20-posts_per_user=10-nesting=posts``."""
        axes = "-".join(f"{name}={value}" for name, value in self.params.items)
        return f"{self.scenario.name}-{self.variant.name}" + (f"-{axes}" if axes else "")

    @property
    def dataset(self) -> DatasetSpec:
        return self.scenario.dataset_for(self.profile)


@dataclass(frozen=True)
class PointSelection:
    """Which grid points run: `filters` keep the points whose axis values are listed; `picks`
    then choose among them (first, last, ends = both, all)."""

    picks: frozenset[str] = frozenset()
    filters: tuple[tuple[str, str], ...] = ()  # (axis, "V1,V2") as typed

    @classmethod
    def parse(cls, raw: list[str]) -> PointSelection:
        picks: set[str] = set()
        filters: dict[str, list[str]] = {}
        for text in raw:
            item = text.strip()
            if item.lower() in PICKS:
                picks.add(item.lower())
                continue
            name, sep, values = item.partition("=")
            if not sep or not name.strip() or not values.strip():
                raise pytest.UsageError(
                    f"--pb-point {text!r}: expected {', '.join(PICKS)} or AXIS=V1,V2 "
                    "(e.g. users=1,20)"
                )
            filters.setdefault(name.strip(), []).append(values.strip())
        return cls(frozenset(picks), tuple((k, ",".join(v)) for k, v in filters.items()))

    def describe(self) -> str:
        parts = sorted(self.picks) + [f"{k}={v}" for k, v in self.filters]
        return " ".join(parts) or "ends"

    def choose(self, points: list[Params]) -> list[Params]:
        """The picked points of `points` (already filtered), in grid order, without repeats."""
        picks = self.picks or ({"all"} if self.filters else {"ends"})
        if "all" in picks or not points:
            return points
        chosen: list[Params] = []
        if picks & {"first", "ends"}:
            chosen.append(points[0])
        if picks & {"last", "ends"} and points[-1] not in chosen:
            chosen.append(points[-1])
        return chosen


@dataclass(frozen=True)
class BenchPlan:
    """Everything the command line chose, validated before collection."""

    cases: tuple[CaseSpec, ...]
    profile: str
    postgres: str
    allow_existing_tables: bool
    scenarios: tuple[str, ...]
    selection: PointSelection


PLAN_KEY = pytest.StashKey[BenchPlan]()


def _is_latency(scenario: Scenario) -> bool:
    return scenario.runner == "latency"


def _filtered_points(
    scenario: Scenario, profile: str, filters: tuple[tuple[str, str], ...]
) -> tuple[list[Params], list[tuple[str, AxisValue]]]:
    """The profile grid's points that match `filters` (axes this scenario has), and the
    filter values that are not on its grid."""
    grid = scenario.grid(profile)
    wanted: dict[str, tuple[AxisValue, ...]] = {}
    off_grid: list[tuple[str, AxisValue]] = []
    for name, raw in filters:
        if name not in grid.names:
            continue
        values = grid_with(scenario, profile, {name: raw}).values(name)  # parsed, as `--grid`
        wanted[name] = values
        off_grid += [(name, v) for v in values if v not in grid.values(name)]
    points = [
        p
        for p in grid.points()
        if all(getattr(p, name) in values for name, values in wanted.items())
    ]
    return points, off_grid


def build_plan(
    names: list[str],
    paths: list[Path],
    profile: str,
    point_options: list[str],
    postgres: str,
    allow_existing_tables: bool = False,
) -> BenchPlan:
    """Validates the options and lists the cases; user mistakes raise `pytest.UsageError`
    naming what is valid."""
    selection = PointSelection.parse(point_options)
    _check_postgres(postgres)
    try:
        available = registry.discover(paths)
    except UserError as exc:
        raise pytest.UsageError(f"--pb-scenario-path: {exc}") from None
    latency = {name: s for name, s in available.items() if _is_latency(s)}
    for name in names:
        if name in available and name not in latency:
            raise pytest.UsageError(
                f"--pb-scenario {name!r} measures concurrent load (runner="
                f"{available[name].runner}), not single operations, and has no "
                f"pytest-benchmark form; valid: {', '.join(latency)}"
            )
        if name not in latency:
            raise pytest.UsageError(
                f"--pb-scenario {name!r} is unknown; valid: {', '.join(latency) or '(none found)'}"
            )
    chosen = [latency[n] for n in dict.fromkeys(names)] if names else list(latency.values())

    try:
        where = f" for {', '.join(s.name for s in chosen)} ({profile} grid)"
        check_axis_names(chosen, profile, [axis for axis, _ in selection.filters], where)
    except UserError as exc:
        raise pytest.UsageError(f"--pb-point: {exc}") from None
    matching: dict[str, list[Params]] = {}
    off_grid_count: dict[tuple[str, AxisValue], int] = {}
    for scenario in chosen:
        try:
            points, off_grid = _filtered_points(scenario, profile, selection.filters)
        except UserError as exc:
            raise pytest.UsageError(f"--pb-point: {exc}") from None
        matching[scenario.name] = points
        for key in off_grid:
            off_grid_count[key] = off_grid_count.get(key, 0) + 1
    for (axis, value), count in off_grid_count.items():
        having = [s for s in chosen if axis in s.grid(profile).names]
        if count == len(having):  # on none of the grids that have this axis
            valid = dict.fromkeys(v for s in having for v in s.grid(profile).values(axis))
            raise pytest.UsageError(
                f"--pb-point {axis}={value}: not on the {profile} grid; "
                f"valid {axis}: {', '.join(map(str, valid))}"
            )
    cases: list[CaseSpec] = []
    for scenario in chosen:
        points = matching[scenario.name]
        if not points:
            grid = scenario.grid(profile)
            left_out = f"; the grid leaves out {grid.skip_note}" if grid.skip_note else ""
            axes = "; ".join(f"{name}: {', '.join(map(str, values))}" for name, values in grid.axes)
            raise pytest.UsageError(
                f"--pb-point {selection.describe()} leaves no grid point of scenario "
                f"{scenario.name!r} ({profile} profile; {axes}{left_out})"
            )
        for params in selection.choose(points):
            cases += [CaseSpec(scenario, v, params, profile) for v in scenario.variants.values()]
    return BenchPlan(
        cases=tuple(cases),
        profile=profile,
        postgres=postgres,
        allow_existing_tables=allow_existing_tables,
        scenarios=tuple(s.name for s in chosen),
        selection=selection,
    )


def _check_postgres(spec: str) -> None:
    try:
        server.check_spec(spec)
    except SpecError as exc:
        raise pytest.UsageError(f"--pb-postgres {exc}") from None
