"""Charts for the report, drawn from stored measurements only (no database needed)."""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from harness.results.records import Measurement, ScenarioRecord
from harness.results.store import write_atomic

MARKERS = ("o", "s", "^")  # the 11th line on: a second marker and a dashed line

matplotlib.use("Agg")  # files only, no display; pyplot picks its backend at the first figure

_plain = FuncFormatter(lambda value, _pos: f"{value:g}")
_plain_minor = FuncFormatter(
    lambda value, _pos: f"{value:g}" if f"{value:g}".lstrip("0.")[:1] in ("2", "5") else ""
)


def latency_chart(
    record: ScenarioRecord, measurements: list[Measurement], path: Path, subtitle: str = ""
) -> bool:
    """Median latency vs `chart_x`, one line per variant, one panel per other-axes combination,
    log-log, with the median's 95% CI as error bars. False when there is nothing to draw."""
    x_axis = record.chart_x
    if not x_axis:
        return False
    axes = dict((name, values) for name, values in record.axes)
    others = [name for name in axes if name != x_axis]
    panels = list(itertools.product(*(axes[name] for name in others)))
    last_axis_size = len(axes[others[-1]]) if others else 1
    metric = f"{record.rate_axis}_per_s" if record.rate_axis else "median_us"
    scale = 1.0 if record.rate_axis else 1e-3  # rows/s as they are; latency in ms
    ok = [m for m in measurements if m.status == "ok" and metric in m.metrics]
    if not ok:
        return False
    ncols = last_axis_size if 1 < last_axis_size <= 4 else min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    variants = [*record.natives, *record.variants]
    colours = plt.get_cmap("tab10")
    for index, combo in enumerate(panels):
        ax = grid[index // ncols][index % ncols]
        fixed = dict(zip(others, combo, strict=True))
        for v_index, variant in enumerate(variants):
            points = sorted(
                (
                    (m.params[x_axis], m.metrics[metric])
                    for m in ok
                    if m.variant == variant
                    and all(m.params.get(k) == val for k, val in fixed.items())
                ),
                key=lambda item: item[0],
            )
            if not points:
                continue
            xs = [p[0] for p in points]
            ys = [p[1].value * scale for p in points]
            low = [max(0.0, (p[1].value - (p[1].ci_low or p[1].value)) * scale) for p in points]
            high = [max(0.0, ((p[1].ci_high or p[1].value) - p[1].value) * scale) for p in points]
            native = variant in record.natives
            ax.errorbar(
                xs,
                ys,
                yerr=[low, high],
                marker=MARKERS[(v_index // 10) % len(MARKERS)],  # tab10 repeats after 10
                markersize=3 if v_index < 10 else 4,
                linewidth=1.4,
                capsize=2,
                label=f"{variant} (native)" if native else variant,
                color="black" if native else colours(v_index % 10),
                linestyle=(0, (4, 2 + 2 * record.natives.index(variant)))
                if native
                else ("-" if v_index < 10 else "--"),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(_plain)
        ax.yaxis.set_major_formatter(_plain)
        ax.yaxis.set_minor_formatter(_plain_minor)
        ax.set_xticks(sorted({float(v) for v in axes[x_axis]}))
        ax.set_xlabel(x_axis)
        ax.set_ylabel(
            f"{record.rate_axis} per second" if record.rate_axis else "median latency (ms)"
        )
        ax.set_title(" ".join(f"{k}={v}" for k, v in fixed.items()) or record.name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    for index in range(len(panels), nrows * ncols):
        grid[index // ncols][index % ncols].axis("off")
    handles, labels = grid[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        ncol=min(4, len(labels)),
        fontsize=9,
        bbox_to_anchor=(0.5, 0.0),
    )
    title = f"{record.name}: {record.question}"
    fig.suptitle(f"{title} ({subtitle})" if subtitle else title, fontsize=12)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(labels) / 4), 1, 0.96))
    return _save(fig, path)


def throughput_chart(
    record: ScenarioRecord,
    measurements: list[Measurement],
    path: Path,
    clients: object,
    knees: list[Any],
    subtitle: str = "",
) -> bool:
    """Requests/s and p99 against pool size for one client count, one line per pool kind,
    the knee of each marked with a ring. False when there is nothing to draw."""
    axis = record.knee_axis or record.chart_x
    ok = [m for m in measurements if m.status == "ok" and "ops_per_s" in m.metrics]
    if not axis or not ok:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    colours = plt.get_cmap("tab10")
    for index, variant in enumerate(record.variants):
        line = sorted((m for m in ok if m.variant == variant), key=lambda m: float(m.params[axis]))
        if not line:
            continue
        colour = colours(index % 10)
        xs = [float(m.params[axis]) for m in line]
        ops = [m.metrics["ops_per_s"] for m in line]
        if len(line) == 1:  # a baseline without a size (NullPool): a level line
            left.axhline(ops[0].value, color=colour, linestyle=":", label=f"{variant} (no pool)")
            if "p99_us" in line[0].metrics:
                right.axhline(line[0].metrics["p99_us"].value / 1e3, color=colour, linestyle=":")
            continue
        left.errorbar(
            xs,
            [o.value for o in ops],
            yerr=[
                [max(0.0, o.value - (o.ci_low or o.value)) for o in ops],
                [max(0.0, (o.ci_high or o.value) - o.value) for o in ops],
            ],
            marker="o",
            markersize=3,
            capsize=2,
            color=colour,
            label=variant,
        )
        right.plot(
            xs,
            [m.metrics["p99_us"].value / 1e3 if "p99_us" in m.metrics else math.nan for m in line],
            marker="o",
            markersize=3,
            color=colour,
        )
        for knee in knees:
            if knee.variant == variant:
                left.plot(
                    [float(knee.size)], [knee.ops], "o", markersize=11, mfc="none", color=colour
                )
    for ax, label in ((left, "requests per second"), (right, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(_plain)
        ax.set_xticks(sorted({float(m.params[axis]) for m in ok}))
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(_plain)
    left.set_ylim(bottom=0)
    _finish(
        fig, left, f"{record.name}: {clients} clients; rings mark each pool's knee", subtitle, 5
    )
    return _save(fig, path)


def http_chart(
    record: ScenarioRecord, measurements: list[Measurement], path: Path, subtitle: str = ""
) -> bool:
    """Grouped bars per endpoint, one bar per app: requests/s (with its 95% CI) and p99.
    False when there is nothing to draw."""
    ok = [m for m in measurements if m.status == "ok" and "ops_per_s" in m.metrics]
    if not ok:
        return False
    endpoints = list(dict.fromkeys(str(m.params.get("endpoint", "")) for m in measurements))
    variants = [v for v in record.variants if any(m.variant == v for m in ok)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    colours = plt.get_cmap("tab10")
    width = 0.8 / max(1, len(variants))
    for index, variant in enumerate(variants):
        xs, ops, lows, highs, p99 = [], [], [], [], []
        for position, endpoint in enumerate(endpoints):
            m = next(
                (x for x in ok if x.variant == variant and x.params.get("endpoint") == endpoint),
                None,
            )
            if m is None:
                continue
            rate = m.metrics["ops_per_s"]
            xs.append(position + (index - (len(variants) - 1) / 2) * width)
            ops.append(rate.value)
            lows.append(max(0.0, rate.value - (rate.ci_low or rate.value)))
            highs.append(max(0.0, (rate.ci_high or rate.value) - rate.value))
            p99.append(m.metrics["p99_us"].value / 1e3 if "p99_us" in m.metrics else math.nan)
        colour = colours(index % 10)
        left.bar(xs, ops, width, yerr=[lows, highs], capsize=2, color=colour, label=variant)
        right.bar(xs, p99, width, color=colour)
    for ax, label in ((left, "requests per second"), (right, "p99 latency (ms)")):
        ax.set_xticks(range(len(endpoints)))
        ax.set_xticklabels(endpoints)
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    _finish(fig, left, f"{record.name}: requests/s and p99 per endpoint", subtitle, 3)
    return _save(fig, path)


def _finish(fig: Any, legend_from: Any, title: str, subtitle: str, columns: int) -> None:
    """The legend of `legend_from`'s lines below both panels, the title above them."""
    handles, labels = legend_from.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(columns, len(labels)), fontsize=9)
    fig.suptitle(f"{title} ({subtitle.strip()})" if subtitle else title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06 + 0.035 * math.ceil(len(labels) / columns), 1, 0.95))


def _save(fig: Any, path: Path) -> bool:
    """Writes the figure as a PNG (atomically) and frees it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return True
