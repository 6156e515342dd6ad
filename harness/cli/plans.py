"""What to run, validated before anything starts: which scenarios, variants, grid values and
server. The command line builds its plans here; the pytest plugin checks its choices with the
same functions, so a value valid in one front end is valid in the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import server
from harness.data.dataset import DatasetSpec
from harness.errors import UserError
from harness.run import Plan
from harness.runners.base import RunOptions
from harness.scenario import registry
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario


@dataclass(frozen=True)
class Choice:
    """What the user asked for, as typed (before validation)."""

    scenarios: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    profile: str = "quick"
    grid: tuple[tuple[str, str], ...] = ()  # (axis, "V1,V2")
    rtts_ms: tuple[float, ...] = (0.0,)
    scenario_paths: tuple[Path, ...] = ()
    postgres: str = "auto"
    options: RunOptions = field(default_factory=RunOptions)


def check_axis_names(
    chosen: list[Scenario], profile: str, names: list[str], where: str = ""
) -> None:
    """Every axis named exists on some chosen scenario's grid of this profile."""
    known = {name for s in chosen for name in s.grid(profile).names}
    for name in names:
        if name not in known:
            raise UserError(f"unknown grid axis {name!r}{where}; valid: {', '.join(sorted(known))}")


def grid_with(scenario: Scenario, profile: str, overrides: Mapping[str, str]) -> Grid:
    """The profile's grid with the axes this scenario has replaced by the given values, parsed
    to each axis's type; a text axis (endpoint, width, nesting...) takes only the values the
    scenario knows. A point the scenario's dataset cannot serve (`check_point`) is refused."""
    return grid_and_dataset(scenario, profile, overrides)[0]


def grid_and_dataset(
    scenario: Scenario, profile: str, overrides: Mapping[str, str]
) -> tuple[Grid, DatasetSpec]:
    """`grid_with`, and the dataset that serves every point of that grid: the profile's, grown
    by the scenario (`grow_dataset`) for points it cannot serve as it is."""
    grid = scenario.grid(profile)
    mine = {k: v for k, v in overrides.items() if k in grid.names}
    for name, raw in mine.items():
        known = list(dict.fromkeys([*scenario.quick.values(name), *scenario.full.values(name)]))
        if not all(isinstance(v, str) for v in known):
            continue
        for text in (t.strip() for t in raw.split(",")):
            if text not in known:
                raise UserError(f"unknown {name} {text!r}; valid: {', '.join(map(str, known))}")
    grid = grid.override(mine) if mine else grid
    if mine and next(grid.points(), None) is None:
        given = " ".join(f"{name}={raw}" for name, raw in mine.items())
        raise UserError(
            f"{scenario.name}: --grid {given} leaves no point of the {profile} grid, which skips "
            f"{grid.skip_note}; give other values, or --profile full"
        )
    spec = scenario.dataset_for(profile)
    if scenario.grow_dataset is not None:
        for params in grid.points():
            spec = scenario.grow_dataset(params, spec)
    if scenario.check_point is not None:
        for params in grid.points():
            if (why := scenario.check_point(params, spec)) is not None:
                raise UserError(f"{scenario.name} at {params.label}: {why}")
    return grid, spec


def check_grid_once(grid: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The `--grid` overrides by axis; an axis given twice is refused (not merged, not the last
    one silently kept)."""
    overrides: dict[str, str] = {}
    for name, values in grid:
        if name in overrides:
            raise UserError(
                f"--grid {name} is given twice ({name}={overrides[name]} and {name}={values}); "
                f"give all its values once, e.g. --grid {name}={overrides[name]},{values}"
            )
        overrides[name] = values
    return overrides


def _split(entry: str) -> tuple[str | None, str]:
    """`SCENARIO:VARIANT` as (scenario, variant); a plain `VARIANT` as (None, variant)."""
    scenario, colon, variant = entry.partition(":")
    return (scenario, variant) if colon else (None, entry)


def check_variants(chosen: list[Scenario], variants: tuple[str, ...]) -> None:
    """Every plain `--variant` is a variant of every chosen scenario, and every
    `SCENARIO:VARIANT` one of that chosen scenario's: anything else is refused with the
    variants that are valid (never dropped)."""
    by_name = {s.name: s for s in chosen}
    for entry in dict.fromkeys(variants):
        owner, name = _split(entry)
        if owner is not None:
            scenario = by_name.get(owner)
            if scenario is None:
                raise UserError(
                    f"--variant {entry}: scenario {owner!r} is not selected; selected: "
                    f"{', '.join(by_name)}"
                )
            if name not in scenario.variants:
                raise UserError(
                    f"--variant {entry}: scenario {owner!r} has no variant {name!r}; valid: "
                    f"{', '.join(scenario.variants)}"
                )
            continue
        having = [s.name for s in chosen if name in s.variants]
        if not having:
            known = {v for s in chosen for v in s.variants}
            raise UserError(f"unknown variant {name!r}; valid: {', '.join(sorted(known))}")
        for scenario in chosen:
            if name not in scenario.variants:
                raise UserError(
                    f"variant {name!r} is not in scenario {scenario.name!r} (its variants: "
                    f"{', '.join(scenario.variants)}); a --variant must exist in every selected "
                    f"scenario, and {name!r} is in: {', '.join(having)} (select with --scenario, "
                    f"or name it {having[0]}:{name})"
                )


def variants_for(scenario: Scenario, variants: tuple[str, ...]) -> list[str] | None:
    """The variants asked of this scenario: the plain ones and its own `SCENARIO:VARIANT`
    ones; None (all of them) when none is."""
    wanted = [
        name for owner, name in map(_split, variants) if owner is None or owner == scenario.name
    ]
    return list(dict.fromkeys(wanted)) or None


def build_plans(choice: Choice) -> list[Plan]:
    """The plans of a run, or a UserError naming what is valid."""
    server.check_spec(choice.postgres)
    overrides = check_grid_once(choice.grid)
    available = registry.discover(list(choice.scenario_paths))
    chosen = registry.select(available, list(choice.scenarios) or None)
    check_axis_names(chosen, choice.profile, list(overrides))
    check_variants(chosen, choice.variants)
    plans = []
    for scenario in chosen:
        grid, dataset = grid_and_dataset(scenario, choice.profile, overrides)
        variants = tuple(scenario.select_variants(variants_for(scenario, choice.variants)))
        plans.append(Plan(scenario, variants, grid, choice.rtts_ms, choice.options, dataset))
    return plans
