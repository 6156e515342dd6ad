"""The apps' configuration: one frozen dataclass, read from and written back to env vars.

The harness starts an app in a subprocess with `AppConfig.to_env()`; the app reads it back with
`AppConfig.from_env()`. Every bad or missing value raises ValueError naming the variable and what
it accepts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FRAMEWORKS = ("fastapi", "litestar")
DATA_LAYERS = ("orm", "asyncpg")
SERIALIZERS = ("pydantic", "msgspec")

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


def default_serializer(framework: str) -> str:
    """The framework's own default: FastAPI validates with Pydantic, Litestar with msgspec."""
    return "pydantic" if framework == "fastapi" else "msgspec"


def _choice(name: str, value: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")
    return value


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {value}")
    return value


@dataclass(frozen=True)
class AppConfig:
    """Which app to build and which database it talks to."""

    framework: str
    data: str
    db_host: str
    db_port: int
    db_user: str
    db_name: str
    db_password: str | None = field(default=None, repr=False)
    db_schema: str = "public"
    serializer: str = ""  # "" = the framework's default
    pool_size: int = 10

    @classmethod
    def for_server(
        cls,
        server: Any,
        framework: str,
        data: str,
        serializer: str | None = None,
        pool_size: int = 10,
    ) -> AppConfig:
        """The app for a database given as anything with `host`, `port`, `user`, `password`,
        `database` and `schema` (e.g. the harness's ServerTarget)."""
        return cls(
            framework=framework,
            data=data,
            serializer=serializer or "",
            pool_size=pool_size,
            db_host=server.host,
            db_port=server.port,
            db_user=server.user,
            db_password=server.password,
            db_name=server.database,
            db_schema=server.schema,
        )

    def __post_init__(self) -> None:
        _choice("PB_APP_FRAMEWORK", self.framework, FRAMEWORKS)
        _choice("PB_APP_DATA", self.data, DATA_LAYERS)
        if not self.serializer:
            object.__setattr__(self, "serializer", default_serializer(self.framework))
        _choice("PB_APP_SERIALIZER", self.serializer, SERIALIZERS)
        if not 1 <= self.pool_size <= 1000:
            raise ValueError(
                f"PB_APP_POOL_SIZE must be an integer from 1 to 1000; got {self.pool_size}"
            )
        if not self.db_host:
            raise ValueError("PB_DB_HOST is required (a host name, IP address or socket directory)")
        if not 1 <= self.db_port <= 65535:
            raise ValueError(f"PB_DB_PORT must be an integer from 1 to 65535; got {self.db_port}")
        if not self.db_user:
            raise ValueError("PB_DB_USER is required (a PostgreSQL role name)")
        if not self.db_name:
            raise ValueError("PB_DB_NAME is required (a PostgreSQL database name)")
        if not _SCHEMA_NAME.fullmatch(self.db_schema):
            raise ValueError(
                "PB_DB_SCHEMA must be a plain schema name (letters, digits, _ and $, not starting "
                f"with a digit, at most 63 characters); got {self.db_schema!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppConfig:
        """Reads the PB_APP_* and PB_DB_* variables (from os.environ unless `environ` is given)."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        framework = get("PB_APP_FRAMEWORK")
        if not framework:
            raise ValueError(f"PB_APP_FRAMEWORK is required: one of {', '.join(FRAMEWORKS)}")
        data = get("PB_APP_DATA")
        if not data:
            raise ValueError(f"PB_APP_DATA is required: one of {', '.join(DATA_LAYERS)}")
        port = get("PB_DB_PORT")
        if not port:
            raise ValueError("PB_DB_PORT is required: an integer from 1 to 65535")
        return cls(
            framework=_choice("PB_APP_FRAMEWORK", framework, FRAMEWORKS),
            data=_choice("PB_APP_DATA", data, DATA_LAYERS),
            serializer=get("PB_APP_SERIALIZER"),
            pool_size=_int("PB_APP_POOL_SIZE", get("PB_APP_POOL_SIZE", "10"), 1, 1000),
            db_host=get("PB_DB_HOST"),
            db_port=_int("PB_DB_PORT", port, 1, 65535),
            db_user=get("PB_DB_USER"),
            db_password=env.get("PB_DB_PASSWORD") or None,  # a password may have edge spaces
            db_name=get("PB_DB_NAME"),
            db_schema=get("PB_DB_SCHEMA", "public"),
        )

    def to_env(self) -> dict[str, str]:
        """The env vars `from_env` reads back to an equal config (password only when set)."""
        env = {
            "PB_APP_FRAMEWORK": self.framework,
            "PB_APP_DATA": self.data,
            "PB_APP_SERIALIZER": self.serializer,
            "PB_APP_POOL_SIZE": str(self.pool_size),
            "PB_DB_HOST": self.db_host,
            "PB_DB_PORT": str(self.db_port),
            "PB_DB_USER": self.db_user,
            "PB_DB_NAME": self.db_name,
            "PB_DB_SCHEMA": self.db_schema,
        }
        if self.db_password:
            env["PB_DB_PASSWORD"] = self.db_password
        return env

    def server_settings(self) -> dict[str, str]:
        """asyncpg `server_settings`: the search_path when the schema is not public."""
        return {} if self.db_schema == "public" else {"search_path": self.db_schema}

    def asyncpg_kwargs(self) -> dict[str, Any]:
        """Connection arguments for asyncpg (`connect`/`create_pool`)."""
        kwargs: dict[str, Any] = {
            "host": self.db_host,
            "port": self.db_port,
            "user": self.db_user,
            "password": self.db_password,
            "database": self.db_name,
        }
        if settings := self.server_settings():
            kwargs["server_settings"] = settings
        return kwargs
