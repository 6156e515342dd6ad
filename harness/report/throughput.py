"""The report section of a throughput scenario: requests/s and p99 against pool size, the knee.

The knee of a pool kind at a client count is the smallest pool size whose requests/s reach 95% of
the best that kind reached at that client count (within the 95% CI of its requests/s, so noise
does not push the knee out): past it, more connections buy no throughput.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.charts import throughput_chart
from harness.report.findings import (
    RTT_AXIS,
    Contest,
    Finding,
    Group,
    Where,
    pair_findings,
    rate_finding,
    rate_speed,
)
from harness.report.http import ops_cell
from harness.report.part import ScenarioPart
from harness.report.rechecks import rechecked_line
from harness.report.units import duration, rtt_text
from harness.results.records import (
    AxisValue,
    Measurement,
    RunRecord,
    ScenarioRecord,
    metric_value,
    point_label,
)

KNEE_SHARE = 0.95
SATURATED_CPU_PCT = 90.0


@dataclass(frozen=True)
class Knee:
    variant: str
    clients: AxisValue
    size: AxisValue
    ops: float
    best_ops: float
    p99_at_knee_us: float | None
    p99_at_largest_us: float | None
    largest_size: AxisValue
    client_cpu_pct: float | None
    peak_connections: float | None  # an overflowing pool opens more than its size


def _ok(ms: list[Measurement]) -> list[Measurement]:
    return [m for m in ms if m.status == "ok" and "ops_per_s" in m.metrics]


def _unhealthy(m: Measurement) -> str:
    """Why a point cannot be a knee: clients that got nothing, errors or checkout timeouts
    (its requests/s is not what every client saw); '' when none."""
    parts = [
        f"{value:g} {what}"
        for key, what in (
            ("starved_clients", "clients completed nothing"),
            ("errors", "errors"),
            ("checkout_timeouts", "checkout timeouts"),
        )
        if (value := metric_value(m, key))
    ]
    return ", ".join(parts)


def find_knees(
    record: ScenarioRecord, ms: list[Measurement]
) -> tuple[list[Knee], list[tuple[str, AxisValue, str]]]:
    """One knee per (pool kind, client count) measured at two or more pool sizes, among the
    points where every client was served without errors; and (variant, clients, why) for each
    pool kind that has none for that reason."""
    axis, clients_axis = record.knee_axis, record.clients_axis
    if not axis or not clients_axis:
        return [], []
    knees, missing = [], []
    for clients in dict(record.axes)[clients_axis]:
        for variant in record.variants:
            measured = sorted(
                (m for m in _ok(ms) if m.variant == variant and m.params[clients_axis] == clients),
                key=lambda m: float(m.params[axis]),
            )
            line = [m for m in measured if not _unhealthy(m)]
            if len(measured) >= 2 and len(line) < 2:
                why = "; ".join(
                    f"{axis}={m.params[axis]}: {_unhealthy(m)}" for m in measured if _unhealthy(m)
                )
                if line:
                    why += f"; only {axis}={line[0].params[axis]} served every client"
                missing.append((variant, clients, why))
            if len(line) < 2:
                continue
            best = max(m.metrics["ops_per_s"].value for m in line)
            knee = next(
                m
                for m in line
                if (m.metrics["ops_per_s"].ci_high or m.metrics["ops_per_s"].value)
                >= KNEE_SHARE * best
            )
            knees.append(
                Knee(
                    variant=variant,
                    clients=clients,
                    size=knee.params[axis],
                    ops=knee.metrics["ops_per_s"].value,
                    best_ops=best,
                    p99_at_knee_us=metric_value(knee, "p99_us"),
                    p99_at_largest_us=metric_value(line[-1], "p99_us"),
                    largest_size=line[-1].params[axis],
                    client_cpu_pct=metric_value(knee, "client_cpu_pct"),
                    peak_connections=metric_value(knee, "peak_connections"),
                )
            )
    return knees, missing


def _coarse_lines(
    ms: list[Measurement], knees: list[Knee], axis: str, clients_axis: str
) -> list[str]:
    """Where a knee's next smaller measured size is more than half of it, the knee is only known
    to lie above that size: said once, with the sizes each client count was measured at."""
    measured: dict[AxisValue, set[float]] = {}
    for m in _ok(ms):
        measured.setdefault(m.params[clients_axis], set()).add(float(m.params[axis]))
    coarse: dict[AxisValue, list[float]] = {}
    for k in knees:
        sizes = sorted(measured[k.clients])
        below = [s for s in sizes if s < float(k.size)]
        if below and float(k.size) > 2 * below[-1]:
            coarse[k.clients] = sizes
    if not coarse:
        return []
    where = "; ".join(
        f"at {clients} {clients_axis} {', '.join(f'{s:g}' for s in sizes)}"
        for clients, sizes in coarse.items()
    )
    return [
        f"- Knees are as fine as the {axis}s measured ({where}): a knee more than twice the "
        f"{axis} below it lies somewhere between the two (a `--grid {axis}=...` with the sizes "
        "between, or the full profile, narrows it)."
    ]


def _best_of(
    ms: list[Measurement], variant: str, clients_axis: str, clients: AxisValue
) -> Measurement | None:
    here = [m for m in _ok(ms) if m.variant == variant and m.params[clients_axis] == clients]
    return max(here, key=lambda m: m.metrics["ops_per_s"].value, default=None)


def _groups(part: ScenarioPart) -> list[Group]:
    """Per rtt and client count: each pool kind at its best pool size competes."""
    record = part.record
    clients_axis = record.clients_axis or "clients"
    several = len(part.rtts) > 1
    groups = []
    for rtt in part.rtts:
        ms = part.at(rtt)
        for clients in dict(record.axes).get(clients_axis, []):
            members = [_best_of(ms, v, clients_axis, clients) for v in record.variants]
            point: Where = ((clients_axis, clients),)
            groups.append(
                Group(((RTT_AXIS, rtt), *point) if several else point, rtt,
                      tuple(m for m in members if m is not None))
            )  # fmt: skip
    return groups


def _versus(part: ScenarioPart, group: Group, a: Measurement, b: Measurement) -> Finding | None:
    axis = part.record.knee_axis or "pool_size"
    return rate_finding(part, group, a, b, f"requests/s, each at its best {axis}")


CONTEST = Contest(_groups, _versus, rate_speed)


def pick_lines(part: ScenarioPart) -> list[str]:
    """What to pick's pool-size line: per client count, the knee of the pool kind that served
    the most requests/s there, said to be no pool answer where the client was the limit."""
    record = part.record
    axis, clients_axis = record.knee_axis or "pool_size", record.clients_axis or "clients"
    lines = []
    for rtt in part.rtts:
        knees, _ = find_knees(record, part.at(rtt))
        said, bound = [], 0
        for clients in dict(record.axes).get(clients_axis, []):
            here = [k for k in knees if k.clients == clients]
            if not here:
                continue
            k = max(here, key=lambda k: k.best_ops)
            cpu_bound = k.client_cpu_pct is not None and k.client_cpu_pct >= SATURATED_CPU_PCT
            bound += cpu_bound
            said.append(
                f"{axis}={k.size} at {clients} {clients_axis} ({k.variant}"
                + (", client-bound" if cpu_bound else "")
                + ")"
            )
        if not said:
            continue
        at = f" at rtt {rtt_text(rtt)}" if len(part.rtts) > 1 else ""
        caveat = ""
        if bound == len(said):
            caveat = (
                ": every one is client-bound (the load generator ran out of CPU first), so "
                "none is a pool-size answer; measure at a distance or with a client to spare"
            )
        elif bound:
            caveat = f"; {bound} of {len(said)} client-bound, not a pool-size answer"
        lines.append(
            f"- **Pool size{at}** (the smallest reaching {KNEE_SHARE:.0%} of the best "
            f"requests/s, for the fastest pool kind): {', '.join(said)}{caveat}."
        )
    return lines


def _rule_of_thumb(run: RunRecord) -> tuple[int, str]:
    cores = run.server.get("cores") or run.environment.get("cores") or 1
    spindles = 1
    return (
        int(cores) * 2 + spindles,
        f"the classic `cores * 2 + spindles` rule gives {int(cores)} * 2 + {spindles} = "
        f"{int(cores) * 2 + spindles} (server cores: {cores}; one SSD counted as one spindle)",
    )


def _ops_cell(m: Measurement | None) -> str:
    text = ops_cell(m)
    if m is None or m.status != "ok" or "ops_per_s" not in m.metrics:
        return text
    p99 = metric_value(m, "p99_us")
    starved = metric_value(m, "starved_clients")
    return (
        text
        + (f" · {duration(p99)}" if p99 is not None else "")
        + (f" · {starved:.0f} starved" if starved else "")
    )


def _diagnostics(m: Measurement) -> str:
    def num(metric: str) -> str:
        value = metric_value(m, metric)
        return "" if value is None else f"{value:,.0f}"

    waits = [metric_value(m, "checkout_wait_p50_us"), metric_value(m, "checkout_wait_p99_us")]
    wait = " / ".join(duration(w) for w in waits if w is not None)
    trouble = int(
        sum(metric_value(m, k) or 0 for k in ("errors", "checkout_timeouts", "hung_clients"))
    )
    trips = metric_value(m, "round_trips_per_op")
    return (
        f"| {m.variant} | {m.params.get('pool_size', '')} | {wait} | "
        f"{'' if trips is None else f'{trips:.1f}'} | {num('peak_connections')} | "
        f"{num('client_cpu_pct')}% | {num('server_cpu_pct')}% | {trouble} | "
        f"{num('starved_clients')} |"
    )


def render_throughput(
    run: RunRecord,
    record: ScenarioRecord,
    ms: list[Measurement],
    folder: Path,
    rtt: float,
    found: list[Finding],
) -> list[str]:
    """The verdicts at one rtt (knees, comparisons, round trips, unfair checkout, no pool,
    problems), then a chart and tables per client count."""
    axis, clients_axis = record.knee_axis or "pool_size", record.clients_axis or "clients"
    at = f" at rtt {rtt_text(rtt)}" if (record.rtts_ms or [0.0]) != [0.0] else ""
    knees, missing = find_knees(record, ms)
    lines = [f"### Verdicts{at}", ""]
    lines += _knee_lines(run, record, ms, knees, axis, clients_axis)
    lines += [
        f"- {variant} at {clients} {clients_axis}: **no knee**: fewer than two {axis}s served "
        f"every client without errors ({why})"
        for variant, clients, why in missing
    ]
    lines += _comparison_lines(found, ms, axis)
    lines += _trips_lines(ms)
    lines += _unfair_lines(record, ms, clients_axis)
    lines += _no_pool_lines(record, ms, axis, clients_axis)
    lines += _problem_lines(ms)
    lines += ["", rechecked_line(ms, "requests timed under load"), ""]
    lines += _client_tables(record, ms, folder, rtt, at, knees, axis, clients_axis)
    return lines


def _knee_lines(
    run: RunRecord,
    record: ScenarioRecord,
    ms: list[Measurement],
    knees: list[Knee],
    axis: str,
    clients_axis: str,
) -> list[str]:
    """Where each pool kind's requests/s stops rising, per client count, against the rule."""
    rule, rule_text = _rule_of_thumb(run)
    lines = []
    lines.append(
        f"- Knee = the smallest {axis} reaching {KNEE_SHARE:.0%} of the best requests/s that "
        f"pool kind reached at that client count, among the {axis}s where every client "
        f"completed requests, without errors or checkout timeouts; {rule_text}."
    )
    lines += _coarse_lines(ms, knees, axis, clients_axis)
    cpu_bound = [
        k for k in knees if k.client_cpu_pct is not None and k.client_cpu_pct >= SATURATED_CPU_PCT
    ]
    if knees and len(cpu_bound) == len(knees):
        lines.append(
            f"- **No knee below is a pool-size answer**: at every knee the client process used "
            f"{SATURATED_CPU_PCT:.0f}% or more of its core, so requests/s stopped rising where "
            "this machine's load generator ran out of CPU, not where the pool was big enough "
            "(a knee at pool_size = clients is this artefact, not advice); the requests/s are a "
            "floor of what the pools can do. For a pool answer, measure at a distance "
            "(`--rtt 1ms`: clients wait on the network more than they compute) or where the "
            "client has cores to spare."
        )
    elif cpu_bound:
        lines.append(
            f"- {len(cpu_bound)} of {len(knees)} knees are **client-bound** (marked below): the "
            f"client process used {SATURATED_CPU_PCT:.0f}% or more of its core there, so those "
            "sizes show where the load generator ran out of CPU, not a pool answer."
        )
    for clients in dict(record.axes)[clients_axis]:
        mine = [k for k in knees if k.clients == clients]
        if not mine:
            continue
        lines.append(f"- **{clients} clients**:")
        for k in sorted(mine, key=lambda k: -k.ops):
            p99 = ""
            if k.p99_at_knee_us is not None and k.p99_at_largest_us is not None:
                p99 = (
                    f"; p99 {duration(k.p99_at_knee_us)} there, {duration(k.p99_at_largest_us)} "
                    f"at {axis}={k.largest_size}"
                )
            notes = ""
            if k in cpu_bound:
                notes = (
                    f" — **client-bound** (client CPU {k.client_cpu_pct:.0f}% of its core): "
                    "not a pool answer"
                )
            if k.peak_connections is not None and k.peak_connections > float(k.size):
                notes += f"; it opened up to {k.peak_connections:.0f} connections there"
            versus = (
                "at" if float(k.size) == rule else ("below" if float(k.size) < rule else "above")
            )
            rising = ""
            if k.size == k.largest_size:
                largest, count = float(k.largest_size), float(clients)
                rising = f"; still rising at the largest {axis} measured, " + (
                    f"past the {clients} clients: more connections than clients still helped"
                    if largest > count
                    else f"equal to the {clients} clients: every client had a connection"
                    if largest == count
                    else f"below the {clients} clients: a larger pool might do more"
                )
                p99 = ""
            lines.append(
                f"  - {k.variant}: knee at {axis}={k.size} ({versus} the rule's {rule}), "
                f"{k.ops:,.0f} requests/s (best {k.best_ops:,.0f}){p99}{rising}{notes}"
            )
    return lines


def _comparison_lines(found: list[Finding], ms: list[Measurement], axis: str) -> list[str]:
    """Each comparison at each client count, both sides at their best pool size, read forward."""
    lines = []
    for f in found:
        clients = f.params
        a, b = (
            max(
                (m for m in ms if m.variant == v and m.status == "ok" and "ops_per_s" in m.metrics
                 and all(m.params.get(k) == x for k, x in clients.items())),
                key=lambda m: m.metrics["ops_per_s"].value,
            )
            for v in (f.first, f.second)
        )  # fmt: skip
        ra, rb = a.metrics["ops_per_s"].value, b.metrics["ops_per_s"].value
        lines.append(
            f"- At {point_label(clients)}, each at its best {axis} ({f.first} {a.params[axis]}, "
            f"{f.second} {b.params[axis]}): {ra:,.0f} vs {rb:,.0f} requests/s: {f.text()}"
            + (f" ({f.left_out})" if f.left_out else "")
            + "."
        )
    return lines


def _trips_lines(ms: list[Measurement]) -> list[str]:
    lines = []
    trips = {
        m.variant: m.metrics["round_trips_per_op"].value
        for m in ms
        if "round_trips_per_op" in m.metrics
    }
    if trips:
        lines.append(
            "- Round trips per request (counted on a pool of one connection, writes included): "
            + ", ".join(
                f"{name} {value:.1f}" for name, value in sorted(trips.items(), key=lambda t: t[1])
            )
            + "."
        )
    return lines


def _unfair_lines(record: ScenarioRecord, ms: list[Measurement], clients_axis: str) -> list[str]:
    """Pools under which some clients completed nothing while others were served."""
    lines = []
    for variant in record.variants:
        points = [m for m in _ok(ms) if m.variant == variant]
        unfair = [m for m in points if metric_value(m, "starved_clients")]
        if unfair:
            worst = max(unfair, key=lambda m: metric_value(m, "starved_clients") or 0)
            lines.append(
                f"- **Unfair checkout — {variant}**: at {len(unfair)} of {len(points)} points "
                "some clients completed no request in the whole measured window while others "
                f"were served (worst: {metric_value(worst, 'starved_clients'):.0f} of "
                f"{worst.params[clients_axis]} clients at {worst.label}). Their wait is not in "
                "its percentiles, which count completed requests: its p99 looks better than what "
                "its unlucky clients saw."
            )
    return lines


def _no_pool_lines(
    record: ScenarioRecord, ms: list[Measurement], axis: str, clients_axis: str
) -> list[str]:
    """The baseline (no pool) against the best pool at each client count."""
    lines = []
    baseline = record.baseline
    for clients in dict(record.axes)[clients_axis]:
        base = next(
            (m for m in _ok(ms) if m.variant == baseline and m.params[clients_axis] == clients),
            None,
        )
        pooled = [m for m in _ok(ms) if m.variant != baseline and m.params[clients_axis] == clients]
        if base is None or not pooled:
            continue
        top = max(pooled, key=lambda m: m.metrics["ops_per_s"].value)
        lines.append(
            f"- Without a pool ({baseline}) at {clients} clients: "
            f"{base.metrics['ops_per_s'].value:,.0f} requests/s; the best pool "
            f"({top.variant}, {axis}={top.params[axis]}) did "
            f"{top.metrics['ops_per_s'].value / base.metrics['ops_per_s'].value:.1f}x that."
        )
    return lines


def _problem_lines(ms: list[Measurement]) -> list[str]:
    """Variants that were WRONG or FAILED, and points with errors, timeouts or hung clients."""
    lines = []
    for m in ms:
        if m.status in ("wrong", "failed"):
            lines.append(f"- **{m.status.upper()}**: {m.variant} at {m.label}: {m.detail}")
        elif m.status == "ok" and any(
            metric_value(m, k) for k in ("errors", "checkout_timeouts", "hung_clients")
        ):
            lines.append(
                f"- {m.variant} at {m.label}: {metric_value(m, 'errors'):.0f} errors, "
                f"{metric_value(m, 'checkout_timeouts'):.0f} checkout timeouts, "
                f"{metric_value(m, 'hung_clients'):.0f} hung clients ({m.detail})"
            )
    return lines


def _client_tables(
    record: ScenarioRecord,
    ms: list[Measurement],
    folder: Path,
    rtt: float,
    at: str,
    knees: list[Knee],
    axis: str,
    clients_axis: str,
) -> list[str]:
    """Per client count: the chart, requests/s per pool size, and the diagnostics."""
    lines: list[str] = []
    for clients in dict(record.axes)[clients_axis]:
        here = [m for m in ms if m.params.get(clients_axis) == clients]
        if not here:
            continue
        suffix = f"-rtt{rtt:g}ms" if at else ""
        chart = folder / "charts" / f"{record.name}-{clients}-clients{suffix}.png"
        lines += [f"### {clients} clients{at}", ""]
        if throughput_chart(
            record, here, chart, clients, [k for k in knees if k.clients == clients], at
        ):
            lines += [f"![{record.name} at {clients} clients{at}](charts/{chart.name})", ""]
        sizes = sorted({m.params[axis] for m in here}, key=float)
        variants = [v for v in record.variants if any(m.variant == v for m in here)]
        lines += [
            "Requests/s (95% CI) · p99 of the whole request (checkout + work + release):",
            "",
            f"| {axis} | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants),
        ]
        for size in sizes:
            cells = [
                _ops_cell(
                    next((m for m in here if m.variant == v and m.params[axis] == size), None)
                )
                for v in variants
            ]
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "<details><summary>Checkout wait, connections, CPU and errors at every point</summary>",
            "",
            f"| variant | {axis} | checkout wait p50 / p99 | round trips/request | "
            "server connections (peak) | client CPU | server CPU | errors + timeouts + hung | "
            "starved clients |",
            "|---|---|---|---|---|---|---|---|---|",
            *(_diagnostics(m) for m in here if m.status == "ok" and "ops_per_s" in m.metrics),
            "",
            "</details>",
            "",
        ]
    return lines


def section(part: ScenarioPart) -> list[str]:
    """The throughput section at every rtt the scenario ran at."""
    found = pair_findings(part, CONTEST)
    return [
        line
        for rtt in part.rtts
        for line in render_throughput(
            part.run, part.record, part.at(rtt), part.folder, rtt,
            [f for f in found if f.rtt_ms == rtt],
        )
    ]  # fmt: skip
