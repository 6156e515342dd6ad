"""One comparison at one grid point, read forward: which side is faster, and by how much.

Every place that says "A is N x faster than B" (what to pick, the verdicts, comparisons.csv)
reads it from a Finding, so they cannot disagree, and none says "0.67x faster".
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.measure.statements import unranked
from harness.report.part import ScenarioPart
from harness.report.units import rtt_text
from harness.results.rates import compare_rates
from harness.results.records import (
    AxisValue,
    Measurement,
    Metric,
    ScenarioRecord,
    distinct_points,
    point_label,
)
from harness.results.stats import Ratio, is_unstable

Where = tuple[tuple[str, AxisValue], ...]
RTT_AXIS = "rtt"  # the simulated round-trip time, an axis of its own when a scenario ran at several


@dataclass(frozen=True)
class Finding:
    """How many times faster `first` is than `second` at one grid point (`value` above 1:
    first is faster), with its 95% CI when one could be computed; `direction` says which side
    is significantly faster (+1 first, -1 second, 0 neither); `left_out` why this point must
    not carry a verdict (disturbed, unstable), '' when it may."""

    first: str
    second: str
    where: Where
    rtt_ms: float
    value: float
    ci_low: float | None
    ci_high: float | None
    direction: int
    basis: str  # what was compared: "median latency", "requests/s" ...
    left_out: str = ""

    @property
    def params(self) -> dict[str, AxisValue]:
        return {k: v for k, v in self.where if k != RTT_AXIS}

    @property
    def label(self) -> str:
        return point_label(self.params, self.rtt_ms)

    @property
    def winner(self) -> str | None:
        return {1: self.first, -1: self.second}.get(self.direction)

    @property
    def loser(self) -> str | None:
        return {1: self.second, -1: self.first}.get(self.direction)

    @property
    def times(self) -> float:
        """How many times faster the faster side is (1 or more)."""
        return self.value if self.value >= 1 else 1.0 / self.value

    @property
    def ci(self) -> tuple[float, float] | None:
        """The CI of `times`: the interval of whichever side is ahead, read forward."""
        if self.ci_low is None or self.ci_high is None:
            return None
        if self.value >= 1:
            return self.ci_low, self.ci_high
        return 1.0 / self.ci_high, 1.0 / self.ci_low

    def text(self) -> str:
        """`a is 1.30x faster than b (95% CI 1.21-1.40)`, or no significant difference."""
        ci = self.ci
        interval = f"95% CI {ci[0]:.2f}-{ci[1]:.2f}" if ci else "95% CIs of the two overlap"
        if not self.direction:
            return f"{self.first} vs {self.second}: no significant difference ({interval})"
        ahead, behind = (
            (self.first, self.second) if self.direction > 0 else (self.second, self.first)
        )
        return f"{ahead} is {times(self.times)} faster than {behind} ({interval})"

    def cell(self) -> str:
        """The same, short, for a table cell: `a 1.30x (1.21-1.40)` or `n.s. (0.98-1.04)`."""
        ci = self.ci
        interval = f" ({ci[0]:.2f}-{ci[1]:.2f})" if ci else ""
        if not self.direction:
            return f"no significant difference{interval}"
        return f"**{self.winner} {times(self.times)}**{interval}"


def times(value: float) -> str:
    """1.30x, 12.5x, 166x: two decimals below 10, then fewer."""
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def slower_cell(metric: Metric | None) -> str:
    """A median over another one's, read forward: `2.10x slower (1.9-2.3)`, `1.30x faster
    (...)`, or no significant difference where the 95% CI includes 1."""
    if metric is None:
        return ""
    low, high = metric.ci_low, metric.ci_high
    if low is None or high is None:
        return f"{metric.value:.2f} (no CI)"
    if low <= 1.0 <= high:
        return f"no significant difference ({low:.2f}-{high:.2f})"
    if metric.value >= 1:
        return f"{times(metric.value)} slower ({low:.2f}-{high:.2f})"
    return f"{times(1 / metric.value)} faster ({1 / high:.2f}-{1 / low:.2f})"


def from_ratio(
    first: str,
    second: str,
    m: Measurement,
    slow_over_fast: Ratio,
    basis: str,
    several_rtts: bool,
    left_out: str = "",
) -> Finding:
    """A Finding from a ratio of second's cost over first's (above 1: first is faster)."""
    r = slow_over_fast
    direction = (r.ci_low > 1.0) - (r.ci_high < 1.0)
    return Finding(
        first, second, where(m, several_rtts), m.rtt_ms, r.value, r.ci_low, r.ci_high,
        direction, basis, left_out,
    )  # fmt: skip


def where_label(point: Where) -> str:
    """`rtt 1 ms rows=100`: a grid point as said in a sentence."""
    return " ".join(f"rtt {rtt_text(float(v))}" if k == RTT_AXIS else f"{k}={v}" for k, v in point)


def where(m: Measurement, several_rtts: bool) -> Where:
    """The grid point of a measurement, the rtt first when the scenario ran at several."""
    point = tuple(m.params.items())
    return ((RTT_AXIS, m.rtt_ms), *point) if several_rtts else point


def comparison_pairs(record: ScenarioRecord) -> list[tuple[str, str]]:
    """The scenario's declared comparisons; without any, each variant against the reference."""
    if record.comparisons:
        return [(a, b) for a, b in record.comparisons]
    return [(name, record.reference) for name in record.variants if name != record.reference]


def left_out(*measurements: Measurement) -> str:
    """Why a point's comparison must not carry a verdict: a side disturbed by other work on the
    machine, or unstable; '' when it may.

    Unstable: the sides drifted apart within their window (their second half over their first,
    `halves_ratio`), significantly and by more than 10%, so the ratio between them depended on
    when it was measured. Sides that drifted alike (the machine slowed both: they ran
    interleaved) keep their ratio. A side whose drift is unknown (too few samples to halve)
    leaves the others judged by their own drift."""
    if any(m.disturbed for m in measurements):
        return "disturbed"
    drifts = [
        Ratio(d.value, d.ci_low, d.ci_high)
        for m in measurements
        if (d := m.metrics.get("halves_ratio")) is not None
        and d.ci_low is not None
        and d.ci_high is not None
        and d.ci_low > 0
    ]
    if len(drifts) == len(measurements) >= 2:
        most, least = max(drifts, key=lambda d: d.value), min(drifts, key=lambda d: d.value)
        return "unstable" if is_unstable(_apart(most, least)) else ""
    return "unstable" if any(is_unstable(d) for d in drifts) else ""


def _apart(a: Ratio, b: Ratio) -> Ratio:
    """How far two drifts are apart (a over b), with an approximate 95% CI: the two intervals'
    widths added in quadrature on the log scale (as for independent estimates: the sides' shared
    drift would narrow it, so this errs towards calling them alike)."""
    value = a.value / b.value
    down = math.hypot(math.log(a.value / a.ci_low), math.log(b.ci_high / b.value))
    up = math.hypot(math.log(a.ci_high / a.value), math.log(b.value / b.ci_low))
    return Ratio(value, value * math.exp(-down), value * math.exp(up))


CSV_HEADER = (
    "run_id",
    "scenario",
    "first",
    "second",
    "grid_point",
    "rtt_ms",
    "compared",
    "faster",
    "times_faster",
    "ci_low",
    "ci_high",
    "first_over_second",
    "left_out",
)


def comparisons_csv(run_id: str, rows: Iterable[tuple[str, Finding]]) -> bytes:
    """comparisons.csv: one row per (scenario, comparison, grid point), read forward: which
    side is faster (empty when neither significantly is), how many times, and its 95% CI;
    `first_over_second` keeps the raw ratio (first's speed over second's) for plotting."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for scenario, f in rows:
        ci = f.ci
        writer.writerow(
            [
                run_id,
                scenario,
                f.first,
                f.second,
                point_label(f.params),
                f"{f.rtt_ms:g}",
                f.basis,
                f.winner or "",
                f"{f.times:.4g}",
                f"{ci[0]:.4g}" if ci else "",
                f"{ci[1]:.4g}" if ci else "",
                f"{f.value:.4g}",
                f.left_out,
            ]
        )
    return buffer.getvalue().encode()


@dataclass(frozen=True)
class Group:
    """Measurements that compete with each other: one grid point's (or, for pool sizes, one
    client count's, each variant at its best size)."""

    where: Where
    rtt_ms: float
    members: tuple[Measurement, ...]

    @property
    def label(self) -> str:
        return point_label({k: v for k, v in self.where if k != RTT_AXIS}, self.rtt_ms)


def point_groups(part: ScenarioPart) -> list[Group]:
    """Each grid point at each rtt: its variants compete (latency, and HTTP apps)."""
    several = len(part.rtts) > 1
    groups = []
    for rtt in part.rtts:
        mine = part.at(rtt)
        for params in distinct_points(mine):
            members = tuple(m for m in mine if m.params == params)
            groups.append(Group(where(members[0], several), rtt, members))
    return groups


@dataclass(frozen=True)
class Contest:
    """How one runner's measurements are compared: which compete (`groups`), how two of them
    compare (`versus`, None when they cannot be), and each one's speed (higher is faster)."""

    groups: Callable[[ScenarioPart], list[Group]]
    versus: Callable[[ScenarioPart, Group, Measurement, Measurement], Finding | None]
    speed: Callable[[Measurement], float | None]


@dataclass(frozen=True)
class Standing:
    """Who was fastest in one group: the leader, any that tie with it, and its margin over the
    fastest of the rest (None when nobody else was timed); `left_out` as for a Finding."""

    group: Group
    leaders: tuple[str, ...]
    margin: Finding | None
    left_out: str


def contenders(group: Group, contest: Contest) -> list[Measurement]:
    """The members that may win: timed, correct, not a native ceiling, not answered without
    the database; fastest first."""
    found = [
        m
        for m in group.members
        if m.status == "ok"
        and m.kind != "native"
        and not unranked(m.detail)
        and contest.speed(m) is not None
    ]
    return sorted(found, key=lambda m: -(contest.speed(m) or 0.0))


def versus(
    part: ScenarioPart, contest: Contest, group: Group, a: Measurement, b: Measurement
) -> Finding | None:
    """`contest.versus`, worked out once per part (its bootstrap is the report's slow step)."""
    key = ("versus", group.label, a.variant, b.variant)
    if key not in part.memo:
        part.memo[key] = contest.versus(part, group, a, b)
    found: Finding | None = part.memo[key]
    return found


def pair_findings(part: ScenarioPart, contest: Contest) -> list[Finding]:
    """Every comparison of the scenario (its own, else each variant against the reference) at
    every group both sides were timed in."""
    found = []
    pairs = comparison_pairs(part.record)
    for group in contest.groups(part):
        here = {m.variant: m for m in group.members if m.status == "ok"}
        for first, second in pairs:
            a, b = here.get(first), here.get(second)
            if a is None or b is None or unranked(a.detail) or unranked(b.detail):
                continue
            if (f := versus(part, contest, group, a, b)) is not None:
                found.append(f)
    return found


def standings(part: ScenarioPart, contest: Contest) -> list[Standing]:
    """Per group: the fastest, those tied with it, and its margin over the next one."""
    out = []
    for group in contest.groups(part):
        ranked = contenders(group, contest)
        if not ranked:
            continue
        best = ranked[0]
        others = [(m, versus(part, contest, group, best, m)) for m in ranked[1:]]
        tied = [m.variant for m, f in others if f is not None and f.direction <= 0]
        rest = [f for _, f in others if f is not None and f.direction > 0]
        margin = rest[0] if rest else None
        why = left_out(best, *(m for m, _ in others[:1]))
        out.append(Standing(group, (best.variant, *tied), margin, why))
    return out


def rate_finding(
    part: ScenarioPart, group: Group, a: Measurement, b: Measurement, basis: str
) -> Finding | None:
    """a's requests/s over b's (above 1: a is faster), with the CI of their time slices."""
    c = compare_rates(part.samples, a, b)
    if c is None:
        return None
    low, high = (c.ratio.ci_low, c.ratio.ci_high) if c.ratio is not None else (None, None)
    return Finding(
        a.variant, b.variant, group.where, group.rtt_ms, c.value, low, high, c.direction,
        basis, left_out(a, b),
    )  # fmt: skip


def rate_speed(m: Measurement) -> float | None:
    ops = m.metrics.get("ops_per_s")
    return ops.value if ops is not None else None
