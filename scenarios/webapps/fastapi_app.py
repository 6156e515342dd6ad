"""The FastAPI app: `create_app(cfg)`.

Serialisation follows `cfg.serializer`:

- pydantic (FastAPI's default): handlers return Pydantic models through `response_model`, the
  POST body is a Pydantic `NewPost` parameter.
- msgspec: handlers encode msgspec Structs with `msgspec.json.encode` into a
  `Response(media_type="application/json")`; the POST handler reads the raw body and validates it
  with msgspec like Litestar does (decode to builtins, then `msgspec.convert(strict=False)`). The
  Pydantic models stay on the routes for the OpenAPI document only (`response_model` for docs,
  `openapi_extra` for the request body). Path and query params are FastAPI's (Pydantic) either
  way: FastAPI has no other way to declare them.

Parity with the Litestar app (same status, byte-identical JSON):

- JSON bodies are decoded with msgspec in both serialiser modes (with Pydantic: a custom Request
  class on the POST route, the documented FastAPI pattern), as Litestar does: so NaN, lone
  surrogates, numbers out of range and invalid UTF-8 are "malformed JSON" in both apps, never a
  500 (a lone surrogate would reach asyncpg) or a quietly accepted value.
- A POST whose Content-Type is not JSON is a 422 with no fields (FastAPI's own rule; the Litestar
  app copies it).
- Every error body comes from `schemas.error_json`; validation errors are 422 with `fields`, the
  sorted names of the offending params or body fields (`loc[1]` of each FastAPI error; body-level
  errors such as malformed JSON name no field).
- The spec documents those answers as the Litestar app's does: `ErrorBody` for the 404 of the
  user routes, `ValidationErrorBody` for the 422 of every route with params or a body (in place
  of FastAPI's default `HTTPValidationError`), and integer bounds as integers
  (`_exact_int_bounds`).

Known differences, outside the contract: a body with several bad fields names all of them with
Pydantic but only the first with msgspec (it stops at the first error; same in Litestar); OPTIONS
is 405 here and 204 in Litestar (which answers it itself); a trailing slash redirects here (307)
and is ignored by Litestar.
"""

import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.constants import REF_TEMPLATE
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from scenarios.webapps.config import AppConfig
from scenarios.webapps.data import DataLayer, make_data_layer
from scenarios.webapps.schemas import (
    ACTIVITY_LIMIT_DEFAULT,
    ACTIVITY_LIMIT_MAX,
    LAX_INT,
    MAX_BIGINT,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    USER_NOT_FOUND,
    VALIDATION_FAILED,
    ActivityOut,
    ErrorBody,
    NewPost,
    NewPostStruct,
    PostOut,
    PostsPage,
    UserOut,
    ValidationErrorBody,
    error_json,
    msgspec_error_field,
    shapes,
)

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
JSON = "application/json"

log = logging.getLogger(__name__)

UserId = Annotated[int, Path(ge=1, le=MAX_BIGINT), LAX_INT]
ActivityLimit = Annotated[int, Query(ge=1, le=ACTIVITY_LIMIT_MAX), LAX_INT]
PageAfter = Annotated[int, Query(ge=0, le=MAX_BIGINT), LAX_INT]
PageLimit = Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX), LAX_INT]

# The error answers the spec documents: 404 where the user can be missing, and the app's own 422
# body on every route with params or a body (a `responses` 422 replaces FastAPI's default
# `HTTPValidationError`, which is not what the app sends).
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": USER_NOT_FOUND}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorBody, "description": VALIDATION_FAILED}
}
# FastAPI's OpenAPI model types every numeric bound of a component schema as float, which writes
# MAX_BIGINT (NewPost.user_id) as 9.223372036854776e18, i.e. 2**63. Pydantic's own schema of the
# model is exact: `_exact_int_bounds` puts it back. (Params are written as they are.)
EXACT_COMPONENTS = {
    model.__name__: model.model_json_schema(ref_template=REF_TEMPLATE) for model in (NewPost,)
}


class MsgspecJSONRequest(Request):
    """A Request whose `.json()` decodes with msgspec (see the module doc): a decode failure is
    a json.JSONDecodeError, which FastAPI turns into a RequestValidationError."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = msgspec.json.decode(body)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class MsgspecJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            return await handler(MsgspecJSONRequest(request.scope, request.receive))

        return route_handler


def _validation_error(fields: list[str]) -> RequestValidationError:
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ("body", f), "msg": "invalid", "input": None}
            for f in fields
        ]
    )


def _error(status_code: int, detail: str, fields: list[str] | None = None) -> Response:
    return Response(error_json(status_code, detail, fields), status_code, media_type=JSON)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = _error(exc.status_code, detail)
        for name, value in (exc.headers or {}).items():  # e.g. Allow on a 405
            response.headers[name] = value
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = []
        for err in exc.errors():
            loc = err.get("loc", ())
            if len(loc) > 1 and isinstance(loc[1], str):
                fields.append(loc[1])
        return _error(422, VALIDATION_FAILED, fields)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "Internal Server Error")

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)


def _exact_int_bounds(app: FastAPI) -> None:
    """Wraps `app.openapi` (FastAPI's documented way to amend the spec) with EXACT_COMPONENTS."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()  # cached by FastAPI: the update below is done again, to the same result
        schemas = spec.get("components", {}).get("schemas", {})
        schemas.update({name: s for name, s in EXACT_COMPONENTS.items() if name in schemas})
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(cfg: AppConfig, data: DataLayer | None = None) -> FastAPI:
    """The FastAPI app for `cfg`; `data` replaces the configured data layer (tests)."""
    layer = data if data is not None else make_data_layer(cfg)
    use_msgspec = cfg.serializer == "msgspec"
    shape = shapes(cfg.serializer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await layer.open()
        try:
            yield
        finally:
            await layer.close()

    app = FastAPI(
        title="patternbench webapp (FastAPI)",
        version="1.0",
        lifespan=lifespan,
        openapi_url=OPENAPI_PATH,
        docs_url=DOCS_PATH,
        redoc_url=None,
    )
    _install_error_handlers(app)
    _exact_int_bounds(app)

    def reply(cls: type, payload: dict[str, Any], status_code: int = 200) -> Any:
        """A response object: a Pydantic model for response_model, or msgspec-encoded bytes."""
        obj = shape.build(cls, payload)
        if use_msgspec:
            return Response(msgspec.json.encode(obj), status_code, media_type=JSON)
        return obj

    @app.get("/health")
    async def health() -> dict[str, str]:
        await layer.ping()
        return {"status": "ok"}

    @app.get("/users/{user_id}", response_model=UserOut, responses={**NOT_FOUND, **INVALID})
    async def get_user(user_id: UserId) -> Any:
        user = await layer.get_user(user_id)
        if user is None:
            raise StarletteHTTPException(404, USER_NOT_FOUND)
        return reply(shape.user, user)

    @app.get(
        "/users/{user_id}/activity",
        response_model=ActivityOut,
        responses={**NOT_FOUND, **INVALID},
    )
    async def get_activity(user_id: UserId, limit: ActivityLimit = ACTIVITY_LIMIT_DEFAULT) -> Any:
        activity = await layer.get_activity(user_id, limit)
        if activity is None:
            raise StarletteHTTPException(404, USER_NOT_FOUND)
        return reply(shape.activity, activity)

    @app.get("/posts", response_model=PostsPage, responses=INVALID)
    async def list_posts(after: PageAfter = 0, limit: PageLimit = PAGE_LIMIT_DEFAULT) -> Any:
        return reply(shape.page, await layer.list_posts(after, limit))

    async def store(new: NewPost | NewPostStruct) -> Any:
        created = await layer.create_post(new.user_id, new.title, new.body)
        if created is None:
            raise _validation_error(["user_id"])  # unknown user: a 422 on the field
        return reply(shape.post_out, created, 201)

    if use_msgspec:

        @app.post(
            "/posts",
            status_code=201,
            response_model=PostOut,
            responses=INVALID,
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": NewPost.model_json_schema()}},
                }
            },
        )
        async def create_post_msgspec(request: Request) -> Any:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != JSON and not media_type.endswith("+json"):
                raise _validation_error([])
            try:
                raw = msgspec.json.decode(await request.body())
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                raise _validation_error([]) from None  # malformed JSON: no field to name
            try:
                new = msgspec.convert(raw, NewPostStruct, strict=False)
            except msgspec.ValidationError as exc:
                field = msgspec_error_field(str(exc))
                raise _validation_error([field] if field else []) from None
            return await store(new)

    else:

        async def create_post(new: NewPost) -> Any:
            return await store(new)

        # the only route that parses a JSON body: it alone needs the msgspec-decoding Request
        app.router.add_api_route(
            "/posts",
            create_post,
            methods=["POST"],
            status_code=201,
            response_model=PostOut,
            responses=INVALID,
            route_class_override=MsgspecJSONRoute,
        )

    return app
