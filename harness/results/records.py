"""The result tables: what one run stores, as msgspec Structs (run.json is their JSON)."""

from __future__ import annotations

from typing import Any

import msgspec

from harness.scenario.grid import AxisValue

SCHEMA_VERSION = 1
RTT_DRIFT = 0.25  # a delay that ends more than 25% off the configured rtt makes that rtt suspect


class Metric(msgspec.Struct, frozen=True, omit_defaults=True):
    """One number with its unit and, where it has one, its 95% confidence interval."""

    value: float
    unit: str
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None


class Measurement(msgspec.Struct, frozen=True):
    """One variant at one grid point: its status and its metrics.

    status: ok (timed), wrong (answer differs from the reference; not timed),
    failed (raised; not timed).
    """

    scenario: str
    variant: str
    params: dict[str, AxisValue]
    status: str
    detail: str = ""
    metrics: dict[str, Metric] = {}
    is_best: bool = False
    kind: str = "variant"  # variant | native (a ceiling such as pgbench, never "best")
    rtt_ms: float = 0.0  # simulated network round-trip time it was measured at (0: loopback)
    disturbed: str = ""  # why other work on the machine may have moved it ('' : quiet)

    @property
    def label(self) -> str:
        return point_label(self.params, self.rtt_ms)


class ScenarioRecord(msgspec.Struct, frozen=True):
    """What the report needs to know about a scenario without importing it."""

    name: str
    question: str
    doc: str
    axes: list[tuple[str, list[AxisValue]]]
    reference: str
    variants: dict[str, str]  # name -> description
    chart_x: str | None = None
    skipped_points: str = ""
    comparisons: list[tuple[str, str]] = []  # (usually faster, usually slower) pairs for verdicts
    baseline: str | None = None
    natives: list[str] = []
    rate_axis: str | None = None  # measurements carry `<rate_axis>_per_s`
    settings_note: dict[str, str] = {}  # server settings these results hold under
    status: str = "ok"  # ok | failed
    error: str = ""
    seconds: float = 0.0
    dataset: dict[str, Any] = {}
    rtts_ms: list[float] = msgspec.field(default_factory=lambda: [0.0])  # in the order run
    runner: str = "latency"  # latency | throughput
    clients_axis: str | None = None  # throughput: the axis holding the number of clients
    knee_axis: str | None = None  # throughput: the axis along which the knee is looked for
    # SELECT 1's added latency (ms) through the delay proxy, measured again after the last grid
    # point at each rtt (key: rtt in ms): the proof that the delay held for the whole scenario
    rtt_held_ms: dict[str, float] = {}
    from_memory: list[str] = []  # variants whose declared pattern is answering from memory


class RunRecord(msgspec.Struct):
    """Everything about one run; `partial` stays true until the run completed."""

    run_id: str
    started_at: str
    profile: str
    environment: dict[str, Any]
    server: dict[str, Any]
    schema_version: int = SCHEMA_VERSION
    finished_at: str = ""
    partial: bool = True
    interrupted: str = ""
    scenarios: list[ScenarioRecord] = []
    rtts_ms: list[float] = msgspec.field(default_factory=lambda: [0.0])
    server_restarts: list[str] = []  # a server that died was replaced, with why
    # SELECT 1 median in µs at each rtt (key: rtt in ms), measured before the scenarios ran
    rtt_select1_us: dict[str, float] = {}
    measurements: list[Measurement] = []
    notes: list[str] = []  # what happened to this run afterwards (e.g. data withdrawn, and why)
    # other patternbench runs seen going on this machine while this one ran (--allow-concurrent)
    concurrent_runs: list[str] = []
    gc: str = "freeze"  # the garbage collector during latency points (--gc)

    def problems(self) -> list[str]:
        """What went wrong, one phrase each; empty when every variant was measured or skipped on
        purpose (the exit code is 1 when this is not empty)."""
        found = [f"scenario {s.name} failed" for s in self.scenarios if s.status != "ok"]
        if self.server_restarts:
            found.append(f"PostgreSQL stopped answering ({len(self.server_restarts)}x)")
        for status in ("failed", "wrong"):
            bad = [m for m in self.measurements if m.status == status]
            if bad:
                variants = sorted({f"{m.scenario}.{m.variant}" for m in bad})
                shown = ", ".join(variants[:4]) + (", ..." if len(variants) > 4 else "")
                found.append(f"{len(bad)} {status.upper()} measurement(s): {shown}")
        return found


def disturbed_points(measurements: list[Measurement]) -> tuple[int, dict[tuple[str, str], str]]:
    """How many (scenario, point) the measurements cover, and why each disturbed one was."""
    points: dict[tuple[str, str], str] = {}
    for m in measurements:
        points.setdefault((m.scenario, m.label), m.disturbed)
    return len(points), {point: why for point, why in points.items() if why}


def distinct_points(measurements: list[Measurement]) -> list[dict[str, AxisValue]]:
    """The grid points the measurements cover, in the order first measured."""
    seen: list[dict[str, AxisValue]] = []
    for m in measurements:
        if m.params not in seen:
            seen.append(m.params)
    return seen


def metric_value(m: Measurement, metric: str) -> float | None:
    found = m.metrics.get(metric)
    return found.value if found else None


def point_label(params: dict[str, AxisValue], rtt_ms: float = 0.0) -> str:
    """`users=20 posts=10`, with `rtt=1ms ` in front when measured at a simulated distance."""
    text = " ".join(f"{k}={v}" for k, v in params.items())
    return f"rtt={rtt_ms:g}ms {text}".strip() if rtt_ms else text


def encode_run(run: RunRecord) -> bytes:
    return msgspec.json.format(msgspec.json.encode(run), indent=2) + b"\n"


def decode_run(data: bytes) -> RunRecord:
    return msgspec.json.decode(data, type=RunRecord)
