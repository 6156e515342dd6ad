"""A server the suite did not start, given as a URL: the suite works only inside its own schema."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from harness.errors import UserError
from harness.server.provider import Opening, Provider, SpecError
from harness.server.redaction import redact_text, redact_url
from harness.server.target import ServerTarget, finish_target

SUITE_SCHEMA = "patternbench"
SCHEMA_MARK = (
    "made by patternbench for its dataset and scratch tables; `patternbench clean` drops it"
)


def parse_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SpecError(
            f"{redact_url(raw)!r} is not a valid URL; expected "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise SpecError(
            f"{redact_url(raw)!r}: only postgresql:// URLs are supported "
            "(or auto, embedded, docker)"
        )
    if not url.host and not url.query.get("host"):
        raise SpecError(f"{redact_url(raw)!r} names no host")
    return url


def url_target(raw: str) -> ServerTarget:
    """The server a URL names, as the suite connects to it (inside its own schema)."""
    url = parse_url(raw)
    return ServerTarget(
        provider="url",
        host=url.host or str(url.query.get("host")),
        port=url.port or 5432,
        user=url.username or os.environ.get("USER", "postgres"),
        password=url.password if url.password is None else str(url.password),
        database=url.database or (url.username or "postgres"),
        schema=SUITE_SCHEMA,
    )


def failure_reason(exc: psycopg.Error, target: ServerTarget) -> str:
    """The first line of a driver error, the target's password never in it."""
    text = str(exc).strip()
    return redact_text(
        text.splitlines()[0] if text else type(exc).__name__, (target.password or "",)
    )


def external_target(raw: str, *, allow_existing_tables: bool) -> ServerTarget:
    """An existing server: the suite works only inside its own schema."""
    target = url_target(raw)
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
            if (
                conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (SUITE_SCHEMA,)
                ).fetchone()
                is None
            ):  # the mark tells `patternbench clean` the suite made it
                conn.execute(f"CREATE SCHEMA {SUITE_SCHEMA}")
                conn.execute(
                    sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                        sql.Identifier(SUITE_SCHEMA), sql.Literal(SCHEMA_MARK)
                    )
                )
    except psycopg.Error as exc:
        reason = failure_reason(exc, target)
        raise UserError(f"cannot use PostgreSQL at {target.display_url}: {reason}") from None
    return finish_target(target, owned=False)


def _unusable(spec: str) -> str | None:
    parse_url(spec)  # raises SpecError naming what is wrong
    return None


@contextlib.contextmanager
def _connect(spec: str, opening: Opening) -> Iterator[ServerTarget]:
    yield external_target(spec, allow_existing_tables=opening.allow_existing_tables)


PROVIDER = Provider(
    name="url",
    shown_as="a URL like postgresql://user:password@host:5432/dbname",
    matches=lambda spec: "://" in spec,
    open=_connect,
    unusable=_unusable,
)
