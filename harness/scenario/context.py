"""What a variant gets: the grid point, the dataset, and connections made fresh per grid point.

Everything is created on first use and closed when the grid point ends, so one variant's pool,
statement cache or identity map never helps another grid point.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable
from functools import cached_property
from typing import Any

import asyncpg
import psycopg
from psycopg import AsyncConnection, Connection
from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from harness.data.dataset import DatasetSpec
from harness.scenario.grid import Params
from harness.server.target import ServerTarget


class Context:
    """Handed to every variant call of one grid point."""

    def __init__(
        self,
        target: ServerTarget,
        params: Params,
        dataset: DatasetSpec,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.target = target
        self.params = params
        self.dataset = dataset
        self.loop = loop
        self._asyncpg: asyncpg.Connection | None = None
        self._psycopg_named: dict[str, Connection[Any]] = {}
        self._psycopg_async: AsyncConnection[Any] | None = None
        self._created: set[str] = set()
        self.state: dict[
            Hashable, Any
        ] = {}  # per-grid-point objects a variant keeps (e.g. prepared statements)

    # --- sync -------------------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        """SQLAlchemy engine on psycopg 3 (sync)."""
        self._created.add("engine")
        return create_engine(
            self.target.url("psycopg"),
            connect_args=self.target.sqlalchemy_connect_args("psycopg"),
            pool_size=5,
        )

    @cached_property
    def _sessionmaker(self) -> sessionmaker[Session]:
        return sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new ORM Session: use one per operation, as a request handler would."""
        return self._sessionmaker()

    @cached_property
    def psycopg(self) -> Connection[Any]:
        """A raw psycopg 3 connection in autocommit mode (default auto-prepare)."""
        self._created.add("psycopg")
        return psycopg.connect(**self.target.psycopg_kwargs(), autocommit=True)

    def psycopg_with(self, name: str, **options: Any) -> Connection[Any]:
        """Another raw psycopg connection, made once per grid point under `name` with `options`
        (e.g. `row_factory=dict_row`, `prepare_threshold=None`)."""
        conn = self._psycopg_named.get(name)
        if conn is None:
            prepare = options.pop("prepare_threshold", 5)
            conn = psycopg.connect(**self.target.psycopg_kwargs(), autocommit=True, **options)
            conn.prepare_threshold = prepare
            self._psycopg_named[name] = conn
        return conn

    # --- async ------------------------------------------------------------------------------

    async def psycopg_async(self) -> AsyncConnection[Any]:
        """A raw async psycopg 3 connection in autocommit mode."""
        if self._psycopg_async is None:
            self._psycopg_async = await AsyncConnection.connect(
                **self.target.psycopg_kwargs(), autocommit=True
            )
        return self._psycopg_async

    async def asyncpg(self) -> asyncpg.Connection:
        """A raw asyncpg connection (its statement cache on, as by default)."""
        if self._asyncpg is None:
            self._asyncpg = await asyncpg.connect(**self.target.asyncpg_kwargs())
        return self._asyncpg

    @cached_property
    def async_engine(self) -> AsyncEngine:
        """SQLAlchemy async engine on asyncpg."""
        self._created.add("async_engine")
        return create_async_engine(
            self.target.url("asyncpg"),
            connect_args=self.target.sqlalchemy_connect_args("asyncpg"),
            pool_size=5,
        )

    @cached_property
    def _async_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(self.async_engine, expire_on_commit=False)

    def async_session(self) -> AsyncSession:
        """A new AsyncSession: use one per operation."""
        return self._async_sessionmaker()

    # --- lifecycle --------------------------------------------------------------------------

    def finish_interrupted(self, timeout_s: float = 5.0) -> None:
        """Cancels the tasks an interrupt left waiting on the loop and runs them to their end;
        for the runner that owns the loop to call, before `close`, when an operation was cut
        short (every task on the loop is cancelled, whichever Context started it).

        A Ctrl-C raised while the loop waits leaves an operation suspended inside
        `async with session`. Its connection stays checked out (so `dispose` cannot close it),
        and the garbage collector later closes it outside any loop, printing tracebacks under
        the run's clean exit line. Cancelled here, its `async with` blocks unwind in the loop."""
        if self.loop.is_closed() or self.loop.is_running():
            return
        suspended = asyncio.all_tasks(self.loop)
        for task in suspended:
            task.cancel()
        # Unwinding may start tasks of its own (SQLAlchemy shields a connection's graceful
        # close in one): those are waited for, not cancelled, until the deadline.
        waited: set[asyncio.Task[Any]] = set()
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(Exception):
            while (pending := asyncio.all_tasks(self.loop)) and (
                left := deadline - time.monotonic()
            ) > 0:
                waited |= pending
                self.loop.run_until_complete(asyncio.wait(pending, timeout=left))
        for task in waited:
            if task.done() and not task.cancelled():
                task.exception()  # an error from a cancelled operation is no news

    def close(self) -> None:
        """Closes whatever was opened; never raises (the server may already be gone)."""
        if "engine" in self._created:
            with contextlib.suppress(Exception):
                self.engine.dispose()
        if "psycopg" in self._created:
            with contextlib.suppress(Exception):
                self.psycopg.close()
        for conn in self._psycopg_named.values():
            with contextlib.suppress(Exception):
                conn.close()
        self._psycopg_named.clear()
        if self._psycopg_async is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self._psycopg_async.close(), 5))
            self._psycopg_async = None
        if self._asyncpg is not None:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self._asyncpg.close(), 5))
            self._asyncpg = None
        if "async_engine" in self._created:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait_for(self.async_engine.dispose(), 5))
