"""Finding measurements in a stored run: by scenario, grid point, variant and rtt.

`patternbench show` asks here. A grid value that was not measured is answered with the nearest
measured values on each side (a numeric axis) and says so; a value an axis cannot take, an
unknown scenario or variant, is a UserError naming what is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import UserError
from harness.results.records import AxisValue, Measurement, RunRecord, ScenarioRecord


@dataclass(frozen=True)
class Found:
    """One scenario's measurements that match, the points they cover in the order measured,
    and what was asked for but answered with something near it."""

    record: ScenarioRecord
    measurements: list[Measurement]
    points: list[tuple[dict[str, AxisValue], float]]  # (params, rtt_ms)
    notes: list[str]


def parse_point(texts: Sequence[str]) -> dict[str, list[str]]:
    """`AXIS=V` or `AXIS=V1,V2` items, as typed; UserError for one without `=` or values."""
    wanted: dict[str, list[str]] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not name.strip() or not values:
            raise UserError(f"--point {text!r}: expected AXIS=VALUE or AXIS=V1,V2")
        wanted.setdefault(name.strip(), []).extend(values)
    return wanted


def _number(text: str) -> float | None:
    try:
        return float(text.replace("_", "").replace(",", ""))
    except ValueError:
        return None


def _matching(
    axis: str, asked: list[str], measured: list[AxisValue], notes: list[str]
) -> set[AxisValue]:
    """The measured values of one axis that answer the asked ones (exact, else nearest)."""
    chosen: set[AxisValue] = set()
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in measured)
    for text in asked:
        exact = [v for v in measured if str(v) == text or (numeric and _number(text) == v)]
        if exact:
            chosen.update(exact)
            continue
        value = _number(text) if numeric else None
        if value is None:
            shown = ", ".join(map(str, measured))
            raise UserError(f"--point {axis}={text}: not a measured value; valid: {shown}")
        below = [v for v in measured if isinstance(v, int | float) and v < value]
        above = [v for v in measured if isinstance(v, int | float) and v > value]
        near = [*([max(below)] if below else []), *([min(above)] if above else [])]
        chosen.update(near)
        notes.append(
            f"{axis}={text} was not measured; the nearest measured: "
            + " and ".join(f"{axis}={v}" for v in near)
        )
    return chosen


def look_up(
    run: RunRecord,
    scenario: str | None = None,
    point: dict[str, list[str]] | None = None,
    variants: Sequence[str] = (),
    rtts_ms: Sequence[float] = (),
) -> list[Found]:
    """The measurements of `run` that match, per scenario (one named, else every one that has
    all the axes in `point`)."""
    point = point or {}
    names = [s.name for s in run.scenarios]
    if scenario is not None and scenario not in names:
        raise UserError(f"--scenario {scenario!r} is not in this run; valid: {', '.join(names)}")
    records = [s for s in run.scenarios if scenario in (None, s.name)]
    records = [s for s in records if all(axis in dict(s.axes) for axis in point)]
    if not records:
        axes = "; ".join(f"{s.name}: {', '.join(a for a, _ in s.axes)}" for s in run.scenarios)
        where = f"scenario {scenario}" if scenario else "any scenario of this run"
        raise UserError(f"--point {', '.join(point)}: not an axis of {where}; valid: {axes}")
    chosen = {r.name for r in records}
    known = sorted({m.variant for m in run.measurements if m.scenario in chosen})
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise UserError(f"--variant {unknown[0]!r} was not measured; valid: {', '.join(known)}")
    return [_found(run, record, point, variants, rtts_ms) for record in records]


def _found(
    run: RunRecord,
    record: ScenarioRecord,
    point: dict[str, list[str]],
    variants: Sequence[str],
    rtts_ms: Sequence[float],
) -> Found:
    mine = [m for m in run.measurements if m.scenario == record.name]
    if rtts_ms:
        measured_rtts = sorted({m.rtt_ms for m in mine})
        missing = [r for r in rtts_ms if r not in measured_rtts]
        if missing:
            shown = ", ".join(f"{r:g}ms" for r in measured_rtts)
            raise UserError(
                f"--rtt {missing[0]:g}ms was not measured in {record.name}; valid: {shown}"
            )
        mine = [m for m in mine if m.rtt_ms in rtts_ms]
    notes: list[str] = []
    for axis, asked in point.items():
        measured = list(dict.fromkeys(m.params[axis] for m in mine if axis in m.params))
        keep = _matching(axis, asked, measured, notes)
        mine = [m for m in mine if m.params.get(axis) in keep]
    if variants:
        mine = [m for m in mine if m.variant in variants]
    points: list[tuple[dict[str, AxisValue], float]] = []
    for m in mine:
        if (m.params, m.rtt_ms) not in points:
            points.append((m.params, m.rtt_ms))
    return Found(record, mine, points, notes)
