"""What is measured besides time: SQL statements and rows per operation (pg_stat_statements).

Driver-agnostic: the server counts what reached it. The probe uses its own connection and leaves
its own queries out of the counts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg

from harness.server.target import ServerTarget

# DECLARE ... CURSOR carries a query (a server-side cursor); FETCH returns its rows.
_DATA = "^\\s*(select|with|insert|update|delete|merge|values|copy|table|declare)\\M"
_ROWS = "^\\s*(select|with|values|table|fetch)\\M"
_COUNT_SQL = f"""
SELECT
  coalesce(sum(calls) FILTER (WHERE query ~* '{_DATA}'), 0),
  coalesce(sum(calls) FILTER (WHERE NOT query ~* '{_DATA}'), 0),
  coalesce(sum(rows) FILTER (WHERE query ~* '{_ROWS}'), 0)
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT ILIKE '%%pg_stat_statements%%'
"""


@dataclass(frozen=True)
class StatementCount:
    """Per operation: data statements (SELECT/INSERT/...), other statements (BEGIN, COMMIT, SET...)
    and rows returned by queries."""

    statements: float
    utility: float
    rows: float
    round_trips: float | None = None  # client turns, counted by harness.measure.roundtrips
    sent_bytes: float | None = None  # protocol bytes client to server, counted there too
    received_bytes: float | None = None  # and server to client


FAR_LESS = 0.1  # statements or rows per op below this share of the reference's: far less work
WITHOUT_DATABASE = "answered without the database"


def less_work(mine: StatementCount, reference: StatementCount) -> str:
    """Why a variant's counted work is not the reference's ('' when it is): no statement and
    no round trip where the reference has some (`unranked`), or far fewer statements or rows
    than the reference (shown beside its numbers, still ranked: one statement instead of many
    may be the very pattern). NaN (not measured) proves nothing either way."""
    if (reference.round_trips or 0) > 0 and mine.round_trips == 0 and not mine.statements > 0:
        return (
            f"{WITHOUT_DATABASE}: no statement and no round trip per operation, "
            f"where the reference makes {reference.round_trips:g} round trip(s)"
        )
    for what, got, expected in (
        ("statements", mine.statements, reference.statements),
        ("rows", mine.rows, reference.rows),
    ):
        if expected > 0 and got < FAR_LESS * expected:  # False for NaN
            return (
                f"far less work than the reference: {got:g} {what} per operation against "
                f"{expected:g}"
            )
    return ""


def unranked(detail: str) -> bool:
    """Whether a timed measurement's detail says it answered without the database: then it is
    never the fastest and gets no verdict."""
    return detail.startswith(WITHOUT_DATABASE)


class StatementProbe:
    """Resets and reads pg_stat_statements around a known number of operations."""

    def __init__(self, target: ServerTarget) -> None:
        self.available = target.has_pg_stat_statements
        self._conn: psycopg.Connection[Any] | None = None
        if self.available:
            self._conn = psycopg.connect(**target.psycopg_kwargs(), autocommit=True)

    def reset(self) -> None:
        if self._conn is not None:
            self._conn.execute("SELECT pg_stat_statements_reset()")

    def read(self, operations: int) -> StatementCount | None:
        if self._conn is None or operations <= 0:
            return None
        row = self._conn.execute(_COUNT_SQL).fetchone()
        assert row is not None
        return StatementCount(
            statements=float(row[0]) / operations,
            utility=float(row[1]) / operations,
            rows=float(row[2]) / operations,
        )

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
