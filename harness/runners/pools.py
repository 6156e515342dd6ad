"""The field's connection pools behind one interface: check a connection out, use it, give it back.

A throughput variant returns a `PoolPlan`: how to open its pool for a grid point and what one
request does with a checked-out connection. The runner times the checkout and the whole request
(checkout + work + release, so a reset on release is part of it) for many clients at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import psycopg_pool
import sqlalchemy.exc
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from harness.server.target import ServerTarget


class SyncPool(Protocol):
    def checkout(self) -> contextlib.AbstractContextManager[Any]: ...
    def close(self) -> None: ...


class AsyncPool(Protocol):
    def checkout(self) -> contextlib.AbstractAsyncContextManager[Any]: ...
    async def close(self) -> None: ...


# What a pool raises when no connection came free within its checkout timeout.
CHECKOUT_TIMEOUTS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.TimeoutError,
    psycopg_pool.PoolTimeout,
    TimeoutError,  # asyncio.TimeoutError is TimeoutError since 3.11
)


@dataclass(frozen=True)
class PoolSettings:
    """One grid point's pool: how many connections, overflow, and how long a client waits."""

    size: int
    max_overflow: int = 0
    checkout_timeout_s: float = 5.0
    reset_on_release: bool = True


@dataclass(frozen=True)
class PoolPlan:
    """What a throughput variant hands the runner.

    `open` makes the pool (a coroutine for async pools, opened inside the runner's loop);
    `request(connection, n)` does request number `n` and returns its answer (sync or async like
    the pool). How many connections a grid point may open is the scenario's `connections`."""

    open: Callable[[], SyncPool] | Callable[[], Awaitable[AsyncPool]]
    request: Callable[[Any, int], Any]
    is_async: bool


# --- SQLAlchemy -------------------------------------------------------------------------------


class _EnginePool:
    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine

    def checkout(self) -> contextlib.AbstractContextManager[Any]:
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def sqlalchemy_queuepool(target: ServerTarget, settings: PoolSettings) -> SyncPool:
    """SQLAlchemy's default QueuePool over psycopg 3; a Connection per checkout."""
    return _EnginePool(
        create_engine(
            target.url("psycopg"),
            connect_args=target.sqlalchemy_connect_args("psycopg"),
            pool_size=settings.size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.checkout_timeout_s,
        )
    )


def sqlalchemy_nullpool(target: ServerTarget, settings: PoolSettings) -> SyncPool:
    """No pool: SQLAlchemy's NullPool connects on every checkout and closes on release."""
    return _EnginePool(
        create_engine(
            target.url("psycopg"),
            connect_args=target.sqlalchemy_connect_args("psycopg"),
            poolclass=NullPool,
        )
    )


class _AsyncEnginePool:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def checkout(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self.engine.connect()

    async def close(self) -> None:
        await self.engine.dispose()


async def sqlalchemy_async(target: ServerTarget, settings: PoolSettings) -> AsyncPool:
    """SQLAlchemy's async engine on asyncpg (AsyncAdaptedQueuePool)."""
    return _AsyncEnginePool(
        create_async_engine(
            target.url("asyncpg"),
            connect_args=target.sqlalchemy_connect_args("asyncpg"),
            pool_size=settings.size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.checkout_timeout_s,
        )
    )


# --- asyncpg ----------------------------------------------------------------------------------


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """Keeps a released connection as it is: no reset query, no round trip."""


class _AsyncpgPool:
    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self.pool, self.timeout_s = pool, timeout_s

    def checkout(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self.pool.acquire(timeout=self.timeout_s)

    async def close(self) -> None:
        await self.pool.close()


async def asyncpg_pool(target: ServerTarget, settings: PoolSettings) -> AsyncPool:
    """asyncpg.create_pool with min = max = size; by default it resets every connection on
    release (one more round trip); with reset_on_release=False that query is skipped."""
    kwargs = target.asyncpg_kwargs()
    pool = await asyncpg.create_pool(
        **kwargs,
        min_size=settings.size,
        max_size=settings.size,
        reset=None if settings.reset_on_release else _no_reset,
    )
    return _AsyncpgPool(pool, settings.checkout_timeout_s)


# --- psycopg_pool -----------------------------------------------------------------------------


class _PsycopgPool:
    def __init__(self, pool: psycopg_pool.ConnectionPool[Any]) -> None:
        self.pool = pool

    def checkout(self) -> contextlib.AbstractContextManager[Any]:
        return self.pool.connection()

    def close(self) -> None:
        self.pool.close(timeout=5)


def psycopg_connection_pool(target: ServerTarget, settings: PoolSettings) -> SyncPool:
    """psycopg_pool.ConnectionPool, autocommit connections, min = max = size."""
    pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
        kwargs={**target.psycopg_kwargs(), "autocommit": True},
        min_size=settings.size,
        max_size=settings.size,
        timeout=settings.checkout_timeout_s,
        open=False,
    )
    pool.open(wait=True, timeout=30)
    return _PsycopgPool(pool)


class _AsyncPsycopgPool:
    def __init__(self, pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    def checkout(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self.pool.connection()

    async def close(self) -> None:
        await self.pool.close(timeout=5)


async def psycopg_async_connection_pool(target: ServerTarget, settings: PoolSettings) -> AsyncPool:
    """psycopg_pool.AsyncConnectionPool, autocommit connections, min = max = size."""
    pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
        kwargs={**target.psycopg_kwargs(), "autocommit": True},
        min_size=settings.size,
        max_size=settings.size,
        timeout=settings.checkout_timeout_s,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    return _AsyncPsycopgPool(pool)
