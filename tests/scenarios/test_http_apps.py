"""The two HTTP apps (scenarios/webapps/): same status codes and same JSON for every framework x
data layer x serialiser, 4xx (never 5xx) for bad input, bind parameters only."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from scenarios.webapps import fastapi_app, litestar_app
from scenarios.webapps.config import AppConfig
from scenarios.webapps.data import HTTP_POSTS_DDL

# (framework, data layer, serialiser); None = the framework's default
COMBOS = [
    ("fastapi", "orm", None),
    ("fastapi", "asyncpg", None),
    ("litestar", "orm", None),
    ("litestar", "asyncpg", None),
    ("fastapi", "asyncpg", "msgspec"),
    ("litestar", "asyncpg", "pydantic"),
]
REFERENCE = ("fastapi", "orm", None)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
INJECTIONS = [
    "1; DROP TABLE users --",
    "' OR 1=1 --",
    "\\x00",
    "\x00",
    "Robert'); DROP TABLE pb_http_posts;--",
    "1 OR 1=1",
    "$1",
    "'; SELECT pg_sleep(5); --",
    "../users/1",
    "\u00e9\u00e8 \u2603 \U0001f600",
]


def _id(combo: tuple[str, str, str | None]) -> str:
    return "-".join(part for part in combo if part)


def _config(server, framework: str, data: str, serializer: str | None) -> AppConfig:
    return AppConfig.for_server(server, framework, data, serializer, pool_size=2)


def _client(app: Any) -> Any:
    if isinstance(app, fastapi_app.FastAPI):
        from fastapi.testclient import TestClient

        return TestClient(app, raise_server_exceptions=False)
    from litestar.testing import TestClient as LitestarClient

    return LitestarClient(app, raise_server_exceptions=False)


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes | None = None
    content_type: str = "application/json"

    def send(self, client: Any) -> Any:
        if self.body is None:
            return client.request(self.method, self.path)
        return client.request(
            self.method, self.path, content=self.body, headers={"content-type": self.content_type}
        )


def _post(body: object, content_type: str = "application/json") -> Req:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Req("POST", "/posts", raw, content_type)


@pytest.fixture(scope="module")
def db(server, dataset) -> Iterator[psycopg.Connection]:
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        conn.execute(HTTP_POSTS_DDL)
        yield conn


def _counts(db: psycopg.Connection) -> tuple[int, int, int]:
    row = db.execute(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), "
        "(SELECT count(*) FROM comments)"
    ).fetchone()
    assert row is not None
    return row


def _parity_requests(users: int, posts: int) -> list[Req]:
    new = {"user_id": 7, "title": "hello", "body": "a post written by the parity check"}
    return [
        Req("GET", "/health"), Req("GET", "/users/1"), Req("GET", "/users/201"), Req("GET", f"/users/{users}"),
        Req("GET", f"/users/{users + 1}"), Req("GET", "/users/abc"), Req("GET", "/users/0"),
        Req("GET", "/users/-1"), Req("GET", "/users/99999999999999999999"),
        Req("GET", "/users/1; DROP TABLE users --"),
        Req("GET", "/users/1/activity"), Req("GET", "/users/201/activity?limit=5"),
        Req("GET", "/users/401/activity?limit=50"), Req("GET", "/users/450/activity?limit=1"),
        Req("GET", f"/users/{users + 5}/activity"), Req("GET", "/users/1/activity?limit=0"),
        Req("GET", "/users/1/activity?limit=51"), Req("GET", "/users/1/activity?limit=x"),
        Req("GET", "/users/abc/activity?limit=0"), Req("GET", "/users/201/activity?limit=1.0"),
        Req("GET", "/posts"), Req("GET", "/posts?after=1000&limit=5"),
        Req("GET", f"/posts?after={posts - 3}&limit=20"), Req("GET", f"/posts?after={posts}"),
        Req("GET", "/posts?after=-1"), Req("GET", "/posts?limit=0"), Req("GET", "/posts?limit=101"),
        Req("GET", "/posts?limit=x"), Req("GET", "/posts?after=' OR 1=1 --"),
        Req("GET", "/posts?after=99999999999999999999"), Req("GET", "/posts?limit=3&limit=4"),
        Req("GET", "/posts?after=%2B1&limit=01"),
        _post(new), _post({**new, "title": "Robert'); DROP TABLE pb_http_posts;--"}),
        _post({**new, "user_id": "7"}),
        _post({"user_id": 7, "title": "no body"}), _post({**new, "user_id": "seven"}),
        _post({**new, "user_id": True}), _post({**new, "user_id": 0}),
        _post({**new, "title": "x" * 201}), _post({**new, "title": ""}),
        _post({**new, "body": "y" * 10_001}), _post({**new, "title": "nul\x00"}),
        _post({**new, "admin": True}), _post({**new, "user_id": users + 1}),
        _post(b'{"user_id": 7, "title": '), _post([1, 2, 3]), _post(b""), _post(b"null"),
        _post(b'{"user_id": NaN, "title": "a", "body": "b"}'),
        _post(b'{"user_id": 7, "title": "\\ud800", "body": "b"}'),
        _post(b'{"user_id": 1e400, "title": "a", "body": "b"}'),
        _post('{"user_id": 7, "title": "\xe9", "body": "b"}'.encode("latin-1")),
        _post(new, content_type="text/plain"),
        Req("GET", "/no/such/route"), Req("DELETE", "/users/1"), Req("PUT", "/posts"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def requests_(dataset) -> list[Req]:
    return _parity_requests(dataset.spec.total_users, dataset.spec.total_posts)


@pytest.fixture(scope="module", params=COMBOS, ids=_id)
def combo(request, server, db) -> Iterator[tuple[str, Any]]:
    framework, data, serializer = request.param
    module = fastapi_app if framework == "fastapi" else litestar_app
    app = module.create_app(_config(server, framework, data, serializer))
    with _client(app) as client:
        yield _id(request.param), client, module


@pytest.fixture(scope="module")
def reference(server, db, requests_) -> list[Any]:
    app = fastapi_app.create_app(_config(server, *REFERENCE))
    with _client(app) as client:
        return [req.send(client) for req in requests_]


def _check_created(db: psycopg.Connection, body: dict[str, Any]) -> None:
    assert isinstance(body["id"], int) and body["id"] >= 1
    assert TIMESTAMP.match(body["created_at"]), body["created_at"]
    row = db.execute(
        "SELECT user_id, title, body FROM pb_http_posts WHERE id = %s", (body["id"],)
    ).fetchone()
    assert row == (body["user_id"], body["title"], body["body"])


def test_every_app_answers_like_the_reference(combo, reference, requests_, db):
    name, client, _module = combo
    statuses = []
    for req, ref in zip(requests_, reference, strict=True):
        got = req.send(client)
        where = f"{name}: {req.method} {req.path} {req.body!r:.80}"
        statuses.append(got.status_code)
        assert got.status_code == ref.status_code, f"{where}: {got.text}"
        assert got.headers["content-type"].startswith("application/json"), where
        if got.status_code == 201:
            body, ref_body = got.json(), ref.json()
            _check_created(db, body)
            strip = lambda b: {k: v for k, v in b.items() if k not in ("id", "created_at")}  # noqa: E731
            assert strip(body) == strip(ref_body), where
        else:
            assert got.content == ref.content, f"{where}: {got.text} != {ref.text}"
    # the reference itself is right: spot checks of the contract
    assert statuses.count(201) == 3
    assert 500 not in statuses
    by_path = {(r.method, r.path, r.body): got for r, got in zip(requests_, reference, strict=True)}
    user = by_path[("GET", "/users/1", None)].json()
    assert user["id"] == 1 and user["email"] == "user1@example.com"
    assert TIMESTAMP.match(user["created_at"])
    activity = by_path[("GET", "/users/201/activity?limit=5", None)].json()
    assert [p["created_at"] for p in activity["posts"]] == sorted(
        (p["created_at"] for p in activity["posts"]), reverse=True
    )
    assert len(activity["posts"]) == 5
    big = by_path[("GET", "/users/401/activity?limit=50", None)].json()["posts"]
    assert len(big) == 50 and any(p["comments"] for p in big)
    for p in big:
        assert [c["created_at"] for c in p["comments"]] == sorted(
            c["created_at"] for c in p["comments"]
        )
    page = by_path[("GET", "/posts?after=1000&limit=5", None)].json()
    assert [p["id"] for p in page["items"]] == [1001, 1002, 1003, 1004, 1005]
    assert page["next_after"] == 1005
    assert by_path[("GET", "/posts", None)].json()["next_after"] == 20
    assert len(by_path[("GET", "/posts?limit=3&limit=4", None)].json()["items"]) == 4
    assert by_path[("GET", "/users/abc/activity?limit=0", None)].json() == {
        "status_code": 422,
        "detail": "validation failed",
        "fields": ["limit", "user_id"],
    }
    assert by_path[("GET", "/no/such/route", None)].json() == {
        "status_code": 404,
        "detail": "Not Found",
    }
    assert by_path[("DELETE", "/users/1", None)].json() == {
        "status_code": 405,
        "detail": "Method Not Allowed",
    }


BAD_BODIES: list[tuple[bytes, list[str]]] = [
    (b'{"user_id": 7, "title": "t"}', ["body"]),
    (b'{"title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": "x", "title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": 1.5, "title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": null, "title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": -3, "title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": 99999999999999999999, "title": "t", "body": "b"}', ["user_id"]),
    (b'{"user_id": 7, "title": 5, "body": "b"}', ["title"]),
    (b'{"user_id": 7, "title": ["t"], "body": "b"}', ["title"]),
    (b'{"user_id": 7, "title": "t", "body": ""}', ["body"]),
    (b'{"user_id": 7, "title": "t", "body": "b", "id": 1}', ["id"]),
    (b'{"user_id": 7, "title": "t", "body": "b\\u0000"}', ["body"]),
    (b'{"user_id": 123456789, "title": "t", "body": "b"}', ["user_id"]),
    (b"{", []),
    (b"[]", []),
    (b'"a string"', []),
    (b"\xff\xfe", []),
    (b'{"user_id": 7, "title": "t", "body": "b"} trailing', []),
]


def test_post_rejects_bad_bodies_with_a_4xx(combo):
    name, client, _module = combo
    for raw, fields in BAD_BODIES:
        got = _post(raw).send(client)
        assert got.status_code == 422, f"{name}: {raw!r}: {got.status_code} {got.text}"
        assert got.json() == {
            "status_code": 422,
            "detail": "validation failed",
            "fields": fields,
        }, f"{name}: {raw!r}"


def test_injection_strings_are_data_never_sql(combo, db):
    name, client, _module = combo
    before = _counts(db)
    for s in INJECTIONS:
        q = quote(s, safe="")
        for path in (f"/users/{q}", f"/users/{q}/activity", f"/users/1/activity?limit={q}",
                     f"/posts?after={q}", f"/posts?limit={q}", f"/posts?after=1&limit={q}"):  # fmt: skip
            got = client.get(path)
            assert 400 <= got.status_code < 500, f"{name}: {path}: {got.status_code} {got.text}"
        got = _post({"user_id": s, "title": "t", "body": "b"}).send(client)
        assert got.status_code == 422, f"{name}: user_id {s!r}: {got.text}"
        got = _post({"user_id": 3, "title": s, "body": f"body {s}"}).send(client)
        if "\x00" in s:  # PostgreSQL text cannot hold NUL: a validation error, not a 500
            assert got.status_code == 422, f"{name}: {s!r}: {got.text}"
            continue
        assert got.status_code == 201, f"{name}: {s!r}: {got.text}"
        body = got.json()
        assert (body["title"], body["body"], body["user_id"]) == (s, f"body {s}", 3)
        _check_created(db, body)
    assert _counts(db) == before
    for table in ("users", "posts", "comments", "pb_http_posts"):
        assert db.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,), table


def test_health_and_openapi(combo):
    name, client, module = combo
    got = client.get("/health")
    assert (got.status_code, got.json()) == (200, {"status": "ok"}), name
    spec = client.get(module.OPENAPI_PATH)
    assert spec.status_code == 200, name
    paths = spec.json()["paths"]
    for path in ("/health", "/users/{user_id}", "/users/{user_id}/activity", "/posts"):
        assert path in paths, f"{name}: {path} not in {sorted(paths)}"
    assert {"get", "post"} <= set(paths["/posts"]), name
    assert "requestBody" in paths["/posts"]["post"], name
    params = {
        p["name"]: p["schema"] for p in paths["/users/{user_id}/activity"]["get"]["parameters"]
    }
    assert params["limit"]["maximum"] == 50 and params["user_id"]["minimum"] == 1, name
    assert client.get(module.DOCS_PATH).status_code == 200, name


ERROR_BODY = {"status_code": "integer", "detail": "string"}
VALIDATION_ERROR_BODY = {**ERROR_BODY, "fields": "array"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _int_schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield node
        for value in node.values():
            yield from _int_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _int_schemas(value)


@pytest.mark.parametrize("serializer", ["pydantic", "msgspec"])
@pytest.mark.parametrize("framework", ["fastapi", "litestar"])
def test_specs_document_the_error_answers(framework, serializer):
    """Each spec lists the answers its app sends: 404 `ErrorBody` on the user routes, 422
    `ValidationErrorBody` on every route with params or a body, never a 400; bigint bounds are
    the integer 2**63-1 (not a float, which would mean 2**63)."""
    module = fastapi_app if framework == "fastapi" else litestar_app
    cfg = AppConfig(framework, "asyncpg", "127.0.0.1", 9, "nobody", "nodb", None, "public",
                    serializer)  # fmt: skip
    got = _client(module.create_app(cfg, _Broken())).get(module.OPENAPI_PATH)  # no lifespan
    assert got.status_code == 200
    spec = got.json()
    expected = {
        ("get", "/health"): {"200"},
        ("get", "/users/{user_id}"): {"200", "404", "422"},
        ("get", "/users/{user_id}/activity"): {"200", "404", "422"},
        ("get", "/posts"): {"200", "422"},
        ("post", "/posts"): {"201", "422"},
    }
    operations = {(m, p): op for p, item in spec["paths"].items() for m, op in item.items()}
    assert set(operations) == set(expected)
    for key, statuses in expected.items():
        responses = operations[key]["responses"]
        assert set(responses) == statuses, key
        for status, shape in (("404", ERROR_BODY), ("422", VALIDATION_ERROR_BODY)):
            if status not in responses:
                continue
            schema = responses[status]["content"]["application/json"]["schema"]
            name = "ErrorBody" if status == "404" else "ValidationErrorBody"
            assert schema == {"$ref": f"#/components/schemas/{name}"}, key
            body = _resolve(spec, schema)
            assert {k: v["type"] for k, v in body["properties"].items()} == shape, key
            assert sorted(body["required"]) == sorted(shape), key
            if "fields" in shape:
                assert body["properties"]["fields"]["items"] == {"type": "string"}
    assert all("400" not in op["responses"] for op in operations.values())
    for name in ("HTTPValidationError", "ValidationError"):
        assert name not in spec["components"]["schemas"], name
    bounds = [
        (k, v)
        for schema in _int_schemas(spec)
        for k, v in schema.items()
        if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    ]
    assert bounds and all(type(v) is int for _, v in bounds), bounds
    params = {
        (path, p["name"]): p["schema"]
        for path, item in spec["paths"].items()
        for op in item.values()
        for p in op.get("parameters", [])
    }
    for where in (("/users/{user_id}", "user_id"), ("/posts", "after")):
        assert params[where]["maximum"] == 2**63 - 1, where
    body = operations["post", "/posts"]["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(spec, body)["properties"]["user_id"]["maximum"] == 2**63 - 1


class _Broken:
    """A data layer that fails on every query: the catch-all must answer 500, same body."""

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        raise RuntimeError("database is on fire")

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        raise RuntimeError("secret internals")

    async def get_activity(self, user_id: int, limit: int) -> dict[str, Any] | None:
        raise KeyError("secret")

    async def list_posts(self, after: int, limit: int) -> dict[str, Any]:
        return {"items": [{"id": "not an int"}], "next_after": None}  # a bad shape

    async def create_post(self, user_id: int, title: str, body: str) -> dict[str, Any] | None:
        raise ValueError("secret")


@pytest.mark.parametrize("serializer", ["pydantic", "msgspec"])
def test_unexpected_errors_are_a_plain_500(serializer, caplog):
    bodies = {}
    for framework, module in (("fastapi", fastapi_app), ("litestar", litestar_app)):
        cfg = AppConfig(framework, "asyncpg", "127.0.0.1", 9, "nobody", "nodb", None, "public",
                        serializer)  # fmt: skip
        with caplog.at_level(logging.ERROR), _client(module.create_app(cfg, _Broken())) as client:
            answers = [
                client.get("/health"), client.get("/users/1"), client.get("/users/1/activity"),
                client.get("/posts"), _post({"user_id": 1, "title": "t", "body": "b"}).send(client),
            ]  # fmt: skip
        assert [a.status_code for a in answers] == [500] * 5, framework
        bodies[framework] = [a.content for a in answers]
        assert b"secret" not in b"".join(bodies[framework])
    assert bodies["fastapi"] == bodies["litestar"]
    assert json.loads(bodies["fastapi"][0]) == {
        "status_code": 500,
        "detail": "Internal Server Error",
    }
    assert "unhandled error" in caplog.text


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "PB_APP_FRAMEWORK": "litestar",
        "PB_APP_DATA": "asyncpg",
        "PB_DB_HOST": "127.0.0.1",
        "PB_DB_PORT": "5432",
        "PB_DB_USER": "postgres",
        "PB_DB_NAME": "postgres",
    }
    return {k: v for k, v in {**env, **overrides}.items() if v != "<unset>"}


def test_config_from_env_validates_and_round_trips():
    cfg = AppConfig.from_env(_env())
    assert (cfg.framework, cfg.data, cfg.serializer, cfg.pool_size, cfg.db_schema) == (
        "litestar", "asyncpg", "msgspec", 10, "public",
    )  # fmt: skip
    assert AppConfig.from_env(_env(PB_APP_FRAMEWORK="fastapi")).serializer == "pydantic"
    full = AppConfig.from_env(
        _env(PB_APP_FRAMEWORK="fastapi", PB_APP_DATA="orm", PB_APP_SERIALIZER="msgspec",
             PB_APP_POOL_SIZE="3", PB_DB_PASSWORD="s3cret", PB_DB_SCHEMA="bench")
    )  # fmt: skip
    assert (full.serializer, full.pool_size, full.db_password, full.db_schema) == (
        "msgspec", 3, "s3cret", "bench",
    )  # fmt: skip
    for one in (cfg, full):
        assert AppConfig.from_env(one.to_env()) == one
    assert "s3cret" not in repr(AppConfig.from_env(_env(PB_DB_PASSWORD="s3cret")))
    bad = {
        "PB_APP_FRAMEWORK": ("django", "fastapi, litestar"),
        "PB_APP_DATA": ("psycopg", "orm, asyncpg"),
        "PB_APP_SERIALIZER": ("orjson", "pydantic, msgspec"),
        "PB_APP_POOL_SIZE": ("lots", "1 to 1000"),
        "PB_DB_PORT": ("0", "1 to 65535"),
        "PB_DB_SCHEMA": ("x; DROP TABLE users", "schema name"),
    }
    for var, (value, valid) in bad.items():
        with pytest.raises(ValueError, match=var) as err:
            AppConfig.from_env(_env(**{var: value}))
        assert valid in str(err.value)
    for var in ("PB_APP_FRAMEWORK", "PB_APP_DATA", "PB_DB_HOST", "PB_DB_PORT", "PB_DB_USER"):
        with pytest.raises(ValueError, match=var):
            AppConfig.from_env(_env(**{var: "<unset>"}))
    with pytest.raises(ValueError, match="fastapi, litestar"):
        AppConfig.from_env(_env(PB_APP_FRAMEWORK="<unset>"))


def test_data_layers_follow_a_non_public_schema(server, db):
    """PB_DB_SCHEMA sets search_path on every connection of both data layers."""
    import asyncio
    from dataclasses import replace

    from scenarios.webapps.data import make_data_layer

    db.execute("DROP SCHEMA IF EXISTS pb_http_other CASCADE")
    db.execute("CREATE SCHEMA pb_http_other")
    try:
        for table in ("users", "posts", "comments"):
            db.execute(f"CREATE TABLE pb_http_other.{table} (LIKE public.{table} INCLUDING ALL)")
        db.execute(
            "INSERT INTO pb_http_other.users (id, email, name, created_at) "
            "OVERRIDING SYSTEM VALUE VALUES (1, 'other@example.com', 'Other', now())"
        )
        db.execute("SET search_path TO pb_http_other")
        db.execute(HTTP_POSTS_DDL)
        db.execute("SET search_path TO DEFAULT")
        cfg = replace(_config(server, "fastapi", "orm", None), db_schema="pb_http_other")

        async def run(kind: str) -> tuple[Any, ...]:
            layer = make_data_layer(replace(cfg, data=kind))
            await layer.open()
            try:
                return (
                    (await layer.get_user(1))["email"],
                    await layer.get_activity(1, 5),
                    await layer.list_posts(0, 5),
                    (await layer.create_post(1, "t", "b"))["title"],
                    await layer.create_post(2, "t", "b"),
                )
            finally:
                await layer.close()

        for kind in ("orm", "asyncpg"):
            email, activity, page, title, unknown = asyncio.run(run(kind))
            assert (email, activity["posts"], page, title, unknown) == (
                "other@example.com", [], {"items": [], "next_after": None}, "t", None,
            ), kind  # fmt: skip
        assert db.execute("SELECT count(*) FROM pb_http_other.pb_http_posts").fetchone() == (2,)
    finally:
        db.execute("DROP SCHEMA pb_http_other CASCADE")
