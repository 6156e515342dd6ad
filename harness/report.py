"""report.md and charts/, rebuilt from a run folder's stored files alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from harness.charts import latency_chart
from harness.records import Measurement, Metric, RunRecord, ScenarioRecord
from harness.stats import median_ratio, speed_sentence
from harness.store import load_run, sample_key, write_atomic
from harness.units import duration


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _label(params: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _header(run: RunRecord) -> list[str]:
    env, server = run.environment, run.server
    settings = server.get("settings", {})
    keys = (
        "shared_buffers",
        "work_mem",
        "fsync",
        "synchronous_commit",
        "jit",
        "max_connections",
        "cpu_affinity",
    )
    shown = ", ".join(f"{k}={settings[k]}" for k in keys if k in settings)
    lines = [f"# patternbench report: {run.run_id}", ""]
    if run.partial:
        why = f" ({run.interrupted})" if run.interrupted else ""
        lines += [f"> **Partial run{why}.** Only what finished is below.", ""]
    dirty = " (uncommitted changes)" if env.get("git_dirty") else ""
    lines += [
        f"- **When**: {run.started_at} to {run.finished_at or 'unfinished'}, profile `{run.profile}`",
        f"- **Machine**: {env.get('cpu')}, {env.get('cores')} cores, {env.get('memory_gib')} GiB, "
        f"{env.get('os')}",
        f"- **Python** {env.get('python')}; SQLAlchemy {env.get('packages', {}).get('sqlalchemy')}, "
        f"asyncpg {env.get('packages', {}).get('asyncpg')}, psycopg {env.get('packages', {}).get('psycopg')}",
        f"- **PostgreSQL** {server.get('version')} ({server.get('provider')}, {server.get('url')}); {shown}",
        f"- **Code**: git {env.get('git_sha')}{dirty}",
        "",
        "How to read it: *median* is the typical latency of one operation (its 95% bootstrap "
        "confidence interval in brackets), *p99* the slow tail, *cold* the first call on fresh "
        "connections (connect, type introspection, statement caches). *× best* is the variant's "
        "median over the fastest one's, with a 95% CI; where that CI includes 1 the difference is "
        "not significant. *stmts/op* counts the SQL statements the server executed per operation "
        "(pg_stat_statements; BEGIN/COMMIT and the like in *other*); *round trips/op* counts the times the client waited for the server (a counting proxy; pipelined messages are one). **WRONG** means the variant "
        "returned a different answer from the reference and was not timed.",
        "",
    ]
    return lines


def _ratio_cell(metric: Metric | None) -> str:
    if metric is None:
        return ""
    if metric.ci_low == metric.ci_high == metric.value == 1.0:
        return "1.00"
    return f"{metric.value:.2f} ({metric.ci_low:.2f}-{metric.ci_high:.2f})"


def _rate_cell(metric: Metric | None) -> str:
    if metric is None:
        return ""
    return f"{metric.value:,.0f} ({metric.ci_low or 0:,.0f}-{metric.ci_high or 0:,.0f})"


def _point_table(ms: list[Measurement], record: ScenarioRecord) -> list[str]:
    extra = [name for name in (record.baseline, *record.natives[:1]) if name]
    rate = f"{record.rate_axis}_per_s" if record.rate_axis else None
    header = "| variant | median (95% CI) |"
    header += f" {record.rate_axis}/s (95% CI) |" if rate else ""
    header += " p99 | cold | stmts/op | other/op | round trips/op | rows/op | × best (95% CI) |"
    header += "".join(f" × {name} |" for name in extra) + " n |"
    width = 10 + len(extra) + (1 if rate else 0)
    lines = [header, "|" + "---|" * width]
    ordered = sorted(
        ms,
        key=lambda m: (
            m.kind != "native",
            m.status != "ok",
            m.metrics["median_us"].value if "median_us" in m.metrics else 0,
        ),
    )
    for m in ordered:
        name = f"**{m.variant}**" if m.is_best else m.variant
        if m.kind == "native":
            name = f"*{m.variant}* (native ceiling)"
        if m.status != "ok" or "median_us" not in m.metrics:
            status = "**WRONG**" if m.status == "wrong" else f"**{m.status.upper()}**"
            lines.append(
                f"| {name} | {status}: {m.detail.replace('|', '/')} |" + " |" * (width - 2)
            )
            continue
        med = m.metrics["median_us"]
        stm = m.metrics.get("statements_per_op")
        other = m.metrics.get("other_statements_per_op")
        rows = m.metrics.get("rows_per_op")
        trips = m.metrics.get("round_trips_per_op")
        cold = m.metrics.get("cold_us")
        best_text = _ratio_cell(m.metrics.get("ratio_to_best"))
        cells = [
            name,
            f"{duration(med.value)} ({duration(med.ci_low or med.value)}-{duration(med.ci_high or med.value)})",
            *([_rate_cell(m.metrics.get(rate))] if rate else []),
            duration(m.metrics["p99_us"].value),
            duration(cold.value) if cold else "",
            _number(stm.value) if stm else ("" if m.kind == "native" else "n/a"),
            _number(other.value) if other else ("" if m.kind == "native" else "n/a"),
            _number(trips.value) if trips else ("" if m.kind == "native" else "n/a"),
            _number(rows.value) if rows else ("" if m.kind == "native" else "n/a"),
            f"**{best_text}**" if m.is_best else best_text,
            *(_ratio_cell(m.metrics.get(f"ratio_to_{name}")) for name in extra),
            str(med.n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _points(record: ScenarioRecord, measurements: list[Measurement]) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    for m in measurements:
        if m.params not in seen:
            seen.append(m.params)
    return seen


def _verdicts(
    record: ScenarioRecord,
    measurements: list[Measurement],
    samples: dict[str, np.ndarray],
) -> list[str]:
    """Who won where, a sentence per comparison at the largest grid point, and a table of
    every comparison at every grid point (ratio > 1: the first is faster)."""
    points = _points(record, measurements)
    if not points:
        return []
    lines: list[str] = []
    wins = Counter(m.variant for m in measurements if m.is_best)
    total = sum(wins.values())
    if total:
        ranking = ", ".join(f"{name} ({count})" for name, count in wins.most_common())
        lines.append(f"- Fastest variant, by number of grid points won: {ranking}.")
    rng = np.random.default_rng(7)
    headline = _label(points[-1])
    table: dict[str, list[str]] = {_label(p): [] for p in points}
    pairs = [(fast, slow) for fast, slow in record.comparisons]
    for fast, slow in pairs:
        for params in points:
            label = _label(params)
            a = samples.get(sample_key(record.name, slow, label))
            b = samples.get(sample_key(record.name, fast, label))
            if a is None or b is None:
                table[label].append("")
                continue
            ratio = median_ratio(a, b, rng)  # slow / fast: > 1 means `fast` is faster
            cell = f"{ratio.value:.2f}x ({ratio.ci_low:.2f}-{ratio.ci_high:.2f})"
            table[label].append(f"**{cell}**" if ratio.significant else f"{cell} n.s.")
            if label == headline:
                if ratio.value >= 1:
                    lines.append("- " + speed_sentence(fast, slow, ratio, f" at {label}") + ".")
                else:
                    inverse = median_ratio(b, a, rng)
                    lines.append("- " + speed_sentence(slow, fast, inverse, f" at {label}") + ".")
    for m in measurements:
        if m.status == "wrong":
            lines.append(f"- **WRONG**: {m.variant} at {_label(m.params)}: {m.detail}")
        elif m.status == "failed":
            lines.append(f"- **FAILED**: {m.variant} at {_label(m.params)}: {m.detail}")
    if pairs:
        lines += [
            "",
            "Each cell: how many times faster the first variant is than the second (median over "
            "median, 95% CI); below 1 it is slower; bold where the CI excludes 1, *n.s.* where "
            "there is no significant difference.",
            "",
            "| grid point | " + " | ".join(f"{f} vs {s}" for f, s in pairs) + " |",
            "|---|" + "---|" * len(pairs),
        ]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in table.items()]
    return lines


def render(run: RunRecord, samples: dict[str, np.ndarray], folder: Path) -> str:
    lines = _header(run)
    for record in run.scenarios:
        ms = [m for m in run.measurements if m.scenario == record.name]
        lines += [f"## {record.name}: {record.question}", ""]
        if record.status != "ok":
            lines += [f"> **This scenario failed**: {record.error}", ""]
        doc = record.doc.strip().split("\n", 1)
        if len(doc) > 1:
            lines += [doc[1].strip(), ""]
        lines += ["| variant | what it does |", "|---|---|"]
        for name, description in record.variants.items():
            ref = " (reference answer)" if name == record.reference else ""
            lines.append(f"| {name}{ref} | {description} |")
        lines.append("")
        axes_text = "; ".join(
            f"{name} = {', '.join(map(str, values))}" for name, values in record.axes
        )
        lines.append(
            f"Grid: {axes_text}."
            + (f" Left out: {record.skipped_points}." if record.skipped_points else "")
        )
        if record.dataset:
            d = record.dataset
            lines.append(
                f"Data: {d.get('users', '?'):,} users, {d.get('posts', '?'):,} posts, "
                f"{d.get('comments', '?'):,} comments (dataset {d.get('fingerprint', '')})."
                if isinstance(d.get("users"), int)
                else ""
            )
        if record.settings_note:
            held = ", ".join(f"{k}={v}" for k, v in record.settings_note.items())
            lines.append(f"These results hold under the server's {held}.")
        lines.append("")
        verdicts = _verdicts(record, ms, samples)
        if verdicts:
            lines += ["### Verdicts", "", *verdicts, ""]
        chart = folder / "charts" / f"{record.name}.png"
        if latency_chart(record, ms, chart):
            lines += [f"![{record.name} latency chart](charts/{chart.name})", ""]
        lines += ["### Every grid point", ""]
        for params in _points(record, ms):
            lines += [f"#### {_label(params)}", ""]
            lines += _point_table([m for m in ms if m.params == params], record)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_report(folder: Path) -> Path:
    """Rebuilds report.md and charts/ from the run folder's stored files."""
    run, samples = load_run(folder)
    text = render(run, samples, folder)
    path = folder / "report.md"
    write_atomic(path, text.encode())
    return path
