"""The latency runner's report section: verdicts, a chart and a table per grid point."""

from __future__ import annotations

from collections import Counter

from harness.measure.ceilings import NOT_A_CEILING
from harness.measure.statements import unranked
from harness.report.charts import latency_chart
from harness.report.findings import (
    Contest,
    Finding,
    Group,
    comparison_pairs,
    from_ratio,
    left_out,
    pair_findings,
    point_groups,
    slower_cell,
)
from harness.report.part import ScenarioPart
from harness.report.rechecks import rechecked_line
from harness.report.units import duration, rtt_text, size
from harness.results.records import (
    Measurement,
    Metric,
    ScenarioRecord,
    distinct_points,
    point_label,
)
from harness.results.stats import Ratio, SampleSet, is_unstable, speed_sentence
from harness.results.store import stored_samples

LEGEND = (
    "How to read it: *median* is the typical latency of one operation (its 95% bootstrap "
    "confidence interval in brackets, resampled by session: each point is measured in a few "
    "sessions, each on fresh connections), *p99* the slow tail, *cold* the first call on fresh "
    "connections (connect, type introspection, statement caches). *vs fastest* is how many "
    "times slower the variant's median is than the fastest one's, with a 95% CI; where that "
    "CI includes 1 there is no significant difference. *stmts/op* counts the SQL statements the server executed per operation "
    "(pg_stat_statements; BEGIN/COMMIT and the like in *other*); *rows/op* the rows the "
    "server sent back (DataRow messages, read off the wire by the counting proxy: any "
    "statement's, an INSERT's RETURNING rows included); *round trips/op* counts the times the client waited for the server (a counting proxy; pipelined messages are one). **WRONG** means the variant "
    "returned a different answer from the reference and was not timed.",
    "",
)
MEMORY_LEGEND = (
    "*peak heap/op* is the most Python heap one operation held at once (tracemalloc, over its "
    "own start; what it returns included, as a handler holds what it built), metered on one "
    "operation apart from the timed ones; it does not see what a C library allocates itself "
    "(libpq's result under psycopg). *RSS rise/op* is how far the process's resident high-water "
    "mark rose in one operation after free memory was given back: it sees libpq too, in pages, "
    "and only memory the process did not already hold."
)
MEMORY_APART = 2.0  # a comparison's peak heaps this many times apart get a memory verdict
FOLD_POINTS = 4  # more per-point tables than this are folded into a <details> block


def _versus(part: ScenarioPart, group: Group, a: Measurement, b: Measurement) -> Finding | None:
    """b's median over a's (above 1: a is faster), resampled by session, paired: both were
    measured in the same sessions."""
    sa = stored_samples(part.samples, part.record.name, a.variant, group.label)
    sb = stored_samples(part.samples, part.record.name, b.variant, group.label)
    if sa is None or sb is None:
        return None
    ratio = part.resamples.ratio(
        SampleSet(group.label, b.variant, sb.ns, sb.sessions),
        SampleSet(group.label, a.variant, sa.ns, sa.sessions),
    )
    several = len(part.rtts) > 1
    return from_ratio(a.variant, b.variant, a, ratio, "median latency", several, left_out(a, b))


def _speed(m: Measurement) -> float | None:
    median = m.metrics.get("median_us")
    return 1.0 / median.value if median is not None and median.value > 0 else None


CONTEST = Contest(point_groups, _versus, _speed)


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _ratio_cell(metric: Metric | None) -> str:
    """A variant's median over the fastest one's, read forward: `1.42x slower (1.38-1.47)`."""
    if metric is None:
        return ""
    if metric.ci_low == metric.ci_high == metric.value == 1.0:
        return "fastest"
    return slower_cell(metric)


def _rate_cell(metric: Metric | None) -> str:
    if metric is None:
        return ""
    return f"{metric.value:,.0f} ({metric.ci_low or 0:,.0f}-{metric.ci_high or 0:,.0f})"


def _point_table(ms: list[Measurement], record: ScenarioRecord) -> list[str]:
    extra = [name for name in (record.baseline, *record.natives[:1]) if name]
    rate = f"{record.rate_axis}_per_s" if record.rate_axis else None
    header = "| variant | median (95% CI) |"
    header += f" {record.rate_axis}/s (95% CI) |" if rate else ""
    header += " p99 | cold | stmts/op | other/op | round trips/op | rows/op |"
    memory = any("peak_heap_bytes_per_op" in m.metrics for m in ms)
    header += " peak heap/op | RSS rise/op |" if memory else ""
    header += " vs fastest (95% CI) |" + "".join(f" vs {name} |" for name in extra) + " n |"
    width = 10 + len(extra) + (1 if rate else 0) + (2 if memory else 0)
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
        elif m.variant in record.from_memory:
            name += " (served from memory)"
        elif m.status == "ok" and unranked(m.detail):
            name += " (not ranked: answered without the database)"
        elif m.status == "ok" and m.detail:
            name += " (far less work than the reference: see above)"
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
            number(stm.value) if stm else ("" if m.kind == "native" else "n/a"),
            number(other.value) if other else ("" if m.kind == "native" else "n/a"),
            number(trips.value) if trips else ("" if m.kind == "native" else "n/a"),
            number(rows.value) if rows else ("" if m.kind == "native" else "n/a"),
            *(_memory_cells(m) if memory else []),
            f"**{best_text}**" if m.is_best else best_text,
            *(slower_cell(m.metrics.get(f"ratio_to_{name}")) for name in extra),
            str(med.n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _memory_cells(m: Measurement) -> list[str]:
    heap, rss = m.metrics.get("peak_heap_bytes_per_op"), m.metrics.get("peak_rss_bytes_per_op")
    if heap is None:
        return ["", ""] if m.kind == "native" else ["n/a", "n/a"]
    return [size(heap.value), size(rss.value) if rss is not None else "n/a"]


def _memory_verdicts(record: ScenarioRecord, measurements: list[Measurement]) -> list[str]:
    """At the largest grid point: each comparison whose peak heaps are `MEMORY_APART` or more
    apart, with the time each took, so memory saved and time spent are read together."""
    points = distinct_points(measurements)
    if not points:
        return []
    here = {m.variant: m for m in measurements if m.params == points[-1] and m.status == "ok"}
    lines = []
    for a, b in record.comparisons:
        ma, mb = here.get(a), here.get(b)
        if ma is None or mb is None:
            continue
        ha, hb = ma.metrics.get("peak_heap_bytes_per_op"), mb.metrics.get("peak_heap_bytes_per_op")
        ta, tb = ma.metrics.get("median_us"), mb.metrics.get("median_us")
        if ha is None or hb is None or ta is None or tb is None or min(ha.value, hb.value) <= 0:
            continue
        small, large = (ma, mb) if ha.value <= hb.value else (mb, ma)
        hs = small.metrics["peak_heap_bytes_per_op"].value
        hl = large.metrics["peak_heap_bytes_per_op"].value
        if hl / hs < MEMORY_APART:
            continue
        ts, tl = small.metrics["median_us"].value, large.metrics["median_us"].value
        medians = f"median {duration(ts)} vs {duration(tl)}"
        if max(ts, tl) / min(ts, tl) < 1.05:
            took = f"in about the same time ({medians}; its CI is in the table below)"
        elif ts < tl:
            took = f"and was also {tl / ts:.2f}x faster ({medians})"
        else:
            took = f"but was {ts / tl:.2f}x slower ({medians})"
        lines.append(
            f"- **Memory at {point_label(points[-1])}**: {small.variant} held {hl / hs:.1f}x "
            f"less Python heap at its peak than {large.variant} ({size(hs)} vs {size(hl)} per "
            f"operation) {took}."
        )
    return lines


def _wins(measurements: list[Measurement]) -> str:
    """Grid points each variant was fastest at: outright (every other variant's × best CI
    excludes 1) or tied (another one's includes 1, so the order between them is noise)."""
    won: Counter[str] = Counter()
    tied: Counter[str] = Counter()
    for params in distinct_points(measurements):
        group = leaders([m for m in measurements if m.params == params])
        (tied if len(group) > 1 else won).update(group)
    names = sorted(set(won) | set(tied), key=lambda n: (-won[n], -tied[n], n))
    parts = [
        f"{n} ({won[n]}" + (f", tied at {tied[n]}" if tied[n] else "") + ")"
        if won[n]
        else f"{n} (tied at {tied[n]})"
        for n in names
    ]
    return ", ".join(parts)


def leaders(here: list[Measurement]) -> list[str]:
    """The fastest variant at a point, then any whose × best CI includes 1 (tied for first)."""
    best = [m.variant for m in here if m.is_best and m.status == "ok"]
    tied = [
        m.variant
        for m in here
        if not m.is_best
        and m.status == "ok"
        and m.kind != "native"  # a ceiling, not a contender
        and not unranked(m.detail)  # answered without the database: not a contender
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
    record: ScenarioRecord, measurements: list[Measurement], found: list[Finding]
) -> list[str]:
    """Who won where; a line per comparison over every grid point, ending with the largest;
    and a table of every comparison at every grid point, naming the faster side."""
    points = distinct_points(measurements)
    if not points:
        return []
    lines: list[str] = []
    if wins := _wins(measurements):
        lines.append(f"- Fastest variant, by grid points won: {wins}.")
    lines += _memory_verdicts(record, measurements)
    table: dict[str, list[str]] = {point_label(p): [] for p in points}
    pairs = comparison_pairs(record)
    unranked_here = {(m.variant, point_label(m.params)) for m in measurements if unranked(m.detail)}
    by_pair = {(f.first, f.second, point_label(f.params)): f for f in found}
    for fast, slow in pairs:
        at: list[tuple[str, Ratio]] = []
        for params in points:
            label = point_label(params)
            if {(fast, label), (slow, label)} & unranked_here:
                table[label].append("not ranked")
                continue
            f = by_pair.get((fast, slow, label))
            if f is None or f.ci_low is None or f.ci_high is None:
                table[label].append("")
                continue
            table[label].append(f.cell() + (f" ({f.left_out})" if f.left_out else ""))
            at.append((label, Ratio(f.value, f.ci_low, f.ci_high)))
        if at:
            lines.append(_pair_summary(fast, slow, at))
    for m in measurements:
        if m.status == "ok" and unranked(m.detail):
            lines.append(f"- **Not ranked**: {m.variant} at {point_label(m.params)}: {m.detail}")
        elif m.status == "ok" and m.kind == "native" and m.detail.startswith(NOT_A_CEILING):
            lines.append(
                f"- **Ceiling slower than a variant**: {m.variant} at {point_label(m.params)}: "
                f"{m.detail}; the ratios to it at this point mean nothing"
            )
        elif m.status == "ok" and m.detail:
            lines.append(f"- **Note**: {m.variant} at {point_label(m.params)}: {m.detail}")
        if (busy := m.metrics.get("other_sessions_while_counted")) is not None:
            lines.append(
                f"- **Note**: {m.variant} at {point_label(m.params)}: {busy.value:g} other "
                "session(s) of the suite's role were busy in this database while its statements "
                "were counted: its stmts/op may include theirs"
            )
        if m.status == "wrong":
            lines.append(f"- **WRONG**: {m.variant} at {point_label(m.params)}: {m.detail}")
        elif m.status == "failed":
            lines.append(f"- **FAILED**: {m.variant} at {point_label(m.params)}: {m.detail}")
    if pairs:
        lines += [
            "",
            "Each cell: the faster variant of the two and how many times faster it is (median "
            "over median, 95% CI), where the CI excludes 1; else *no significant difference*. "
            "*disturbed* or *unstable* marks a point whose verdict may not hold.",
            "",
            "| grid point | " + " | ".join(f"{f} vs {s}" for f, s in pairs) + " |",
            "|---|" + "---|" * len(pairs),
        ]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in table.items()]
    return lines


def _unstable(ms: list[Measurement], at: str) -> list[str]:
    """The measurements whose timings drifted within their window, said before the tables."""
    drifted = []
    for m in ms:
        metric = m.metrics.get("halves_ratio")
        if metric is None or metric.ci_low is None or metric.ci_high is None:
            continue
        ratio = Ratio(metric.value, metric.ci_low, metric.ci_high)
        if is_unstable(ratio):
            way = "slower" if ratio.value > 1 else "faster"
            times = max(ratio.value, 1 / ratio.value)
            drifted.append(f"{m.variant} at {point_label(m.params)} ({times:.2f}x {way})")
    if not drifted:
        return []
    timed = sum(1 for m in ms if "halves_ratio" in m.metrics)
    return [
        f"### Unstable measurements{at}",
        "",
        f"{len(drifted)} of {timed} measurements were unstable: the second half of their "
        "window was significantly (95% CI) and by more than 10% slower or faster than the "
        "first, so the machine or the server changed while they ran and verdicts that involve "
        "them may not hold: " + "; ".join(drifted) + ".",
        "",
    ]


def section(part: ScenarioPart) -> list[str]:
    """How the answer changes with distance, then per rtt: the verdicts, the chart, and a table
    per grid point."""
    from harness.report.distance import render_distance  # it reads this module's helpers

    record, folder, rtts = part.record, part.folder, part.rtts
    found = pair_findings(part, CONTEST)
    lines = render_distance(record, part.measurements, found)
    for rtt in rtts:
        at = f" at rtt {rtt_text(rtt)}" if rtts != [0.0] else ""
        mine = part.at(rtt)
        verdicts = _verdicts(record, mine, [f for f in found if f.rtt_ms == rtt])
        if verdicts:
            lines += [f"### Verdicts{at}", "", *verdicts, ""]
        lines += [*_unstable(mine, at), rechecked_line(mine), ""]
        suffix = f"-rtt{rtt:g}ms" if at else ""
        chart = folder / "charts" / f"{record.name}{suffix}.png"
        if latency_chart(record, mine, chart, subtitle=at.strip()):
            what = f"{record.rate_axis}/s" if record.rate_axis else "latency"
            lines += [f"![{record.name}: {what}{at}](charts/{chart.name})", ""]
        lines += [f"### Every grid point{at}", ""]
        if any("peak_heap_bytes_per_op" in m.metrics for m in mine):
            lines += [MEMORY_LEGEND, ""]
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
    return lines
