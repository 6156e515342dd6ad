"""What does each layer cost for my reads, and does it matter at 1, 100 or 10,000 rows?

Every variant runs the same query on `users` (by primary key for 1 row, an id range in key order
otherwise), fetches every row and builds what a handler would use: ORM objects, Rows, tuples or
dicts. The native row is pgbench, a C client, running the same statement on the same server.

Look at: the fixed cost per query (the 1-row point) against the cost per row (10,000 rows); how
far the ORM's objects are from Core's Rows and from the raw drivers; what auto-prepare
(psycopg after 5 executions, asyncpg always) buys; sync against async for the same driver; and
how close Python gets to pgbench. First-call (cold) latencies are in their own column.

Streaming is measured for what it is for: the `*_stream` variants read through a server-side
cursor in batches and handle each row as it comes (folded into a running digest, the answer
checked against the reference's rows), keeping none; beside each variant's time stands its peak
memory per operation, so the time streaming costs and the memory it saves are read together.
"""

from __future__ import annotations

from typing import Any, TypeVarTuple

from psycopg.rows import dict_row
from sqlalchemy import Select, select, text

from harness.data.dataset import LARGE, STANDARD, DatasetSpec
from harness.data.domain import User
from harness.measure.ceilings import NativeQuery
from harness.scenario.context import Context
from harness.scenario.digest import StreamDigest
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario

COLUMNS = "id, email, name, created_at"
POINT_SQL = f"SELECT {COLUMNS} FROM users WHERE id = {{0}}"
RANGE_SQL = f"SELECT {COLUMNS} FROM users WHERE id BETWEEN {{0}} AND {{1}} ORDER BY id"
Columns = TypeVarTuple("Columns")


def _bounds(ctx: Context) -> tuple[int, ...]:
    rows = int(ctx.params.rows)
    if rows > ctx.dataset.total_users:
        raise ValueError(
            f"the dataset has {ctx.dataset.total_users} users, the grid asks for {rows}"
        )
    return (1,) if rows == 1 else (1, rows)


def _sql(ctx: Context, style: str) -> str:
    """The statement in a driver's placeholder style: 'psycopg' (%s), 'asyncpg' ($1), 'sqla' (:a)."""
    holders = {"psycopg": ("%s", "%s"), "asyncpg": ("$1", "$2"), "sqla": (":a", ":b")}[style]
    return (POINT_SQL if int(ctx.params.rows) == 1 else RANGE_SQL).format(*holders)


def _where(ctx: Context, query: Select[*Columns]) -> Select[*Columns]:
    bounds = _bounds(ctx)
    if len(bounds) == 1:
        return query.where(User.id == bounds[0])
    return query.where(User.id.between(bounds[0], bounds[1])).order_by(User.id)


def _canonical_row(row: Any) -> tuple[Any, ...]:
    """One row, whatever the variant built (an object, a Row, a dict, a Record), as a tuple."""
    if isinstance(row, User):
        return (row.id, row.email, row.name, row.created_at)
    if isinstance(row, dict):
        return (row["id"], row["email"], row["name"], row["created_at"])
    return tuple(row)


def _canonical(rows: Any) -> list[tuple[Any, ...]]:
    return [_canonical_row(row) for row in rows]


def _servable(params: Params, dataset: DatasetSpec) -> str | None:
    """Rows are users by id, so a point cannot ask for more than the dataset holds."""
    if int(params.rows) > dataset.total_users:
        return (
            f"the dataset has {dataset.total_users:,} users; valid rows: 1 to {dataset.total_users}"
        )
    return None


def _pgbench(params: Params, dataset: DatasetSpec) -> list[NativeQuery]:
    rows = int(params.rows)
    sql = POINT_SQL.format(1) if rows == 1 else RANGE_SQL.format(1, rows)
    return [
        NativeQuery("pgbench_prepared", sql, "prepared", "pgbench -M prepared, one client"),
        NativeQuery("pgbench_simple", sql, "simple", "pgbench -M simple, one client"),
    ]


scenario = Scenario(
    name="reads",
    question="What does each layer cost for my reads, and does it matter at 1, 100 or 10,000 rows?",
    quick=Grid.of(rows=[1, 100, 10_000]),
    full=Grid.of(rows=[1, 10, 100, 1_000, 10_000]),
    reference="core_select",
    baseline="asyncpg_fetch",
    native=_pgbench,
    check_point=_servable,
    dataset=STANDARD,
    full_dataset=LARGE,
    normalise=_canonical,
    peak_memory=True,
    chart_x="rows",
    comparisons=(
        ("core_select", "orm_entities"),
        ("orm_columns", "orm_entities"),
        ("orm_entities", "orm_stream"),
        ("core_select", "core_stream"),
        ("psycopg_tuples", "core_select"),
        ("psycopg_tuples", "psycopg_unprepared"),
        ("psycopg_tuples", "psycopg_dict_row"),
        ("asyncpg_fetch", "psycopg_async"),
        ("asyncpg_prepared", "asyncpg_fetch"),
        ("core_select", "sqla_async_core"),
        ("orm_entities", "sqla_async_orm"),
    ),
)


@scenario.variant
def orm_entities(ctx: Context) -> list[User]:
    """ORM: session.scalars(select(User)) builds a User object per row."""
    with ctx.session() as session:
        return list(session.scalars(_where(ctx, select(User))))


@scenario.variant
def orm_columns(ctx: Context) -> list[Any]:
    """ORM session, columns only: select(User.id, User.email, ...) returns Rows, no objects."""
    query = select(User.id, User.email, User.name, User.created_at)
    with ctx.session() as session:
        return list(session.execute(_where(ctx, query)))


@scenario.variant
def orm_yield_per(ctx: Context) -> list[User]:
    """ORM objects fetched in batches of 1,000 (yield_per: a server-side cursor), all kept."""
    with ctx.session() as session:
        query = _where(ctx, select(User)).execution_options(yield_per=1_000)
        return list(session.scalars(query))


@scenario.variant
def orm_stream(ctx: Context) -> StreamDigest:
    """ORM objects streamed in batches of 1,000 (yield_per), each handled and let go."""
    digest = StreamDigest()
    with ctx.session() as session:
        query = _where(ctx, select(User)).execution_options(yield_per=1_000)
        for user in session.scalars(query):
            digest.add(_canonical_row(user))
    return digest


@scenario.variant
def core_stream(ctx: Context) -> StreamDigest:
    """Core Rows streamed in batches of 1,000 (stream_results), each handled and let go."""
    digest = StreamDigest()
    with ctx.engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=1_000).execute(
            _where(ctx, select(User.__table__))
        )
        for row in rows:
            digest.add(_canonical_row(row))
    return digest


@scenario.variant
def core_select(ctx: Context) -> list[Any]:
    """Core: connection.execute(select(users_table)) returns Rows."""
    with ctx.engine.connect() as conn:
        return list(conn.execute(_where(ctx, select(User.__table__))))


@scenario.variant
def core_text(ctx: Context) -> list[Any]:
    """Core with a hand-written text() statement."""
    bounds = dict(zip("ab", _bounds(ctx), strict=False))
    with ctx.engine.connect() as conn:
        return list(conn.execute(text(_sql(ctx, "sqla")), bounds))


@scenario.variant
def psycopg_tuples(ctx: Context) -> list[tuple[Any, ...]]:
    """Raw psycopg 3, tuple rows, default auto-prepare (server-side after 5 executions)."""
    return ctx.psycopg.execute(_sql(ctx, "psycopg"), _bounds(ctx)).fetchall()


@scenario.variant
def psycopg_unprepared(ctx: Context) -> list[tuple[Any, ...]]:
    """Raw psycopg 3, tuple rows, prepare_threshold=None (never prepared)."""
    conn = ctx.psycopg_with("unprepared", prepare_threshold=None)
    return conn.execute(_sql(ctx, "psycopg"), _bounds(ctx)).fetchall()


@scenario.variant
def psycopg_dict_row(ctx: Context) -> list[dict[str, Any]]:
    """Raw psycopg 3 with row_factory=dict_row: a dict per row."""
    conn = ctx.psycopg_with("dict_row", row_factory=dict_row)
    return conn.execute(_sql(ctx, "psycopg"), _bounds(ctx)).fetchall()


@scenario.variant
async def psycopg_async(ctx: Context) -> list[tuple[Any, ...]]:
    """Raw psycopg 3 AsyncConnection, tuple rows."""
    conn = await ctx.psycopg_async()
    cursor = await conn.execute(_sql(ctx, "psycopg"), _bounds(ctx))
    return await cursor.fetchall()


@scenario.variant
async def asyncpg_fetch(ctx: Context) -> list[Any]:
    """Raw asyncpg conn.fetch (its statement cache prepares the query once)."""
    conn = await ctx.asyncpg()
    return await conn.fetch(_sql(ctx, "asyncpg"), *_bounds(ctx))


@scenario.variant
async def asyncpg_prepared(ctx: Context) -> list[Any]:
    """Raw asyncpg with an explicit prepared statement kept for the grid point."""
    conn = await ctx.asyncpg()
    key = ("statement", id(conn))  # a prepared statement belongs to its connection
    statement = ctx.state.get(key)
    if statement is None:
        statement = ctx.state[key] = await conn.prepare(_sql(ctx, "asyncpg"))
    return await statement.fetch(*_bounds(ctx))


@scenario.variant
async def sqla_async_core(ctx: Context) -> list[Any]:
    """SQLAlchemy async Core on asyncpg: AsyncConnection.execute(select(...))."""
    async with ctx.async_engine.connect() as conn:
        return list(await conn.execute(_where(ctx, select(User.__table__))))


@scenario.variant
async def sqla_async_orm(ctx: Context) -> list[User]:
    """SQLAlchemy AsyncSession on asyncpg, User objects."""
    async with ctx.async_session() as session:
        return list(await session.scalars(_where(ctx, select(User))))
