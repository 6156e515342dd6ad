"""Where the suite connects: a ServerTarget, and what every result records about the server."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from harness.errors import ServerGone, describe_error
from harness.server.redaction import redact_url

APPLICATION_NAME = "patternbench"  # on every connection the suite makes
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


# The database and settings of the servers the suite starts itself (embedded and Docker)
EMBEDDED_DATABASE = "patternbench"
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
    stat_statements: str = ""  # the schema whose pg_stat_statements view is readable; "": none
    stat_statements_missing: str = ""  # why it is not available (when it is not)
    version: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the postmaster, when the suite owns it
    same_host: bool = False  # a server given as a URL that runs on this machine
    seen_pid: int | None = None  # such a server's postmaster, when visible: metered, never killed
    server_cpus: frozenset[int] = frozenset()  # where the server is pinned, when it is
    statement_timeout_ms: int = 0  # set on every connection made through this target; 0: none
    image: str = ""  # a container's image (docker)
    image_source: str = ""  # how that image was made: pulled, or a local build's recipe
    container: str = ""  # the container's short id
    # processes on this machine that carry the run's traffic to the server (the Docker engine's
    # port proxy): their CPU is the run's own, not other work on the machine
    relay_pids: tuple[int, ...] = ()

    @property
    def server_process(self) -> int | None:
        """The postmaster whose processes are the server's CPU (the suite's own, or a same-host
        server's it can see)."""
        return self.pid if self.pid is not None else self.seen_pid

    @property
    def has_pg_stat_statements(self) -> bool:
        return bool(self.stat_statements)

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

    def bounded(self, seconds: float) -> ServerTarget:
        """This target with every statement on its connections cancelled by the server after
        `seconds` (0: unbounded)."""
        return replace(self, statement_timeout_ms=max(0, round(seconds * 1000)))

    def session_settings(self) -> dict[str, str]:
        """The settings every connection starts with: the suite's name (so its sessions can be
        told from others'), the suite's schema first on the search path, and the statement
        timeout when there is one."""
        settings = {"application_name": APPLICATION_NAME}
        if self.schema != "public":
            settings["search_path"] = self.schema
        if self.statement_timeout_ms:
            settings["statement_timeout"] = str(self.statement_timeout_ms)
        return settings

    def _options(self) -> str:
        """The settings as libpq's `options` (`-c name=value ...`)."""
        return " ".join(f"-c {k}={v}" for k, v in self.session_settings().items())

    def sqlalchemy_connect_args(self, driver: Driver) -> dict[str, Any]:
        if not self.session_settings():
            return {}
        if driver == "asyncpg":
            return {"server_settings": self.session_settings()}
        return {"options": self._options()}

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
        if self.session_settings():
            kwargs["options"] = self._options()
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
        if self.session_settings():
            kwargs["server_settings"] = self.session_settings()
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
        if self.session_settings():
            env["PGOPTIONS"] = self._options()
        return env

    def describe(self) -> dict[str, Any]:
        """What run.json records: no password, ever. A container's image is named beside the
        URL too, so that every page that shows the server says which image it ran."""
        where = f" in container {self.container} of image {self.image}" if self.image else ""
        container = (
            {"image": self.image, "image_source": self.image_source, "container": self.container}
            if self.image
            else {}
        )
        return {
            "provider": self.provider,
            "url": self.display_url + where,
            **container,
            "schema": self.schema,
            "version": self.version,
            "pg_stat_statements": self.has_pg_stat_statements,
            "pg_stat_statements_schema": self.stat_statements,
            "settings": self.settings,
            # the cores the server may use: its pinned set, else (same host) all of them
            "cores": len(self.server_cpus) if self.server_cpus else None,
            "same_host": self.same_host or self.provider != "url",
            "processes_seen": self.server_process is not None,
            "relays_seen": len(self.relay_pids),
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


def finish_target(target: ServerTarget, owned: bool = True) -> ServerTarget:
    """Finds pg_stat_statements (installing it first on a server the suite started, never on
    one it was given) and records version and settings."""
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        if owned:
            with contextlib.suppress(psycopg.Error):
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        schema, missing = _find_stat_statements(conn)
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
            (list(RECORDED_SETTINGS),),
        ).fetchall()
        version = conn.execute("SHOW server_version").fetchone()
    settings = {name: str(setting) for name, setting in rows}
    return replace(
        target,
        stat_statements=schema,
        stat_statements_missing=missing,
        version=str(version[0]) if version else "",
        settings=settings,
    )


def _find_stat_statements(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    """The schema of the database's pg_stat_statements when its view can be read, else "" and
    why not."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    if row is None:
        return "", "is not installed in this database"
    schema = str(row[0])
    try:
        conn.execute(
            sql.SQL("SELECT count(*) FROM {}.pg_stat_statements").format(sql.Identifier(schema))
        )
    except psycopg.Error as exc:
        return "", f"is installed in {schema} but cannot be read ({describe_error(exc, 120)})"
    return schema, ""
