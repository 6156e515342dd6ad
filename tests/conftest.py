"""One real embedded PostgreSQL for the whole test session, with the shared dataset loaded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.dataset import DatasetInfo, ensure_dataset
from harness.postgres import EmbeddedPostgres, ServerTarget
from harness.probes import StatementProbe
from scenarios.loading import scenario as loading


@pytest.fixture(scope="session")
def server() -> Iterator[ServerTarget]:
    with EmbeddedPostgres() as target:
        yield target


@pytest.fixture(scope="session")
def probe(server: ServerTarget) -> Iterator[StatementProbe]:
    p = StatementProbe(server)
    yield p
    p.close()


@pytest.fixture(scope="session")
def dataset(server: ServerTarget) -> DatasetInfo:
    return ensure_dataset(server, loading.dataset)
