"""report.md and charts/, rebuilt from a run folder's stored files alone."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np

from harness.charts import latency_chart
from harness.http_report import render_http
from harness.load_report import render_load
from harness.records import (
    RTT_DRIFT,
    AxisValue,
    Measurement,
    Metric,
    RunRecord,
    ScenarioRecord,
    distinct_points,
    point_label,
)
from harness.stats import Ratio, median_ratio, speed_sentence
from harness.store import load_run, sample_key, write_atomic, write_tidy_csv
from harness.units import duration, rtt_text, size

FOLD_POINTS = 4  # more per-point tables than this are folded into a <details> block
BIG_SEND = 1e6  # bytes per operation from which the delay proxy's forwarding rate shows
BULK_TRIP = 64e3  # bytes per round trip: below, the trips' own forwarding cost drowns the bytes


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _label(params: dict[str, AxisValue]) -> str:
    return point_label(params)


def _header(run: RunRecord, folder: Path) -> list[str]:
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
    for restart in run.server_restarts:
        lines += [f"> **Server restarted**: {restart}.", ""]
    for note in run.notes:
        lines += [f"> **Note**: {note}", ""]
    dirty = " (uncommitted changes)" if env.get("git_dirty") else ""
    lines += [
        f"- **When**: {run.started_at} to {run.finished_at or 'unfinished'}, profile `{run.profile}`",
        f"- **Machine**: {env.get('cpu')}, {env.get('cores')} cores, {env.get('memory_gib')} GiB, "
        f"{env.get('os')}",
        f"- **Python** {env.get('python')}; SQLAlchemy {env.get('packages', {}).get('sqlalchemy')}, "
        f"asyncpg {env.get('packages', {}).get('asyncpg')}, psycopg {env.get('packages', {}).get('psycopg')}",
        f"- **PostgreSQL** {server.get('version')} ({server.get('provider')}, {server.get('url')}); {shown}",
        f"- **Code**: git {env.get('git_sha')}{dirty}",
        *_network_line(run),
        *_self_check_line(folder),
        "",
    ]
    if not any(record.runner == "latency" for record in run.scenarios):
        return lines  # load and http sections explain their own columns
    lines += [
        "How to read it: *median* is the typical latency of one operation (its 95% bootstrap "
        "confidence interval in brackets), *p99* the slow tail, *cold* the first call on fresh "
        "connections (connect, type introspection, statement caches). *× best* is the variant's "
        "median over the fastest one's, with a 95% CI; where that CI includes 1 the difference is "
        "not significant. *stmts/op* counts the SQL statements the server executed per operation "
        "(pg_stat_statements; BEGIN/COMMIT and the like in *other*); *rows/op* the rows its "
        "reading statements returned (SELECT, FETCH; an INSERT's RETURNING rows are not "
        "counted); *round trips/op* counts the times the client waited for the server (a counting proxy; pipelined messages are one). **WRONG** means the variant "
        "returned a different answer from the reference and was not timed.",
        "",
    ]
    return lines


def _self_check_line(folder: Path) -> list[str]:
    """A `patternbench check --out check.txt` kept in the run folder, when there is one."""
    if not (folder / "check.txt").is_file():
        return []
    return [
        "- **Harness self-check**: [check.txt](check.txt) (`patternbench check` on the same "
        "machine: timer, runner overhead, core placement, the delay proxy's timers, forwarding "
        "and bandwidth)"
    ]


def _network_line(run: RunRecord) -> list[str]:
    if (run.rtts_ms or [0.0]) == [0.0]:
        return ["- **Network**: loopback (no simulated distance)"]
    measured = run.rtt_select1_us
    parts = []
    for rtt in run.rtts_ms:
        got = measured.get(f"{rtt:g}")
        parts.append(
            f"{rtt_text(rtt)}" + (f" (SELECT 1 measured {duration(got)})" if got else "")
            if rtt
            else "0 = direct"
            + (f" (SELECT 1 {duration(measured['0'])})" if "0" in measured else "")
        )
    return [
        f"- **Network**: simulated round-trip times {', '.join(parts)}; a delay proxy holds "
        "each direction's bytes for rtt/2"
    ]


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


def _wins(measurements: list[Measurement]) -> str:
    """Grid points each variant was fastest at: outright (every other variant's × best CI
    excludes 1) or tied (another one's includes 1, so the order between them is noise)."""
    won: Counter[str] = Counter()
    tied: Counter[str] = Counter()
    for params in distinct_points(measurements):
        group = _leaders([m for m in measurements if m.params == params])
        (tied if len(group) > 1 else won).update(group)
    names = sorted(set(won) | set(tied), key=lambda n: (-won[n], -tied[n], n))
    parts = [
        f"{n} ({won[n]}" + (f", tied at {tied[n]}" if tied[n] else "") + ")"
        if won[n]
        else f"{n} (tied at {tied[n]})"
        for n in names
    ]
    return ", ".join(parts)


def _leaders(here: list[Measurement]) -> list[str]:
    """The fastest variant at a point, then any whose × best CI includes 1 (tied for first)."""
    best = [m.variant for m in here if m.is_best and m.status == "ok"]
    tied = [
        m.variant
        for m in here
        if not m.is_best
        and m.status == "ok"
        and m.kind != "native"  # a ceiling, not a contender
        and (r := m.metrics.get("ratio_to_best")) is not None
        and r.ci_low is not None
        and r.ci_low <= 1.0
    ]
    return [*best, *tied] if best else []


def _range(ratios: list[Ratio]) -> str:
    low, high = min(r.value for r in ratios), max(r.value for r in ratios)
    return f"{low:.2f}x" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}x"


def _pair_summary(fast: str, slow: str, at: list[tuple[str, Ratio]]) -> str:
    """One comparison over every grid point: where the first is faster, where the second is,
    where neither; then the sentence at the largest point. Ratios are slow/fast."""
    ahead = [r for _, r in at if r.significant and r.value > 1]
    behind = [r.inverse() for _, r in at if r.significant and r.value < 1]
    even = len(at) - len(ahead) - len(behind)
    parts = []
    if ahead:
        parts.append(
            f"{fast} faster at {len(ahead)} of {len(at)} point{'s' * (len(at) > 1)} "
            f"({_range(ahead)})"
        )
    if behind:
        parts.append(f"{slow} faster at {len(behind)} ({_range(behind)})")
    if even:
        parts.append(f"no significant difference at {even}")
    last_label, last = at[-1]
    if last.value >= 1 or not last.significant:  # keep the declared order unless reversed
        sentence = speed_sentence(fast, slow, last, "")
    else:
        sentence = speed_sentence(slow, fast, last.inverse(), "")
    return f"- **{fast} vs {slow}**: {'; '.join(parts)}. At {last_label}: {sentence}."


def _verdicts(
    record: ScenarioRecord,
    measurements: list[Measurement],
    samples: dict[str, np.ndarray],
    rtt_ms: float = 0.0,
) -> list[str]:
    """Who won where; a line per comparison over every grid point, ending with the largest;
    and a table of every comparison at every grid point (ratio > 1: the first is faster)."""
    points = distinct_points(measurements)
    if not points:
        return []
    lines: list[str] = []
    if wins := _wins(measurements):
        lines.append(f"- Fastest variant, by grid points won: {wins}.")
    rng = np.random.default_rng(7)
    table: dict[str, list[str]] = {_label(p): [] for p in points}
    pairs = [(fast, slow) for fast, slow in record.comparisons]
    for fast, slow in pairs:
        found: list[tuple[str, Ratio]] = []
        for params in points:
            label = _label(params)
            a = samples.get(sample_key(record.name, slow, point_label(params, rtt_ms)))
            b = samples.get(sample_key(record.name, fast, point_label(params, rtt_ms)))
            if a is None or b is None:
                table[label].append("")
                continue
            ratio = median_ratio(a, b, rng)  # slow / fast: > 1 means `fast` is faster
            cell = f"{ratio.value:.2f}x ({ratio.ci_low:.2f}-{ratio.ci_high:.2f})"
            table[label].append(f"**{cell}**" if ratio.significant else f"{cell} n.s.")
            found.append((label, ratio))
        if found:
            lines.append(_pair_summary(fast, slow, found))
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


def _distance(
    record: ScenarioRecord, measurements: list[Measurement], samples: dict[str, np.ndarray]
) -> list[str]:
    """How the verdicts change with the simulated round-trip time: the fastest variant, each
    comparison's ratio, and what each round trip added, side by side for every rtt."""
    rtts = record.rtts_ms or [0.0]
    if len(rtts) < 2:
        return []
    base = min(rtts)
    heads = [rtt_text(r) for r in rtts]
    found = {(m.variant, _label(m.params), m.rtt_ms): m for m in measurements}
    points = distinct_points(measurements)
    lines = [
        "### How the answer changes with distance",
        "",
        f"The same grid at each simulated network round-trip time ({', '.join(heads)}; a delay "
        "proxy between client and server, see the README). Patterns that need more round trips "
        "pay for each one.",
        "",
    ]
    flips: list[str] = []
    noise: list[str] = []
    winners = ["| grid point | " + " | ".join(f"fastest at {h}" for h in heads) + " |"]
    winners.append("|---|" + "---|" * len(rtts))
    for params in points:
        label = _label(params)
        leaders = [
            _leaders([m for (_v, p, r), m in found.items() if p == label and r == rtt])
            for rtt in rtts
        ]
        names = [group[0] if group else "" for group in leaders]
        if len({n for n in names if n}) > 1:
            where = ", ".join(f"{n} at {h}" for n, h in zip(names, heads, strict=True) if n)
            # a change: two rtts whose leaders differ and neither shares the other's first place
            changed = any(
                a[0] != b[0] and a[0] not in b and b[0] not in a
                for a, b in itertools.combinations([g for g in leaders if g], 2)
            )
            (flips if changed else noise).append(f"at {label}: {where}")
        cells = [
            group[0] + (f" (tied with {', '.join(group[1:])})" if len(group) > 1 else "")
            if group
            else ""
            for group in leaders
        ]
        winners.append(f"| {label} | " + " | ".join(cells) + " |")
    if flips:
        lines += [f"- **The fastest variant changes with distance** {'; '.join(flips)}."]
    else:
        lines += ["- The fastest variant is the same at every distance, at every grid point."]
    if noise:
        lines += [
            "- The fastest variant differs, but within the noise (the other one shares first "
            f"place: its × best CI includes 1) {'; '.join(noise)}."
        ]
    rng = np.random.default_rng(11)
    ratio_rows: list[str] = []
    for fast, slow in record.comparisons:
        for params in points:
            label = _label(params)
            cells, directions = [], []
            for rtt in rtts:
                a = samples.get(sample_key(record.name, slow, point_label(params, rtt)))
                b = samples.get(sample_key(record.name, fast, point_label(params, rtt)))
                if a is None or b is None:
                    cells.append("")
                    continue
                ratio = median_ratio(a, b, rng)
                cells.append(
                    f"**{ratio.value:.2f}x**" if ratio.significant else f"{ratio.value:.2f}x n.s."
                )
                if ratio.significant:
                    directions.append(fast if ratio.value > 1 else slow)
            if len(set(directions)) > 1:
                lines.append(
                    f"- **{fast} vs {slow} flips at {label}**: "
                    + ", ".join(f"{c} at {h}" for c, h in zip(cells, heads, strict=True) if c)
                    + " (above 1: the first is faster)."
                )
            ratio_rows.append(f"| {label} | {fast} vs {slow} | " + " | ".join(cells) + " |")
    trip_rows: list[str] = []
    per_trip: dict[float, list[float]] = {r: [] for r in rtts if r > base}
    # (bytes sent per op, round trips per op, µs beyond round trips × Δrtt at the farthest rtt)
    by_bytes: list[tuple[float, float, float]] = []
    has_bytes = any("sent_bytes_per_op" in m.metrics for m in measurements)  # older runs: none
    for params in points:
        label = _label(params)
        for variant in record.variants:
            near = found.get((variant, label, base))
            if near is None or near.status != "ok" or "median_us" not in near.metrics:
                continue
            trips = near.metrics.get("round_trips_per_op")
            cells = [duration(near.metrics["median_us"].value)]
            beyond_us: float | None = None  # at the farthest rtt
            for rtt in rtts:
                if rtt <= base:
                    continue
                far = found.get((variant, label, rtt))
                if far is None or "median_us" not in far.metrics:
                    cells.append("")
                    continue
                added_us = far.metrics["median_us"].value - near.metrics["median_us"].value
                cell = f"{duration(far.metrics['median_us'].value)} (+{duration(max(added_us, 0))}"
                if trips and trips.value >= 1:
                    worth = added_us / (trips.value * (rtt - base) * 1e3)
                    cell += f" = {worth:.2f} × round trips × Δrtt"
                    if trips.value >= 2:
                        per_trip[rtt].append(worth)
                    if rtt == max(rtts):
                        beyond_us = added_us - trips.value * (rtt - base) * 1e3
                cells.append(cell + ")")
            trip_text = _number(trips.value) if trips else "n/a"
            sent = near.metrics.get("sent_bytes_per_op")
            sent_cell = [size(sent.value) if sent else "n/a"] if has_bytes else []
            trip_rows.append(
                "| " + " | ".join([label, variant, trip_text, *sent_cell, *cells]) + " |"
            )
            if sent and trips and beyond_us is not None:
                by_bytes.append((sent.value, trips.value, beyond_us))
    for rtt, worths in per_trip.items():
        if worths:
            lines.append(
                f"- At {rtt_text(rtt)}, each round trip a variant makes added "
                f"{np.median(worths):.2f}x the extra rtt to its median (range "
                f"{min(worths):.2f}-{max(worths):.2f} over the {len(worths)} variant-points with "
                "2 or more round trips): "
                + (
                    "the cost of a pattern at a distance is its round trips times the rtt."
                    if 0.8 <= np.median(worths) <= 1.25
                    else "more than its round trips times the rtt explains (the table below "
                    "shows where)."
                )
            )
    if (bytes_note := _bytes_note(by_bytes, max(rtts))) is not None:
        lines.append(bytes_note)
    lines += ["", *winners, ""]
    if ratio_rows:
        lines += [
            "How many times faster the first variant is than the second (median over median; "
            "bold where the 95% CI excludes 1):",
            "",
            "| grid point | comparison | " + " | ".join(heads) + " |",
            "|---|---|" + "---|" * len(rtts),
            *ratio_rows,
            "",
        ]
    if trip_rows:
        others = [h for r, h in zip(rtts, heads, strict=True) if r > base]
        lines += [
            "<details><summary>What each round trip costs: median per variant and grid point at "
            "each rtt, the time added, and that time over (round trips × added rtt)</summary>",
            "",
            "| grid point | variant | round trips/op | "
            + ("sent/op | " if has_bytes else "")
            + f"median at {rtt_text(base)} | "
            + " | ".join(f"at {h}" for h in others)
            + " |",
            "|---|---|---|---|" + "---|" * (len(others) + has_bytes),
            *trip_rows,
            "",
            "</details>",
            "",
        ]
    return lines


def _bytes_note(by_bytes: list[tuple[float, float, float]], rtt: float) -> str | None:
    """What bulk senders paid beyond round trips × Δrtt, per MB sent: the delay proxy forwards
    bytes at a finite rate, on the server's CPU (`check` measures it). Bulk: 1 MB or more per
    operation, 64 kB or more per round trip (a per-row loop's extra cost is its many trips')."""
    per_mb_ms = [
        beyond_us / 1e3 / (sent / 1e6)
        for sent, trips, beyond_us in by_bytes
        if sent >= BIG_SEND and sent / max(trips, 1.0) >= BULK_TRIP
    ]
    if not per_mb_ms:
        return None
    median = float(np.median(per_mb_ms))
    rate = f", as if the bytes crossed at {1e3 / median:,.0f} MB/s" if median > 0 else ""
    return (
        f"- At {rtt_text(rtt)}, beyond their round trips × Δrtt, the {len(per_mb_ms)} "
        f"variant-points that send {size(BIG_SEND)} or more per operation, "
        f"{size(BULK_TRIP)} or more per round trip, took a median {median:.2f} ms more per MB "
        f"sent (range {min(per_mb_ms):.2f} to {max(per_mb_ms):.2f}){rate}. The delay proxy "
        "forwards bytes in Python on the server's CPU, as a real network moves them at its "
        "link's rate; `patternbench check --rtt` measures the proxy's rate (COPY through it and "
        "direct)."
    )


def _distance_held(record: ScenarioRecord) -> list[str]:
    """After its last point at each rtt, what the delay proxy still added to SELECT 1."""
    lines = []
    for rtt, added in record.rtt_held_ms.items():
        configured = float(rtt)
        text = (
            f"At rtt {rtt_text(configured)} the delay held: after the last point SELECT 1 still "
            f"took {added:.3f} ms longer than direct."
        )
        if abs(added - configured) > RTT_DRIFT * configured:
            text = (
                f"> **At rtt {rtt_text(configured)} the delay did not hold**: after the last point "
                f"SELECT 1 took {added:.3f} ms longer than direct, not {configured:g} ms. This "
                "scenario's numbers at that rtt are suspect."
            )
        lines.append(text)
    return lines


def _slug(heading: str, seen: Counter[str]) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens,
    and -1, -2... on repeats."""
    base = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    count = seen[base]
    seen[base] += 1
    return f"{base}-{count}" if count else base


def _contents(lines: list[str]) -> list[str]:
    """Links to each scenario and to its verdicts, so a long report can be read top-down."""
    seen: Counter[str] = Counter()
    out = ["**Contents**", ""]
    for line in lines:
        if not line.startswith("#"):
            continue
        level, _, text = line.partition(" ")
        anchor = _slug(text, seen)
        if level == "##":
            out.append(f"- [{text}](#{anchor})")
        elif level == "###" and text.startswith(("Verdicts", "How the answer changes")):
            out.append(f"  - [{text}](#{anchor})")
    return [*out, ""] if len(out) > 2 else []


def render(run: RunRecord, samples: dict[str, np.ndarray], folder: Path) -> str:
    header = _header(run, folder)
    lines: list[str] = []
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
        lines += _distance_held(record)
        lines.append("")
        rtts = record.rtts_ms or [0.0]
        if record.runner == "throughput":
            for rtt in rtts:
                mine = [m for m in ms if m.rtt_ms == rtt]
                lines += render_load(run, record, mine, folder, rtt, samples)
            continue
        if record.runner == "http":
            for rtt in rtts:
                lines += render_http(
                    record, [m for m in ms if m.rtt_ms == rtt], folder, rtt, samples
                )
            continue
        lines += _distance(record, ms, samples)
        for rtt in rtts:
            at = f" at rtt {rtt_text(rtt)}" if rtts != [0.0] else ""
            mine = [m for m in ms if m.rtt_ms == rtt]
            verdicts = _verdicts(record, mine, samples, rtt)
            if verdicts:
                lines += [f"### Verdicts{at}", "", *verdicts, ""]
            suffix = f"-rtt{rtt:g}ms" if at else ""
            chart = folder / "charts" / f"{record.name}{suffix}.png"
            if latency_chart(record, mine, chart, subtitle=at.strip()):
                what = f"{record.rate_axis}/s" if record.rate_axis else "latency"
                lines += [f"![{record.name}: {what}{at}](charts/{chart.name})", ""]
            lines += [f"### Every grid point{at}", ""]
            points = distinct_points(mine)
            folded = len(points) > FOLD_POINTS  # long: the verdicts above stay in sight
            if folded:
                lines += [
                    f"<details><summary>{len(points)} grid points, a table each (click to "
                    "open)</summary>",
                    "",
                ]
            for params in points:
                lines += [f"#### {point_label(params, rtt)}", ""]
                lines += _point_table([m for m in mine if m.params == params], record)
                lines.append("")
            if folded:
                lines += ["</details>", ""]
    lines = [*header, *_contents([header[0], *lines]), *lines]
    return "\n".join(lines).rstrip() + "\n"


def write_report(folder: Path) -> Path:
    """Rebuilds report.md, charts/ and measurements.csv from the run folder's stored files."""
    run, samples = load_run(folder)
    write_tidy_csv(folder, run)
    text = render(run, samples, folder)
    path = folder / "report.md"
    write_atomic(path, text.encode())
    return path
