"""What to pick: a few lines per scenario, generated from its measurements, that answer "which
one, and when does that change?" before any table.

Each line names the region of the grid it holds in (an axis that decides it, with the value
where the lead changes), the ratio range with its 95% CIs, ties as ties; points disturbed by
other work on the machine or unstable within their window are left out and counted; variants
that answered wrong or failed are named as not an option.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence

from harness.report.findings import (
    RTT_AXIS,
    Contest,
    Finding,
    Standing,
    Where,
    comparison_pairs,
    pair_findings,
    standings,
    times,
    where_label,
)
from harness.report.part import ScenarioPart
from harness.report.units import rtt_text
from harness.results.records import AxisValue

MAX_CLASSES = 3  # different fastest-or-tied groups a fastest line names one by one
MAX_PAIR_LINES = 4  # comparisons said in full; the rest are counted and linked
TIED = " (tied)"  # the class of a point where several tie for fastest ends so
TIE = ""  # the class of a point where neither side is significantly faster

Order = dict[str, list[AxisValue]]  # each axis's values, in grid order


def axis_order(part: ScenarioPart) -> Order:
    """The grid's axes and values in their declared order, the rtt first when there are several."""
    order: Order = {RTT_AXIS: list(part.rtts)} if len(part.rtts) > 1 else {}
    for name, values in part.record.axes:
        order[name] = list(values)
    return order


def span(found: Sequence[Finding]) -> str:
    """`1.30x (95% CI 1.21-1.40)` for one point, `1.30-1.70x (95% CIs 1.21-1.82)` for several:
    the range of how many times faster, and the widest reach of their intervals."""
    values = sorted(f.times for f in found)
    low, high = times(values[0]), times(values[-1])
    text = low if low == high else f"{low[:-1]}-{high}"
    cis = [f.ci for f in found if f.ci is not None]
    if len(cis) == len(found):
        lo, hi = min(c[0] for c in cis), max(c[1] for c in cis)
        text += f" (95% CI{'s' * (len(found) > 1)} {lo:.2f}-{hi:.2f})"
    elif not cis:  # runs that kept too few time slices: the two rates' own CIs decided
        text += " (the two sides' 95% CIs apart)"
    return text


def _value(axis: str, value: AxisValue) -> str:
    return f"rtt {rtt_text(float(value))}" if axis == RTT_AXIS else f"{axis}={value}"


def _numeric(values: Sequence[AxisValue]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def region(axis: str, values: Sequence[AxisValue], measured: Sequence[AxisValue]) -> str:
    """Where along one axis: `at users=1`, `up to users=5`, `from users=20 on`, `at users=5
    to 20`; categories are listed."""
    if len(values) == 1:
        return f"at {_value(axis, values[0])}"
    if not _numeric(measured):
        return f"at {axis}={', '.join(map(str, values))}"
    first, last = measured.index(values[0]), measured.index(values[-1])
    if first == 0:
        return f"up to {_value(axis, values[-1])}"
    if last == len(measured) - 1:
        return f"from {_value(axis, values[0])} on"
    return f"at {_value(axis, values[0])} to {values[-1]}"


Segments = list[tuple[str, list[AxisValue]]]


def explain(items: Sequence[tuple[Where, str]], order: Order) -> tuple[str, Segments] | None:
    """The axis that alone decides the class of every item (a winner, or a tie), as runs of
    consecutive values with one class each; the one with the fewest runs. None when no single
    axis decides it."""
    best: tuple[str, Segments] | None = None
    for axis, values in order.items():
        by_value: dict[AxisValue, set[str]] = {}
        for where, cls in items:
            by_value.setdefault(dict(where).get(axis, ""), set()).add(cls)
        present = [v for v in values if v in by_value]
        if len(present) < 2 or any(len(c) > 1 for c in by_value.values()):
            continue
        segments: Segments = []
        for value in present:
            (cls,) = by_value[value]
            if segments and segments[-1][0] == cls:
                segments[-1][1].append(value)
            else:
                segments.append((cls, [value]))
        if best is None or len(segments) < len(best[1]):
            best = (axis, segments)
    return best


def _cube_part(axis: str, values: list[AxisValue], measured: list[AxisValue]) -> str:
    """One axis of a region: `users=1`, `users from 20`, `users up to 20`, `nesting=comments`."""
    if len(values) == 1:
        return _value(axis, values[0])
    if _numeric(measured):
        first, last = measured.index(values[0]), measured.index(values[-1])
        if last - first + 1 == len(values):  # contiguous along the axis
            name = "rtt" if axis == RTT_AXIS else axis
            shown = [rtt_text(float(v)) if axis == RTT_AXIS else str(v) for v in values]
            if first == 0:
                return f"{name} up to {shown[-1]}"
            if last == len(measured) - 1:
                return f"{name} from {shown[0]}"
            return f"{name} {shown[0]}-{shown[-1]}"
    return f"{axis}={', '.join(map(str, values))}"


def cubes(items: Sequence[tuple[Where, str]], order: Order) -> dict[str, str] | None:
    """Where each winner leads when no single axis decides it: the smallest region of the grid
    (a set of values per axis) holding all of its points, when no other winner's point lies
    in it; said with how many of the region's points it won. None when regions overlap."""
    winners = [c for c in dict.fromkeys(cls for _, cls in items) if c != TIE]
    regions: dict[str, str] = {}
    for cls in winners:
        mine = [dict(w) for w, c in items if c == cls]
        cube = {
            a: [v for v in vals if any(p.get(a) == v for p in mine)] for a, vals in order.items()
        }
        proper = {
            a: v
            for a, v in cube.items()
            if len(v) < len([x for x in order[a] if any(dict(w).get(a) == x for w, _ in items)])
        }
        if not proper:
            return None
        inside = [c for w, c in items if all(dict(w).get(a) in v for a, v in proper.items())]
        if any(c not in (cls, TIE) for c in inside):
            return None
        text = " · ".join(_cube_part(a, v, order[a]) for a, v in proper.items())
        k = len(mine)
        regions[cls] = (
            f"at {text} ({k} of the {len(inside)} points there)"
            if len(inside) > k
            else f"at {text} ({_count(k)})"
        )
    return regions


MOSTLY = 0.75  # share of points an axis must sort right to describe a comparison "mostly"


def explain_mostly(
    found: Sequence[Finding], order: Order
) -> tuple[str, list[tuple[str, list[AxisValue], list[Finding]]]] | None:
    """The axis along which the winner (or a tie) is the same for most points of each value:
    runs of values with their majority class and the findings that agree, when they cover at
    least MOSTLY of the points and more than one class leads somewhere; else None."""
    best: tuple[int, str, list[tuple[str, list[AxisValue], list[Finding]]]] | None = None
    for axis, values in order.items():
        runs: list[tuple[str, list[AxisValue], list[Finding]]] = []
        for value in values:
            here = [f for f in found if dict(f.where).get(axis) == value]
            if not here:
                continue
            cls, _ = Counter(f.winner or TIE for f in here).most_common(1)[0]
            agree = [f for f in here if (f.winner or TIE) == cls]
            if runs and runs[-1][0] == cls:
                runs[-1][1].append(value)
                runs[-1][2].extend(agree)
            else:
                runs.append((cls, [value], agree))
        covered = sum(len(agree) for _, _, agree in runs)
        if len({cls for cls, _, _ in runs}) < 2 or covered < MOSTLY * len(found):
            continue
        if best is None or covered > best[0]:
            best = (covered, axis, runs)
    return None if best is None else (best[1], best[2])


def _where(axis: str, segments: Segments, cls: str) -> str:
    measured = [v for _, values in segments for v in values]
    return " and ".join(region(axis, values, measured) for c, values in segments if c == cls)


def _change(axis: str, segments: Segments) -> str:
    """Where the lead passes from one side to the other along the axis (ties in between)."""
    won = [(cls, values) for cls, values in segments if cls != TIE]
    changes = [
        f"between {_value(axis, a[1][-1])} and {_value(axis, b[1][0])}"
        for a, b in itertools.pairwise(won)
        if a[0] != b[0]
    ]
    return f" The lead changes {' and '.join(changes)}." if changes else ""


def pair_line(first: str, second: str, found: Sequence[Finding], order: Order) -> str:
    """One comparison over the grid, read forward, in one line."""
    counted = [f for f in found if not f.left_out]
    head = f"- **{first} vs {second}**: "
    if not counted:
        return head + f"{_every(len(found))} left out (disturbed or unstable)."
    classes = Counter(f.winner or TIE for f in counted)
    n = len(counted)
    every = _every(n)
    if set(classes) == {TIE}:
        return head + f"no significant difference at {every} ({_ratios(counted)})."
    if len(classes) == 1:
        (winner,) = classes
        loser = second if winner == first else first
        return f"- **{winner} is {span(counted)} faster than {loser}** at {every}."
    by_class = {cls: [f for f in counted if (f.winner or TIE) == cls] for cls in classes}
    explained = explain([(f.where, f.winner or TIE) for f in counted], order)
    parts = []
    if explained is not None:
        axis, segments = explained
        for cls in dict.fromkeys(c for c, _ in segments):
            where = _where(axis, segments, cls)
            parts.append(_class_text(cls, by_class[cls], where))
        return head + "; ".join(parts) + "." + _change(axis, segments)
    regions = cubes([(f.where, f.winner or TIE) for f in counted], order)
    if regions is not None:
        for cls in regions:
            parts.append(_class_text(cls, by_class[cls], regions[cls]))
        if TIE in classes:
            parts.append(f"no significant difference at the other {_count(classes[TIE])}")
        return head + "; ".join(parts) + "."
    mostly = explain_mostly(counted, order)
    if mostly is not None:
        axis, runs = mostly
        measured = [v for _, values, _ in runs for v in values]
        for cls, values, mine in runs:
            held = sum(1 for f in counted if dict(f.where).get(axis) in values)
            where = f"{region(axis, values, measured)} ({len(mine)} of the {held} points there)"
            parts.append(_class_text(cls, mine, where))
        off = n - sum(len(mine) for _, _, mine in runs)
        return head + "; ".join(parts) + f"; {_count(off)} went the other way."
    for cls, count in classes.most_common():
        where = f"at {count} of {n} points"
        if cls != TIE and count <= 2:
            where += f" ({_points([f.where for f in by_class[cls]])})"
        parts.append(_class_text(cls, by_class[cls], where))
    return head + "; ".join(parts) + "; no single region of the grid decides it."


def _count(n: int) -> str:
    return "1 point" if n == 1 else f"{n} points"


def _every(n: int) -> str:
    return {1: "the one point", 2: "both points"}.get(n, f"all {n} points")


def _names(names: Sequence[str]) -> str:
    """a, b and c."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _points(found: Iterable[Where]) -> str:
    return ", ".join(where_label(w) for w in found)


def _class_text(cls: str, found: Sequence[Finding], where: str) -> str:
    if cls == TIE:
        return f"no significant difference {where}"
    return f"{cls} is {span(found)} faster {where}"


def _ratios(found: Sequence[Finding]) -> str:
    values = sorted(f.value for f in found)
    if len(values) == 1:
        return f"ratio {values[0]:.2f}"
    return f"ratios {values[0]:.2f}-{values[-1]:.2f}"


def _interest(line: str, found: Sequence[Finding]) -> tuple[int, float]:
    """Which comparisons to say in full first: a lead that changes, then the widest gap."""
    winners = {f.winner for f in found if f.winner and not f.left_out}
    return (len(winners), max((f.times for f in found if f.winner), default=1.0))


def fastest_line(stood: Sequence[Standing], order: Order) -> str | None:
    """Who is fastest where, and by how much over the next fastest."""
    counted = [s for s in stood if not s.left_out]
    if not counted:
        return None
    label = {id(s): _names(sorted(s.leaders)) + TIED if len(s.leaders) > 1 else s.leaders[0]
             for s in counted}  # fmt: skip
    items = [(s.group.where, label[id(s)]) for s in counted]
    classes = Counter(cls for _, cls in items)

    def lead(cls: str, where: str) -> str:
        mine = [s for s in counted if label[id(s)] == cls]
        if cls.endswith(TIED):
            return f"{cls[: -len(TIED)]} tie {where}"
        margins = [s.margin for s in mine if s.margin is not None]
        if not margins:
            return f"{cls} {where}"
        seconds = sorted({m.second for m in margins})
        rival = seconds[0] if len(seconds) == 1 else "the next fastest"
        return f"{cls} {where}, {span(margins)} faster than {rival}"

    n = len(counted)
    if len(classes) == 1:
        (cls,) = classes
        return f"- **Fastest: {lead(cls, 'at ' + _every(n))}**."
    if len(classes) > MAX_CLASSES:  # many different ties: count first places instead
        first = Counter(name for s in counted for name in s.leaders)
        alone = Counter(s.leaders[0] for s in counted if len(s.leaders) == 1)
        top, k = first.most_common(1)[0]
        rest = [f"{name} at {c}" for name, c in first.most_common()[1:]]
        return (
            f"- **Fastest**: {top} is fastest or tied for fastest at {k} of {n} points "
            f"(alone at {alone[top]}); also in first place: {', '.join(rest)}."
        )
    explained = explain(items, order)
    if explained is not None:
        axis, segments = explained
        parts = [
            lead(cls, _where(axis, segments, cls)) for cls in dict.fromkeys(c for c, _ in segments)
        ]
        return "- **Fastest**: " + "; ".join(parts) + "."
    parts = [
        lead(cls, f"at {k} of {n} points" + (f" ({_points(w for w, c in items if c == cls)})"
                                             if k <= 2 else ""))
        for cls, k in classes.most_common()
    ]  # fmt: skip
    return "- **Fastest**: " + "; ".join(parts) + "."


def _problems(part: ScenarioPart) -> list[str]:
    """Variants that answered wrong or failed: they are not an option, whatever their speed."""
    bad: Counter[tuple[str, str]] = Counter(
        (m.variant, m.status) for m in part.measurements if m.status in ("wrong", "failed")
    )
    if not bad:
        return []
    total = Counter(m.variant for m in part.measurements)
    said = [
        f"{variant} {'answered WRONG' if status == 'wrong' else 'FAILED'} at {k} of "
        f"{total[variant]} point{'s' * (total[variant] > 1)}"
        for (variant, status), k in sorted(bad.items())
    ]
    return [f"- **Not an option as measured**: {'; '.join(said)}."]


MAX_LISTED = 4  # points named in the left-out line; the rest counted


def _left_out(stood: Sequence[Standing], found: Sequence[Finding]) -> list[str]:
    """The points at which a verdict above was left out, counted, with why: the lines above
    count only comparisons whose two sides were quiet and stable."""
    why: dict[str, str] = {}
    for label, reason in [(s.group.label, s.left_out) for s in stood] + [
        (f.label, f.left_out) for f in found
    ]:
        if reason and why.get(label) != "disturbed":
            why[label] = reason
    if not why:
        return []
    total = len({s.group.label for s in stood} | {f.label for f in found})
    reasons = {
        "disturbed": "other work on the machine disturbed them",
        "unstable": "the two sides' timings drifted apart within their window (unstable)",
    }
    said = []
    for kind in ("disturbed", "unstable"):
        points = [p for p, w in why.items() if w == kind]
        if points:
            listed = ", ".join(points[:MAX_LISTED])
            more = f" and {len(points) - MAX_LISTED} more" if len(points) > MAX_LISTED else ""
            said.append(f"at {len(points)} ({listed}{more}) {reasons[kind]}")
    out = sum(1 for f in found if f.left_out)
    counted = f"{out} of {len(found)} comparisons at a point" if found else "the standings"
    return [
        f"- **Left out**: {counted}, "
        + ("at the one point" if total == 1 else f"at {len(why)} of {total} points")
        + ", not counted "
        "above (a disturbed point leaves out all of its comparisons, an unstable pair only "
        "its own): "
        + "; ".join(said)
        + ". They may not hold: run those points again on a quiet machine."
    ]


def what_to_pick(part: ScenarioPart, contest: Contest | None, page: str) -> list[str]:
    """The scenario's lines: fastest, the comparisons that matter most, what is not an option,
    what was left out; at most about six, the rest linked to the scenario's page."""
    record = part.record
    if record.status != "ok" and not part.measurements:
        return [f"- **This scenario failed**: {' '.join(record.error.split())[:200]}"]
    if contest is None:
        return [f"- No comparison is made for the `{record.runner}` runner: see [{page}]({page})."]
    order = axis_order(part)
    stood = standings(part, contest)
    found = pair_findings(part, contest)
    lines = [line] if (line := fastest_line(stood, order)) else []
    pairs = comparison_pairs(record)
    said = []
    for first, second in pairs:
        mine = [f for f in found if (f.first, f.second) == (first, second)]
        if mine:
            said.append((pair_line(first, second, mine, order), mine))
    chosen = sorted(said, key=lambda s: _interest(*s), reverse=True)[:MAX_PAIR_LINES]
    lines += [line for line, mine in said if any(line == c[0] for c in chosen)]
    if not record.comparisons and said:
        lines.insert(
            1 if lines else 0,
            f"- (No comparisons declared: each variant against the reference, {record.reference}.)",
        )
    if len(said) > len(chosen):
        lines.append(
            f"- {len(said) - len(chosen)} more comparison{'s' * (len(said) - len(chosen) > 1)}: "
            f"[{page}]({page})."
        )
    lines += _problems(part)
    lines += _left_out(stood, found)
    if not lines:
        lines.append("- Nothing was timed.")
    return lines
