"""Charts for the report, drawn from stored measurements only (no database needed).

Every chart is built as a Figure first (`*_figure`, for tests to inspect) and then written as a
PNG (`*_chart`). Each line has its own (colour, marker, line style), the fastest one is drawn
thicker and named in bold, the reference is named as such, every axis says its unit, and the
title and legend are laid out inside the figure (constrained layout, the title wrapped to the
figure's width, the legend's columns fitted to it), then saved with a tight bounding box.
"""

from __future__ import annotations

import io
import itertools
import math
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.measure.statements import unranked
from harness.report.findings import RTT_AXIS, Contest, Group, contenders, left_out
from harness.report.part import ScenarioPart
from harness.report.units import rtt_text
from harness.results.records import Measurement, ScenarioRecord
from harness.results.store import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend
    from matplotlib.ticker import FuncFormatter


VARIANT_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # 7 and 20 colours: 140 distinct pairs
NATIVE_MARKERS = ("x", "+", "*", "1", "2", "3", "4")
LINE_STYLES = ("-", "--", "-.", ":")  # the 11th line on dashed, the 21st dash-dotted ...
HATCHES = ("", "//", "..", "xx")  # bars beyond 20 repeat a colour, never a (colour, hatch)
LINE_WIDTH, FASTEST_WIDTH = 1.3, 2.8
LEGEND_FONT, TITLE_FONT = 9, 12
DPI = 110
FASTEST, REFERENCE, NATIVE = "fastest", "reference", "native"


@dataclass(frozen=True)
class LineStyle:
    """How one variant is drawn in every chart of its scenario."""

    colour: tuple[float, float, float, float]
    marker: str
    linestyle: str | tuple[int, tuple[int, int]]


def _pyplot() -> ModuleType:
    """matplotlib's pyplot, drawing to files only (no display). Imported at the first chart, so a
    run's start, and a report without charts, do without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")  # pyplot picks its backend when it is first imported
    import matplotlib.pyplot

    return matplotlib.pyplot


def too_few(positions: Iterable[object]) -> bool:
    """Whether a chart would have fewer than two positions along its x axis. One position says
    nothing the table beside it does not (each median with its CI), so no chart is drawn: a run
    of one point does without matplotlib."""
    return len(set(positions)) < 2


def palette() -> list[tuple[float, float, float, float]]:
    """20 distinct colours: tab20's ten strong ones first, then its ten light ones."""
    tab20 = _pyplot().get_cmap("tab20")
    return [tab20(2 * i) for i in range(10)] + [tab20(2 * i + 1) for i in range(10)]


def line_styles(variants: Iterable[str], natives: Sequence[str] = ()) -> dict[str, LineStyle]:
    """A (colour, marker, line style) per name, no two alike: variants cycle through 20 colours
    and 7 markers (so the pair repeats only after 140 lines) and change line style every 10;
    natives are black and dashed, each with its own dash pattern and marker."""
    colours = palette()
    styles = {
        name: LineStyle(
            (0.0, 0.0, 0.0, 1.0), NATIVE_MARKERS[i % len(NATIVE_MARKERS)], (0, (4, 2 + 2 * i))
        )
        for i, name in enumerate(natives)
    }
    for i, name in enumerate(v for v in variants if v not in styles):
        styles[name] = LineStyle(
            colours[i % len(colours)],
            VARIANT_MARKERS[i % len(VARIANT_MARKERS)],
            LINE_STYLES[(i // 10) % len(LINE_STYLES)],
        )
    return styles


def fastest_by_best(measurements: Sequence[Measurement]) -> str | None:
    """The variant the run itself ranked fastest (`is_best`) at the most of these points; None
    when it ranked none."""
    wins = Counter(
        m.variant
        for m in measurements
        if m.is_best and m.status == "ok" and m.kind != "native" and not unranked(m.detail)
    )
    return wins.most_common(1)[0][0] if wins else None


def legend_label(name: str, record: ScenarioRecord, fastest: str | None) -> str:
    """`name (native)`, `name (reference)`, `name (fastest)` or both of the last two."""
    if name in record.natives:
        return f"{name} ({NATIVE})"
    marks = ((REFERENCE, name == record.reference), (FASTEST, name == fastest))
    notes = [note for note, holds in marks if holds]
    return f"{name} ({', '.join(notes)})" if notes else name


def marks_fastest(label: str) -> bool:
    """Whether a legend label names the fastest (a variant's name, a Python name, holds no
    parenthesis or comma)."""
    return f"({FASTEST}" in label or f", {FASTEST}" in label


def wrapped(title: str, fig: Figure, fontsize: float = TITLE_FONT) -> str:
    """The title in lines that fit the figure's width (an average glyph is ~0.6 em wide)."""
    chars = max(20, int(fig.get_figwidth() * 72 / (fontsize * 0.62)))
    return "\n".join(textwrap.wrap(title, chars)) or title


def plain() -> FuncFormatter:
    """Tick labels as plain numbers (1000, 0.5), not 10^3."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: f"{value:g}")


def plain_minor() -> FuncFormatter:
    """Minor tick labels at 2 and 5 of each decade only, so that they never overlap."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(
        lambda value, _pos: f"{value:g}" if f"{value:g}".lstrip("0.")[:1] in ("2", "5") else ""
    )


def legend_below(fig: Figure, handles: list[Any], labels: list[str], columns: int) -> Legend:
    """The legend under every panel, the fastest's entry in bold; the figure grows by the
    legend's height, so the panels keep theirs."""
    height = fig.get_figheight()
    legend = _fitted_legend(fig, handles, labels, columns)
    for text in legend.get_texts():
        if marks_fastest(text.get_text()):
            text.set_fontweight("bold")
    drawn = legend.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
    fig.set_figheight(height + drawn.height / fig.dpi + 0.1)
    return legend


def _fitted_legend(fig: Figure, handles: list[Any], labels: list[str], columns: int) -> Legend:
    """A legend below the panels in as many columns (up to `columns`) as fit the figure's width
    (a long name takes a column's room: fewer columns, never one cut at the edge)."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ncol in range(min(columns, len(labels)), 1, -1):
        legend = fig.legend(
            handles, labels, loc="outside lower center", ncol=ncol, fontsize=LEGEND_FONT
        )
        if legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            return legend
        legend.remove()
    return fig.legend(handles, labels, loc="outside lower center", ncol=1, fontsize=LEGEND_FONT)


def latency_figure(
    record: ScenarioRecord,
    measurements: list[Measurement],
    subtitle: str = "",
    fastest: str | None = None,
) -> Figure | None:
    """Median latency (or rows/s) vs `chart_x`, one line per variant, one panel per other-axes
    combination, log-log, with the median's 95% CI as error bars; `fastest` (else the variant
    the run ranked best at the most points) drawn thicker. None when there is nothing to draw, or
    one value of `chart_x` (`too_few`)."""
    x_axis = record.chart_x
    if not x_axis:
        return None
    axes = dict((name, values) for name, values in record.axes)
    others = [name for name in axes if name != x_axis]
    panels = list(itertools.product(*(axes[name] for name in others)))
    last_axis_size = len(axes[others[-1]]) if others else 1
    metric = f"{record.rate_axis}_per_s" if record.rate_axis else "median_us"
    ok = [m for m in measurements if m.status == "ok" and metric in m.metrics]
    if not ok or too_few(m.params.get(x_axis) for m in ok):
        return None
    fastest = fastest or fastest_by_best(ok)
    ncols = last_axis_size if 1 < last_axis_size <= 4 else min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, grid = _pyplot().subplots(
        nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False, layout="constrained"
    )
    styles = line_styles(record.variants, record.natives)
    for index, combo in enumerate(panels):
        ax = grid[index // ncols][index % ncols]
        fixed = dict(zip(others, combo, strict=True))
        here = [m for m in ok if all(m.params.get(k) == v for k, v in fixed.items())]
        ax.set_title(" ".join(f"{k}={v}" for k, v in fixed.items()) or record.name, fontsize=10)
        if not _latency_lines(ax, record, here, styles, fastest):
            _nothing_measured(ax)
            continue
        _latency_axes(ax, record, [float(v) for v in axes[x_axis]])
    for index in range(len(panels), nrows * ncols):
        grid[index // ncols][index % ncols].axis("off")
    handles, labels = _handles(grid)
    legend_below(fig, handles, labels, 4)
    title = f"{record.name}: {record.question}"
    fig.suptitle(wrapped(f"{title} ({subtitle})" if subtitle else title, fig), fontsize=TITLE_FONT)
    return fig


def latency_chart(
    record: ScenarioRecord,
    measurements: list[Measurement],
    path: Path,
    subtitle: str = "",
    fastest: str | None = None,
) -> bool:
    """`latency_figure` written to `path`. False when there is nothing to draw."""
    fig = latency_figure(record, measurements, subtitle, fastest)
    return fig is not None and save(fig, path)


def _latency_lines(
    ax: Axes,
    record: ScenarioRecord,
    here: list[Measurement],
    styles: dict[str, LineStyle],
    fastest: str | None,
) -> bool:
    """One panel's lines (natives first) with their CIs; False when it has none."""
    x_axis = record.chart_x or ""
    metric = f"{record.rate_axis}_per_s" if record.rate_axis else "median_us"
    scale = 1.0 if record.rate_axis else 1e-3  # rows/s as they are; latency in ms
    drawn = False
    for variant in [*record.natives, *record.variants]:
        points = sorted(
            ((float(m.params[x_axis]), m.metrics[metric]) for m in here if m.variant == variant),
            key=lambda item: item[0],
        )
        if not points:
            continue
        xs = [p[0] for p in points]
        ys = [p[1].value * scale for p in points]
        low = [max(0.0, (p[1].value - (p[1].ci_low or p[1].value)) * scale) for p in points]
        high = [max(0.0, ((p[1].ci_high or p[1].value) - p[1].value) * scale) for p in points]
        style = styles[variant]
        _line(ax, xs, ys, style, legend_label(variant, record, fastest), variant == fastest)
        ax.errorbar(xs, ys, yerr=[low, high], fmt="none", ecolor=style.colour, capsize=2, lw=1)
        drawn = True
    return drawn


def _line(
    ax: Axes, xs: list[float], ys: list[float], style: LineStyle, label: str, fastest: bool
) -> None:
    """One variant's line in its style, thicker and on top when it is the fastest."""
    ax.plot(
        xs,
        ys,
        color=style.colour,
        marker=style.marker,
        linestyle=style.linestyle,
        linewidth=FASTEST_WIDTH if fastest else LINE_WIDTH,
        markersize=6 if fastest else 4,
        zorder=3 if fastest else 2,
        label=label,
    )


def _latency_axes(ax: Axes, record: ScenarioRecord, ticks: list[float]) -> None:
    """Log-log with plain numbers, the units on both axes."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(plain())
    ax.yaxis.set_major_formatter(plain())
    ax.yaxis.set_minor_formatter(plain_minor())
    ax.set_xticks(sorted(set(ticks)))
    ax.set_xlabel(f"{record.chart_x} (log scale)")
    ax.set_ylabel(
        f"throughput ({record.rate_axis}/s)" if record.rate_axis else "median latency (ms)"
    )
    ax.grid(True, which="both", alpha=0.3)


def _nothing_measured(ax: Axes) -> None:
    """A panel without a timed measurement says so instead of showing empty axes."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "nothing measured here", ha="center", va="center", transform=ax.transAxes)


def _handles(grid: Any) -> tuple[list[Any], list[str]]:
    """Every panel's legend entries, each label once, in the order first drawn."""
    found: dict[str, Any] = {}
    for ax in grid.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    return list(found.values()), list(found)


def throughput_figure(
    record: ScenarioRecord,
    measurements: list[Measurement],
    clients: object,
    knees: list[Any],
    subtitle: str = "",
    fastest: str | None = None,
) -> Figure | None:
    """Requests/s and p99 against pool size for one client count, one line per pool kind,
    the knee of each marked with a ring. None when there is nothing to draw, or one pool size."""
    axis = record.knee_axis or record.chart_x
    ok = [m for m in measurements if m.status == "ok" and "ops_per_s" in m.metrics]
    if not axis or not ok or too_few(m.params.get(axis) for m in ok):
        return None
    fastest = fastest or fastest_by_best(ok)
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    styles = line_styles(record.variants)
    for variant in record.variants:
        line = sorted((m for m in ok if m.variant == variant), key=lambda m: float(m.params[axis]))
        if not line:
            continue
        style, label = styles[variant], legend_label(variant, record, fastest)
        if len(line) == 1:  # a baseline without a size (NullPool): a level line
            _level(left, right, line[0], style, f"{label} (no pool)")
            continue
        xs = [float(m.params[axis]) for m in line]
        ops = [m.metrics["ops_per_s"] for m in line]
        _line(left, xs, [o.value for o in ops], style, label, variant == fastest)
        left.errorbar(
            xs,
            [o.value for o in ops],
            yerr=[
                [max(0.0, o.value - (o.ci_low or o.value)) for o in ops],
                [max(0.0, (o.ci_high or o.value) - o.value) for o in ops],
            ],
            fmt="none",
            ecolor=style.colour,
            capsize=2,
            lw=1,
        )
        p99 = [m.metrics["p99_us"].value / 1e3 if "p99_us" in m.metrics else math.nan for m in line]
        _line(right, xs, p99, style, f"_{label}", variant == fastest)
        for knee in knees:
            if knee.variant == variant:
                left.plot(
                    [float(knee.size)], [knee.ops], "o", ms=11, mfc="none", color=style.colour
                )
    _throughput_axes(left, right, axis, sorted({float(m.params[axis]) for m in ok}))
    handles, labels = left.get_legend_handles_labels()
    legend_below(fig, handles, labels, 5)
    title = f"{record.name}: {clients} clients; rings mark each pool's knee"
    fig.suptitle(wrapped(f"{title} ({subtitle.strip()})" if subtitle else title, fig), fontsize=11)
    return fig


def throughput_chart(
    record: ScenarioRecord,
    measurements: list[Measurement],
    path: Path,
    clients: object,
    knees: list[Any],
    subtitle: str = "",
    fastest: str | None = None,
) -> bool:
    """`throughput_figure` written to `path`. False when there is nothing to draw."""
    fig = throughput_figure(record, measurements, clients, knees, subtitle, fastest)
    return fig is not None and save(fig, path)


def _level(left: Axes, right: Axes, m: Measurement, style: LineStyle, label: str) -> None:
    """A pool kind measured at one size only, as a dotted level line on both panels."""
    left.axhline(m.metrics["ops_per_s"].value, color=style.colour, linestyle=":", label=label)
    if "p99_us" in m.metrics:
        right.axhline(m.metrics["p99_us"].value / 1e3, color=style.colour, linestyle=":")


def _throughput_axes(left: Axes, right: Axes, axis: str, ticks: list[float]) -> None:
    """Pool size on a log2 axis, requests/s from 0, p99 on a log axis, each with its unit."""
    for ax, label in ((left, "throughput (requests/s)"), (right, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(plain())
        ax.set_xticks(ticks)
        ax.set_xlabel(f"{axis} (connections, log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(plain())
    left.set_ylim(bottom=0)


def http_figure(
    record: ScenarioRecord,
    measurements: list[Measurement],
    subtitle: str = "",
    fastest: str | None = None,
) -> Figure | None:
    """Grouped bars per endpoint, one bar per app: requests/s (with its 95% CI) and p99; the
    fastest app's bars edged in black. None when there is nothing to draw, or one endpoint."""
    ok = [m for m in measurements if m.status == "ok" and "ops_per_s" in m.metrics]
    if not ok:
        return None
    fastest = fastest or fastest_by_best(ok)
    endpoints = list(dict.fromkeys(str(m.params.get("endpoint", "")) for m in measurements))
    if too_few(endpoints):
        return None
    variants = [v for v in record.variants if any(m.variant == v for m in ok)]
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    colours = palette()
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
        look = {
            "color": colours[index % len(colours)],
            "hatch": HATCHES[(index // len(colours)) % len(HATCHES)],
            "edgecolor": "black" if variant == fastest else "none",
            "linewidth": 1.6 if variant == fastest else 0.0,
        }
        label = legend_label(variant, record, fastest)
        left.bar(xs, ops, width, yerr=[lows, highs], capsize=2, label=label, **look)
        right.bar(xs, p99, width, **look)
    for ax, label in ((left, "throughput (requests/s)"), (right, "p99 latency (ms)")):
        ax.set_xticks(range(len(endpoints)))
        ax.set_xticklabels(endpoints)
        ax.set_xlabel("endpoint")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
    handles, labels = left.get_legend_handles_labels()
    legend_below(fig, handles, labels, 3)
    title = f"{record.name}: requests/s and p99 per endpoint"
    fig.suptitle(wrapped(f"{title} ({subtitle.strip()})" if subtitle else title, fig), fontsize=11)
    return fig


def http_chart(
    record: ScenarioRecord,
    measurements: list[Measurement],
    path: Path,
    subtitle: str = "",
    fastest: str | None = None,
) -> bool:
    """`http_figure` written to `path`. False when there is nothing to draw."""
    fig = http_figure(record, measurements, subtitle, fastest)
    return fig is not None and save(fig, path)


@dataclass(frozen=True)
class Ratios:
    """Each variant against the reference at the groups the reference was timed in: `values`
    per variant, one per group (NaN where that variant was not timed)."""

    groups: list[Group]
    values: dict[str, list[float]]
    fastest: str | None  # the variant fastest at the most groups (the run's own ranking)
    fastest_at: int


def reference_ratios(part: ScenarioPart, contest: Contest) -> Ratios | None:
    """For a latency scenario each variant's median time over the reference's (below 1:
    faster); for the others its requests/s over the reference's (above 1: faster). None when
    the scenario has no reference or it was timed nowhere."""
    record = part.record
    if record.reference not in record.variants:
        return None
    by_time = record.runner == "latency"
    groups: list[Group] = []
    values: dict[str, list[float]] = {}
    wins: Counter[str] = Counter()
    for group in contest.groups(part):
        timed = {m.variant: contest.speed(m) for m in _timed(group, contest)}
        ref = timed.pop(record.reference, None)
        if not ref:
            continue
        groups.append(group)
        if ranked := contenders(group, contest):
            wins[ranked[0].variant] += 1
        for name in [*record.natives, *record.variants]:
            if name != record.reference:
                speed = timed.get(name)
                ratio = (ref / speed if by_time else speed / ref) if speed else math.nan
                values.setdefault(name, []).append(ratio)
    values = {name: row for name, row in values.items() if any(not math.isnan(v) for v in row)}
    if not groups:
        return None
    fastest, count = wins.most_common(1)[0] if wins else (None, 0)
    return Ratios(groups, values, fastest, count)


def _timed(group: Group, contest: Contest) -> list[Measurement]:
    """A group's timed measurements that can be compared: correct, with a speed, and not
    answered without the database (natives included: they are the ceiling)."""
    return [
        m for m in group.members if m.status == "ok" and not unranked(m.detail) and contest.speed(m)
    ]


def summary_figure(part: ScenarioPart, contest: Contest) -> Figure | None:
    """Every variant against the reference at every grid point (log y, the reference a line
    at 1), the one fastest at the most points drawn thicker. None when the scenario has no
    reference, nothing was measured against it, or at one point only."""
    ratios = reference_ratios(part, contest)
    if ratios is None or not ratios.values or too_few(range(len(ratios.groups))):
        return None
    record = part.record
    labels = [_group_label(g) for g in ratios.groups]
    upright = sum(len(label) for label in labels) > 70  # else they would not fit side by side
    fig, ax = _pyplot().subplots(
        figsize=(
            min(16.0, max(7.0, 0.32 * len(labels) + 4)),
            4.2 + (0.07 * max(len(label) for label in labels) if upright else 0.0),
        ),
        layout="constrained",
    )
    styles = line_styles(record.variants, record.natives)
    xs = [float(i) for i in range(len(labels))]
    for name, row in ratios.values.items():
        label = legend_label(name, record, ratios.fastest)
        if name == ratios.fastest:
            # the run's own ranking, ties not told apart (the report's lines tell them)
            label = label.replace(
                f"({FASTEST}", f"(ranked first at {ratios.fastest_at} of {len(xs)}"
            )
        _line(ax, xs, row, styles[name], label, name == ratios.fastest)
    ax.axhline(1.0, color="black", linewidth=1.6, zorder=1, label=f"{record.reference} (reference)")
    _summary_axes(ax, record, ratios.groups, labels, upright)
    handles, names = ax.get_legend_handles_labels()
    legend_below(fig, handles, names, 4)
    title = f"{record.name}: each variant against the reference, {record.reference}, at every point"
    fig.suptitle(wrapped(title, fig), fontsize=TITLE_FONT)
    return fig


def summary_chart(part: ScenarioPart, contest: Contest, path: Path) -> bool:
    """`summary_figure` written to `path`. False when there is nothing to draw."""
    fig = summary_figure(part, contest)
    return fig is not None and save(fig, path)


def _group_label(group: Group) -> str:
    """A grid point as a short tick label, its values only (`1 ms · 20 · comments`; the axes'
    names are the x label), starred when its numbers may not hold (disturbed, unstable)."""
    values = [rtt_text(float(v)) if k == RTT_AXIS else str(v) for k, v in group.where]
    return " · ".join(values) + (" *" if left_out(*group.members) else "")


def _summary_axes(
    ax: Axes, record: ScenarioRecord, groups: list[Group], labels: list[str], upright: bool
) -> None:
    """Grid points along x (turned upright when they would not fit), the ratio on a log y."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(plain())
    ax.yaxis.set_minor_formatter(plain_minor())
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90 if upright else 0, fontsize=8 if upright else 9)
    names = " · ".join(k for k, _ in groups[0].where)
    starred = any(label.endswith(" *") for label in labels)
    ax.set_xlabel(f"grid point ({names})" + ("; * disturbed or unstable" if starred else ""))
    ax.set_ylabel(
        "median latency ÷ reference's\n(×, log scale; below 1 is faster)"
        if record.runner == "latency"
        else "requests/s ÷ reference's\n(×, log scale; above 1 is faster)"
    )
    ax.grid(True, which="both", alpha=0.3)


def save(fig: Figure, path: Path) -> bool:
    """Writes the figure as a PNG (atomically), cropped to everything drawn, and frees it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    _pyplot().close(fig)
    write_atomic(path, buffer.getvalue())
    return True
