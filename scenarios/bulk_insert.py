"""What is the fastest way to insert N rows, and what does each method cost me?

Every variant inserts the same rows into `pb_bulk_posts`, a copy of `posts` with the same
indexes, identity key and foreign key to `users`, inside one transaction with one commit (the
naive pattern commits every row). The table is emptied (TRUNCATE ... RESTART IDENTITY) before
each operation, outside the timed region; afterwards the row count and an ordered checksum of
the content, computed in SQL, must match the reference's, and with `keys=yes` the generated
keys a variant hands back must be exactly the ones in the table. The native row is psql's
`\\copy` of the same rows from a CSV file (one psql process per sample, timed by psql itself).

Look at: rows/s per method; the gap between the ORM unit of work (objects, keys fetched back in
insertmanyvalues batches) and the ORM's bulk `insert()`; statements and round trips per op; what pipelining (psycopg executemany, asyncpg
executemany) buys over one round trip per row; COPY against everything else; and what wide
rows (1 KB text, a JSONB document) do to each. Durability settings decide commit costs: they are
stated with the results.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, Identity, Table, Text, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TIMESTAMP

from harness.data.dataset import LARGE, STANDARD, DatasetSpec
from harness.measure.ceilings import PsqlCopy
from harness.scenario.context import Context
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario, Skip

TABLE = "pb_bulk_posts"
COLUMNS = ("user_id", "title", "body", "payload", "created_at")
NAIVE_MAX_ROWS = 1_000
LOOP_MAX_ROWS = 10_000  # a round trip per row: linear in rows, and minutes per op at 100k and 1 ms
_BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]


class _Base(DeclarativeBase):
    """Its own metadata: the shared dataset loader must not create or drop this table."""


class BulkPost(_Base):
    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))


def make_rows(count: int, width: str, users: int) -> list[dict[str, Any]]:
    """The rows to insert, as an API would hand them over: a list of dicts."""
    rows = []
    for i in range(count):
        if width == "wide":
            body = " ".join(_WORDS[(i + k) % len(_WORDS)] for k in range(170))  # ~1 KB
            payload: dict[str, Any] = {
                "kind": "review",
                "score": i % 100,
                "tags": [_WORDS[(i + k) % len(_WORDS)] for k in range(5)],
                "meta": {f"k{k}": f"value {i} {k}" for k in range(15)},
            }
        else:
            body, payload = f"b{i}", {}
        rows.append(
            {
                "user_id": i % users + 1,
                "title": f"Post {i}",
                "body": body,
                "payload": payload,
                "created_at": _BASE_TIME + timedelta(seconds=i),
            }
        )
    return rows


def _rows(ctx: Context) -> list[dict[str, Any]]:
    return ctx.state["rows"]


def _keys(ctx: Context) -> bool:
    return ctx.params.keys == "yes"


def _set_up_table(ctx: Context) -> None:
    """A fresh table per grid point, with the shared domain's indexes and constraints."""
    conn = ctx.psycopg
    with conn.transaction():
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (LIKE posts INCLUDING ALL)")
        conn.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_user_id_fkey "
            "FOREIGN KEY (user_id) REFERENCES users (id)"
        )
    ctx.state["rows"] = make_rows(
        int(ctx.params.rows), str(ctx.params.width), ctx.dataset.total_users
    )


def _empty_table(ctx: Context) -> None:
    ctx.psycopg.execute(f"TRUNCATE {TABLE} RESTART IDENTITY")


def _verify(ctx: Context, returned_keys: list[int] | None) -> dict[str, Any]:
    """Count and ordered checksum of what is in the table, and whether handed-back keys match."""
    row = ctx.psycopg.execute(
        f"SELECT count(*), md5(string_agg(concat_ws('|', user_id, title, body, payload::text, "
        f"created_at), ',' ORDER BY title)), array_agg(id ORDER BY id) FROM {TABLE}"
    ).fetchone()
    assert row is not None  # an aggregate always returns its row
    count, checksum, ids = row
    if not _keys(ctx):
        keys = "not requested"
    elif returned_keys is None:
        keys = "none handed back"
    else:
        keys = "match" if sorted(returned_keys) == (ids or []) else "differ from the table"
    return {"count": count, "checksum": checksum, "keys": keys}


def _psql_copy(params: Params, dataset: DatasetSpec) -> list[PsqlCopy]:
    if params.keys == "yes":
        return []  # COPY hands back no keys
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in make_rows(int(params.rows), str(params.width), dataset.total_users):
        writer.writerow(
            [
                row["user_id"],
                row["title"],
                row["body"],
                json.dumps(row["payload"]),
                row["created_at"].isoformat(),
            ]
        )
    return [
        PsqlCopy(
            name="psql_copy",
            table=f"{TABLE} ({', '.join(COLUMNS)})",
            csv=buffer.getvalue(),
            reset_sql=f"TRUNCATE {TABLE} RESTART IDENTITY",
            description="psql \\copy from a CSV file",
        )
    ]


scenario = Scenario(
    name="bulk_insert",
    question="What is the fastest way to insert N rows, and what does each method cost me?",
    quick=Grid.of(rows=[1_000, 10_000], width=["narrow", "wide"], keys=["no", "yes"]).skipping(
        "keys=yes beyond 1,000 narrow rows: full profile only",
        lambda p: p.keys == "yes" and (p.width == "wide" or int(p.rows) > 1_000),
    ),
    full=Grid.of(rows=[1_000, 10_000, 100_000], width=["narrow", "wide"], keys=["no", "yes"]),
    reference="core_executemany",
    native=_psql_copy,
    scratch_tables=(TABLE,),
    setup_point=_set_up_table,
    setup_op=_empty_table,
    verify=_verify,
    rate_axis="rows",
    chart_x="rows",
    settings_note=("fsync", "synchronous_commit", "full_page_writes"),
    dataset=STANDARD,
    full_dataset=LARGE,
    comparisons=(
        ("orm_bulk_insert", "orm_add_all_flush"),
        ("core_executemany", "orm_bulk_insert"),
        ("psycopg_executemany", "psycopg_execute_loop"),
        ("psycopg_copy_binary", "psycopg_executemany"),
        ("asyncpg_copy_records", "asyncpg_executemany"),
        ("psycopg_copy_binary", "unnest_arrays"),
    ),
)


@scenario.variant
def orm_add_commit_each(ctx: Context) -> list[int] | None:
    """The naive pattern: session.add() and commit() per row (only up to 1,000 rows)."""
    if int(ctx.params.rows) > NAIVE_MAX_ROWS:
        raise Skip(f"the naive pattern is run up to {NAIVE_MAX_ROWS:,} rows")
    ids = []
    with ctx.session() as session:
        for row in _rows(ctx):
            post = BulkPost(**row)
            session.add(post)
            session.commit()
            ids.append(post.id)
    return ids if _keys(ctx) else None


@scenario.variant
def orm_add_all_flush(ctx: Context) -> list[int] | None:
    """ORM unit of work: add_all() of objects, one flush (keys fetched back), one commit."""
    with ctx.session() as session:
        posts = [BulkPost(**row) for row in _rows(ctx)]
        session.add_all(posts)
        session.flush()
        ids = [post.id for post in posts]
        session.commit()
    return ids if _keys(ctx) else None


@scenario.variant
def orm_bulk_insert(ctx: Context) -> list[int] | None:
    """ORM bulk: session.execute(insert(Model), list_of_dicts); with RETURNING id (keys), batched
    multi-row INSERTs (insertmanyvalues), else the driver's executemany."""
    with ctx.session() as session:
        if _keys(ctx):
            ids = list(session.scalars(insert(BulkPost).returning(BulkPost.id), _rows(ctx)))
        else:
            session.execute(insert(BulkPost), _rows(ctx))
            ids = None
        session.commit()
    return ids


@scenario.variant
def orm_bulk_insert_mappings(ctx: Context) -> None:
    """Legacy Session.bulk_insert_mappings()."""
    if _keys(ctx):
        raise Skip("legacy API: with return_defaults it writes keys into the input dicts")
    with ctx.session() as session:
        session.bulk_insert_mappings(BulkPost, _rows(ctx))
        session.commit()


@scenario.variant
def core_executemany(ctx: Context) -> list[int] | None:
    """Core: connection.execute(insert(table), list_of_dicts): psycopg's pipelined executemany;
    with RETURNING id (keys), insertmanyvalues batches."""
    table = cast(Table, BulkPost.__table__)
    with ctx.engine.begin() as conn:
        if _keys(ctx):
            return list(conn.scalars(insert(table).returning(table.c.id), _rows(ctx)))
        conn.execute(insert(table), _rows(ctx))
    return None


_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s)"


def _tuples(ctx: Context) -> list[tuple[Any, ...]]:
    return [
        (r["user_id"], r["title"], r["body"], Jsonb(r["payload"]), r["created_at"])
        for r in _rows(ctx)
    ]


@scenario.variant
def psycopg_execute_loop(ctx: Context) -> list[int] | None:
    """psycopg 3: execute() once per row in one transaction (a round trip per row; up to
    10,000 rows)."""
    if int(ctx.params.rows) > LOOP_MAX_ROWS:
        raise Skip(f"a round trip per row is run up to {LOOP_MAX_ROWS:,} rows")
    conn = ctx.psycopg
    sql = _INSERT + (" RETURNING id" if _keys(ctx) else "")
    ids = []
    with conn.transaction(), conn.cursor() as cur:
        for row in _tuples(ctx):
            cur.execute(sql, row)
            if _keys(ctx):
                ids.append(cur.fetchone()[0])  # type: ignore[index]  # RETURNING: a row
    return ids if _keys(ctx) else None


@scenario.variant
def psycopg_executemany(ctx: Context) -> list[int] | None:
    """psycopg 3: cursor.executemany(), which psycopg runs in pipeline mode (no wait per row)."""
    conn = ctx.psycopg
    with conn.transaction(), conn.cursor() as cur:
        if not _keys(ctx):
            cur.executemany(_INSERT, _tuples(ctx))
            return None
        cur.executemany(_INSERT + " RETURNING id", _tuples(ctx), returning=True)
        ids = []
        while True:
            ids.append(cur.fetchone()[0])  # type: ignore[index]  # RETURNING: a row
            if not cur.nextset():
                break
        return ids


@scenario.variant
def psycopg_copy_binary(ctx: Context) -> None:
    """psycopg 3: COPY ... FROM STDIN (FORMAT BINARY), write_row() per row."""
    if _keys(ctx):
        raise Skip("COPY hands back no generated keys")
    conn = ctx.psycopg
    with conn.transaction(), conn.cursor() as cur:
        sql = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with cur.copy(sql) as copy:
            copy.set_types(["int8", "text", "text", "jsonb", "timestamptz"])
            for row in _rows(ctx):
                copy.write_row(
                    (
                        row["user_id"],
                        row["title"],
                        row["body"],
                        Jsonb(row["payload"]),
                        row["created_at"],
                    )
                )


_UNNEST = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) SELECT u, t, b, p::jsonb, c FROM "
    "unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) AS x(u, t, b, p, c)"
)


@scenario.variant
def unnest_arrays(ctx: Context) -> list[int] | None:
    """One INSERT ... SELECT FROM unnest() with one array parameter per column (psycopg 3)."""
    rows = _rows(ctx)
    arrays = (
        [r["user_id"] for r in rows],
        [r["title"] for r in rows],
        [r["body"] for r in rows],
        [json.dumps(r["payload"]) for r in rows],
        [r["created_at"] for r in rows],
    )
    conn = ctx.psycopg
    with conn.transaction():
        if _keys(ctx):
            return [r[0] for r in conn.execute(_UNNEST + " RETURNING id", arrays).fetchall()]
        conn.execute(_UNNEST, arrays)
    return None


def _records(ctx: Context) -> list[tuple[Any, ...]]:
    return [
        (r["user_id"], r["title"], r["body"], json.dumps(r["payload"]), r["created_at"])
        for r in _rows(ctx)
    ]


@scenario.variant
async def asyncpg_executemany(ctx: Context) -> None:
    """asyncpg: connection.executemany() (pipelined, one prepared statement)."""
    if _keys(ctx):
        raise Skip("asyncpg executemany discards results, so no generated keys")
    conn = await ctx.asyncpg()
    sql = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4::jsonb, $5)"
    async with conn.transaction():
        await conn.executemany(sql, _records(ctx))


@scenario.variant
async def asyncpg_copy_records(ctx: Context) -> None:
    """asyncpg: copy_records_to_table() (binary COPY)."""
    if _keys(ctx):
        raise Skip("COPY hands back no generated keys")
    conn = await ctx.asyncpg()
    async with conn.transaction():
        await conn.copy_records_to_table(TABLE, records=_records(ctx), columns=list(COLUMNS))
