"""The sentences a report leads with: every grid point counted, the declared order kept, ties
named as ties."""

import re

import msgspec
import numpy as np
import pytest

from harness.report.distance import _bytes_note
from harness.report.findings import Finding
from harness.report.latency import _pair_summary, _wins
from harness.report.pick import pair_line
from harness.report.units import size
from harness.results.rates import compare_rates
from harness.results.records import Measurement, Metric
from harness.results.stats import Ratio, mean_ratio
from harness.results.store import rate_key


def test_a_ratio_inverts_with_its_interval():
    inverse = Ratio(2.0, 1.6, 2.5).inverse()
    assert (inverse.value, inverse.ci_low, inverse.ci_high) == (0.5, 0.4, 0.625)
    assert inverse.significant


def test_a_comparison_counts_every_point_and_keeps_its_order():
    at = [
        ("rows=1", Ratio(1.30, 1.20, 1.40)),  # fast is faster
        ("rows=10", Ratio(1.10, 1.05, 1.15)),
        ("rows=100", Ratio(1.01, 0.97, 1.06)),  # noise
        ("rows=1000", Ratio(0.50, 0.45, 0.55)),  # slow is faster: 2x
    ]
    text = _pair_summary("core", "orm", at)
    assert text == (
        "- **core vs orm**: core faster at 2 of 4 points (1.10-1.30x); orm faster at 1 (2.00x); "
        "no significant difference at 1. At rows=1000: orm is 2.00x faster than core "
        "(95% CI 1.82-2.22)."
    )


def test_a_comparison_that_never_differs_says_so():
    text = _pair_summary("a", "b", [("x=1", Ratio(1.0, 0.9, 1.1)), ("x=2", Ratio(0.99, 0.9, 1.1))])
    assert text == (
        "- **a vs b**: no significant difference at 2. At x=2: a vs b: no significant "
        "difference (ratio 0.99, 95% CI 0.90-1.10)."
    )


def _m(variant: str, point: int, best: bool, ci_low: float) -> Measurement:
    ratio = Metric(1.0 if best else 1.2, "x", ci_low, ci_low + 0.3)
    return Measurement(
        "s", variant, {"x": point}, "ok", metrics={"ratio_to_best": ratio}, is_best=best
    )


def test_a_win_inside_the_noise_is_a_tie():
    ms = [
        _m("a", 1, True, 1.0),
        _m("b", 1, False, 1.5),  # clearly slower: a won outright
        _m("a", 2, True, 1.0),
        _m("b", 2, False, 0.98),  # b's CI includes 1: a tie
        _m("b", 3, True, 1.0),
        _m("a", 3, False, 1.1),
    ]
    assert _wins(ms) == "a (1, tied at 1), b (1, tied at 1)"


def _load(variant: str, users: int, ops: float, half_width: float) -> Measurement:
    rate = Metric(ops, "requests/s", ops - half_width, ops + half_width)
    return Measurement("http", variant, {"users": users}, "ok", metrics={"ops_per_s": rate})


def _f(users: int, value: float, low: float | None, high: float | None) -> Finding:
    direction = 0 if low is None or high is None else (low > 1) - (high < 1)
    return Finding("litestar", "fastapi", (("users", users),), 0.0, value, low, high, direction,
                   "requests/s")  # fmt: skip


def test_an_http_comparison_is_summed_up_over_every_point_read_forward():
    order = {"users": [8, 64, 512]}
    found = [_f(8, 1.20, 1.1, 1.3), _f(64, 1.01, 0.95, 1.07)]
    assert pair_line("litestar", "fastapi", found, order) == (
        "- **litestar vs fastapi**: litestar is 1.20x (95% CI 1.10-1.30) faster at users=8; no "
        "significant difference at users=64."
    )
    # fastapi ahead where litestar was behind: named first, never "0.67x faster"
    found = [_f(8, 1.20, 1.1, 1.3), _f(64, 1.01, 0.95, 1.07), _f(512, 0.5, 0.4, 0.6)]
    assert pair_line("litestar", "fastapi", found, order) == (
        "- **litestar vs fastapi**: litestar is 1.20x (95% CI 1.10-1.30) faster at users=8; no "
        "significant difference at users=64; fastapi is 2.00x (95% CI 1.67-2.50) faster at "
        "users=512. The lead changes between users=8 and users=512."
    )
    assert pair_line("litestar", "fastapi", [_f(8, 0.5, 0.4, 0.6)], order) == (
        "- **fastapi is 2.00x (95% CI 1.67-2.50) faster than litestar** at the one point."
    )


def _slices(variant: str, users: int, rates: list[float]) -> tuple[Measurement, dict]:
    """A measurement with `rates` as its time slices, twice over (runs keep 10)."""
    m = _load(variant, users, float(np.mean(rates)), 0.0)
    return m, {rate_key("http", variant, f"users={users}"): np.array(rates * 2)}


def test_an_http_comparison_uses_the_ratio_ci_of_the_time_slices():
    steady_l, s1 = _slices("litestar", 8, [1190, 1210, 1200, 1195, 1205])
    steady_f, s2 = _slices("fastapi", 8, [990, 1010, 1000, 995, 1005])
    noisy_l, s3 = _slices("litestar", 64, [900, 1120, 1010, 950, 1070])
    noisy_f, s4 = _slices("fastapi", 64, [1000, 980, 1020, 1010, 990])
    samples = {**s1, **s2, **s3, **s4}
    clear = compare_rates(samples, steady_l, steady_f)
    assert clear is not None and clear.ratio is not None and clear.direction == 1
    assert 1.0 < clear.ratio.ci_low < 1.2 < clear.ratio.ci_high < 1.25
    assert re.fullmatch(
        r"1\.20x the requests/s \(95% CI 1\.1\d-1\.2\d\)", clear.text(" the requests/s")
    )
    unclear = compare_rates(samples, noisy_l, noisy_f)
    assert unclear is not None and unclear.direction == 0
    assert unclear.text().endswith(": no significant difference)")
    # the other way round: the same interval, inverted; and the same on every call
    back = compare_rates(samples, steady_f, steady_l)
    assert back is not None and back.direction == -1 and back.ratio is not None
    assert back.ratio.ci_high == pytest.approx(1 / clear.ratio.ci_low, rel=0.02)
    assert compare_rates(samples, steady_l, steady_f) == clear


def test_a_variant_that_served_nothing_is_not_divided_by():
    served, s1 = _slices("litestar", 8, [100, 110, 90, 105, 95])
    nothing, s2 = _slices("fastapi", 8, [0, 0, 0, 0, 0])
    assert compare_rates({**s1, **s2}, served, nothing) is None
    assert compare_rates({**s1, **s2}, nothing, served) is not None


def test_empty_slices_give_an_interval_not_nan():
    rng = np.random.default_rng(3)
    sparse = mean_ratio(np.array([0, 0, 50] * 4), np.array([0, 0, 40] * 4), rng)
    assert np.isfinite([sparse.ci_low, sparse.value]).all() and sparse.ci_low <= 1.25
    starved = mean_ratio(np.array([100.0] * 10), np.array([0.0] * 9 + [40.0]), rng)
    assert starved.value == 25 and starved.ci_high == np.inf and 1 < starved.ci_low <= 25


def test_a_few_slices_are_not_enough_for_a_ratio_ci():
    few_a, few_b = _load("litestar", 8, 1200, 20), _load("fastapi", 8, 1000, 20)
    samples = {
        rate_key("http", "litestar", "users=8"): np.array([1190.0, 1210, 1200, 1195, 1205]),
        rate_key("http", "fastapi", "users=8"): np.array([990.0, 1010, 1000, 995, 1005]),
    }
    c = compare_rates(samples, few_a, few_b)
    assert c is not None and c.ratio is None and c.direction == 1  # the rates' CIs are apart


def test_sides_that_drifted_apart_are_unstable_and_sides_that_drifted_alike_are_not():
    from harness.report.findings import left_out

    def side(variant: str, drift: float | None, low: float = 0.0, high: float = 0.0) -> Measurement:
        metrics = {"median_us": Metric(100.0, "us", 95.0, 105.0, 600)}
        if drift is not None:
            metrics["halves_ratio"] = Metric(drift, "x", low or drift * 0.97, high or drift * 1.03)
        return Measurement("reads", variant, {"rows": 1}, "ok", metrics=metrics)

    # the machine slowed both by a third, interleaved: their ratio held
    assert left_out(side("a", 1.35), side("b", 1.30)) == ""
    # one slowed and the other did not: the ratio depended on when it was measured
    assert left_out(side("a", 1.25), side("b", 1.02)) == "unstable"
    assert left_out(side("a", 0.80), side("b", 0.95)) == "unstable"  # faster later, alone
    # apart by a fifth, but one side's halves too noisy to say so
    assert left_out(side("a", 1.2, 0.9, 1.6), side("b", 1.0)) == ""
    # three sides (a chart's point): the two furthest apart decide
    assert left_out(side("a", 1.0), side("b", 1.05), side("c", 1.2)) == "unstable"
    # a side too short to halve: the other is judged by its own drift, as before
    assert left_out(side("a", 1.3, 1.2, 1.4), side("b", None)) == "unstable"
    assert left_out(side("a", 1.05, 1.01, 1.09), side("b", None)) == ""
    disturbed = msgspec.structs.replace(side("a", 1.0), disturbed="busy")
    assert left_out(disturbed, side("b", 1.0)) == "disturbed"


def test_a_metric_run_json_could_not_hold_is_left_out():
    from harness.runners.base import is_finite as _finite

    assert _finite(Metric(1.0, "x", 0.9, None))
    assert not _finite(Metric(float("inf"), "x"))
    assert not _finite(Metric(1.0, "x", float("nan"), 1.2))


def test_the_bytes_note_prices_each_mb_sent_beyond_the_round_trips():
    # (bytes sent, round trips, µs beyond round trips × Δrtt): 2.5, 2.0 and 4.0 ms per MB; then
    # a per-row loop (2 MB in 3,000 trips) and a small sender, both left out
    by_bytes = [
        (4e6, 4, 10_000.0),
        (2e6, 3, 4_000.0),
        (1e6, 10, 4_000.0),
        (2e6, 3_000, 400_000.0),
        (300.0, 1, 900.0),
    ]
    assert _bytes_note(by_bytes, 1.0) == (
        "- At 1 ms, beyond their round trips × Δrtt, the 3 variant-points that send 1 MB or "
        "more per operation, 64 kB or more per round trip, took a median 2.50 ms more per MB "
        "sent (range 2.00 to 4.00), as if the bytes crossed at 400 MB/s. The delay proxy "
        "forwards bytes in Python on the server's CPU, as a real network moves them at its "
        "link's rate; `patternbench check --rtt` measures the proxy's rate (COPY through it "
        "and direct)."
    )
    assert _bytes_note([(300.0, 1, 900.0), (2e6, 3_000, 400_000.0)], 1.0) is None
    assert size(999) == "999 B" and size(1500) == "1.5 kB" and size(2.5e6) == "2.5 MB"
    assert size(999_999) == "1 MB" and size(1.5e12) == "1,500 GB"


def test_many_grid_points_fold_their_tables_under_the_verdicts(tmp_path):
    from harness.report.document import render_pages
    from harness.report.latency import FOLD_POINTS
    from harness.results.records import RunRecord, ScenarioRecord

    def run_with(points: int) -> str:
        rows = list(range(1, points + 1))
        ms = [
            Measurement(
                "reads", v, {"rows": r}, "ok",
                metrics={"median_us": Metric(100.0 * r, "us", 90.0 * r, 110.0 * r, 50),
                         "p99_us": Metric(200.0 * r, "us")},
                is_best=v == "fast",
            )
            for r in rows
            for v in ("fast", "slow")
        ]  # fmt: skip
        record = ScenarioRecord("reads", "What does a read cost?", "", [("rows", rows)], "fast",
                                {"fast": "", "slow": ""})  # fmt: skip
        run = RunRecord("r", "2026-11-26T00:00:00Z", "quick", {}, {}, scenarios=[record],
                        measurements=ms, partial=False)  # fmt: skip
        return "\n".join(render_pages(run, {}, tmp_path).values())

    few, many = run_with(FOLD_POINTS), run_with(FOLD_POINTS + 1)
    assert "<details><summary>" not in few and "#### rows=4" in few
    _verdicts, folded = many.split("### Every grid point", 1)
    assert folded.startswith(f"\n\n<details><summary>{FOLD_POINTS + 1} grid points")
    assert "#### rows=5" in folded and folded.rstrip().endswith("</details>")


def test_unstable_measurements_are_named_before_the_tables():
    from harness.report.latency import _unstable
    from harness.results.records import Measurement, Metric

    def m(variant: str, ratio: Metric) -> Measurement:
        return Measurement(
            scenario="reads", variant=variant, params={"rows": 1}, status="ok",
            metrics={"halves_ratio": ratio},
        )  # fmt: skip

    ms = [
        m("steady", Metric(1.02, "x", 0.99, 1.05)),
        m("drifted", Metric(1.40, "x", 1.30, 1.50)),
        m("sped_up", Metric(0.5, "x", 0.45, 0.55)),
    ]
    (title, _, text, _) = _unstable(ms, "")
    assert title == "### Unstable measurements"
    assert text.startswith("2 of 3 measurements were unstable")
    assert "drifted at rows=1 (1.40x slower)" in text and "sped_up at rows=1 (2.00x faster)" in text
    assert "steady" not in text
    assert _unstable(ms[:1], "") == []


def test_a_pool_size_where_clients_starved_or_failed_is_never_the_knee():
    from harness.report.throughput import find_knees
    from harness.results.records import ScenarioRecord

    def point(variant: str, size: int, ops: float, **bad: float) -> Measurement:
        metrics = {"ops_per_s": Metric(ops, "requests/s", ops * 0.99, ops * 1.01)}
        metrics |= {key: Metric(value, "") for key, value in bad.items()}
        return Measurement(
            "pool", variant, {"clients": 32, "pool_size": size}, "ok", metrics=metrics
        )

    ms = [
        point("unfair", 1, 1000.0, starved_clients=28),  # the most requests/s: 4 clients' worth
        point("unfair", 2, 500.0),
        point("unfair", 4, 950.0),
        point("unfair", 8, 960.0),
        point("failing", 1, 800.0, checkout_timeouts=12),
        point("failing", 2, 900.0, errors=3),
        point("failing", 4, 990.0, starved_clients=1),
        point("one_healthy", 1, 800.0, starved_clients=2),
        point("one_healthy", 2, 900.0),
    ]
    record = ScenarioRecord(
        "pool", "?", "", [("clients", [32]), ("pool_size", [1, 2, 4, 8])], "unfair",
        {"unfair": "", "failing": "", "one_healthy": ""}, clients_axis="clients",
        knee_axis="pool_size",
    )  # fmt: skip
    knees, missing = find_knees(record, ms)
    (knee,) = knees
    assert (knee.variant, knee.size, knee.best_ops) == ("unfair", 4, 960.0)
    (variant, clients, why), (other, _, other_why) = missing
    assert (other, other_why) == (
        "one_healthy",
        "pool_size=1: 2 clients completed nothing; only pool_size=2 served every client",
    )
    assert (variant, clients) == ("failing", 32)
    assert why == (
        "pool_size=1: 12 checkout timeouts; pool_size=2: 3 errors; "
        "pool_size=4: 1 clients completed nothing"
    )


def test_distance_shows_a_negative_difference_as_it_is_and_concludes_only_what_holds():
    from harness.report.distance import _Grid, _round_trip_costs
    from harness.results.records import ScenarioRecord

    def m(variant: str, rtt: float, median_us: float, spread: float, trips: float) -> Measurement:
        return Measurement(
            "s", variant, {"n": 1}, "ok", rtt_ms=rtt,
            metrics={
                "median_us": Metric(median_us, "us", median_us - spread, median_us + spread, 50),
                "round_trips_per_op": Metric(trips, "round trips"),
            },
        )  # fmt: skip

    ms = [
        m("paid", 0.0, 1_000.0, 10.0, 10), m("paid", 1.0, 11_000.0, 10.0, 10),  # 1.00 x each
        m("faster", 0.0, 2_910_000.0, 1_000.0, 5), m("faster", 1.0, 2_760_000.0, 1_000.0, 5),
        m("noise", 0.0, 5_000.0, 500.0, 2), m("noise", 1.0, 5_100.0, 500.0, 2),
    ]  # fmt: skip
    record = ScenarioRecord(
        "s", "?", "", [("n", [1])], "paid", {"paid": "", "faster": "", "noise": ""}
    )
    grid = _Grid(
        [0.0, 1.0], ["0", "1 ms"], {(x.variant, "n=1", x.rtt_ms): x for x in ms}, [{"n": 1}]
    )
    lines, rows, _bytes = _round_trip_costs(record, ms, grid)
    faster = next(r for r in rows if "| faster |" in r)
    assert "(-150 ms = -30.00 × round trips × Δrtt)" in faster  # not "+0 ns"
    noise = next(r for r in rows if "| noise |" in r)
    assert "inside the noise" in noise and "Δrtt" not in noise
    (line,) = lines
    assert "over the 2 variant-points" in line  # the noisy one is left out
    assert "the round trips alone do not explain" in line
    assert "the cost of a pattern at a distance is its round trips" not in line


def test_still_rising_says_whether_the_largest_pool_was_past_the_clients():
    from harness.report.throughput import _knee_lines, find_knees
    from harness.results.records import RunRecord, ScenarioRecord

    def point(clients: int, size: int, ops: float) -> Measurement:
        metrics = {"ops_per_s": Metric(ops, "requests/s", ops * 0.99, ops * 1.01)}
        return Measurement(
            "pool", "p", {"clients": clients, "pool_size": size}, "ok", metrics=metrics
        )

    ms = [point(32, 16, 500.0), point(32, 32, 800.0), point(32, 64, 1000.0)]
    ms += [point(128, 16, 500.0), point(128, 64, 1000.0)]
    ms += [point(4, 2, 500.0), point(4, 4, 1000.0)]
    record = ScenarioRecord(
        "pool", "?", "", [("clients", [4, 32, 128]), ("pool_size", [2, 4, 16, 32, 64])], "p",
        {"p": ""},
        clients_axis="clients", knee_axis="pool_size",
    )  # fmt: skip
    run = RunRecord("r", "2026-12-02T00:00:00Z", "quick", {"cores": 2}, {"cores": 1})
    knees, _ = find_knees(record, ms)
    text = "\n".join(_knee_lines(run, record, ms, knees, "pool_size", "clients"))
    assert "past the 32 clients: more connections than clients still helped" in text
    assert "below the 128 clients: a larger pool might do more" in text
    assert "equal to the 4 clients: every client had a connection" in text


def test_peak_memory_gets_its_columns_and_a_verdict_with_the_time_beside_it(tmp_path):
    from harness.report.document import render_pages
    from harness.results.records import RunRecord, ScenarioRecord

    def m(variant: str, median_us: float, heap: float) -> Measurement:
        return Measurement(
            "reads", variant, {"rows": 10000}, "ok",
            metrics={"median_us": Metric(median_us, "us", median_us * 0.9, median_us * 1.1, 20),
                     "p99_us": Metric(median_us * 2, "us"),
                     "peak_heap_bytes_per_op": Metric(heap, "bytes"),
                     "peak_rss_bytes_per_op": Metric(heap / 4, "bytes")},
            is_best=variant == "keep",
        )  # fmt: skip

    record = ScenarioRecord("reads", "?", "", [("rows", [10000])], "keep",
                            {"keep": "", "stream": "", "lean": ""},
                            comparisons=[("keep", "stream"), ("keep", "lean")])  # fmt: skip
    ms = [m("keep", 77_000.0, 12_300_000.0), m("stream", 134_000.0, 2_660_000.0),
          m("lean", 78_000.0, 10_000_000.0)]  # fmt: skip
    run = RunRecord("r", "2026-11-26T00:00:00Z", "quick", {}, {}, scenarios=[record],
                    measurements=ms, partial=False)  # fmt: skip
    text = "\n".join(render_pages(run, {}, tmp_path).values())
    assert (
        "- **Memory at rows=10000**: stream held 4.6x less Python heap at its peak than keep "
        "(2.66 MB vs 12.3 MB per operation) but was 1.74x slower (median 134 ms vs 77 ms)."
    ) in text
    assert "Memory at rows=10000**: lean" not in text  # 1.23x apart: no memory verdict
    assert "| peak heap/op | RSS rise/op |" in text and "| 2.66 MB | 665 kB |" in text
    assert "*peak heap/op* is the most Python heap one operation held at once" in text


def test_a_client_bound_knee_is_said_to_be_no_pool_answer():
    from harness.report.throughput import _knee_lines, find_knees
    from harness.results.records import RunRecord, ScenarioRecord

    def point(variant: str, size: int, ops: float, client_cpu: float) -> Measurement:
        metrics = {
            "ops_per_s": Metric(ops, "requests/s", ops * 0.99, ops * 1.01),
            "client_cpu_pct": Metric(client_cpu, "%"),
        }
        return Measurement(
            "pool", variant, {"clients": 32, "pool_size": size}, "ok", metrics=metrics
        )

    record = ScenarioRecord(
        "pool", "?", "", [("clients", [32]), ("pool_size", [16, 32, 64])], "a", {"a": "", "b": ""},
        clients_axis="clients", knee_axis="pool_size",
    )  # fmt: skip
    run = RunRecord("r", "2026-12-02T00:00:00Z", "quick", {"cores": 2}, {"cores": 1})
    every = [
        point(v, size, ops, 97.0)
        for v in "ab"
        for size, ops in ((16, 500.0), (32, 1000.0), (64, 990.0))
    ]
    knees, _ = find_knees(record, every)
    text = "\n".join(_knee_lines(run, record, every, knees, "pool_size", "clients"))
    assert "**No knee below is a pool-size answer**" in text
    assert text.count("**client-bound** (client CPU 97% of its core): not a pool answer") == 2
    some = [point("a", size, ops, 97.0) for size, ops in ((16, 500.0), (32, 1000.0))]
    some += [point("b", size, ops, 40.0) for size, ops in ((16, 500.0), (32, 1000.0))]
    knees, _ = find_knees(record, some)
    text = "\n".join(_knee_lines(run, record, some, knees, "pool_size", "clients"))
    assert "No knee below is a pool-size answer" not in text
    assert "1 of 2 knees are **client-bound**" in text
    (b_line,) = [line for line in text.splitlines() if line.startswith("  - b:")]
    assert "client-bound" not in b_line


def test_a_knee_above_a_gap_of_more_than_twice_says_how_fine_it_is():
    from harness.report.throughput import _knee_lines, find_knees
    from harness.results.records import RunRecord, ScenarioRecord

    def point(clients: int, size: int, ops: float) -> Measurement:
        metrics = {"ops_per_s": Metric(ops, "requests/s", ops * 0.99, ops * 1.01)}
        return Measurement(
            "pool", "a", {"clients": clients, "pool_size": size}, "ok", metrics=metrics
        )

    record = ScenarioRecord(
        "pool", "?", "", [("clients", [4, 32]), ("pool_size", [1, 2, 4, 16, 64])], "a",
        {"a": ""}, clients_axis="clients", knee_axis="pool_size",
    )  # fmt: skip
    run = RunRecord("r", "2026-12-02T00:00:00Z", "quick", {"cores": 2}, {"cores": 1})
    doubling = [point(4, size, ops) for size, ops in ((1, 300.0), (2, 600.0), (4, 900.0))]
    by_four = [point(32, size, ops) for size, ops in ((1, 300.0), (4, 600.0), (16, 1000.0))]
    by_four.append(point(32, 64, 990.0))

    def lines(ms: list[Measurement]) -> str:
        knees, _ = find_knees(record, ms)
        return "\n".join(_knee_lines(run, record, ms, knees, "pool_size", "clients"))

    assert "Knees are as fine" not in lines(doubling)  # knee at 4, 2 measured below it
    text = lines(doubling + by_four)
    assert "knee at pool_size=16" in text
    assert (
        "- Knees are as fine as the pool_sizes measured (at 32 clients 1, 4, 16, 64): a knee "
        "more than twice the pool_size below it lies somewhere between the two"
    ) in text


def test_the_pool_sizing_section_says_what_a_request_is(tmp_path):
    from harness.report.document import render_pages
    from harness.results.records import RunRecord
    from harness.run import Plan, scenario_record
    from harness.scenario.registry import discover

    pool = discover()["pool_sizing"]
    assert "Each client runs a short request" in pool.doc

    record = scenario_record(Plan(pool, tuple(pool.variants.values()), pool.quick), "quick")
    run = RunRecord("r", "2026-12-02T00:00:00Z", "quick", {}, {}, scenarios=[record], partial=False)
    text = "\n".join(render_pages(run, {}, tmp_path).values())
    assert "Each client runs a short request again and again: read a user and their 10" in text
