"""Finds scenario modules: the built-in `scenarios/` package and a team's own folders."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import scenarios as builtin_package
from harness.errors import UserError
from harness.runners.base import Runner
from harness.runners.table import runner_named
from harness.scenario.spec import Scenario


def _scenario_of(module: ModuleType) -> Scenario | None:
    """The module's `scenario`, its `doc` taken from the module's docstring when not given."""
    found = getattr(module, "scenario", None)
    if not isinstance(found, Scenario):
        return None
    if not found.doc:
        found.doc = module.__doc__ or ""
    return found


def _load_file(path: Path) -> ModuleType:
    name = f"patternbench_user_scenarios.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"cannot import scenario file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"scenario file {path} failed to import: {type(exc).__name__}: {exc}"
        ) from None
    return module


def _runner_of(scenario: Scenario) -> Runner:
    try:
        return runner_named(scenario.runner)
    except ValueError as exc:
        raise ValueError(f"scenario {scenario.name!r}: {exc}") from None


def discover(extra_paths: list[Path] | None = None) -> dict[str, Scenario]:
    """Every scenario by name: built-in ones first, then each `--scenario-path` folder's."""
    found: dict[str, Scenario] = {}
    for info in sorted(pkgutil.iter_modules(builtin_package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:  # packages hold a scenario's parts (apps)
            continue
        module = importlib.import_module(f"scenarios.{info.name}")
        scenario = _scenario_of(module)
        if scenario is not None:
            found[scenario.name] = scenario
    for folder in extra_paths or []:
        if not folder.is_dir():
            raise UserError(f"--scenario-path {folder}: not a folder")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            scenario = _scenario_of(_load_file(path))
            if scenario is None:
                continue
            if scenario.name in found:
                raise UserError(
                    f"scenario {scenario.name!r} in {path} clashes with one already loaded"
                )
            found[scenario.name] = scenario
    for scenario in found.values():
        try:
            scenario.validate()
            _runner_of(scenario).check_scenario(scenario)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return found


def select(available: dict[str, Scenario], names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UserError(f"unknown scenario {unknown[0]!r}; valid: {', '.join(available)}")
    return [available[n] for n in names]
