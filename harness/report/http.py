"""The report section of an HTTP scenario: requests/s and p99 per app and endpoint, verdicts, and
which process (app server, locust, PostgreSQL) ran out of CPU first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.report.charts import http_chart
from harness.report.part import ScenarioPart
from harness.report.rechecks import rechecked_line
from harness.report.units import duration, rtt_text
from harness.results.rates import RateComparison, compare_rates
from harness.results.records import (
    Measurement,
    ScenarioRecord,
    distinct_points,
    metric_value,
    point_label,
)


def _across(
    fast: str, slow: str, ms: list[Measurement], samples: dict[str, np.ndarray]
) -> str | None:
    """One comparison over every grid point: the range of its requests/s ratio and at how
    many points it is clearly above or below 1."""
    found: list[RateComparison] = []
    for params in distinct_points(ms):
        here = {
            m.variant: m
            for m in ms
            if m.params == params and m.status == "ok" and "ops_per_s" in m.metrics
        }
        a, b = here.get(fast), here.get(slow)
        if a is not None and b is not None and (c := compare_rates(samples, a, b)) is not None:
            found.append(c)
    if not found:
        return None
    ratios = [c.value for c in found]
    more = sum(c.direction > 0 for c in found)
    less = sum(c.direction < 0 for c in found)
    span = f"{min(ratios):.2f}x" if len(ratios) == 1 else f"{min(ratios):.2f}-{max(ratios):.2f}x"
    points = f"{len(ratios)} point{'s' * (len(ratios) > 1)}"
    parts = [f"{fast} served {span} the requests/s of {slow} over {points}"]
    if more:
        parts.append(f"clearly more at {more}")
    if less:
        parts.append(f"clearly less at {less}")
    if len(ratios) - more - less:
        same = "no significant difference" if all(c.ratio for c in found) else "95% CIs overlap"
        parts.append(f"{same} at {len(ratios) - more - less}")
    return f"- **{fast} vs {slow}**: " + "; ".join(parts) + "."


def ops_cell(m: Measurement | None) -> str:
    """A load measurement's operations/s with its CI, bold for the point's best; its status
    when it was not timed. The throughput section adds its own figures after it."""
    if m is None:
        return ""
    if m.status != "ok" or "ops_per_s" not in m.metrics:
        return f"**{m.status.upper()}**"
    ops = m.metrics["ops_per_s"]
    text = f"{ops.value:,.0f} ({ops.ci_low or 0:,.0f}-{ops.ci_high or 0:,.0f})"
    return f"**{text}**" if m.is_best else text


def _cpu(m: Measurement) -> str:
    """app · locust · pg · other (the rest of the machine: the harness, a delay proxy...) · all,
    each as % of one core."""
    parts = []
    listed = 0.0
    for name, label in (("app", "app"), ("locust", "locust"), ("postgres", "pg")):
        value = metric_value(m, f"{name}_cpu_pct")
        if value is not None:
            parts.append(f"{label} {value:.0f}%")
            listed += value
    machine = metric_value(m, "machine_cpu_pct")
    if machine is not None:
        if parts:
            parts.append(f"other {max(0.0, machine - listed):.0f}%")
        parts.append(f"all {machine:.0f}%")
    return " · ".join(parts)


def render_http(
    record: ScenarioRecord,
    ms: list[Measurement],
    folder: Path,
    rtt: float,
    samples: dict[str, np.ndarray],
) -> list[str]:
    at = f" at rtt {rtt_text(rtt)}" if (record.rtts_ms or [0.0]) != [0.0] else ""
    users_axis = record.clients_axis or "users"
    points = distinct_points(ms)
    lines = [f"### Verdicts{at}", ""]
    across = [_across(fast, slow, ms, samples) for fast, slow in record.comparisons]
    if any(across):
        lines += ["Across the grid:", "", *(line for line in across if line), "", "Per point:", ""]
    for params in points:
        mine = [
            m for m in ms if m.params == params and m.status == "ok" and "ops_per_s" in m.metrics
        ]
        label = point_label(params)
        if not mine:
            continue
        best = max(mine, key=lambda m: m.metrics["ops_per_s"].value)
        lines.append(
            f"- **{label}**: fastest {best.variant}, {best.metrics['ops_per_s'].value:,.0f} "
            f"requests/s, p99 {duration(metric_value(best, 'p99_us') or 0)}; {best.detail or 'no CPU data'}."
        )
        for fast, slow in record.comparisons:
            a = next((m for m in mine if m.variant == fast), None)
            b = next((m for m in mine if m.variant == slow), None)
            if a is None or b is None or (c := compare_rates(samples, a, b)) is None:
                continue
            lines.append(f"  - {fast} vs {slow}: {c.text(' the requests/s')}")
    locust_bound = [m for m in ms if "bottleneck: locust" in m.detail]
    if locust_bound:
        lines.append(
            f"- **The load generator was the limit** at {len(locust_bound)} of "
            f"{sum(1 for m in ms if m.status == 'ok')} measurements: there, requests/s is "
            "locust's ceiling, not the app's. Use `--locust-workers N` (or another machine)."
        )
    failed = [m for m in ms if m.status not in ("ok", "skipped")]
    for m in failed:
        lines.append(f"- **{m.variant} {m.status.upper()}** at {m.label}: {m.detail}")
    lines += ["", rechecked_line(ms, "requests answered under load"), ""]
    suffix = f"-rtt{rtt:g}ms" if at else ""
    for users in dict(record.axes).get(users_axis, []):
        subset = [m for m in ms if m.params.get(users_axis) == users]
        chart = folder / "charts" / f"{record.name}-{users}{users_axis}{suffix}.png"
        if http_chart(record, subset, chart, f"{users} {users_axis}{at}"):
            lines += [f"![{record.name} at {users} {users_axis}{at}](charts/{chart.name})", ""]
    lines += [f"### Requests/s (95% CI){at}", ""]
    lines.append("| variant | " + " | ".join(point_label(p) for p in points) + " |")
    lines.append("|---|" + "---:|" * len(points))
    for variant in record.variants:
        cells = [
            ops_cell(next((m for m in ms if m.variant == variant and m.params == p), None))
            for p in points
        ]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"### Latency, failures and CPU{at}", ""]
    lines.append(
        "Latency is each request's own time as locust measured it (body read), in the measured "
        "window only; locust's own whole-run figures are kept in run.json as `locust_*`. "
        "CPU is % of one core over the window: app server, locust, PostgreSQL, the rest "
        "(*other*: the harness, the delay proxy at an rtt), and all processes on the machine (the app servers and locust may use every core; PostgreSQL is pinned "
        "to its own)."
    )
    lines.append("")
    lines.append("| point | variant | p50 | p90 | p99 | p99.9 | failures | CPU | bottleneck |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---|---|")
    for p in points:
        for variant in record.variants:
            found = next((x for x in ms if x.variant == variant and x.params == p), None)
            if found is None or found.status != "ok":
                continue
            m = found
            cols = [
                duration(v) if (v := metric_value(m, k)) is not None else ""
                for k in ("median_us", "p90_us", "p99_us", "p999_us")
            ]
            errors = int(metric_value(m, "errors") or 0)
            lines.append(
                f"| {point_label(p)} | {variant} | {' | '.join(cols)} | {errors:,} | {_cpu(m)} | "
                f"{m.detail} |"
            )
    lines.append("")
    return lines


def section(part: ScenarioPart) -> list[str]:
    """The HTTP section at every rtt the scenario ran at."""
    return [
        line
        for rtt in part.rtts
        for line in render_http(part.record, part.at(rtt), part.folder, rtt, part.samples)
    ]
