"""FastAPI or Litestar — and does the framework matter once the database is involved?

Two apps with the same four routes over the same data-access code (scenarios/webapps/): a user
(one row), a user's activity (profile + 10 latest posts with their comments: the loading question
behind a real endpoint), keyset pagination over posts, and a validated insert (201). Each app runs
in its own server process (uvicorn, 1 worker unless `--app-workers`), with either the SQLAlchemy
async ORM (selectinload) or raw asyncpg behind it, and serialises with its framework's default
(Pydantic for FastAPI, msgspec for Litestar) or, in two variants, the other one. Before any load
every app must answer 33 requests, 4xx cases included, exactly as the reference app does.

Look at: requests/s and p99 per endpoint, and the bottleneck column: on a small machine locust,
the app server and PostgreSQL share the cores, and the report says which one ran out first. The
gap between frameworks is the part of a request that is not the database; compare it with the
gap between data layers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.data.dataset import STANDARD
from harness.runners.http.appserver import AppPlan
from harness.runners.http.runner import ParityRequest
from harness.scenario.context import Context
from harness.scenario.grid import Grid
from harness.scenario.spec import Scenario

ENDPOINTS = ["user", "activity", "posts_page", "create_post"]
POOL_SIZE = 10  # each app worker's database pool
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _create_table(ctx: Context) -> None:
    from scenarios.webapps.data import HTTP_POSTS_DDL

    with ctx.psycopg.transaction():
        ctx.psycopg.execute(HTTP_POSTS_DDL)
        ctx.psycopg.execute("TRUNCATE pb_http_posts RESTART IDENTITY")


def _normalise(answer: dict[str, Any]) -> dict[str, Any]:
    """A created post's id and time differ between apps by nature: compare their form."""
    body = answer["body"]
    if answer["status"] == 201 and isinstance(body, dict):
        body = {
            **body,
            "id": "an integer" if isinstance(body.get("id"), int) else body.get("id"),
            "created_at": "a timestamp"
            if _TIMESTAMP.match(str(body.get("created_at")))
            else body.get("created_at"),
        }
    return {**answer, "body": body}


def _parity_requests(ctx: Context) -> list[ParityRequest]:
    users, posts = ctx.dataset.total_users, ctx.dataset.total_posts

    def get(path: str) -> ParityRequest:
        return ParityRequest("GET", path)

    def post(body: object) -> ParityRequest:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return ParityRequest("POST", "/posts", raw)

    new = {"user_id": 7, "title": "hello", "body": "a post written by the parity check"}
    return [
        get("/users/1"), get("/users/201"), get(f"/users/{users}"), get(f"/users/{users + 1}"),
        get("/users/abc"), get("/users/0"), get("/users/1; DROP TABLE users --"),
        get("/users/1/activity"), get("/users/201/activity?limit=5"),
        get("/users/401/activity?limit=50"), get(f"/users/{users + 5}/activity"),
        get("/users/1/activity?limit=0"), get("/users/1/activity?limit=51"),
        get("/users/1/activity?limit=x"),
        get("/posts"), get("/posts?after=1000&limit=5"), get(f"/posts?after={posts - 3}&limit=20"),
        get("/posts?after=-1"), get("/posts?limit=0"), get("/posts?limit=101"),
        get("/posts?after=' OR 1=1 --"),
        post(new), post({**new, "title": "Robert'); DROP TABLE pb_http_posts;--"}),
        post({"user_id": 7, "title": "no body"}), post({**new, "user_id": "seven"}),
        post({**new, "title": "x" * 201}), post({**new, "title": ""}),
        post({**new, "admin": True}), post({**new, "user_id": users + 1}),
        post(b'{"user_id": 7, "title": '), post([1, 2, 3]),
        ParityRequest("GET", "/no/such/route"), ParityRequest("DELETE", "/users/1"),
    ]  # fmt: skip


scenario = Scenario(
    name="http",
    question="FastAPI or Litestar — and does the framework matter once the database is involved?",
    quick=Grid.of(endpoint=ENDPOINTS, users=[32]),
    full=Grid.of(endpoint=ENDPOINTS, users=[8, 64]),
    reference="fastapi_orm",
    dataset=STANDARD,
    runner="http",
    scratch_tables=("pb_http_posts",),
    clients_axis="users",
    connections=lambda _p: POOL_SIZE,  # per app worker; every app runs at once
    setup_point=_create_table,
    normalise=_normalise,
    locustfile=Path(__file__).parent / "webapps" / "locustfile.py",
    parity_requests=_parity_requests,
    comparisons=(
        ("litestar_orm", "fastapi_orm"),
        ("litestar_asyncpg", "fastapi_asyncpg"),
        ("fastapi_asyncpg", "fastapi_orm"),
        ("litestar_asyncpg", "litestar_orm"),
        ("fastapi_asyncpg_msgspec", "fastapi_asyncpg"),
        ("litestar_asyncpg", "litestar_asyncpg_pydantic"),
    ),
)


def _app(ctx: Context, framework: str, data: str, serializer: str | None = None) -> AppPlan:
    from scenarios.webapps import fastapi_app, litestar_app
    from scenarios.webapps.config import AppConfig

    cfg = AppConfig.for_server(ctx.target, framework, data, serializer, pool_size=POOL_SIZE)
    module = fastapi_app if framework == "fastapi" else litestar_app
    return AppPlan("scenarios.webapps.serve:create", cfg.to_env(), openapi_path=module.OPENAPI_PATH)


@scenario.variant
def fastapi_orm(ctx: Context) -> AppPlan:
    """FastAPI + SQLAlchemy async ORM (selectinload) + Pydantic (FastAPI's defaults)."""
    return _app(ctx, "fastapi", "orm")


@scenario.variant
def fastapi_asyncpg(ctx: Context) -> AppPlan:
    """FastAPI + raw asyncpg + Pydantic."""
    return _app(ctx, "fastapi", "asyncpg")


@scenario.variant
def litestar_orm(ctx: Context) -> AppPlan:
    """Litestar + SQLAlchemy async ORM (selectinload) + msgspec (Litestar's default)."""
    return _app(ctx, "litestar", "orm")


@scenario.variant
def litestar_asyncpg(ctx: Context) -> AppPlan:
    """Litestar + raw asyncpg + msgspec."""
    return _app(ctx, "litestar", "asyncpg")


@scenario.variant
def fastapi_asyncpg_msgspec(ctx: Context) -> AppPlan:
    """FastAPI + raw asyncpg, encoding responses with msgspec instead of Pydantic."""
    return _app(ctx, "fastapi", "asyncpg", "msgspec")


@scenario.variant
def litestar_asyncpg_pydantic(ctx: Context) -> AppPlan:
    """Litestar + raw asyncpg, returning Pydantic models instead of msgspec Structs."""
    return _app(ctx, "litestar", "asyncpg", "pydantic")
