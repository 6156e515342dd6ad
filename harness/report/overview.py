"""A scenario at a glance, for report.md: a short table (where each variant was fastest, how far
behind it was elsewhere) and a chart of every variant against the reference across the grid."""

from __future__ import annotations

from collections import Counter

from harness.report.charts import summary_chart
from harness.report.findings import Contest, contenders, versus
from harness.report.part import ScenarioPart


def _short_table(part: ScenarioPart, contest: Contest) -> list[str]:
    """Per variant: at how many points it was fastest (or tied for it), and how many times
    slower than the fastest it was at the others (point estimates; the CIs are on its page)."""
    record, groups = part.record, contest.groups(part)
    won: Counter[str] = Counter()
    behind: dict[str, list[float]] = {}
    status: dict[str, Counter[str]] = {}
    for group in groups:
        ranked = contenders(group, contest)
        for m in group.members:
            if m.status in ("wrong", "failed"):
                status.setdefault(m.variant, Counter())[m.status.upper()] += 1
        if not ranked:
            continue
        best = contest.speed(ranked[0]) or 0.0
        for m in ranked:
            speed = contest.speed(m) or 0.0
            if m is ranked[0] or (
                (f := versus(part, contest, group, ranked[0], m)) is not None and f.direction <= 0
            ):
                won[m.variant] += 1
            elif speed > 0:
                behind.setdefault(m.variant, []).append(best / speed)
    lines = [
        f"| variant | fastest (or tied) at | elsewhere, times slower than the fastest "
        f"({len(groups)} points) | not an option at |",
        "|---|---|---|---|",
    ]
    names = sorted(record.variants, key=lambda v: (-won[v], min(behind.get(v, [1e9]))))
    for name in names:
        slower = sorted(behind.get(name, []))
        gap = ""
        if slower:
            low, high = f"{slower[0]:.2f}", f"{slower[-1]:.2f}"
            gap = f"{low}x" if low == high else f"{low}-{high}x"
            gap += f" (median {slower[len(slower) // 2]:.2f}x)" if len(slower) > 2 else ""
        bad = ", ".join(f"{n} {s}" for s, n in sorted(status.get(name, Counter()).items()))
        ref = " (reference)" if name == record.reference else ""
        shown = f"**{name}**" if won[name] else name
        lines.append(f"| {shown}{ref} | {won[name] or ''} | {gap} | {bad} |")
    return lines


def _summary(part: ScenarioPart, contest: Contest) -> list[str]:
    """The chart of every variant against the reference across the grid (charts/summary-
    <scenario>.png) and a line on how to read it; nothing when there is no reference or it was
    timed nowhere."""
    record = part.record
    chart = part.folder / "charts" / f"summary-{record.name}.png"
    if not summary_chart(part, contest, chart):
        return []
    how = (
        "median latency over the reference's: below 1 is faster"
        if record.runner == "latency"
        else "requests/s over the reference's: above 1 is faster"
    )
    return [
        f"![{record.name}: each variant against the reference, {record.reference}, at every "
        f"grid point](charts/{chart.name})",
        "",
        f"Each variant against the reference, {record.reference}, at every grid point ({how}; "
        "the thick line is the one fastest at the most points).",
        "",
    ]


def overview(part: ScenarioPart, contest: Contest | None, page: str) -> list[str]:
    """The chart against the reference, the short table, and the link to the scenario's page."""
    link = f"Full tables, every grid point and each comparison's verdicts: [{page}]({page})."
    if contest is None or not part.measurements:
        return [link]
    note = (
        "Point estimates at every point, disturbed or unstable ones included (what to pick "
        "above leaves those out); CIs are on the scenario's page."
    )
    return [*_summary(part, contest), *_short_table(part, contest), "", note, "", link]
