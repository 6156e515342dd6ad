"""`patternbench show`: one grid point's numbers from a stored run, in the terminal, no database.

"selectinload or joinedload at 1 user x 10 posts with comments?" is one command:
`patternbench show latest --scenario loading --point users=1 --point posts_per_user=10
--point nesting=comments --variant selectinload --variant joinedload`. Per point: a table of the
chosen variants, then the fastest against each of the others, read forward.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import msgspec
import numpy as np
from rich.console import Console
from rich.table import Table

from harness.measure.statements import unranked
from harness.report.findings import slower_cell
from harness.report.units import duration, rtt_text, size
from harness.results.lookup import Found, look_up, parse_point
from harness.results.rates import compare_rates
from harness.results.records import Measurement, Metric, point_label
from harness.results.stats import Ratio, speed_sentence
from harness.results.store import find_run, load_run, stored_samples, tidy_csv


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    folder = find_run(args.run_dir, args.out)
    run, samples = load_run(folder)
    found = look_up(run, args.scenario, parse_point(args.point), args.variant, args.rtt)
    chosen = [m for f in found for m in f.measurements]
    if args.format == "json":
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(chosen), indent=2).decode() + "\n")
        return 0
    if args.format == "csv":
        axes = {f.record.name: [a for a, _ in f.record.axes] for f in found}
        subset = msgspec.structs.replace(run, measurements=chosen)
        sys.stdout.write(tidy_csv(subset, axes).decode())
        return 0
    console.print(f"{run.run_id} ({folder}), profile {run.profile}")
    for f in found:
        _print_found(console, f, samples)
    return 0


def _print_found(console: Console, found: Found, samples: dict[str, np.ndarray]) -> None:
    console.print(f"\n[bold]{found.record.name}[/bold]: {found.record.question}")
    for note in found.notes:
        console.print(f"  [yellow]{note}[/yellow]")
    if not found.points:
        console.print("  nothing measured matches")
        return
    for params, rtt in found.points:
        here = [m for m in found.measurements if m.params == params and m.rtt_ms == rtt]
        at = f" at rtt {rtt_text(rtt)}" if rtt else ""
        console.print(_table(f"{point_label(params)}{at}", here, found.record.runner))
        for line in verdicts(here, samples, found.record.runner):
            console.print(f"  {line}")


def _ci(metric: Metric, fmt: Callable[[float], str] = duration) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return fmt(metric.value)
    return f"{fmt(metric.value)} ({fmt(metric.ci_low)}-{fmt(metric.ci_high)})"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


COLUMNS = (  # (header, metric, how a value is shown); a column shows when any row has it
    ("median (95% CI)", "median_us", lambda m: _ci(m)),
    ("requests/s (95% CI)", "ops_per_s", lambda m: _ci(m, _rate)),
    ("p99", "p99_us", lambda m: duration(m.value)),
    (
        "vs fastest (95% CI)",
        "ratio_to_best",
        lambda m: slower_cell(m) if m.value != 1 else "fastest",
    ),
    ("stmts/op", "statements_per_op", lambda m: _count(m.value)),
    ("round trips/op", "round_trips_per_op", lambda m: _count(m.value)),
    ("rows/op", "rows_per_op", lambda m: _count(m.value)),
    ("peak heap/op", "peak_heap_bytes_per_op", lambda m: size(m.value)),
)


def _table(title: str, here: list[Measurement], runner: str) -> Table:
    columns = [c for c in COLUMNS if any(c[1] in m.metrics for m in here)]
    if runner == "latency":  # its ops/s is 1 / mean latency: the median says it better
        columns = [c for c in columns if c[1] != "ops_per_s"]
    table = Table(title=title, title_justify="left")
    table.add_column("variant")
    for header, _, _ in columns:
        table.add_column(header, justify="right")
    table.add_column("n", justify="right")
    table.add_column("note")
    for m in sorted(here, key=_speed_order):
        name = f"{m.variant} (native)" if m.kind == "native" else m.variant
        cells = [show(m.metrics[key]) if key in m.metrics else "" for _, key, show in columns]
        n = next((metric.n for metric in m.metrics.values() if metric.n and metric.n > 1), None)
        note = m.status.upper() if m.status != "ok" else ""
        note = "; ".join(
            part for part in (note, m.detail, m.disturbed and f"disturbed: {m.disturbed}") if part
        )
        table.add_row(f"[bold]{name}[/bold]" if m.is_best else name, *cells, str(n or ""), note)
    return table


def _speed_order(m: Measurement) -> tuple[int, float]:
    if m.status != "ok":
        return (2, 0.0)
    if "median_us" in m.metrics:
        return (0, m.metrics["median_us"].value)
    return (0, -m.metrics["ops_per_s"].value) if "ops_per_s" in m.metrics else (1, 0.0)


def verdicts(here: list[Measurement], samples: dict[str, np.ndarray], runner: str) -> list[str]:
    """The fastest variant against each other timed one, read forward ("A is 1.31x faster than
    B", or no significant difference), from the stored samples when they were kept. The
    fastest is the one the run ranked first; when that one is not shown, the fastest shown,
    by the run's rule (never a variant that answered without the database)."""
    metric = "median_us" if runner == "latency" else "ops_per_s"
    timed = [
        m
        for m in here
        if m.status == "ok" and m.kind == "variant" and metric in m.metrics
        and not unranked(m.detail)
    ]  # fmt: skip
    best = next((m for m in timed if m.is_best), None)
    if best is None and timed:
        sign = 1.0 if runner == "latency" else -1.0  # less time, or more requests/s
        best = min(timed, key=lambda m: sign * m.metrics[metric].value)
    if best is None:
        return []
    lines = []
    rng = np.random.default_rng(7)
    for other in (m for m in timed if m is not best):
        if runner != "latency":
            c = compare_rates(samples, best, other)
            if c is not None:
                lines.append(
                    f"{best.variant} served {c.text(' the requests/s')} of {other.variant}"
                )
            continue
        label = point_label(best.params, best.rtt_ms)
        a = stored_samples(samples, best.scenario, other.variant, label)
        b = stored_samples(samples, best.scenario, best.variant, label)
        if a is not None and b is not None:
            ratio = a.ratio_to(b, rng, paired=True)
        elif best.is_best and (stored := other.metrics.get("ratio_to_best")) is not None:
            # the stored ratio is to the run's fastest: only then is it a ratio to `best`
            ratio = Ratio(
                stored.value, stored.ci_low or stored.value, stored.ci_high or stored.value
            )
        else:
            continue
        lines.append(speed_sentence(best.variant, other.variant, ratio, ""))
    return lines
