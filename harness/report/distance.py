"""How the answer changes with distance: the fastest variant, each comparison and what each round trip costs, at every simulated rtt (latency scenarios)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from harness.report.findings import Finding, comparison_pairs
from harness.report.latency import leaders, number
from harness.report.units import duration, rtt_text, size
from harness.results.records import (
    AxisValue,
    Measurement,
    Metric,
    ScenarioRecord,
    distinct_points,
    point_label,
)

BIG_SEND = 1e6  # bytes per operation from which the delay proxy's forwarding rate shows
BULK_TRIP = 64e3  # bytes per round trip: below, the trips' own forwarding cost drowns the bytes


@dataclass(frozen=True)
class _Grid:
    """What every part of the section reads: the rtts, their headings, the measurements by
    (variant, point label, rtt), and the grid points in order."""

    rtts: list[float]
    heads: list[str]
    found: dict[tuple[str, str, float], Measurement]
    points: list[dict[str, AxisValue]]

    @property
    def base(self) -> float:
        return min(self.rtts)


def render_distance(
    record: ScenarioRecord, measurements: list[Measurement], found: list[Finding]
) -> list[str]:
    """How the verdicts change with the simulated round-trip time: the fastest variant, each
    comparison's ratio, and what each round trip added, side by side for every rtt."""
    rtts = record.rtts_ms or [0.0]
    if len(rtts) < 2:
        return []
    grid = _Grid(
        rtts,
        [rtt_text(r) for r in rtts],
        {(m.variant, point_label(m.params), m.rtt_ms): m for m in measurements},
        distinct_points(measurements),
    )
    lines = [
        "### How the answer changes with distance",
        "",
        f"The same grid at each simulated network round-trip time ({', '.join(grid.heads)}; a "
        "delay proxy between client and server, see docs/distance.md). Patterns that need more round "
        "trips pay for each one.",
        "",
    ]
    winner_lines, winners = _fastest(grid)
    flip_lines, ratio_rows = _comparisons(record, grid, found)
    cost_lines, trip_rows, has_bytes = _round_trip_costs(record, measurements, grid)
    lines += [*winner_lines, *flip_lines, *cost_lines, "", *winners, ""]
    if ratio_rows:
        lines += [
            "Each comparison at each rtt: the faster variant and how many times faster (median "
            "over median, 95% CI), where the CI excludes 1:",
            "",
            "| grid point | comparison | " + " | ".join(grid.heads) + " |",
            "|---|---|" + "---|" * len(rtts),
            *ratio_rows,
            "",
        ]
    if trip_rows:
        others = [h for r, h in zip(rtts, grid.heads, strict=True) if r > grid.base]
        lines += [
            "<details><summary>What each round trip costs: median per variant and grid point at "
            "each rtt, the time added, and that time over (round trips × added rtt)</summary>",
            "",
            "| grid point | variant | round trips/op | "
            + ("sent/op | " if has_bytes else "")
            + f"median at {rtt_text(grid.base)} | "
            + " | ".join(f"at {h}" for h in others)
            + " |",
            "|---|---|---|---|" + "---|" * (len(others) + has_bytes),
            *trip_rows,
            "",
            "</details>",
            "",
        ]
    return lines


def _fastest(grid: _Grid) -> tuple[list[str], list[str]]:
    """Whether the fastest variant changes with distance (lines), and the table of the fastest
    at each rtt (rows)."""
    flips: list[str] = []
    noise: list[str] = []
    winners = ["| grid point | " + " | ".join(f"fastest at {h}" for h in grid.heads) + " |"]
    winners.append("|---|" + "---|" * len(grid.rtts))
    for params in grid.points:
        label = point_label(params)
        leading = [
            leaders([m for (_v, p, r), m in grid.found.items() if p == label and r == rtt])
            for rtt in grid.rtts
        ]
        names = [group[0] if group else "" for group in leading]
        if len({n for n in names if n}) > 1:
            where = ", ".join(f"{n} at {h}" for n, h in zip(names, grid.heads, strict=True) if n)
            # a change: two rtts whose leaders differ and neither shares the other's first place
            changed = any(
                a[0] != b[0] and a[0] not in b and b[0] not in a
                for a, b in itertools.combinations([g for g in leading if g], 2)
            )
            (flips if changed else noise).append(f"at {label}: {where}")
        cells = [
            group[0] + (f" (tied with {', '.join(group[1:])})" if len(group) > 1 else "")
            if group
            else ""
            for group in leading
        ]
        winners.append(f"| {label} | " + " | ".join(cells) + " |")
    if flips:
        lines = [f"- **The fastest variant changes with distance** {'; '.join(flips)}."]
    else:
        lines = ["- The fastest variant is the same at every distance, at every grid point."]
    if noise:
        lines += [
            "- The fastest variant differs, but within the noise (the other one shares first "
            f"place: its vs-fastest CI includes 1) {'; '.join(noise)}."
        ]
    return lines, winners


def _comparisons(
    record: ScenarioRecord, grid: _Grid, found: list[Finding]
) -> tuple[list[str], list[str]]:
    """Each comparison's verdict at every rtt: the points where it flips (lines) and the table
    (rows)."""
    by = {(f.first, f.second, point_label(f.params), f.rtt_ms): f for f in found}
    lines: list[str] = []
    ratio_rows: list[str] = []
    for fast, slow in comparison_pairs(record):
        for params in grid.points:
            label = point_label(params)
            cells, winners = [], []
            for rtt in grid.rtts:
                f = by.get((fast, slow, label, rtt))
                cells.append("" if f is None else f.cell())
                if f is not None and f.winner and not f.left_out:
                    winners.append(f.winner)
            if len(set(winners)) > 1:
                lines.append(
                    f"- **{fast} vs {slow} flips at {label}**: "
                    + ", ".join(f"{c} at {h}" for c, h in zip(cells, grid.heads, strict=True) if c)
                    + "."
                )
            ratio_rows.append(f"| {label} | {fast} vs {slow} | " + " | ".join(cells) + " |")
    return lines, ratio_rows


TRIP_ALONE = (0.8, 1.25)  # per round trip, "its round trips times the rtt" within this
TRIP_ALONE_SHARE = 0.75  # ... for at least this share of the variant-points


def _apart(near: Metric, far: Metric) -> bool:
    """Whether two medians' 95% CIs do not overlap (else their difference is noise)."""
    if None in (near.ci_low, near.ci_high, far.ci_low, far.ci_high):
        return True
    return bool(far.ci_low > near.ci_high or far.ci_high < near.ci_low)  # type: ignore[operator]


def _trip_verdict(worths: list[float]) -> str:
    """The conclusion the per-round-trip costs support, and no more."""
    low, high = TRIP_ALONE
    share = sum(low <= w <= high for w in worths) / len(worths)
    if len(worths) >= 3 and share >= TRIP_ALONE_SHARE:
        return (
            f"for {share:.0%} of them within {low:g}-{high:g}x: the cost of a pattern at a "
            "distance is its round trips times the rtt."
        )
    return (
        f"only {share:.0%} of them within {low:g}-{high:g}x, so the round trips alone do not "
        "explain what distance cost here (the table below shows where)."
    )


def _round_trip_costs(
    record: ScenarioRecord, measurements: list[Measurement], grid: _Grid
) -> tuple[list[str], list[str], bool]:
    """What each round trip added at each rtt: the summary lines (with the bytes note), the
    table rows, and whether the run counted bytes."""
    rtts, base, found = grid.rtts, grid.base, grid.found
    trip_rows: list[str] = []
    per_trip: dict[float, list[float]] = {r: [] for r in rtts if r > base}
    # (bytes sent per op, round trips per op, µs beyond round trips × Δrtt at the farthest rtt)
    by_bytes: list[tuple[float, float, float]] = []
    has_bytes = any("sent_bytes_per_op" in m.metrics for m in measurements)  # older runs: none
    for params in grid.points:
        label = point_label(params)
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
                sign = "+" if added_us >= 0 else "-"
                cell = (
                    f"{duration(far.metrics['median_us'].value)} ({sign}{duration(abs(added_us))}"
                )
                if not _apart(near.metrics["median_us"], far.metrics["median_us"]):
                    cell += ", inside the noise"
                elif trips and trips.value >= 1:
                    worth = added_us / (trips.value * (rtt - base) * 1e3)
                    cell += f" = {worth:.2f} × round trips × Δrtt"
                    if trips.value >= 2:
                        per_trip[rtt].append(worth)
                    if rtt == max(rtts):
                        beyond_us = added_us - trips.value * (rtt - base) * 1e3
                cells.append(cell + ")")
            trip_text = number(trips.value) if trips else "n/a"
            sent = near.metrics.get("sent_bytes_per_op")
            sent_cell = [size(sent.value) if sent else "n/a"] if has_bytes else []
            trip_rows.append(
                "| " + " | ".join([label, variant, trip_text, *sent_cell, *cells]) + " |"
            )
            if sent and trips and beyond_us is not None:
                by_bytes.append((sent.value, trips.value, beyond_us))
    lines = []
    for rtt, worths in per_trip.items():
        if worths:
            lines.append(
                f"- At {rtt_text(rtt)}, each round trip a variant makes added "
                f"{np.median(worths):.2f}x the extra rtt to its median (range "
                f"{min(worths):.2f}-{max(worths):.2f} over the {len(worths)} variant-points with "
                "2 or more round trips whose added time is beyond the noise): "
                + _trip_verdict(worths)
            )
    if (bytes_note := _bytes_note(by_bytes, max(rtts))) is not None:
        lines.append(bytes_note)
    return lines, trip_rows, has_bytes


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
