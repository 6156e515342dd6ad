"""The HTTP runner: apps in their own processes, parity before load, locust as a bounded child,
failures reported, and no app server or locust process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest
from process_watch import Seen, descendants, watch_until

from harness.errors import UserError
from harness.results.records import Metric
from harness.runners.base import PointJob, RunOptions
from harness.runners.http.appserver import AppPlan, ServeOptions
from harness.runners.http.locust import CpuSeries
from harness.runners.http.recorder import LoadSettings, LocustSummary, Recorded, Recorder
from harness.runners.http.runner import (
    HttpOptions,
    HttpTiming,
    bottleneck,
    http_measurements,
    measure_http_point,
)
from harness.scenario.grid import Params
from harness.scenario.spec import Scenario
from scenarios.http import scenario as http

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parents[1] / "http_fixture"
TIMING = HttpTiming(warmup_s=0.5, measure_s=1.5)


APP_OR_LOCUST = ("uvicorn", "granian", "locust")


def _locust_running(now: list[Seen]) -> bool:
    return any("locust" in s.command for s in now)


def _no_app_or_locust_left() -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [s.command for s in descendants() if any(w in s.command for w in APP_OR_LOCUST)]
        if not left:
            return
        time.sleep(0.1)
    pytest.fail(f"left behind: {[c[:120] for c in left]}")


# --- pieces that need no process ----------------------------------------------------------------


def test_the_recorder_keeps_only_the_measured_window_and_merges_processes(tmp_path):
    settings = LoadSettings(warmup_s=0.2, measure_s=0.3, out=tmp_path / "v")
    recorder = Recorder(settings)
    start = time.time()
    recorder.on_request(5.0, None, start)  # in the warm-up: not kept
    time.sleep(0.25)
    recorder.on_request(7.5, None, None)
    recorder.on_request(9.0, RuntimeError("boom"), None)
    time.sleep(0.3)
    recorder.on_request(1.0, None, None)  # after the window: not kept
    recorder.write()
    recorder.write()  # once only
    other = Recorder(settings, tag="worker-2")
    other.on_request(2.0, None, time.time() - 0.25)
    other.write()
    got = Recorded.load(tmp_path, "v")
    assert got.processes == 2
    assert sorted(got.times_ms.tolist()) == [2.0, 7.5, 9.0]
    assert got.failed.sum() == 1 and got.errors == {"RuntimeError: boom": 1}
    assert len(got.window_starts) == 2 and abs(min(got.window_starts) - (start + 0.2)) < 0.05
    assert not list(tmp_path.glob("*.tmp.npz"))


def test_settings_travel_through_the_environment(tmp_path):
    settings = LoadSettings(
        warmup_s=1.5, measure_s=4.0, out=tmp_path / "x", users=8, rate=200.0,
        params={"endpoint": "user", "users": 8}, dataset={"users": 10_000},
    )  # fmt: skip
    assert LoadSettings.from_env(settings.to_env()) == settings
    assert settings.per_user_rate() == 25.0


def test_locust_summary_is_written_whole_and_read_back(tmp_path):
    out = tmp_path / "http-a"
    assert LocustSummary.read(out) == {}  # locust died before writing it
    LocustSummary(100, 2, 50.5, 4, 20, 30, 31).write(out)
    assert not list(tmp_path.glob("*.tmp"))
    summary = LocustSummary.read(out)
    assert summary["requests"] == 100 and summary["failures"] == 2
    assert summary["requests_per_s"] == 50.5 and summary["p99_ms"] == 20
    LocustSummary.path(out).write_text('{"requests": 1')  # cut short: no figures, no crash
    assert LocustSummary.read(out) == {}


def test_a_locust_summary_short_of_the_window_is_left_out_and_said():
    from harness.runners.http.locust import LocustOutcome
    from harness.runners.http.runner import HttpResult

    rec = Recorded(
        np.linspace(0.01, 1.49, 100), np.full(100, 2.0), np.zeros(100, bool), {}, 1, (100.0,)
    )
    cpu = CpuSeries(at=[100.0, 101.5], seconds={"app": [0, 0.3]})
    point = Params((("endpoint", "user"),))
    for requests, kept in ((99.0, False), (100.0, True), (250.0, True)):
        summary = {"requests": requests, "requests_per_s": 60.0}
        outcome = LocustOutcome(rec, summary, cpu, 1, [0], "")
        result = HttpResult("a", outcome=outcome, server_cores=1, measure_s=1.5)
        (m,) = http_measurements("http", point, [result], np.random.default_rng(1))
        assert ("locust_requests" in m.metrics) is kept, requests
        assert ("locust_requests_per_s" in m.metrics) is kept
        assert ("fewer than the 100 in the measured window" in m.detail) is not kept, m.detail


def test_bottleneck_is_the_tree_nearest_its_core_count():
    cpu = {"app": 0.95, "locust": 0.6, "postgres": 0.5}
    assert bottleneck(cpu, {"app": 1, "locust": 1, "postgres": 1}) == ("app", 0.95)
    assert bottleneck(cpu, {"app": 2, "locust": 1, "postgres": 1})[0] == "locust"
    assert bottleneck({"app": None}, {"app": 1}) == ("", 0.0)


def test_cpu_share_uses_the_samples_around_the_window():
    series = CpuSeries(at=[0.0, 1.0, 2.0, 3.0], seconds={"app": [0.0, 0.5, 1.5, 2.5]})
    assert series.share("app", 1.0, 3.0) == pytest.approx(1.0)
    assert series.share("app", 0.0, 1.0) == pytest.approx(0.5)
    assert series.share("nothing", 0.0, 1.0) is None


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match="valid: uvicorn, granian"):
        ServeOptions(server="gunicorn")
    with pytest.raises(UserError, match="at least 1"):
        ServeOptions(workers=0)
    with pytest.raises(UserError, match="must be positive"):
        HttpOptions(rate=-1)


def test_a_busy_machine_is_the_bottleneck_when_no_single_process_is():
    from harness.runners.http.locust import LocustOutcome
    from harness.runners.http.runner import HttpResult

    cores = os.cpu_count() or 1
    rec = Recorded(
        np.linspace(0.01, 1.49, 100), np.full(100, 2.0), np.zeros(100, bool), {}, 1, (100.0,)
    )
    busy = 0.85 * cores  # every core 85% busy, the app at 85% of its one
    cpu = CpuSeries(
        at=[100.0, 101.5],
        seconds={
            "app": [0, 1.275],
            "locust": [0, 0.3],
            "postgres": [0, 0.3],
            "machine": [0, 1.5 * busy],
        },
    )
    outcome = LocustOutcome(rec, {}, cpu, 1, [0], "")
    result = HttpResult("a", outcome=outcome, server_cores=1, measure_s=1.5)
    (m,) = http_measurements(
        "http", Params((("endpoint", "user"),)), [result], np.random.default_rng(1)
    )
    assert "bottleneck: the machine's CPU (85% of its" in m.detail, m.detail
    assert "highest: the app server at 85.0%" in m.detail


def test_measurements_from_recorded_requests():
    from harness.runners.http.locust import LocustOutcome
    from harness.runners.http.runner import HttpResult

    ends = np.linspace(0.01, 1.49, 300)
    failed = np.zeros(300, dtype=bool)
    failed[:3] = True
    rec = Recorded(ends, np.full(300, 2.0), failed, {"HTTPError: 500": 3}, 1, (100.0,))
    cpu = CpuSeries(
        at=[99.0, 100.0, 101.5, 102.0],
        seconds={"app": [0, 0.2, 1.7, 1.8], "locust": [0, 0.1, 0.7, 0.8], "postgres": [0] * 4},
    )
    outcome = LocustOutcome(rec, {"requests_per_s": 190.0}, cpu, 1, [0], "")
    result = HttpResult("a", outcome=outcome, server_cores=1, measure_s=1.5)
    (m,) = http_measurements(
        "http", Params((("endpoint", "user"),)), [result], np.random.default_rng(1)
    )
    assert m.status == "ok" and m.is_best
    assert m.metrics["ops_per_s"].value == pytest.approx(297 / 1.5, rel=0.05)
    assert m.metrics["errors"] == Metric(3, "requests")
    assert m.metrics["median_us"].value == pytest.approx(2000.0)
    assert m.metrics["app_cpu_pct"].value == pytest.approx(100.0)
    assert "bottleneck: the app server at 100.0%" in m.detail
    assert "HTTPError: 500" in m.detail


# --- against the real apps and the test session's PostgreSQL ------------------------------------

POINT = Params((("endpoint", "activity"), ("users", 4)))


def _variant(name: str, factory: str, **env: str):
    """A variant serving `factory` with the reference app's settings plus `env`."""
    from harness.scenario.spec import Variant

    def plan(ctx) -> AppPlan:
        base = http.variants["fastapi_orm"].fn(ctx)
        return replace(base, factory=factory, env={**base.env, **env})

    return Variant(name, plan, name, False)


def _scenario(*extra, **changes) -> tuple[Scenario, list]:
    variants = [http.variants["fastapi_orm"], *extra]
    return replace(
        http, variants={v.name: v for v in variants}, comparisons=(), **changes
    ), variants


def _measure(server, scenario, variants, timing=TIMING, options=None):
    """The http runner at POINT against the session's server and the shared dataset."""
    job = PointJob(
        scenario,
        variants,
        POINT,
        server,
        http.dataset,
        timing,
        options=RunOptions(http=options or HttpOptions()),
    )
    return measure_http_point(job)


def test_apps_agree_then_each_is_loaded_and_everything_stops(server, dataset):
    variants = [http.variants["fastapi_orm"], http.variants["litestar_asyncpg"]]
    results = _measure(server, http, variants)
    for r in results:
        assert r.status == "ok", r.detail
        rec = r.outcome.recorded
        assert rec.times_ms.size > 20 and not rec.failed.any()
        assert r.outcome.summary["requests"] >= rec.times_ms.size  # locust's view: whole run
    for r in results:  # answers kept from the measured window, compared with the reference's
        assert r.rechecked >= 3, r.rechecked
    measurements = http_measurements("http", POINT, results, np.random.default_rng(1))
    for m in measurements:
        assert m.metrics["ops_per_s"].value > 10
        assert m.metrics["answers_rechecked"].value >= 3
        cpu = {"app_cpu_pct", "locust_cpu_pct", "postgres_cpu_pct", "machine_cpu_pct"}
        assert cpu | {"p99_us", "locust_requests_per_s"} <= set(m.metrics)
        assert "bottleneck" in m.detail or "no process saturated" in m.detail
    _no_app_or_locust_left()


def test_an_app_that_answers_differently_is_wrong_and_not_loaded(server, dataset):
    scenario, variants = _scenario(_variant("liar", "tests.http_fixture.apps:wrong"))
    reference, liar = _measure(server, scenario, variants)
    assert reference.status == "ok"
    assert liar.status == "wrong" and "GET /users/1" in liar.detail and liar.outcome is None
    _no_app_or_locust_left()


def test_an_app_that_answers_wrong_only_under_load_is_wrong_and_its_timings_dropped(
    server, dataset
):
    scenario, variants = _scenario(_variant("stale", "tests.http_fixture.apps:wrong_later"))
    reference, stale = _measure(server, scenario, variants)
    assert reference.status == "ok" and reference.rechecked >= 3
    assert stale.status == "wrong" and stale.outcome is None
    assert "timed request 1 (re-checked while timed) answered otherwise" in stale.detail
    assert "GET /users/" in stale.detail
    measurements = http_measurements(
        scenario.name, POINT, [reference, stale], np.random.default_rng(1)
    )
    assert [m.variant for m in measurements if m.is_best] == ["fastapi_orm"]
    _no_app_or_locust_left()


def test_an_app_that_crashes_under_load_fails_with_the_reason(server, dataset):
    crash = _variant("crashing", "tests.http_fixture.apps:crashing", PB_CRASH_AFTER="150")
    scenario, variants = _scenario(crash)
    reference, crashed = _measure(server, scenario, variants)
    assert reference.status == "ok"
    assert crashed.status == "failed" and "crashed during the load" in crashed.detail
    assert "exit code" in crashed.detail
    _no_app_or_locust_left()


def test_a_locust_that_dies_fails_the_variant_and_nothing_is_left(server, dataset):
    scenario, variants = _scenario(locustfile=FIXTURES / "broken_locustfile.py")
    (result,) = _measure(server, scenario, variants)
    assert result.status == "failed" and "no request in the measured window" in result.detail
    assert "broken on purpose" in result.detail
    _no_app_or_locust_left()


def test_granian_distributed_locust_and_constant_rate(server, dataset):
    variants = [http.variants["litestar_asyncpg"]]
    scenario = replace(http, reference="litestar_asyncpg", comparisons=())
    options = HttpOptions(ServeOptions(server="granian"), locust_workers=2, rate=100.0)
    (result,) = _measure(server, scenario, variants, timing=HttpTiming(1.0, 2.0), options=options)
    assert result.status == "ok", result.detail
    assert result.outcome.processes == 2 and result.outcome.recorded.processes == 2
    (m,) = http_measurements("http", POINT, [result], np.random.default_rng(1))
    assert m.metrics["ops_per_s"].value == pytest.approx(100, rel=0.25)
    assert m.metrics["target_rate"].value == 100
    _no_app_or_locust_left()


@pytest.mark.slow
def test_ctrl_c_during_an_http_run_leaves_no_server_app_or_locust(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness.cli", "run", "--postgres", "embedded",
            "--scenario", "http", "--grid", "endpoint=user", "--grid", "users=4",
            "--variant", "litestar_asyncpg", "--out", str(tmp_path),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[psutil.Process] = set()
    watch_until(proc, _locust_running, "its load", timeout_s=120, seen=seen)
    time.sleep(1.0)
    seen.update(s.process for s in descendants(proc.pid))
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    _gone, alive = psutil.wait_procs(list(seen), timeout=15)
    assert not alive, [" ".join(p.cmdline())[:100] for p in alive]


@pytest.mark.slow
def test_postgres_killed_under_http_load_fails_the_scenario_and_the_run_goes_on(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness.cli", "run", "--postgres", "embedded",
            "--scenario", "http", "--grid", "endpoint=activity", "--grid", "users=4",
            "--variant", "http:litestar_asyncpg", "--scenario", "reads", "--grid", "rows=1",
            "--variant", "reads:asyncpg_fetch", "--out", str(tmp_path),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[psutil.Process] = set()
    now = watch_until(proc, _locust_running, "its load", timeout_s=120, seen=seen)
    time.sleep(1.5)  # into the measured window
    postgres = [s.process for s in now if s.name == "postgres"]
    min(postgres, key=lambda p: p.create_time()).kill()
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in out + err
    _gone, alive = psutil.wait_procs(list(seen), timeout=15)
    assert not alive, [" ".join(p.cmdline())[:100] for p in alive]
    (run_dir,) = list(tmp_path.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    status = {s["name"]: s["status"] for s in run["scenarios"]}
    assert status == {"http": "failed", "reads": "ok"}, run["scenarios"]
    assert "PostgreSQL stopped answering" in run["scenarios"][0]["error"]
    assert run["partial"] is True and len(run["server_restarts"]) == 1
