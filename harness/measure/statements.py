"""What is measured besides time: SQL statements and rows per operation (pg_stat_statements).

Driver-agnostic: the server counts what reached it. The probe uses its own connection and leaves
its own queries out of the counts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from harness.server.target import APPLICATION_NAME, ServerTarget

# DECLARE ... CURSOR carries a query (a server-side cursor); FETCH returns its rows.
_DATA = "^\\s*(select|with|insert|update|delete|merge|values|copy|table|declare)\\M"
_ROWS = "^\\s*(select|with|values|table|fetch)\\M"
_WRITES = "^\\s*(insert|update|delete|merge|copy)\\M"
# in a comment inside each of the probe's own queries (pg_stat_statements drops leading ones)
_PROBE = "patternbench statement probe"
_SNAPSHOT_SQL = f"""
SELECT /* {_PROBE} */ queryid::text, sum(calls), sum(rows),
  bool_or(query ~* '{_DATA}'), bool_or(query ~* '{_ROWS}'), bool_or(query ~* '{_WRITES}')
FROM {{schema}}.pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND query NOT LIKE '%%{_PROBE}%%'
GROUP BY queryid
"""
# the suite's own role in this database, in a session that is not the suite's, busy since `start`
_OTHERS_SQL = f"""
SELECT /* {_PROBE} */ count(*) FROM pg_stat_activity
WHERE datname = current_database() AND usename = current_user
  AND backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND application_name IS DISTINCT FROM %(suite)s
  AND (state = 'active' OR state_change >= %(start)s)
"""
Snapshot = dict[str, tuple[float, float, bool, bool, bool]]  # queryid: calls, rows, kinds


@dataclass(frozen=True)
class StatementCount:
    """Per operation: data statements (SELECT/INSERT/...), other statements (BEGIN, COMMIT, SET...),
    rows returned (by any statement when the counting proxy read them off the wire; by reading
    statements only when pg_stat_statements had to) and rows written (INSERT, UPDATE, DELETE,
    MERGE, COPY: pg_stat_statements)."""

    statements: float
    utility: float
    rows: float
    written: float = float("nan")
    other_sessions: int = 0  # sessions of the suite's role, not the suite's, busy while counting
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
    """Counts statements and rows around a known number of operations, by the difference of
    pg_stat_statements' counters before and after (so it needs no right to reset them, and
    never wipes a server's statistics), for the suite's own role and database only. Other
    sessions of that role in that database while it counted are noted (`other_sessions`)."""

    def __init__(self, target: ServerTarget) -> None:
        self.available = target.has_pg_stat_statements
        self._conn: psycopg.Connection[Any] | None = None
        self._snapshot_sql = sql.SQL(_SNAPSHOT_SQL).format(
            schema=sql.Identifier(target.stat_statements or "public")
        )
        self._before: Snapshot = {}
        self._started: Any = None
        if self.available:
            self._conn = psycopg.connect(**target.psycopg_kwargs(), autocommit=True)

    def _snapshot(self) -> Snapshot:
        assert self._conn is not None
        return {
            str(queryid): (float(calls), float(rows), bool(data), bool(reads), bool(writes))
            for queryid, calls, rows, data, reads, writes in self._conn.execute(self._snapshot_sql)
        }

    def reset(self) -> None:
        """Marks where the next count starts."""
        if self._conn is not None:
            self._before = self._snapshot()
            row = self._conn.execute(f"SELECT /* {_PROBE} */ clock_timestamp()").fetchone()
            self._started = row[0] if row else None

    def read(self, operations: int) -> StatementCount | None:
        """Per operation since the last `reset`."""
        if self._conn is None or operations <= 0:
            return None
        statements = utility = rows = written = 0.0
        for queryid, (calls, count, data, reads, writes) in self._snapshot().items():
            before_calls, before_rows = self._before.get(queryid, (0.0, 0.0))[:2]
            calls, count = max(0.0, calls - before_calls), max(0.0, count - before_rows)
            if data:
                statements += calls
            else:
                utility += calls
            rows += count if reads else 0.0
            written += count if writes else 0.0
        others = self._conn.execute(
            _OTHERS_SQL, {"suite": APPLICATION_NAME, "start": self._started}
        ).fetchone()
        return StatementCount(
            statements=statements / operations,
            utility=utility / operations,
            rows=rows / operations,
            written=written / operations,
            other_sessions=int(others[0]) if others else 0,
        )

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
