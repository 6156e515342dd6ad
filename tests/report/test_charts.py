"""Charts that read: nothing clipped (matplotlib's tight bbox of every chart lies inside the
figure), a (colour, marker, line style) of its own per line, the fastest line drawn thicker and
named in bold, the reference named, units on the axes, and a summary chart per scenario linked
from report.md. Built from a stored published run and from a synthetic scenario of 14 variants
with a long question."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from harness.report import http, latency, throughput
from harness.report.charts import (
    FASTEST_WIDTH,
    http_figure,
    latency_figure,
    line_styles,
    summary_figure,
    throughput_figure,
)
from harness.report.overview import overview
from harness.report.part import ScenarioPart
from harness.results.records import AxisValue, Measurement, Metric, RunRecord, ScenarioRecord
from harness.results.store import load_run

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "published"
QUICK = "20261202T185926Z-7cb1ff2"  # bulk_insert's 12 lines, reads' 17, pool sizes, http
CONTESTS = {"latency": latency.CONTEST, "throughput": throughput.CONTEST, "http": http.CONTEST}
LONG_QUESTION = (
    "Which of our fourteen home-grown ways of loading a customer's order history with its "
    "line items, refunds and shipment events is fastest on our own tables, and does the answer "
    "change as the history grows from a handful of orders to many thousands of them?"
)


@cache
def _run(run_id: str) -> tuple[RunRecord, dict[str, np.ndarray]]:
    return load_run(PUBLISHED / run_id)


def _part(run_id: str, scenario: str, folder: Path = Path("unused")) -> ScenarioPart:
    run, samples = _run(run_id)
    record = next(r for r in run.scenarios if r.name == scenario)
    ms = [m for m in run.measurements if m.scenario == scenario]
    return ScenarioPart(run, record, ms, folder, samples)


def _synthetic(variants: int = 14) -> ScenarioPart:
    """A team's own scenario: many variants with long names, a native, two panels, a long
    question; `variant_03_...` is the fastest everywhere, `variant_00_...` the reference."""
    names = [f"variant_{i:02d}_with_a_rather_long_descriptive_name" for i in range(variants)]
    rows, shapes = [10, 100, 1000], ["flat", "nested"]
    axes: list[tuple[str, list[AxisValue]]] = [("rows", [*rows]), ("shape", [*shapes])]
    record = ScenarioRecord(
        "order_history", LONG_QUESTION, "", axes, names[0],
        {n: "" for n in names}, chart_x="rows", natives=["native_copy"],
    )  # fmt: skip
    ms = []
    for r in rows:
        for shape in shapes:
            for i, name in enumerate(["native_copy", *names]):
                factor = 0.5 if i == 0 else (0.8 if i == 4 else 1.0 + 0.1 * i)
                median = 100.0 * r * factor
                ms.append(
                    Measurement(
                        "order_history", name, {"rows": r, "shape": shape}, "ok",
                        metrics={"median_us": Metric(median, "us", 0.9 * median, 1.1 * median)},
                        is_best=i == 4, kind="native" if i == 0 else "variant",
                    )
                )  # fmt: skip
    run = RunRecord(
        "r", "2026-12-01T00:00:00Z", "quick", {}, {}, scenarios=[record], measurements=ms,
        partial=False,
    )  # fmt: skip
    return ScenarioPart(run, record, ms, Path("unused"), {})


def _figures(part: ScenarioPart) -> list[Figure]:
    """Every chart the report draws for one scenario: its runner's own, then the summary."""
    record, ms = part.record, part.measurements
    contest = CONTESTS[record.runner]
    own: list[Figure | None]
    if record.runner == "latency":
        own = [latency_figure(record, ms, "at rtt 0 ms")]
    elif record.runner == "throughput":
        clients = record.clients_axis or "clients"
        own = [
            throughput_figure(record, [m for m in ms if m.params[clients] == c], c, [])
            for c in dict(record.axes)[clients]
        ]
    else:
        own = [http_figure(record, ms, "32 users")]
    figures = [f for f in [*own, summary_figure(part, contest)] if f is not None]
    assert len(figures) == len(own) + 1, "every chart of the scenario was drawn"
    return figures


def _clipped(fig: Figure) -> list[str]:
    """What reaches outside the figure: a text (title, axis and drawn tick labels, a legend's
    entries), a legend, a panel's tight bbox, or the figure's whole tight bbox."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = [fig._suptitle] if fig._suptitle is not None else []  # type: ignore[attr-defined]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts, *_drawn_ticks(ax)]
    texts += [t for lg in fig.legends for t in lg.get_texts()]
    out = [
        repr(t.get_text()[:40])
        for t in texts
        if t.get_visible() and t.get_text() and not _inside(t.get_window_extent(renderer), fig.bbox)
    ]
    boxes: list[Bbox | None] = [lg.get_window_extent(renderer) for lg in fig.legends]
    boxes += [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    out += [f"box {b}" for b in boxes if b is not None and not _inside(b, fig.bbox)]
    tight = fig.get_tightbbox(renderer)
    if not _inside(tight, fig.bbox_inches, slack=0.01):
        out.append(f"tight bbox {tight} beyond {fig.bbox_inches}")
    return out


def _drawn_ticks(ax: Axes) -> list[Text]:
    """The tick labels drawn: those at a tick inside the axis' view (matplotlib keeps labels
    for a few ticks beyond it, never drawn)."""
    found = []
    for index, axis in enumerate((ax.xaxis, ax.yaxis)):
        low, high = sorted(axis.get_view_interval())
        slack = 1e-9 * max(abs(low), abs(high), 1.0)
        found += [
            t
            for t in axis.get_ticklabels(which="both")
            if low - slack <= t.get_position()[index] <= high + slack
        ]
    return found


def _inside(inner: object, outer: object, slack: float = 1.0) -> bool:
    x0, y0, x1, y1 = inner.extents  # type: ignore[attr-defined]
    a0, b0, a1, b1 = outer.extents  # type: ignore[attr-defined]
    return x0 >= a0 - slack and y0 >= b0 - slack and x1 <= a1 + slack and y1 <= b1 + slack


def _lines(fig: Figure) -> list[Line2D]:
    """The labelled lines of every panel (a variant's line; error bars and rings have none)."""
    return [line for ax in fig.axes for line in ax.get_lines() if not _label(line).startswith("_")]


def _label(line: Line2D) -> str:
    return str(line.get_label())


def _ys(line: Line2D) -> list[float]:
    return [float(y) for y in np.asarray(line.get_ydata())]


def _style(line: Line2D) -> tuple[object, ...]:
    return (to_rgba(line.get_color()), line.get_marker(), line.get_linestyle())


def _legend_texts(fig: Figure) -> dict[str, str]:
    """Each legend entry's label and its font weight."""
    return {t.get_text(): str(t.get_fontweight()) for lg in fig.legends for t in lg.get_texts()}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("scenario", ["bulk_insert", "reads", "loading", "pool_sizing", "http"])
def test_published_charts_clip_nothing_and_keep_lines_apart(scenario):
    part = _part(QUICK, scenario)
    for fig in _figures(part):
        assert _clipped(fig) == [], fig.get_suptitle()
        for ax in fig.axes:
            styles = [_style(line) for line in ax.get_lines() if not _label(line).startswith("_")]
            assert len(styles) == len(set(styles)), (scenario, ax.get_title())
        labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        assert len(labels) == len(set(labels))


def test_bulk_insert_names_its_fastest_and_its_reference_and_says_its_units():
    part = _part(QUICK, "bulk_insert")
    fig = latency_figure(part.record, part.measurements)
    assert fig is not None
    legend = _legend_texts(fig)
    assert len(legend) == 12  # COPY (native) and 11 Python methods: no two alike
    assert legend["psycopg_copy_binary (fastest)"] == "bold"  # the run's own ranking
    assert "core_executemany (reference)" in legend and "psql_copy (native)" in legend
    fastest = [x for x in _lines(fig) if _label(x) == "psycopg_copy_binary (fastest)"]
    others = [x for x in _lines(fig) if "(fastest)" not in _label(x)]
    assert fastest and all(x.get_linewidth() == FASTEST_WIDTH for x in fastest)
    assert max(x.get_linewidth() for x in others) < FASTEST_WIDTH
    drawn = [ax for ax in fig.axes if ax.get_lines()]
    assert {ax.get_ylabel() for ax in drawn} == {"throughput (rows/s)"}
    natives = [x for x in _lines(fig) if "(native)" in _label(x)]
    assert natives and all(to_rgba(x.get_color()) == (0, 0, 0, 1) for x in natives)


def test_units_on_every_runner_s_axes():
    reads = latency_figure(_part(QUICK, "reads").record, _part(QUICK, "reads").measurements)
    pools = _part(QUICK, "pool_sizing")
    pool_fig = throughput_figure(
        pools.record, [m for m in pools.measurements if m.params["clients"] == 32], 32, []
    )
    web = _part(QUICK, "http")
    web_fig = http_figure(web.record, web.measurements)
    assert reads is not None and pool_fig is not None and web_fig is not None
    assert reads.axes[0].get_ylabel() == "median latency (ms)"
    assert [ax.get_ylabel() for ax in pool_fig.axes] == [
        "throughput (requests/s)",
        "p99 latency (ms)",
    ]
    assert "connections" in pool_fig.axes[0].get_xlabel()
    assert [ax.get_ylabel() for ax in web_fig.axes] == [
        "throughput (requests/s)",
        "p99 latency (ms)",
    ]


def test_a_long_question_and_fourteen_variants_fit_and_stay_apart():
    part = _synthetic()
    fig = latency_figure(part.record, part.measurements)
    assert fig is not None
    assert _clipped(fig) == []
    assert "\n" in fig.get_suptitle()  # the long question wrapped to the figure's width
    assert fig.get_suptitle().replace("\n", " ").endswith("many thousands of them?")
    for ax in fig.axes:
        styles = [_style(line) for line in ax.get_lines() if not _label(line).startswith("_")]
        assert len(styles) == 15 and len(set(styles)) == 15
        colours = [s[0] for s in styles]
        assert len(set(colours)) == 15  # a colour of its own too, beyond tab10's ten
    legend = _legend_texts(fig)
    fastest = "variant_03_with_a_rather_long_descriptive_name (fastest)"
    assert legend[fastest] == "bold"
    assert "variant_00_with_a_rather_long_descriptive_name (reference)" in legend
    assert sum(1 for label in legend if "fastest" in label) == 1


def test_the_summary_puts_each_variant_against_the_reference():
    part = _synthetic()
    fig = summary_figure(part, latency.CONTEST)
    assert fig is not None
    assert _clipped(fig) == []
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    assert "below 1 is faster" in ax.get_ylabel()
    lines = {_label(line): line for line in _lines(fig)}
    reference = lines.pop("variant_00_with_a_rather_long_descriptive_name (reference)")
    assert set(_ys(reference)) == {1.0}  # the reference: a line at 1
    fastest = lines["variant_03_with_a_rather_long_descriptive_name (ranked first at 6 of 6)"]
    assert fastest.get_linewidth() == FASTEST_WIDTH
    assert _ys(fastest) == pytest.approx([0.8 / 1.1] * 6)  # its time over the ref's
    assert _ys(lines["native_copy (native)"]) == pytest.approx([0.5 / 1.1] * 6)
    assert len(ax.get_xticklabels()) == 6  # one per grid point
    styles = [_style(line) for line in lines.values()]
    assert len(styles) == len(set(styles)) == 14  # 13 variants and the native besides the ref


def test_throughput_summary_is_requests_per_second_over_the_reference_s():
    part = _part(QUICK, "pool_sizing")
    fig = summary_figure(part, throughput.CONTEST)
    assert fig is not None
    (ax,) = fig.axes
    assert "requests/s" in ax.get_ylabel() and "above 1 is faster" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "32", "128"]
    assert "psycopg_pool (reference)" in _legend_texts(fig)


def test_no_summary_without_a_timed_reference():
    part = _synthetic(4)
    failed = [
        Measurement(m.scenario, m.variant, m.params, "failed", "boom")
        if m.variant == part.record.reference
        else m
        for m in part.measurements
    ]
    broken = ScenarioPart(part.run, part.record, failed, part.folder, {})
    assert summary_figure(broken, latency.CONTEST) is None


def _at_one_point(part: ScenarioPart, **at: object) -> ScenarioPart:
    """The part as a run of one grid point would have measured it."""
    mine = [m for m in part.measurements if all(m.params.get(k) == v for k, v in at.items())]
    assert mine
    return ScenarioPart(part.run, part.record, mine, part.folder, part.samples)


def test_a_chart_of_one_position_is_not_drawn():
    reads = _at_one_point(_part(QUICK, "reads"), rows=1)
    assert latency_figure(reads.record, reads.measurements) is None
    assert summary_figure(reads, latency.CONTEST) is None
    pools = _at_one_point(_part(QUICK, "pool_sizing"), clients=32, pool_size=16)
    assert throughput_figure(pools.record, pools.measurements, 32, []) is None
    assert summary_figure(pools, throughput.CONTEST) is None
    web = _part(QUICK, "http")
    endpoint = web.measurements[0].params["endpoint"]
    web = _at_one_point(web, endpoint=endpoint)
    assert http_figure(web.record, web.measurements) is None
    # two positions are a chart
    two = _part(QUICK, "reads")
    two = ScenarioPart(
        two.run,
        two.record,
        [m for m in two.measurements if m.params.get("rows") in (1, 100)],
        two.folder,
        two.samples,
    )
    assert latency_figure(two.record, two.measurements) is not None
    assert summary_figure(two, latency.CONTEST) is not None


def test_every_line_style_differs_far_beyond_ten_lines():
    names = [f"v{i}" for i in range(100)]
    styles = line_styles(names, ["n1", "n2", "n3"])
    assert len(set(styles.values())) == 103
    assert len({s.colour for n, s in styles.items() if n.startswith("v")}) == 20


def test_report_md_shows_the_summary_above_the_short_table(tmp_path):
    part = _synthetic()
    part = ScenarioPart(part.run, part.record, part.measurements, tmp_path, {})
    lines = overview(part, latency.CONTEST, "report-order_history.md")
    image = next(i for i, line in enumerate(lines) if line.startswith("!["))
    table = next(i for i, line in enumerate(lines) if line.startswith("| variant"))
    assert image < table
    assert lines[image].endswith("(charts/summary-order_history.png)")
    png = tmp_path / "charts" / "summary-order_history.png"
    assert png.read_bytes().startswith(b"\x89PNG")
