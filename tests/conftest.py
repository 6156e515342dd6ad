"""One real embedded PostgreSQL for the whole test session, with the shared dataset loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from harness.cache import ENV_CACHE
from harness.data.dataset import DatasetInfo, ensure_dataset
from harness.measure.statements import StatementProbe
from harness.results.running import ENV_RUNS_DIR
from harness.server.embedded import EmbeddedPostgres
from harness.server.target import ServerTarget
from scenarios.loading import scenario as loading


@pytest.fixture(scope="session", autouse=True)
def own_run_slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The session's runs take their slots among themselves, not among the machine's real runs
    (a `make bench` going on beside `make test` must neither refuse nor be refused by them),
    and keep their ready clusters in a cache of their own."""
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_RUNS_DIR, str(tmp_path_factory.mktemp("run-slots")))
    # and keep their ready clusters among themselves too, never in the user's cache
    mp.setenv(ENV_CACHE, str(tmp_path_factory.mktemp("cluster-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def server() -> Iterator[ServerTarget]:
    with EmbeddedPostgres() as target:
        yield target


@pytest.fixture(scope="session")
def fresh_database(server: ServerTarget) -> Callable[..., dict[str, Any]]:
    """Makes an empty database on the session server, optionally with some tables, and returns
    psycopg connection arguments for it (a stand-in for a team's own database)."""

    def make(name: str, *tables: str) -> dict[str, Any]:
        with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        kwargs = {**server.psycopg_kwargs(), "dbname": name}
        with psycopg.connect(**kwargs, autocommit=True) as conn:
            # where a DBA puts it; the suite never installs it on a server it was given
            conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA public")
            for table in tables:
                conn.execute(f"CREATE TABLE {table} (id int)")
        return kwargs

    return make


@pytest.fixture(scope="session")
def probe(server: ServerTarget) -> Iterator[StatementProbe]:
    p = StatementProbe(server)
    yield p
    p.close()


@pytest.fixture(scope="session")
def dataset(server: ServerTarget) -> DatasetInfo:
    return ensure_dataset(server, loading.dataset)
