"""Schemathesis fuzzing of both HTTP apps (scenarios/webapps/) against their own OpenAPI specs.

Every operation of each app's spec is fuzzed in-process over ASGI (no socket at all), against the
session's embedded PostgreSQL, with schemathesis's examples, coverage and fuzzing phases (valid and
invalid requests), derandomised and bounded (`max_examples`) so a run is fast and reproducible.

How it is wired, and why:

- The schemas are loaded at import time with `schemathesis.openapi.from_asgi`, from a copy of each
  app whose data layer is a stub (the spec does not depend on the database): the lazy loader
  `schemathesis.pytest.from_fixture` cannot be used, as schemathesis 4.32 sets
  `Function._nodeid`, which pytest 9.2 no longer has (AttributeError on every test).
- Each request goes to the live app (`case.call_and_validate(app=...)`). Schemathesis's ASGI
  transport runs the app's lifespan on first use (the DB pool opens) and keeps it up;
  `asgi.shutdown_lifespans()` closes the pools when the module is done.
- An exception escaping an app fails the test (the ASGI transport re-raises it); one caught by
  the apps' catch-all handlers is a 500, which `not_a_server_error` fails.

Checks, on every answer (errors included): `not_a_server_error`, `status_code_conformance`,
`content_type_conformance`, `response_schema_conformance` and `negative_data_rejection`, as
schemathesis ships them. They hold because both specs document exactly what the apps answer: the
2xx, a 404 `ErrorBody` on the user routes, a 422 `ValidationErrorBody` on every route with params
or a body, no 400, integer bounds as integers (2**63-1). On top of them, `app_error_contract`
pins what a schema cannot say: which 4xx where, and the exact error values (the detail strings,
the sorted and de-duplicated `fields`). The fuzzer may or may not hit each error answer, so
`test_error_answers_conform_to_the_specs` sends each one on purpose, under the same checks. The
apps are fuzzed with their framework's default serialiser; the specs' structure is asserted for
both serialisers in tests/test_http_apps.py (`test_specs_document_the_error_answers`).

Not used: `positive_data_acceptance`, because the apps rightly refuse some schema-valid requests:
a POST /posts whose user_id names no user is a 422 on `user_id` (a schema cannot say which users
exist); and schemathesis generates user_id/after values just above 2**63-1 (e.g.
9223372036854775999) as "valid" for a documented maximum of 2**63-1 (a float-precision
limitation), which the apps answer with a 422 too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from scenarios.webapps import fastapi_app, litestar_app
from scenarios.webapps.config import AppConfig
from scenarios.webapps.data import HTTP_POSTS_DDL
from scenarios.webapps.schemas import USER_NOT_FOUND, VALIDATION_FAILED

MODULES = {"fastapi": fastapi_app, "litestar": litestar_app}
DATA_LAYERS = ["asyncpg", "orm"]
UNKNOWN_USER = 9_000_000_000_000_000_000  # a valid bigint that no dataset reaches


class _NoDatabase:
    """The data layer of the spec-only apps: opens and closes, never serves."""

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the spec-only app must never serve a request ({name})")


def _load_schema(framework: str) -> Any:
    module = MODULES[framework]
    cfg = AppConfig(framework, "asyncpg", "127.0.0.1", 9, "nobody", "nodb")
    return schemathesis.openapi.from_asgi(
        module.OPENAPI_PATH, module.create_app(cfg, _NoDatabase())
    )


SCHEMAS = {framework: _load_schema(framework) for framework in MODULES}


def _framework(case: Any) -> str:
    return "fastapi" if isinstance(case.operation.app, fastapi_app.FastAPI) else "litestar"


def _counts(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), "
        "(SELECT count(*) FROM comments)"
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture(scope="module")
def live(server, dataset) -> Iterator[Callable[[str, str], Any]]:
    """`live(framework, data)`: that app over the session's database, built once, and stopped
    (its DB pool closed) when the module is done. The shared dataset must come out unchanged."""
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        conn.execute(HTTP_POSTS_DDL)
        before = _counts(conn)
        apps: dict[tuple[str, str], Any] = {}

        def get(framework: str, data: str) -> Any:
            if (framework, data) not in apps:
                cfg = AppConfig.for_server(server, framework, data, pool_size=2)
                apps[framework, data] = MODULES[framework].create_app(cfg)
            return apps[framework, data]

        try:
            yield get
        finally:
            asgi.shutdown_lifespans()
        assert _counts(conn) == before, "fuzzing changed the shared dataset"


# ---------------------------------------------------------------- checks


def app_error_contract(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx is a 404 for an unknown user, a 405 for a method the path does not have, or a 422,
    with the apps' own error body."""
    status = response.status_code
    if status < 400:
        return None
    body = json.loads(response.content)
    path = case.operation.path
    if status == 404 and path.startswith("/users/{user_id}"):
        assert body == {"status_code": 404, "detail": USER_NOT_FOUND}, body
    elif status == 422:
        assert set(body) == {"status_code", "detail", "fields"}, body
        assert (body["status_code"], body["detail"]) == (422, VALIDATION_FAILED), body
        fields = body["fields"]
        assert isinstance(fields, list) and all(isinstance(f, str) for f in fields), body
        assert fields == sorted(set(fields)), body
    elif status == 405 and case.method.upper() != case.operation.method.upper():
        assert body == {"status_code": 405, "detail": "Method Not Allowed"}, body
    else:
        raise AssertionError(f"unexpected {status} on {case.method} {path}: {body}")
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    app_error_contract,
]


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("data", DATA_LAYERS)
@schemathesis.pytest.parametrize(**SCHEMAS)
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_app_conforms_to_its_openapi_spec(case, data, live):
    case.call_and_validate(app=live(_framework(case), data), checks=CHECKS)


def _error_cases(schema: Any) -> list[tuple[Any, int]]:
    """Requests for each error answer the specs document, with the status each must get."""
    user = schema["/users/{user_id}"]["GET"]
    activity = schema["/users/{user_id}/activity"]["GET"]
    return [
        (user.Case(path_parameters={"user_id": 0}), 422),
        (user.Case(path_parameters={"user_id": UNKNOWN_USER}), 404),
        (activity.Case(path_parameters={"user_id": UNKNOWN_USER}, query={"limit": 5}), 404),
        (activity.Case(path_parameters={"user_id": 1}, query={"limit": 51}), 422),
        (schema["/posts"]["GET"].Case(query={"limit": 0}), 422),
        (schema["/posts"]["POST"].Case(body={"user_id": 1, "title": ""}), 422),
        (
            schema["/posts"]["POST"].Case(
                body={"user_id": UNKNOWN_USER, "title": "t", "body": "b"}
            ),
            422,
        ),
    ]


@pytest.mark.parametrize("framework", list(MODULES))
def test_error_answers_conform_to_the_specs(framework, live):
    for case, status in _error_cases(SCHEMAS[framework]):
        response = case.call_and_validate(app=live(framework, "asyncpg"), checks=CHECKS)
        assert response.status_code == status, f"{case.method} {case.formatted_path}"
