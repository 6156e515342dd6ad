"""Finds scenario modules: the built-in `scenarios/` package and a team's own folders.

The rules of discovery, for a `--scenario-path` folder as for `scenarios/`:

- every `*.py` file of the folder not starting with `_` is imported once, as a module of a
  package made for the folder, so that `from .helpers import x` works; `import helpers` works
  too (as if the folder were on PYTHONPATH, after the installed packages, which win on a clash
  of names) and gives the same module object, run once;
- a module whose global `scenario` is a `Scenario` declares that scenario; a module without one
  is a helper, not an error;
- a module holding a `Scenario` under another name (one it did not import from a scenario
  module), or two scenarios with one name, is refused with one line naming the files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from harness.errors import UserError
from harness.scenario.spec import Scenario

USER_PACKAGE = "patternbench_user_scenarios"
SCENARIO_NAME = "scenario"  # the one global name discovery reads


def _where(module: ModuleType) -> str:
    return str(getattr(module, "__file__", None) or module.__name__)


def _scenario_of(module: ModuleType) -> Scenario | None:
    """The module's `scenario`, its `doc` taken from the module's docstring when not given."""
    found = getattr(module, SCENARIO_NAME, None)
    if not isinstance(found, Scenario):
        return None
    if not found.doc:
        found.doc = module.__doc__ or ""
    return found


def _identifier(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in text)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"d_{cleaned}"


class _FolderImports(importlib.abc.MetaPathFinder):
    """`import helpers` beside a scenario: the folder's module of that name, the very object its
    folder's package holds (so it runs once, whichever way it is named first). Consulted after
    every other finder: an installed module of the same name wins, as with PYTHONPATH after it."""

    def __init__(self) -> None:
        self.folders: dict[Path, str] = {}  # folder -> its package

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or "." in fullname:
            return None
        for folder, package in self.folders.items():
            for origin in (folder / f"{fullname}.py", folder / fullname / "__init__.py"):
                if origin.is_file():
                    loader = _Alias(f"{package}.{fullname}")
                    return importlib.machinery.ModuleSpec(fullname, loader, origin=str(origin))
        return None


class _Alias(importlib.abc.Loader):
    """Loads a top-level name as the module of a scenario folder's package."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # it ran already, under its package's name


_FOLDERS = _FolderImports()


def _folder_package(folder: Path) -> str:
    """The package a scenario folder's modules are imported under, its `__path__` the folder,
    so relative imports between the folder's modules resolve. Made again when something took
    it out of `sys.modules` (pytester restores `sys.modules` after each in-process run)."""
    resolved = folder.resolve()
    if USER_PACKAGE not in sys.modules:
        root = ModuleType(USER_PACKAGE, "Scenario folders given with --scenario-path.")
        root.__path__ = []
        sys.modules[USER_PACKAGE] = root
    tag = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"{USER_PACKAGE}.{_identifier(resolved.name)}_{tag}"
    if name not in sys.modules:
        package = ModuleType(name, f"The scenario folder {resolved}.")
        package.__path__ = [str(resolved)]
        package.__package__ = name
        sys.modules[name] = package
    _FOLDERS.folders[resolved] = name
    if _FOLDERS not in sys.meta_path:
        sys.meta_path.append(_FOLDERS)
    return name


def _same_file(module: ModuleType | None, path: Path) -> bool:
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve() == path.resolve()


def _load_file(package: str, path: Path) -> ModuleType:
    """The folder's module for `path`, imported once (a module of its folder's package); one
    already imported from this file under its top-level name is that module."""
    qualified = f"{package}.{path.stem}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    if _same_file(sys.modules.get(path.stem), path):
        module = sys.modules[path.stem]
    else:
        try:
            module = importlib.import_module(qualified)
        except UserError:
            raise
        except Exception as exc:
            sys.modules.pop(qualified, None)
            raise UserError(
                f"scenario file {path} failed to import: {type(exc).__name__}: {exc}"
            ) from None
    sys.modules[qualified] = module
    return module


def _builtin_modules() -> list[ModuleType]:
    import scenarios as builtin_package

    modules = []
    for info in sorted(pkgutil.iter_modules(builtin_package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:  # packages hold a scenario's parts (apps)
            continue
        modules.append(importlib.import_module(f"scenarios.{info.name}"))
    return modules


def _folder_modules(folder: Path) -> list[ModuleType]:
    import scenarios as builtin_package

    if not folder.is_dir():
        raise UserError(f"--scenario-path {folder}: not a folder")
    if any(folder.resolve() == Path(p).resolve() for p in builtin_package.__path__):
        return []  # the built-in scenarios, already found
    package = _folder_package(folder)
    return [
        _load_file(package, path)
        for path in sorted(folder.glob("*.py"))
        if not path.name.startswith("_")
    ]


def _check_other_names(modules: list[ModuleType], declared: set[int]) -> None:
    """A Scenario held under another global name than `scenario`, which is not a scenario
    another module declares (an import of it), would be skipped: refused instead."""
    for module in modules:
        for key, value in vars(module).items():
            if key == SCENARIO_NAME or not isinstance(value, Scenario) or id(value) in declared:
                continue
            raise UserError(
                f"{_where(module)} defines Scenario {value.name!r} as {key!r}; discovery "
                f"reads only the global name {SCENARIO_NAME!r} (one scenario per module): "
                f"rename it to `{SCENARIO_NAME} = Scenario(...)`"
            )


def discover(extra_paths: list[Path] | None = None) -> dict[str, Scenario]:
    """Every scenario by name: built-in ones first, then each `--scenario-path` folder's."""
    from harness.runners.table import runner_named

    modules = _builtin_modules()
    for folder in extra_paths or []:
        modules.extend(m for m in _folder_modules(folder) if m not in modules)
    found: dict[str, Scenario] = {}
    where: dict[str, ModuleType] = {}
    for module in modules:
        scenario = _scenario_of(module)
        if scenario is None:
            continue  # a helper
        if scenario.name in found:
            if found[scenario.name] is scenario:
                continue  # the same object, imported by a helper: declared once
            raise UserError(
                f"two scenarios are named {scenario.name!r}: in {_where(where[scenario.name])} "
                f"and in {_where(module)}; scenario names must be unique"
            )
        found[scenario.name], where[scenario.name] = scenario, module
    _check_other_names(modules, {id(s) for s in found.values()})
    for scenario in found.values():
        try:
            scenario.validate()
        except ValueError as exc:
            raise UserError(str(exc)) from None
        try:
            runner = runner_named(scenario.runner)
        except ValueError as exc:
            raise UserError(f"scenario {scenario.name!r}: {exc}") from None
        try:
            runner.check_scenario(scenario)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return found


def select(available: dict[str, Scenario], names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UserError(f"unknown scenario {unknown[0]!r}; valid: {', '.join(available)}")
    return [available[n] for n in dict.fromkeys(names)]
