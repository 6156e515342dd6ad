"""How big should my connection pool be, and which pool should I use, for my concurrency?

Each client runs a short request again and again: read a user and their 10 latest posts, and in
every 10th request also insert a post in a transaction (into `pb_pool_posts`, a copy of `posts`,
so the shared data stays as it is). Every pool runs the same SQL; before any load each pool's
answers to the same 20 requests must equal the reference's.

Look at: requests/s and p99 as the pool grows, per client count — the *knee* is the smallest pool
that reaches 95% of the best throughput, among the sizes where every client was served without
errors or checkout timeouts; past it more connections only add queueing inside PostgreSQL. Checkout wait shows how long clients queued for a connection; client CPU near 100%
of its core means the load generator, not the database, was the limit. NullPool (a connection
per request) is the baseline; asyncpg's reset on release is one extra round trip per request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from harness.data.dataset import STANDARD
from harness.runners import pools
from harness.runners.pools import PoolPlan, PoolSettings
from harness.scenario.context import Context
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario, Skip

TABLE = "pb_pool_posts"
WRITE_EVERY = 10  # one request in ten also inserts a post


def _few_clients_big_pools(p: Params) -> bool:
    """Sizes past twice the clients: one size past the client count is still measured, so
    "still rising at the largest size" means more connections than clients did not help."""
    return int(p.pool_size) > 2 * int(p.clients)


def _off_ladder(p: Params) -> bool:
    """The quick ladder steps by 4 (1, 4, 16, 64), plus twice the clients where that is below
    64 (8 at 4 clients): knees as fine as the full profile's doubling ladder cost twice the
    points. Other client counts (`--grid clients=...`) keep a pool_size of 8."""
    return int(p.pool_size) == 8 and int(p.clients) in (32, 128)


scenario = Scenario(
    name="pool_sizing",
    question="How big should my connection pool be, and which pool should I use, for my concurrency?",
    quick=Grid.of(clients=[4, 32, 128], pool_size=[1, 4, 8, 16, 64]).skipping(
        "pool sizes more than twice the number of clients, and pool_size=8 at 32 and 128 "
        "clients (quick steps by 4: 1, 4, 16, 64; the full profile by 2)",
        lambda p: _few_clients_big_pools(p) or _off_ladder(p),
    ),
    full=Grid.of(clients=[4, 32, 128], pool_size=[1, 2, 4, 8, 16, 32, 64, 128]).skipping(
        "pool sizes more than twice the number of clients", _few_clients_big_pools
    ),
    reference="psycopg_pool",
    dataset=STANDARD,
    runner="throughput",
    scratch_tables=(TABLE,),
    clients_axis="clients",
    knee_axis="pool_size",
    connections=lambda p: max(int(p.pool_size) + 10, int(p.clients)),  # overflow, NullPool
    comparisons=(
        ("asyncpg_pool_no_reset", "asyncpg_pool"),
        ("queuepool", "queuepool_overflow"),
        ("asyncpg_pool", "sqlalchemy_async"),
        ("psycopg_pool", "queuepool"),
    ),
    baseline="nullpool",
    chart_x="pool_size",
)


@scenario.hook("setup_point")
def _set_up_table(ctx: Context) -> None:
    """A scratch table for the variants' inserts, empty at every grid point."""
    with ctx.psycopg.transaction():
        ctx.psycopg.execute(f"DROP TABLE IF EXISTS {TABLE}")
        ctx.psycopg.execute(f"CREATE TABLE {TABLE} (LIKE posts INCLUDING ALL)")


def _user(n: int) -> int:
    return (n * 7919) % STANDARD.total_users + 1


def _title(n: int) -> str:
    return f"request {n}"


USER = "SELECT id, email, name FROM users WHERE id = {}"
POSTS = "SELECT id FROM posts WHERE user_id = {} ORDER BY created_at DESC, id DESC LIMIT 10"
INSERT = (
    f"INSERT INTO {TABLE} (user_id, title, body, payload, created_at) "
    "VALUES ({}, {}, 'written under load', '{{}}', now()) RETURNING title"
)


def _answer(user: Any, posts: list[Any], written: str | None) -> tuple[Any, ...]:
    return (tuple(user), tuple(row[0] for row in posts), written)


def _psycopg_request(conn: Any, n: int) -> tuple[Any, ...]:
    uid = _user(n)
    user = conn.execute(USER.format("%s"), (uid,)).fetchone()
    posts = conn.execute(POSTS.format("%s"), (uid,)).fetchall()
    written = None
    if n % WRITE_EVERY == 0:
        with conn.transaction():
            written = conn.execute(INSERT.format("%s", "%s"), (uid, _title(n))).fetchone()[0]
    return _answer(user, posts, written)


async def _psycopg_async_request(conn: Any, n: int) -> tuple[Any, ...]:
    uid = _user(n)
    user = await (await conn.execute(USER.format("%s"), (uid,))).fetchone()
    posts = await (await conn.execute(POSTS.format("%s"), (uid,))).fetchall()
    written = None
    if n % WRITE_EVERY == 0:
        async with conn.transaction():
            cur = await conn.execute(INSERT.format("%s", "%s"), (uid, _title(n)))
            written = (await cur.fetchone())[0]
    return _answer(user, posts, written)


async def _asyncpg_request(conn: Any, n: int) -> tuple[Any, ...]:
    uid = _user(n)
    user = await conn.fetchrow(USER.format("$1"), uid)
    posts = await conn.fetch(POSTS.format("$1"), uid)
    written = None
    if n % WRITE_EVERY == 0:
        async with conn.transaction():
            written = await conn.fetchval(INSERT.format("$1", "$2"), uid, _title(n))
    return _answer(user, posts, written)


_SA_USER, _SA_POSTS = text(USER.format(":uid")), text(POSTS.format(":uid"))
_SA_INSERT = text(INSERT.format(":uid", ":title"))


def _sqlalchemy_request(conn: Any, n: int) -> tuple[Any, ...]:
    uid = _user(n)
    user = conn.execute(_SA_USER, {"uid": uid}).one()
    posts = conn.execute(_SA_POSTS, {"uid": uid}).all()
    conn.rollback()  # end the read transaction the Connection began, as a handler would
    written = None
    if n % WRITE_EVERY == 0:
        with conn.begin():
            written = conn.execute(_SA_INSERT, {"uid": uid, "title": _title(n)}).scalar_one()
    return _answer(user, posts, written)


async def _sqlalchemy_async_request(conn: Any, n: int) -> tuple[Any, ...]:
    uid = _user(n)
    user = (await conn.execute(_SA_USER, {"uid": uid})).one()
    posts = (await conn.execute(_SA_POSTS, {"uid": uid})).all()
    await conn.rollback()
    written = None
    if n % WRITE_EVERY == 0:
        async with conn.begin():
            result = await conn.execute(_SA_INSERT, {"uid": uid, "title": _title(n)})
            written = result.scalar_one()
    return _answer(user, posts, written)


def _settings(ctx: Context, **changes: Any) -> PoolSettings:
    return PoolSettings(size=int(ctx.params.pool_size), **changes)


@scenario.variant
def psycopg_pool(ctx: Context) -> PoolPlan:
    """psycopg_pool.ConnectionPool (sync, threads), min = max = pool_size, autocommit."""
    s = _settings(ctx)
    return PoolPlan(lambda: pools.psycopg_connection_pool(ctx.target, s), _psycopg_request, False)


@scenario.variant
def psycopg_async_pool(ctx: Context) -> PoolPlan:
    """psycopg_pool.AsyncConnectionPool (asyncio tasks), min = max = pool_size, autocommit."""
    s = _settings(ctx)
    return PoolPlan(
        lambda: pools.psycopg_async_connection_pool(ctx.target, s), _psycopg_async_request, True
    )


@scenario.variant
def asyncpg_pool(ctx: Context) -> PoolPlan:
    """asyncpg.create_pool (asyncio tasks), min = max = pool_size, resetting each connection on
    release (its default: one more round trip per request)."""
    s = _settings(ctx)
    return PoolPlan(lambda: pools.asyncpg_pool(ctx.target, s), _asyncpg_request, True)


@scenario.variant
def asyncpg_pool_no_reset(ctx: Context) -> PoolPlan:
    """asyncpg.create_pool with reset on release turned off (a no-op `reset`)."""
    s = _settings(ctx, reset_on_release=False)
    return PoolPlan(lambda: pools.asyncpg_pool(ctx.target, s), _asyncpg_request, True)


@scenario.variant
def queuepool(ctx: Context) -> PoolPlan:
    """SQLAlchemy QueuePool on psycopg (sync, threads), pool_size, max_overflow=0."""
    s = _settings(ctx)
    return PoolPlan(lambda: pools.sqlalchemy_queuepool(ctx.target, s), _sqlalchemy_request, False)


@scenario.variant
def queuepool_overflow(ctx: Context) -> PoolPlan:
    """SQLAlchemy QueuePool with its default max_overflow=10: up to 10 extra connections,
    closed again when returned while the pool is full."""
    s = _settings(ctx, max_overflow=10)
    return PoolPlan(lambda: pools.sqlalchemy_queuepool(ctx.target, s), _sqlalchemy_request, False)


@scenario.variant
def sqlalchemy_async(ctx: Context) -> PoolPlan:
    """SQLAlchemy async engine on asyncpg (AsyncAdaptedQueuePool), max_overflow=0."""
    s = _settings(ctx)
    return PoolPlan(lambda: pools.sqlalchemy_async(ctx.target, s), _sqlalchemy_async_request, True)


@scenario.variant
def nullpool(ctx: Context) -> PoolPlan:
    """No pool (SQLAlchemy NullPool): a new connection for every request. It has no size, so
    it runs once per client count, at pool_size=1."""
    if int(ctx.params.pool_size) != 1:
        raise Skip("NullPool has no size; measured at pool_size=1")
    s = _settings(ctx)
    return PoolPlan(lambda: pools.sqlalchemy_nullpool(ctx.target, s), _sqlalchemy_request, False)
