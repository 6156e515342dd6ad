"""Where the suite connects: a ServerTarget, and what every result records about the server."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import psycopg
from sqlalchemy.engine import URL

from harness.errors import ServerGone, describe_error
from harness.server.redaction import redact_url

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
    has_pg_stat_statements: bool = False
    version: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the postmaster, when the suite owns it
    server_cpus: frozenset[int] = frozenset()  # where the server is pinned, when it is
    statement_timeout_ms: int = 0  # set on every connection made through this target; 0: none

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
        """The settings every connection starts with: the suite's schema first on the search
        path, and the statement timeout when there is one."""
        settings = {}
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
