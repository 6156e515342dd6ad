"""The report section of an HTTP scenario: requests/s and p99 per app and endpoint, verdicts, and
which process (app server, locust, PostgreSQL) ran out of CPU first."""

from __future__ import annotations

from pathlib import Path

from harness.report.charts import http_chart
from harness.report.findings import (
    Contest,
    Finding,
    Group,
    comparison_pairs,
    pair_findings,
    point_groups,
    rate_finding,
    rate_speed,
)
from harness.report.part import ScenarioPart
from harness.report.pick import Order, axis_order, pair_line
from harness.report.rechecks import rechecked_line
from harness.report.units import duration, rtt_text
from harness.results.records import (
    Measurement,
    ScenarioRecord,
    distinct_points,
    metric_value,
    point_label,
)


def _versus(part: ScenarioPart, group: Group, a: Measurement, b: Measurement) -> Finding | None:
    return rate_finding(part, group, a, b, "requests/s")


CONTEST = Contest(point_groups, _versus, rate_speed)


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
    findings: list[Finding],
    order: Order,
) -> list[str]:
    at = f" at rtt {rtt_text(rtt)}" if (record.rtts_ms or [0.0]) != [0.0] else ""
    users_axis = record.clients_axis or "users"
    points = distinct_points(ms)
    lines = [f"### Verdicts{at}", ""]
    across = [
        pair_line(first, second, pair, order)
        for first, second in comparison_pairs(record)
        if (pair := [f for f in findings if (f.first, f.second) == (first, second)])
    ]
    if across:
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
        for f in findings:
            if f.params == params:
                lines.append(f"  - {f.text()}" + (f" ({f.left_out})" if f.left_out else ""))
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


ONE_START = (
    "- **How far these hold**: each app was started and loaded once per point, and the 95% CIs "
    "come from time slices of that one window. They do not include what changes from one app "
    "start to the next (where its process lands beside locust and PostgreSQL on the cores), "
    "which can move requests/s more than these intervals allow (docs/http.md). Before deciding "
    "on a close verdict, run the scenario again and compare (`make compare`)."
)


def pick_lines(part: ScenarioPart) -> list[str]:
    """What to pick's caveat for HTTP verdicts: one app start per variant and point."""
    return [ONE_START] if any(m.status == "ok" for m in part.measurements) else []


def section(part: ScenarioPart) -> list[str]:
    """The HTTP section at every rtt the scenario ran at."""
    found, order = pair_findings(part, CONTEST), axis_order(part)
    return [
        line
        for rtt in part.rtts
        for line in render_http(
            part.record, part.at(rtt), part.folder, rtt,
            [f for f in found if f.rtt_ms == rtt], order,
        )
    ]  # fmt: skip
