"""Schemathesis fuzzing of the two HTTP apps (scenarios/webapps/) against their own OpenAPI specs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scenarios.webapps import fastapi_app, litestar_app
from scenarios.webapps.config import AppConfig
from scenarios.webapps.data import HTTP_POSTS_DDL

APPS = [("fastapi", "asyncpg"), ("litestar", "asyncpg")]
ALL = {
    "not_a_server_error": not_a_server_error,
    "status_code_conformance": status_code_conformance,
    "content_type_conformance": content_type_conformance,
    "response_schema_conformance": response_schema_conformance,
}
CHECKS = [ALL[n] for n in os.environ.get("FUZZ_CHECKS", ",".join(ALL)).split(",")]


@pytest.fixture(scope="module")
def http_posts(server, dataset) -> Iterator[psycopg.Connection]:
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        conn.execute(HTTP_POSTS_DDL)
        yield conn


@pytest.fixture(scope="module", params=APPS, ids=lambda p: "-".join(p))
def api(request, server, http_posts) -> Iterator[Any]:
    framework, data = request.param
    module = fastapi_app if framework == "fastapi" else litestar_app
    cfg = AppConfig(
        framework=framework,
        data=data,
        pool_size=2,
        db_host=server.host,
        db_port=server.port,
        db_user=server.user,
        db_password=server.password,
        db_name=server.database,
        db_schema=server.schema,
    )
    app = module.create_app(cfg)
    try:
        yield schemathesis.openapi.from_asgi(module.OPENAPI_PATH, app)
    finally:
        asgi.shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_fuzz(case):
    case.call_and_validate(checks=CHECKS)
