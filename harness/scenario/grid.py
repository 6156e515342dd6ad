"""A scenario's parameter grid: named axes, their values, and the points they make."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from harness.errors import UserError

AxisValue = int | float | str | bool


@dataclass(frozen=True)
class Grid:
    """Named axes; the grid points are their product, in declaration order."""

    axes: tuple[tuple[str, tuple[AxisValue, ...]], ...]
    skip: Callable[[Params], bool] | None = None
    skip_note: str = ""  # what `skip` leaves out, in words, for the report

    @classmethod
    def of(cls, **axes: Sequence[AxisValue]) -> Grid:
        for name, values in axes.items():
            if not values:
                raise ValueError(f"grid axis {name!r} has no values")
        return cls(tuple((name, tuple(values)) for name, values in axes.items()))

    def skipping(self, note: str, predicate: Callable[[Params], bool]) -> Grid:
        """The same grid without the points `predicate` is true for (e.g. too slow for quick)."""
        return Grid(self.axes, predicate, note)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.axes)

    def values(self, name: str) -> tuple[AxisValue, ...]:
        return dict(self.axes)[name]

    def points(self) -> Iterator[Params]:
        names = self.names
        for combo in itertools.product(*(values for _, values in self.axes)):
            params = Params(tuple(zip(names, combo, strict=True)))
            if self.skip is None or not self.skip(params):
                yield params

    def __len__(self) -> int:
        return sum(1 for _ in self.points())

    def override(self, overrides: Mapping[str, str]) -> Grid:
        """A grid with some axes replaced by user-given values, parsed to the axis's type."""
        current = dict(self.axes)
        for name, raw in overrides.items():
            if name not in current:
                raise UserError(f"unknown grid axis {name!r}; valid: {', '.join(self.names)}")
            kind = type(current[name][0])
            parsed: list[AxisValue] = []
            for text in raw.split(","):
                text = text.strip()
                try:
                    value: AxisValue = _parse_axis_value(kind, text)
                except ValueError:
                    raise UserError(
                        f"grid axis {name!r} takes {kind.__name__} values, got {text!r}"
                    ) from None
                if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                    raise UserError(f"grid axis {name!r} takes positive values, got {text!r}")
                parsed.append(value)
            current[name] = tuple(parsed)
        return Grid(tuple((name, current[name]) for name in self.names), self.skip, self.skip_note)


def _parse_axis_value(kind: type, text: str) -> AxisValue:
    if kind is bool:
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text.replace("_", ""))
    if kind is float:
        return float(text)
    if not text:
        raise ValueError(text)
    return text


@dataclass(frozen=True)
class Params:
    """One grid point: attribute access (`params.users`) and a stable label."""

    items: tuple[tuple[str, AxisValue], ...]

    def __getattr__(self, name: str) -> AxisValue:
        for key, value in self.items:
            if key == name:
                return value
        raise AttributeError(name)

    def as_dict(self) -> dict[str, AxisValue]:
        return dict(self.items)

    @property
    def label(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.items)
