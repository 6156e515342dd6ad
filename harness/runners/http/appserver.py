"""An ASGI app served in a child process (uvicorn or granian) on 127.0.0.1, health-checked.

The app is named by an ASGI factory (`module:function`) and configured through environment
variables, so the same app runs under either server and with any number of workers. The server
always stops with the context manager (its whole process group), and a server that exits early
is reported with the last lines of its log.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from harness import processes
from harness.errors import UserError

SERVERS = ("uvicorn", "granian")


@dataclass(frozen=True)
class AppPlan:
    """What an `http` variant returns: the app to serve and how to reach its docs."""

    factory: str  # "package.module:function" returning an ASGI app
    env: dict[str, str] = field(default_factory=dict)
    health_path: str = "/health"
    openapi_path: str = "/openapi.json"


@dataclass(frozen=True)
class ServeOptions:
    """How every app of a run is served."""

    server: str = "uvicorn"
    workers: int = 1
    startup_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise UserError(f"unknown app server {self.server!r}; valid: {', '.join(SERVERS)}")
        if self.workers < 1:
            raise UserError(f"--app-workers must be at least 1, got {self.workers}")


def server_command(plan: AppPlan, options: ServeOptions, port: int) -> list[str]:
    if options.server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(options.workers),
            "--log-level", "warning", "--no-ws", plan.factory,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "--factory", plan.factory,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(options.workers),
        "--log-level", "warning", "--no-access-log", "--lifespan", "on",
    ]  # fmt: skip


class AppServer:
    """One app under one server process; `url` once started."""

    def __init__(
        self,
        name: str,
        plan: AppPlan,
        options: ServeOptions,
        log_dir: Path,
        cpus: Iterable[int] | None = None,
    ) -> None:
        self.name, self.plan, self.options = name, plan, options
        self.log = log_dir / f"app-{name}.log"
        self.cpus = cpus
        self.port = 0
        self.process: processes.subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        """Starts the server; `wait_ready()` then waits for its health check."""
        self.port = processes.free_port()
        env = {**os.environ, **self.plan.env, "PYTHONUNBUFFERED": "1"}
        self.process = processes.spawn(
            server_command(self.plan, self.options, self.port),
            env=env,
            cpus=self.cpus,
            log=self.log,
            cwd=processes.PROJECT_ROOT,
        )
        return self

    def wait_ready(self) -> None:
        """Returns once GET health_path answers 200; raises RuntimeError when the server exits
        or does not answer within the startup timeout."""
        deadline = time.monotonic() + self.options.startup_timeout_s
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self.raise_if_exited("exited while starting")
                try:
                    response = client.get(self.url + self.plan.health_path)
                    if response.status_code == 200:
                        return
                    last = f"health check answered {response.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise RuntimeError(
            f"app {self.name} did not become healthy within {self.options.startup_timeout_s:.0f} s "
            f"({last}){self._log_tail()}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def raise_if_exited(self, what: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"app server {self.name} {what} (exit code {self.process.returncode})"
                + self._log_tail()
            )

    def _log_tail(self, lines: int = 3) -> str:
        try:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return (": " + " | ".join(line.strip() for line in tail)) if tail else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            processes.stop(process)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
