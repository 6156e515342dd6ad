"""`patternbench clean`: drops the suite's schema from a server it was given, and only a schema
the suite made (its comment is the suite's mark), after being told `--yes`."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from harness.errors import UserError
from harness.server.url import SCHEMA_MARK, SUITE_SCHEMA, failure_reason, url_target


def clean_schema(raw_url: str, yes: bool, say: Callable[[str], None]) -> None:
    """Lists what the suite's schema at `raw_url` holds and, with `yes`, drops it."""
    target = url_target(raw_url)
    try:
        with psycopg.connect(
            **{**target.psycopg_kwargs(), "connect_timeout": 5}, autocommit=True
        ) as conn:
            row = conn.execute(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                (SUITE_SCHEMA,),
            ).fetchone()
            if row is None:
                say(f"nothing to clean: no schema {SUITE_SCHEMA} in {target.display_url}")
                return
            if row[0] != SCHEMA_MARK:
                raise UserError(
                    f"schema {SUITE_SCHEMA} at {target.display_url} does not carry the suite's "
                    "mark (someone else made it, or a suite older than the mark): look at it and "
                    f"drop it yourself (DROP SCHEMA {SUITE_SCHEMA} CASCADE)"
                )
            tables = conn.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
                (SUITE_SCHEMA,),
            ).fetchall()
            total = sum(int(size) for _, size in tables)
            for name, size in tables:
                say(f"  {SUITE_SCHEMA}.{name}: {int(size) / 1e6:,.1f} MB")
            what = f"schema {SUITE_SCHEMA} ({len(tables)} tables, {total / 1e6:,.1f} MB)"
            if not yes:
                raise UserError(f"would drop {what} at {target.display_url}; pass --yes to drop it")
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SUITE_SCHEMA)))
            say(f"dropped {what} at {target.display_url}")
    except psycopg.Error as exc:
        reason = failure_reason(exc, target)
        raise UserError(f"cannot clean PostgreSQL at {target.display_url}: {reason}") from None
