"""The HTTP runner: each variant is an app served in its own process, loaded by locust.

Per grid point: every variant's app is started (uvicorn or granian, on 127.0.0.1) and
health-checked; the parity check sends the scenario's requests (valid and invalid ones) to each
app and requires the reference app's status codes and JSON bodies; then each app that agreed is
loaded in turn by locust for warm-up + measurement. Recorded per variant: requests/s with a CI
over time slices, latency percentiles from each request's own time (not locust's whole-ms
buckets), failures, the CPU of the app server, of locust and of PostgreSQL over the measured
window, and which of them was the bottleneck. An app that crashes, or a locust that dies, fails
that variant with the reason; the servers and locust processes are always stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from harness.errors import UserError
from harness.processes import all_cpus
from harness.results.records import Measurement, Metric
from harness.results.stats import latency_metrics, mean_ci, summarise
from harness.runners.base import (
    PointJob,
    PointOutcome,
    RunOptions,
    VariantOutcome,
    check_clients_axis,
    measurement,
    point_context,
    set_up_point,
)
from harness.runners.http.appserver import AppPlan, AppServer, ServeOptions
from harness.runners.http.locust import LocustOptions, LocustOutcome, run_locust
from harness.runners.http.recorder import KeptResponse, LoadSettings
from harness.scenario.answers import AnswerCheck, Rechecked, first_difference, recheck_answers
from harness.scenario.grid import Params
from harness.scenario.normalise import Rule, rule_of
from harness.scenario.spec import Scenario, Skip

SATURATED = 0.9  # a process tree at 90% of the cores it can use is the bottleneck
MACHINE_BUSY = 0.8  # else, all processes together at 80% of the machine's cores are


@dataclass(frozen=True)
class HttpTiming:
    warmup_s: float
    measure_s: float
    slices: int = 10  # the measured window is cut into this many for the requests/s CI

    @property
    def planned_s(self) -> float:
        return self.warmup_s + self.measure_s + 3.0  # + locust's own start and stop


PROFILES: dict[str, HttpTiming] = {
    "quick": HttpTiming(warmup_s=0.5, measure_s=2.0),
    "full": HttpTiming(warmup_s=2.0, measure_s=8.0),
}


@dataclass(frozen=True)
class HttpOptions:
    """Run-level choices for HTTP scenarios (from the command line)."""

    serve: ServeOptions = field(default_factory=ServeOptions)
    locust_workers: int = 0
    rate: float = 0.0  # total requests/s; 0 = closed loop (as fast as the app answers)

    def __post_init__(self) -> None:
        if self.locust_workers < 0:
            raise UserError(f"--locust-workers must be 0 or more, got {self.locust_workers}")
        if self.rate < 0:
            raise UserError(f"--rate must be positive, got {self.rate:g}")


@dataclass(frozen=True)
class ParityRequest:
    """One request of the parity check; `body` is sent as raw bytes (to include broken JSON)."""

    method: str
    path: str
    body: bytes | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class HttpResult(VariantOutcome):
    outcome: LocustOutcome | None = None
    server_cores: int | None = None
    app_workers: int = 1
    rate: float = 0.0
    measure_s: float = 0.0

    def slice_rates(self, slices: int) -> np.ndarray:
        """Requests/s that completed without failing in each of `slices` equal parts of the
        measured window."""
        assert self.outcome is not None
        rec = self.outcome.recorded
        edges = np.linspace(0.0, self.measure_s, slices + 1)
        counts, _ = np.histogram(rec.ends_s[~rec.failed], bins=edges)
        return counts / (self.measure_s / slices)


def http_answer(
    request: ParityRequest, status: int, text: str, normalise: Callable[[Any], Any] | None
) -> Any:
    """What an app answered to a request, as the answers are compared: the request, the status
    and the JSON body, normalised by the scenario."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = {"not json": text[:200]}
    answer = {"request": request.label, "status": status, "body": body}
    return normalise(answer) if normalise else answer


def parity_answers(
    server: AppServer, requests: list[ParityRequest], normalise: Callable[[Any], Any] | None
) -> list[Any]:
    """The app's answer (`http_answer`) to each request, one after another."""
    answers = []
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        for request in requests:
            headers = {"content-type": "application/json"} if request.body is not None else {}
            response = client.request(
                request.method, request.path, content=request.body, headers=headers
            )
            answers.append(http_answer(request, response.status_code, response.text, normalise))
    return answers


def _recheck(
    check: AnswerCheck, reference: AppServer | None, kept: tuple[KeptResponse, ...]
) -> Rechecked:
    """The responses kept from the measured window, compared with the reference app's answers
    to the same requests, sent again one after another (untimed)."""
    if reference is None or not kept:
        return Rechecked()
    normalise = check.scenario.normalise
    requests = [_request_of(k) for k in kept]
    expected = parity_answers(reference, requests, normalise)
    return recheck_answers(
        check.difference([http_answer(r, k.status, k.text, normalise)], [want])
        for r, k, want in zip(requests, kept, expected, strict=True)
    )


def _request_of(kept: KeptResponse) -> ParityRequest:
    url = urlsplit(kept.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    return ParityRequest(kept.method, path, None if kept.body is None else kept.body.encode())


def measure_http_point(job: PointJob) -> list[HttpResult]:
    """Starts every variant's app, checks their answers against the reference app's, then
    loads each app that agreed, one after another."""
    scenario, params, direct = job.scenario, job.params, job.direct
    options = job.options.http or HttpOptions()
    assert scenario.locustfile is not None and scenario.parity_requests is not None
    results = {v.name: HttpResult(v.name) for v in job.variants}
    rule = rule_of(scenario.normalise)
    check = AnswerCheck(
        scenario, direct, difference=lambda got, want: _first_mismatch(got, want, rule)
    )
    plans: dict[str, AppPlan] = {}
    with point_context(job.target, params, job.dataset) as ctx:
        if not set_up_point(job, ctx, results):
            return [results[v.name] for v in job.variants]
        for variant in job.variants:
            try:
                plans[variant.name] = variant.fn(ctx)
            except Skip as exc:
                results[variant.name].judged(check.failed_before(variant.name, "skipped", str(exc)))
        requests = scenario.parity_requests(ctx)
    with (
        tempfile.TemporaryDirectory(prefix="patternbench-http-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        servers: dict[str, AppServer] = {}
        for name, plan in plans.items():  # start all, then wait: they start in parallel
            server = AppServer(name, plan, options.serve, work, cpus=all_cpus())
            servers[name] = stack.enter_context(server)
        job.on_step(f"{scenario.name} {params.label} · starting {len(servers)} apps", 0.0)
        for name, server in servers.items():
            try:
                server.wait_ready()
            except RuntimeError as exc:
                direct.raise_if_gone(exc)
                results[name].judged(check.failed_before(name, "failed", str(exc)))
        for variant in check.order(job.variants):
            result = results[variant.name]
            if not result.ok:
                continue
            job.on_step(f"{scenario.name} {params.label} · parity of {variant.name}", 0.0)
            server = servers[variant.name]

            def answers(server: AppServer = server) -> list[Any]:
                return parity_answers(server, requests, scenario.normalise)

            result.judged(check.check(variant.name, answers, doing="parity requests"))
        reference = servers.get(scenario.reference)
        for variant in job.variants:
            result = results[variant.name]
            if result.ok:
                _load(job, options, servers[variant.name], result, work)
            if result.ok and result.outcome is not None:
                try:
                    found = _recheck(check, reference, result.outcome.recorded.kept)
                except httpx.HTTPError as exc:
                    direct.raise_if_gone(exc)
                    found = Rechecked()
                    result.detail = f"the timed responses could not be re-checked: {exc}"
                if not result.took_recheck(found, "timed request"):
                    result.outcome = None  # a wrong answer under load: its timings are dropped
    return [results[v.name] for v in job.variants]


def _load(
    job: PointJob, options: HttpOptions, server: AppServer, result: HttpResult, work: Path
) -> None:
    """One app under locust for the job's warm-up and window; failures fail the variant."""
    scenario, params, timing, direct = job.scenario, job.params, job.timing, job.direct
    assert scenario.locustfile is not None
    users = int(params.as_dict()[scenario.clients_axis])
    job.on_step(f"{params.label} · {result.variant} × {users} users", 0.0)
    settings = LoadSettings(
        warmup_s=timing.warmup_s,
        measure_s=timing.measure_s,
        out=work / result.variant,
        users=users,
        rate=options.rate,
        params={**params.as_dict(), "think_s": scenario.think_time_s},
        dataset={"users": job.dataset.total_users, "posts": job.dataset.total_posts},
    )
    try:
        server.raise_if_exited("had exited before its load")
        result.outcome = run_locust(
            scenario.locustfile,
            server.url,
            settings,
            LocustOptions(users, options.locust_workers, options.rate),
            work,
            watch={
                "app": server.process.pid if server.process else None,
                "postgres": direct.server_process,
            },
            cpus=all_cpus(),  # not the harness's own pinned core
        )
        if result.outcome.recorded.failed.any():  # PostgreSQL gone? then say so
            direct.raise_if_gone(RuntimeError("requests failed under load"))
        server.raise_if_exited("crashed during the load")
        if result.outcome.recorded.times_ms.size == 0:
            raise RuntimeError(
                "locust recorded no request in the measured window" + result.outcome.log_tail
            )
    except RuntimeError as exc:
        direct.raise_if_gone(exc)
        result.fail(str(exc))
    result.server_cores = len(direct.server_cpus) or None
    result.app_workers = options.serve.workers
    result.rate, result.measure_s = options.rate, timing.measure_s
    job.on_step("", timing.planned_s)


def _first_mismatch(answers: list[Any], expected: list[Any], rule: Rule) -> str | None:
    for got, want in zip(answers, expected, strict=True):
        difference = first_difference(got, want, rule=rule)
        if difference is not None:
            return f"{want['request']}: {difference}"
    return None


# --- records ----------------------------------------------------------------------------------


def bottleneck(cpu: dict[str, float | None], capacity: dict[str, int]) -> tuple[str, float]:
    """The process tree closest to using all the cores it can use, and that share."""
    shares = {
        name: value / max(1, capacity.get(name, 1))
        for name, value in cpu.items()
        if value is not None and name in capacity
    }
    if not shares:
        return "", 0.0
    name = max(shares, key=lambda n: shares[n])
    return name, shares[name]


def http_measurements(
    scenario: str,
    params: Params,
    results: list[HttpResult],
    rng: np.random.Generator,
    rtt_ms: float = 0.0,
    slices: int = 5,
) -> list[Measurement]:
    """requests/s (CI over time slices), latency, failures, CPU per process and the bottleneck."""
    rates = {
        r.variant: r.slice_rates(slices)
        for r in results
        if r.status == "ok" and r.outcome is not None
    }
    best = max(rates, key=lambda n: float(np.mean(rates[n])), default=None)
    cores = os.cpu_count() or 1
    out = []
    for r in results:
        metrics: dict[str, Metric] = {}
        detail = r.detail
        if r.status == "ok" and r.outcome is not None:
            rec = r.outcome.recorded
            ok_times = rec.times_ms[~rec.failed] * 1e3  # µs
            mean, low, high = mean_ci(rates[r.variant], rng)
            metrics["ops_per_s"] = Metric(mean, "requests/s", low, high, int(ok_times.size))
            if ok_times.size:
                metrics.update(latency_metrics(summarise(ok_times, rng)))
            failures = int(rec.failed.sum())
            if r.rechecked:
                metrics["answers_rechecked"] = Metric(r.rechecked, "answers")
            metrics["errors"] = Metric(failures, "requests")
            metrics["error_rate"] = Metric(failures / max(1, rec.failed.size), "")
            if r.rate:
                metrics["target_rate"] = Metric(r.rate, "requests/s")
            summary = r.outcome.summary
            short = summary.get("requests", math.inf) < rec.times_ms.size  # it saw the whole run
            for key, value in summary.items():
                if value == value and not short:  # not NaN
                    metrics[f"locust_{key}"] = Metric(value, key.rsplit("_", 1)[-1])
            window = _window(r)
            cpu = {
                name: r.outcome.cpu.share(name, *window) if window else None
                for name in ("app", "locust", "postgres", "machine")
            }
            for name, used in cpu.items():
                if used is not None:
                    metrics[f"{name}_cpu_pct"] = Metric(100 * used, "% of a core")
            capacity = {
                "app": r.app_workers,
                "locust": r.outcome.processes,
                "postgres": r.server_cores or cores,
            }
            name, share = bottleneck(cpu, capacity)
            busy = cpu["machine"] or 0.0
            parts = [r.detail] if r.detail else []
            if name and share >= SATURATED:
                parts.append(
                    f"bottleneck: {_who(name)} at {share:.1%} of its {capacity[name]} core(s)"
                )
            elif name and busy >= MACHINE_BUSY * cores:  # shared cores: none left to grow into
                parts.append(
                    f"bottleneck: the machine's CPU ({busy / cores:.0%} of its {cores} cores busy, "
                    f"all processes; highest: {_who(name)} at {share:.1%})"
                )
            elif name:
                parts.append(f"no process saturated (highest: {_who(name)} at {share:.1%})")
            machine_said = bool(parts) and parts[-1].startswith("bottleneck: the machine")
            if busy >= SATURATED * cores and not machine_said:
                parts.append(f"all {cores} cores busy ({busy:.1f} used, all processes)")
            if r.rate and mean < 0.95 * r.rate:
                parts.append(f"could not hold {r.rate:g} requests/s")
            if rec.errors:
                first = max(rec.errors, key=lambda k: rec.errors[k])
                parts.append(f"most common failure: {first}")
            if short:
                parts.append(
                    f"locust's own totals counted {summary['requests']:,.0f} requests, fewer "
                    f"than the {rec.times_ms.size:,} in the measured window: left out"
                )
            detail = "; ".join(parts)
        out.append(
            measurement(
                scenario, params, r, metrics, best=r.variant == best, rtt_ms=rtt_ms, detail=detail
            )
        )
    return out


def _window(r: HttpResult) -> tuple[float, float] | None:
    """The measured window in epoch seconds, from the earliest process's window start."""
    assert r.outcome is not None
    starts = r.outcome.recorded.window_starts
    if not starts:
        return None
    begin = min(starts)
    return begin, begin + r.measure_s


def _who(name: str) -> str:
    return {"app": "the app server", "locust": "locust (the load generator)"}.get(
        name, "PostgreSQL"
    )


class HttpRunner:
    """Each variant an app in its own process, loaded by locust (this package)."""

    name = "http"
    profiles: Mapping[str, HttpTiming] = PROFILES
    uses_clients_axis = True

    def check_scenario(self, scenario: Scenario) -> None:
        if scenario.locustfile is None or scenario.parity_requests is None:
            raise ValueError(
                f"scenario {scenario.name!r}: an http scenario needs a locustfile and "
                "parity_requests"
            )
        check_clients_axis(scenario)

    def connections(
        self, scenario: Scenario, params: Params, variants: int, options: RunOptions
    ) -> tuple[int, str] | None:
        """`connections` is one app worker's pool, and every variant's app runs at once."""
        if scenario.connections is None:
            return None
        workers = options.http.serve.workers if options.http else 1
        apps = variants * workers
        fix = "use fewer --app-workers or --variant" if apps > 1 else "use smaller --grid values"
        return scenario.connections(params) * apps, fix

    def measure(self, job: PointJob, rng: np.random.Generator) -> PointOutcome:
        timing: HttpTiming = job.timing
        results = measure_http_point(job)
        timed = [r for r in results if r.ok and r.outcome is not None]
        samples = {}
        for r in timed:
            assert r.outcome is not None
            rec = r.outcome.recorded
            # ns, as the other runners store them
            samples[r.variant] = (rec.times_ms[~rec.failed] * 1e6).astype(np.int64)
        return PointOutcome(
            measurements=http_measurements(
                job.scenario.name, job.params, results, rng, job.rtt_ms, timing.slices
            ),
            samples=samples,
            rates={r.variant: r.slice_rates(timing.slices) for r in timed},
        )
