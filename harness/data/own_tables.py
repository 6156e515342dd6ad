"""A scenario's own tables: declared with its own SQLAlchemy metadata, filled once per dataset.

A team asks its question on its own tables (an `orders` table, its index) rather than on the
shared domain. The scenario declares them as `OwnTables`: the metadata (its own `DeclarativeBase`
or `MetaData`, never `harness.domain`'s), a `fill` step, and optionally indexes that a grid axis
switches on and off. The tables live in the suite's schema beside the shared dataset and follow
its rules: created and filled when the run starts unless the server already holds exactly them
(the same declaration, fill version and dataset: a fingerprint, as for the dataset), kept on a
server given by URL, gone with a fresh cluster, dropped by `patternbench clean`.

Filling runs once per run and dataset, never at a grid point: tables first (without the
indexes), then `fill(conn, dataset)` in one transaction (COPY is welcome), then the declared
indexes, then VACUUM ANALYZE. An index named in `optional_indexes` is built only at the grid
points whose `index_axis` value names it (`"none"`: none of them), outside the timed region and
followed by ANALYZE, so "with vs without this index" is an axis like any other.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Index, MetaData, Table
from sqlalchemy.schema import CreateIndex, CreateTable

from harness.data.dataset import DatasetSpec, create_registry, ddl, existing_tables
from harness.data.domain import Base
from harness.errors import UserError
from harness.scenario.grid import AxisValue, Params
from harness.server.target import ServerTarget

NO_INDEX = "none"  # the index axis's value at which none of the optional indexes exists
RESERVED = frozenset({*Base.metadata.tables, "pb_dataset"})  # the shared dataset's tables
Fill = Callable[[psycopg.Connection[Any], DatasetSpec], None]


@dataclass(frozen=True)
class OwnTables:
    """The tables a scenario needs beyond the shared domain, how to fill them, and which of their
    indexes a grid axis builds or drops (`index_axis`: its values are `"none"` or index names)."""

    metadata: MetaData
    fill: Fill
    version: int = 1  # raise it when `fill` writes other rows: the tables are filled anew
    index_axis: str | None = None
    optional_indexes: tuple[str, ...] = ()  # names of indexes declared on the tables

    @property
    def tables(self) -> list[Table]:
        return list(self.metadata.sorted_tables)

    @property
    def names(self) -> list[str]:
        return [table.name for table in self.tables]

    def index(self, name: str) -> Index:
        return next(i for t in self.tables for i in t.indexes if i.name == name)

    def fingerprint(self, dataset: DatasetSpec) -> str:
        """Equal when the declaration, the fill step's identity and version, and the dataset are:
        then the tables on the server are exactly these and are reused."""
        statements = [ddl(CreateTable(t)) for t in self.tables]
        statements += sorted(ddl(CreateIndex(i)) for t in self.tables for i in t.indexes)
        fill = f"{getattr(self.fill, '__module__', '?')}.{getattr(self.fill, '__qualname__', '?')}"
        text = json.dumps(
            {
                "ddl": statements,
                "fill": fill,
                "version": self.version,
                "dataset": dataset.fingerprint,
            }
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def check(self, scenario: str, axis_values: Iterable[tuple[str, Iterable[AxisValue]]]) -> None:
        """ValueError naming what is valid when the declaration cannot work: no tables, a table
        of the shared domain's, an optional index that is not declared, an index axis whose
        values are not "none" or those indexes. `axis_values`: each grid's axes."""
        if self.metadata is Base.metadata:
            raise ValueError(
                f"scenario {scenario!r}: OwnTables needs the scenario's own metadata, not "
                "harness.domain's (declare `class Base(DeclarativeBase)` in the scenario)"
            )
        if not self.tables:
            raise ValueError(f"scenario {scenario!r}: OwnTables declares no tables")
        if clash := sorted(RESERVED & set(self.names)):
            raise ValueError(
                f"scenario {scenario!r}: table {clash[0]!r} belongs to the shared dataset; "
                f"name the scenario's tables otherwise (taken: {', '.join(sorted(RESERVED))})"
            )
        declared = [str(i.name) for t in self.tables for i in t.indexes if i.name]
        for name in self.optional_indexes:
            if name not in declared:
                raise ValueError(
                    f"scenario {scenario!r}: optional index {name!r} is not declared on its "
                    f"tables; declared: {', '.join(declared) or 'none'}"
                )
        if self.index_axis is None:
            if self.optional_indexes:
                raise ValueError(
                    f"scenario {scenario!r}: optional_indexes need an index_axis that says "
                    "at which grid points they exist"
                )
            return
        valid = [NO_INDEX, *self.optional_indexes]
        seen = False
        for name, values in axis_values:
            if name != self.index_axis:
                continue
            seen = True
            for value in values:
                if value not in valid:
                    raise ValueError(
                        f"scenario {scenario!r}: index axis {name!r} has value {value!r}; "
                        f"valid: {', '.join(valid)}"
                    )
        if not seen:
            raise ValueError(
                f"scenario {scenario!r}: index_axis {self.index_axis!r} is not a grid axis"
            )


@dataclass(frozen=True)
class OwnTablesInfo:
    """What `ensure_own_tables` found or made: the tables, reused or filled and in how long."""

    names: tuple[str, ...]
    fingerprint: str
    reused: bool
    seconds: float
    rows: dict[str, int]

    def summary(self) -> str:
        tables = ", ".join(f"{name} ({self.rows.get(name, 0):,} rows)" for name in self.names)
        if self.reused:
            return f"own tables {self.fingerprint} reused: {tables}"
        return f"own tables {self.fingerprint} filled in {self.seconds:.1f} s: {tables}"


def _key(scenario: str) -> str:
    return f"tables:{scenario}"


def ensure_own_tables(
    target: ServerTarget,
    scenario: str,
    own: OwnTables,
    dataset: DatasetSpec,
    on_progress: Callable[[str], None] = lambda _message: None,
) -> OwnTablesInfo:
    """Creates and fills the scenario's tables unless the server holds exactly them (run after
    the shared dataset is in place, so their foreign keys may point at it). Tables of these
    names that patternbench did not make are refused, never dropped."""
    started = time.perf_counter()
    fingerprint = own.fingerprint(dataset)
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        create_registry(conn)
        existing = existing_tables(conn, own.names)
        row = conn.execute(
            "SELECT fingerprint, counts FROM pb_dataset WHERE name = %s", (_key(scenario),)
        ).fetchone()
        if row is not None and row[0] == fingerprint and len(existing) == len(own.names):
            return OwnTablesInfo(tuple(own.names), fingerprint, True, 0.0, dict(row[1]))
        if existing and not _claimed(conn, existing):
            raise UserError(
                f"tables {', '.join(sorted(existing))} exist in schema {target.schema!r} but were "
                "not created by patternbench; refusing to drop them"
            )
        on_progress(f"{scenario}: creating and filling its own tables {', '.join(own.names)}")
        with conn.transaction():
            for table in reversed(own.tables):
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table.name))
                )
            conn.execute("DELETE FROM pb_dataset WHERE name = %s", (_key(scenario),))
            for table in own.tables:
                conn.execute(ddl(CreateTable(table)))
            own.fill(conn, dataset)
            for table in own.tables:
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    if index.name not in own.optional_indexes:
                        conn.execute(ddl(CreateIndex(index)))
            rows = _row_counts(conn, own.names)
            conn.execute(
                "INSERT INTO pb_dataset (name, fingerprint, spec, counts, seconds) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    _key(scenario),
                    fingerprint,
                    json.dumps({"tables": own.names, "version": own.version}),
                    json.dumps(rows),
                    time.perf_counter() - started,
                ),
            )
        for name in own.names:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(name)))
    return OwnTablesInfo(tuple(own.names), fingerprint, False, time.perf_counter() - started, rows)


def _claimed(conn: psycopg.Connection[Any], names: set[str]) -> bool:
    """Whether every one of these tables was made by patternbench (some scenario's own tables)."""
    claimed = {
        name
        for (tables,) in conn.execute(
            "SELECT spec->'tables' FROM pb_dataset WHERE name LIKE 'tables:%'"
        )
        for name in tables or ()
    }
    return names <= claimed


def _row_counts(conn: psycopg.Connection[Any], names: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def prepare_point(target: ServerTarget, own: OwnTables | None, params: Params) -> None:
    """The optional indexes as the point's index axis says: the one it names built (if absent),
    the others dropped, then ANALYZE, so the planner sees the point's schema. Untimed."""
    if own is None or own.index_axis is None:
        return
    wanted = str(params.as_dict()[own.index_axis])
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        for name in own.optional_indexes:
            if name != wanted:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
        if wanted != NO_INDEX:
            conn.execute(ddl(CreateIndex(own.index(wanted), if_not_exists=True)))
        for name in own.names:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
