"""What runs inside a locust process: the settings the harness passes and a per-request recorder.

locust's own statistics round percentiles to whole milliseconds and include the ramp-up; the
recorder keeps every request's response time as locust measured it (float ms, body read), and only
for requests that ended in the measured window: from `warmup_s` after this process's first
request, for `measure_s`. At exit each process writes one `.npz` file (atomically) that the
harness merges; a distributed run (master + workers) gets one file per worker.

locust's own whole-run view (`LocustSummary`) is written by the process that owns the totals (the
local runner, or the master) once locust has stopped every user: its CSV files are rewritten only
once a second and not at exit, so they can miss the run's last second or more.

A locustfile uses it like this::

    from locust import FastHttpUser, events, task
    from harness.runners.http.recorder import LoadSettings, install

    settings = LoadSettings.from_env()
    install(events, settings)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

ENV_PREFIX = "PB_LOAD_"
KEPT_PER_WINDOW = 4  # responses each process keeps per measured window, for the re-check
KEPT_BODY_CHARS = 1_000_000  # a longer response body is kept cut, and then fails its re-check


@dataclass(frozen=True)
class LoadSettings:
    """The harness's instructions to the locust process (environment variables `PB_LOAD_*`)."""

    warmup_s: float
    measure_s: float
    out: Path | None  # file prefix for the recorded requests; None: record nothing
    users: int = 1
    rate: float = 0.0  # requests/s over all users (constant-rate mode); 0: closed loop
    params: dict[str, Any] = field(default_factory=dict)  # the grid point
    dataset: dict[str, Any] = field(default_factory=dict)  # e.g. how many users and posts exist

    def to_env(self) -> dict[str, str]:
        return {
            f"{ENV_PREFIX}WARMUP_S": repr(self.warmup_s),
            f"{ENV_PREFIX}MEASURE_S": repr(self.measure_s),
            f"{ENV_PREFIX}OUT": str(self.out or ""),
            f"{ENV_PREFIX}USERS": str(self.users),
            f"{ENV_PREFIX}RATE": repr(self.rate),
            f"{ENV_PREFIX}PARAMS": json.dumps(self.params),
            f"{ENV_PREFIX}DATASET": json.dumps(self.dataset),
        }

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LoadSettings:
        env = dict(os.environ if env is None else env)

        def get(name: str, default: str) -> str:
            return env.get(f"{ENV_PREFIX}{name}", default) or default

        out = get("OUT", "")
        return cls(
            warmup_s=float(get("WARMUP_S", "0")),
            measure_s=float(get("MEASURE_S", "1e9")),
            out=Path(out) if out else None,
            users=max(1, int(get("USERS", "1"))),
            rate=float(get("RATE", "0")),
            params=json.loads(get("PARAMS", "{}")),
            dataset=json.loads(get("DATASET", "{}")),
        )

    def per_user_rate(self) -> float:
        """Requests/s each user makes in constant-rate mode (0: no pacing)."""
        return self.rate / self.users if self.rate > 0 else 0.0


@dataclass(frozen=True)
class KeptResponse:
    """One request answered in the measured window, as sent and as answered: the harness sends
    it again to the reference app afterwards and compares the two answers."""

    method: str
    url: str
    body: str | None  # the request's body, as sent
    status: int
    text: str  # the response's body

    @classmethod
    def of(cls, method: str, url: str, response: Any) -> KeptResponse | None:
        """From locust's request event (None when the response cannot be read)."""
        try:
            request = getattr(response, "request", None)
            body = getattr(request, "body", None)
            if isinstance(body, bytes):
                body = body.decode(errors="replace")
            return cls(
                method,
                url,
                body,
                int(response.status_code),
                str(response.text or "")[:KEPT_BODY_CHARS],
            )
        except Exception:  # a response that failed to arrive has nothing to compare
            return None


class Recorder:
    """Collects (end time, response time, failed) for the requests of one locust process, and
    keeps a few responses spread over the measured window (`KeptResponse`)."""

    def __init__(self, settings: LoadSettings, tag: str | None = None) -> None:
        self.settings = settings
        self.tag = tag or str(os.getpid())  # one file per process
        self.first_start: float | None = None
        self.ends: list[float] = []
        self.times_ms: list[float] = []
        self.failed: list[bool] = []
        self.errors: dict[str, int] = {}
        self.kept: list[KeptResponse] = []
        self._next_slot = 0  # the window's KEPT_PER_WINDOW slots: one response kept in each
        self.written = False

    @property
    def window_from(self) -> float | None:
        if self.first_start is None:
            return None
        return self.first_start + self.settings.warmup_s

    def on_request(
        self,
        response_time: float,
        exception: BaseException | None,
        start_time: float | None,
        keep: Callable[[], KeptResponse | None] | None = None,
    ) -> None:
        now = time.time()
        if self.first_start is None:
            self.first_start = start_time if start_time is not None else now
        begin = self.window_from
        assert begin is not None
        if not begin <= now <= begin + self.settings.measure_s:
            return
        self.ends.append(now - begin)
        self.times_ms.append(float(response_time))
        self.failed.append(exception is not None)
        measure_s = self.settings.measure_s
        slot = int((now - begin) * KEPT_PER_WINDOW / measure_s) if measure_s > 0 else 0
        if keep is not None and exception is None and slot >= self._next_slot:
            # slots fixed from the window's start: a late keep does not push the next ones later
            self._next_slot = slot + 1
            if (kept := keep()) is not None:
                self.kept.append(kept)
        if exception is not None:
            text = f"{type(exception).__name__}: {exception}"[:200]
            self.errors[text] = self.errors.get(text, 0) + 1

    def write(self) -> None:
        """Saves what was recorded (once; a process with no requests, e.g. a master, writes
        nothing)."""
        out = self.settings.out
        if out is None or self.written or self.first_start is None:
            return
        self.written = True
        path = out.parent / f"{out.name}-{self.tag}.npz"
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            ends_s=np.asarray(self.ends, dtype=np.float64),
            times_ms=np.asarray(self.times_ms, dtype=np.float64),
            failed=np.asarray(self.failed, dtype=bool),
            window_from=np.float64(self.window_from or 0.0),
            errors=np.asarray(json.dumps(self.errors)),
            kept=np.asarray(json.dumps([asdict(k) for k in self.kept])),
        )
        os.replace(tmp, path)


@dataclass(frozen=True)
class LocustSummary:
    """locust's own totals over the whole run (ramp-up included; percentiles in whole ms)."""

    requests: float
    failures: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    @classmethod
    def of(cls, total: Any) -> LocustSummary:
        """From locust's aggregated `StatsEntry` (`environment.stats.total`)."""
        return cls(
            requests=float(total.num_requests),
            failures=float(total.num_failures),
            requests_per_s=float(total.total_rps),
            p50_ms=float(total.get_response_time_percentile(0.5) or 0),
            p99_ms=float(total.get_response_time_percentile(0.99) or 0),
            p999_ms=float(total.get_response_time_percentile(0.999) or 0),
            max_ms=float(total.max_response_time or 0),
        )

    @staticmethod
    def path(out: Path) -> Path:
        return out.parent / f"{out.name}-summary.json"

    def write(self, out: Path) -> None:
        path = self.path(out)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)

    @classmethod
    def read(cls, out: Path) -> dict[str, float]:
        """The summary's figures by name; {} when locust wrote none (it died, or never started)."""
        try:
            data = json.loads(cls.path(out).read_text())
        except (OSError, ValueError):
            return {}
        wanted = {f.name for f in fields(cls)}
        return {k: float(v) for k, v in data.items() if k in wanted}


def install(events: Any, settings: LoadSettings) -> Recorder:
    """Hooks a Recorder into locust's events (`locust.events`) and returns it."""
    recorder = Recorder(settings)
    environments: list[Any] = []  # the one locust Environment, from the init event

    def on_request(
        response_time: float = 0.0,
        exception: BaseException | None = None,
        start_time: float | None = None,
        request_type: str = "GET",
        url: str = "",
        response: Any = None,
        **_kwargs: Any,
    ) -> None:
        def keep() -> KeptResponse | None:
            return KeptResponse.of(request_type, url, response) if response is not None else None

        recorder.on_request(response_time, exception, start_time, keep)

    def on_stop(**_kwargs: Any) -> None:
        recorder.write()

    def on_init(environment: Any = None, **_kwargs: Any) -> None:
        environments.append(environment)

    def on_quit(**_kwargs: Any) -> None:
        # fired after runner.quit(): every user stopped, workers' final reports merged
        out = settings.out
        if out is None or not environments:
            return
        environment = environments[0]
        if type(environment.runner).__name__ == "WorkerRunner":
            return  # a worker's stats are cleared at each report; the master holds the totals
        LocustSummary.of(environment.stats.total).write(out)

    events.init.add_listener(on_init)
    events.request.add_listener(on_request)
    events.test_stop.add_listener(on_stop)
    events.quitting.add_listener(on_stop)
    events.quit.add_listener(on_quit)
    return recorder


@dataclass(frozen=True)
class Recorded:
    """All processes' recorded requests of one locust run, merged."""

    ends_s: np.ndarray  # seconds since each process's window start
    times_ms: np.ndarray
    failed: np.ndarray
    errors: dict[str, int]
    processes: int
    window_starts: tuple[float, ...] = ()  # epoch seconds, one per process
    kept: tuple[KeptResponse, ...] = ()  # a few answered requests per process, for the re-check

    @classmethod
    def load(cls, folder: Path, prefix: str) -> Recorded:
        ends: list[np.ndarray] = []
        times: list[np.ndarray] = []
        failed: list[np.ndarray] = []
        errors: dict[str, int] = {}
        processes = 0
        starts: list[float] = []
        kept: list[KeptResponse] = []
        for path in sorted(folder.glob(f"{prefix}-*.npz")):
            if path.name.endswith(".tmp.npz"):
                continue
            with np.load(path) as data:
                ends.append(data["ends_s"])
                times.append(data["times_ms"])
                failed.append(data["failed"])
                starts.append(float(data["window_from"]))
                for text, count in json.loads(str(data["errors"])).items():
                    errors[text] = errors.get(text, 0) + int(count)
                if "kept" in data.files:
                    kept += [KeptResponse(**k) for k in json.loads(str(data["kept"]))]
            processes += 1
        if not processes:
            return cls(np.empty(0), np.empty(0), np.empty(0, dtype=bool), {}, 0)
        return cls(
            np.concatenate(ends),
            np.concatenate(times),
            np.concatenate(failed),
            errors,
            processes,
            tuple(starts),
            tuple(kept),
        )
