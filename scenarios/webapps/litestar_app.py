"""The Litestar app: `create_app(cfg)`.

Serialisation follows `cfg.serializer`:

- msgspec (Litestar's default): handlers return msgspec Structs, the POST body is a
  `NewPostStruct` `data` parameter (Litestar decodes the JSON, then `msgspec.convert(strict=False)`).
- pydantic: handlers return Pydantic models and the POST body is a Pydantic `NewPost` `data`
  parameter, through Litestar's built-in Pydantic v2 plugin (Litestar still decodes the JSON with
  msgspec first). Path and query params are validated by Litestar's own msgspec signature model
  either way.

Parity with the FastAPI app (same status, byte-identical JSON):

- Path ids are declared `{user_id:str}` and converted by the signature model: a typed
  `{user_id:int}` path makes `/users/abc` a 404 (no route), where the contract wants a 422.
- A POST whose Content-Type is not JSON, or whose body is not UTF-8, is a 422 with no fields
  (a `before_request` hook): Litestar would otherwise parse any Content-Type as JSON, and answer
  invalid UTF-8 with a 500.
- Every error body comes from `schemas.error_json`. ValidationException's `extra` is a list of
  `{"message", "key", "source"}`: `key` is the param or body field (`limit`, `user_id`, `title`);
  an error about the body as a whole has key "data" and source "body" (msgspec: missing or
  unknown fields are named only in the message, "Object missing required field `title`"), or no
  key at all (Pydantic). Malformed JSON is a ClientException caused by a SerializationException.

The spec documents exactly those answers, like the FastAPI app's: `ErrorBody` for the 404 of the
user routes, `ValidationErrorBody` for the 422 of every route with params or a body, and not the
400 Litestar documents by default (`_Operation`); integer bounds are written as integers
(`_IntBoundsPlugin`: Litestar's own floats would document 2**63 as the bigint maximum).

Known differences: see the end of `fastapi_app`'s doc (several bad body fields with msgspec,
OPTIONS, trailing slashes).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.params import JSONBody, KwargDefinition, Parameter
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from scenarios.webapps.config import AppConfig
from scenarios.webapps.data import DataLayer, make_data_layer
from scenarios.webapps.schemas import (
    ACTIVITY_LIMIT_DEFAULT,
    ACTIVITY_LIMIT_MAX,
    MAX_BIGINT,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    USER_NOT_FOUND,
    VALIDATION_FAILED,
    ErrorBody,
    ValidationErrorBody,
    error_json,
    msgspec_error_field,
    shapes,
)

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

OPENAPI_PATH = "/schema/openapi.json"
DOCS_PATH = "/schema"
JSON = "application/json"

log = logging.getLogger(__name__)

UserId = Annotated[int, Parameter(ge=1, le=MAX_BIGINT)]
ActivityLimit = Annotated[int, Parameter(ge=1, le=ACTIVITY_LIMIT_MAX)]
PageAfter = Annotated[int, Parameter(ge=0, le=MAX_BIGINT)]
PageLimit = Annotated[int, Parameter(ge=1, le=PAGE_LIMIT_MAX)]

# The error answers the spec documents: 404 where the user can be missing, 422 on every route
# with params or a body (see `_Operation` for the 400 Litestar would document instead).
NOT_FOUND = {404: ResponseSpec(ErrorBody, generate_examples=False, description=USER_NOT_FOUND)}
INVALID = {
    422: ResponseSpec(ValidationErrorBody, generate_examples=False, description=VALIDATION_FAILED)
}


@dataclass
class _Operation(Operation):
    """An operation without the 400 Litestar documents for every handler with params or a body
    (a ValidationException): this app answers those with a 422 (`_on_http`), documented through
    the handlers' `responses`, and never sends a 400."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses.pop("400", None)


class _IntBoundsPlugin(OpenAPISchemaPlugin):
    """Integer bounds written as integers: Litestar writes every bound as a float (`float(le)`),
    which turns MAX_BIGINT (2**63-1) into 9.223372036854776e18, i.e. 2**63. Covers params and
    body fields, with either serialiser."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        kwargs = field_definition.kwarg_definition
        return (
            field_definition.annotation is int
            and isinstance(kwargs, KwargDefinition)
            and kwargs.is_constrained
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: "SchemaCreator"
    ) -> Schema:
        kwargs = field_definition.kwarg_definition
        assert isinstance(kwargs, KwargDefinition)
        return Schema(
            type=OpenAPIType.INTEGER,
            minimum=kwargs.ge,
            maximum=kwargs.le,
            exclusive_minimum=kwargs.gt,
            exclusive_maximum=kwargs.lt,
            multiple_of=kwargs.multiple_of,
        )


def _error(status_code: int, detail: str, fields: list[str] | None = None) -> Response[bytes]:
    return Response(
        error_json(status_code, detail, fields), status_code=status_code, media_type=JSON
    )


def _fields(exc: ValidationException) -> list[str]:
    fields: list[str] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict) or not isinstance(key := item.get("key"), str):
            continue  # an error about the body as a whole (Pydantic)
        if key == "data" and item.get("source") == "body":  # the body as a whole (msgspec)
            if field := msgspec_error_field(str(item.get("message", ""))):
                fields.append(field)
            continue
        fields.append(key)
    return fields


def _on_http(request: Request, exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, ValidationException):
        return _error(422, VALIDATION_FAILED, _fields(exc))
    if isinstance(exc, ClientException) and isinstance(exc.__cause__, SerializationException):
        return _error(422, VALIDATION_FAILED, [])  # malformed JSON: no field to name
    if exc.status_code >= 500:
        log.error("server error on %s %s", request.method, request.url.path, exc_info=exc)
    response = _error(exc.status_code, exc.detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _on_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "Internal Server Error")


async def _require_json_body(request: Request) -> None:
    """FastAPI's rule (JSON Content-Type only), and invalid UTF-8 as malformed JSON."""
    media_type = request.content_type[0].lower()
    if media_type != JSON and not media_type.endswith("+json"):
        raise ValidationException(extra=[])
    try:
        (await request.body()).decode()
    except UnicodeDecodeError:
        raise ValidationException(extra=[]) from None


def create_app(cfg: AppConfig, data: DataLayer | None = None) -> Litestar:
    """The Litestar app for `cfg`; `data` replaces the configured data layer (tests)."""
    layer = data if data is not None else make_data_layer(cfg)
    shape = shapes(cfg.serializer)
    # the response/request classes of the chosen serialiser, as annotations Litestar reads
    # The shapes are chosen at run time (msgspec or Pydantic): Litestar reads them from the
    # handlers' annotations, which a type checker cannot follow (hence the ignores below).
    UserT = shape.user
    ActivityT = shape.activity
    PageT = shape.page
    NewPostT = shape.new_post
    PostOutT = shape.post_out

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await layer.open()
        try:
            yield
        finally:
            await layer.close()

    documented: dict[str, Any] = {"operation_class": _Operation}

    @get("/health", **documented)
    async def health() -> dict[str, str]:
        await layer.ping()
        return {"status": "ok"}

    @get("/users/{user_id:str}", responses={**NOT_FOUND, **INVALID}, **documented)
    async def get_user(user_id: UserId) -> UserT:  # type: ignore[valid-type]
        user = await layer.get_user(user_id)
        if user is None:
            raise NotFoundException(USER_NOT_FOUND)
        return shape.build(UserT, user)

    @get("/users/{user_id:str}/activity", responses={**NOT_FOUND, **INVALID}, **documented)
    async def get_activity(
        user_id: UserId, limit: ActivityLimit = ACTIVITY_LIMIT_DEFAULT
    ) -> ActivityT:  # type: ignore[valid-type]
        activity = await layer.get_activity(user_id, limit)
        if activity is None:
            raise NotFoundException(USER_NOT_FOUND)
        return shape.build(ActivityT, activity)

    @get("/posts", responses=INVALID, **documented)
    async def list_posts(after: PageAfter = 0, limit: PageLimit = PAGE_LIMIT_DEFAULT) -> PageT:  # type: ignore[valid-type]
        return shape.build(PageT, await layer.list_posts(after, limit))

    @post("/posts", before_request=_require_json_body, responses=INVALID, **documented)
    async def create_post(data: JSONBody[NewPostT]) -> PostOutT:  # type: ignore[valid-type]
        created = await layer.create_post(data.user_id, data.title, data.body)  # type: ignore[attr-defined]
        if created is None:  # unknown user: a 422 on the field
            raise ValidationException(extra=[{"key": "user_id", "message": "unknown user"}])
        return shape.build(PostOutT, created)

    return Litestar(
        route_handlers=[health, get_user, get_activity, list_posts, create_post],
        lifespan=[lifespan],
        exception_handlers={HTTPException: _on_http, Exception: _on_unexpected},
        plugins=[_IntBoundsPlugin()],
        openapi_config=OpenAPIConfig(
            title="patternbench webapp (Litestar)", version="1.0", path=DOCS_PATH
        ),
    )
