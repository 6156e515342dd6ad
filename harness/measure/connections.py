"""The server's client connections, sampled while a load runs (pg_stat_activity)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg

from harness.server.target import ServerTarget


class ConnectionMonitor:
    """Samples the server's client connections (pg_stat_activity) every `interval_s` from its
    own thread and connection, which it does not count. Entered before the pool opens: the
    connections already there (the harness's own) are the baseline, `peak` is above it."""

    _QUERY = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )

    def __init__(self, target: ServerTarget, interval_s: float = 0.05) -> None:
        self.target, self.interval_s = target, interval_s
        self.baseline = 0
        self._highest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="connections", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> ConnectionMonitor:
        self._conn = psycopg.connect(**self.target.psycopg_kwargs(), autocommit=True)
        row = self._conn.execute(self._QUERY).fetchone()
        self.baseline = self._highest = int(row[0]) if row else 0
        self._thread.start()
        return self

    @property
    def peak(self) -> int:
        return max(0, self._highest - self.baseline)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _sample(self) -> None:
        assert self._conn is not None
        while not self._stop.wait(self.interval_s):
            try:
                row = self._conn.execute(self._QUERY).fetchone()
            except psycopg.Error:
                return
            self._highest = max(self._highest, int(row[0]) if row else 0)
