"""The request and response shapes, twice: Pydantic v2 models and msgspec Structs.

Same field names, same constraints, same JSON. The msgspec twins carry a `Struct` suffix (Python
needs two names); `shapes(serializer)` hands an app the set it should use. Also here: the shared
error body (`error_json`, documented in both specs as the Pydantic models `ErrorBody` and
`ValidationErrorBody`), and how a msgspec validation message names its field.

Both libraries write a UTC datetime as `2026-01-01T00:00:00Z` / `...00.123456Z`; the data layers
hand out UTC datetimes, so the strings agree.

Parity shim: integers (path/query params and `NewPost.user_id`) follow msgspec's lax rules in
both libraries, because Litestar converts with `msgspec.convert(strict=False)` and cannot be made
stricter: "1", "1.0" and 1.0 are accepted, "+1", " 1", "01", "1_000" and `true` are refused. The
Pydantic side gets that through `LAX_INT` (a BeforeValidator delegating to msgspec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MAX_BIGINT = 2**63 - 1  # ids and cursors are bigint: anything larger is a 422, not a 500
TITLE_MAX = 200
BODY_MAX = 10_000
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold U+0000: refuse it as a validation error
ACTIVITY_LIMIT_MAX = 50
ACTIVITY_LIMIT_DEFAULT = 10
PAGE_LIMIT_MAX = 100
PAGE_LIMIT_DEFAULT = 20


def _msgspec_int(value: Any) -> Any:
    """Pydantic pre-validator: coerce like `msgspec.convert(strict=False)` (see module doc)."""
    try:
        return msgspec.convert(value, int, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


# put it AFTER the Field/Path/Query constraints: Annotated[int, Field(ge=1), LAX_INT]. (Before them,
# Pydantic writes the bounds into the JSON schema as "ge"/"le" instead of "minimum"/"maximum".)
LAX_INT = BeforeValidator(_msgspec_int)

# ---------------------------------------------------------------- Pydantic v2


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    created_at: datetime


class CommentOut(BaseModel):
    id: int
    author_id: int
    body: str
    created_at: datetime


class PostWithComments(BaseModel):
    id: int
    title: str
    body: str
    created_at: datetime
    comments: list[CommentOut]


class ActivityOut(BaseModel):
    user: UserOut
    posts: list[PostWithComments]


class PostSummary(BaseModel):
    id: int
    user_id: int
    title: str
    created_at: datetime


class PostsPage(BaseModel):
    items: list[PostSummary]
    next_after: int | None


class NewPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: Annotated[int, Field(ge=1, le=MAX_BIGINT), LAX_INT]
    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX, pattern=NO_NUL)]
    body: Annotated[str, Field(min_length=1, max_length=BODY_MAX, pattern=NO_NUL)]


class PostOut(BaseModel):
    id: int
    user_id: int
    title: str
    body: str
    created_at: datetime


# ---------------------------------------------------------------- msgspec


class UserOutStruct(msgspec.Struct):
    id: int
    email: str
    name: str
    created_at: datetime


class CommentOutStruct(msgspec.Struct):
    id: int
    author_id: int
    body: str
    created_at: datetime


class PostWithCommentsStruct(msgspec.Struct):
    id: int
    title: str
    body: str
    created_at: datetime
    comments: list[CommentOutStruct]


class ActivityOutStruct(msgspec.Struct):
    user: UserOutStruct
    posts: list[PostWithCommentsStruct]


class PostSummaryStruct(msgspec.Struct):
    id: int
    user_id: int
    title: str
    created_at: datetime


class PostsPageStruct(msgspec.Struct):
    items: list[PostSummaryStruct]
    next_after: int | None


class NewPostStruct(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Annotated[int, msgspec.Meta(ge=1, le=MAX_BIGINT)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX, pattern=NO_NUL)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=BODY_MAX, pattern=NO_NUL)]


class PostOutStruct(msgspec.Struct):
    id: int
    user_id: int
    title: str
    body: str
    created_at: datetime


# ---------------------------------------------------------------- choosing a set


@dataclass(frozen=True)
class Shapes:
    """The classes one serialiser uses, and how to build a response object from a plain dict."""

    serializer: str
    user: type
    activity: type
    page: type
    new_post: type
    post_out: type

    def build(self, cls: type, payload: dict[str, Any]) -> Any:
        if self.serializer == "pydantic":
            return cls.model_validate(payload)  # type: ignore[attr-defined]
        return msgspec.convert(payload, cls)


PYDANTIC_SHAPES = Shapes("pydantic", UserOut, ActivityOut, PostsPage, NewPost, PostOut)
MSGSPEC_SHAPES = Shapes(
    "msgspec", UserOutStruct, ActivityOutStruct, PostsPageStruct, NewPostStruct, PostOutStruct
)


def shapes(serializer: str) -> Shapes:
    if serializer == "pydantic":
        return PYDANTIC_SHAPES
    if serializer == "msgspec":
        return MSGSPEC_SHAPES
    raise ValueError(f"serializer must be one of pydantic, msgspec; got {serializer!r}")


# ---------------------------------------------------------------- errors

VALIDATION_FAILED = "validation failed"
INTERNAL_ERROR = "Internal Server Error"
USER_NOT_FOUND = "user not found"


class ErrorOut(msgspec.Struct):
    """Every error body: `{"status_code": N, "detail": "..."}`, plus `fields` on a 422."""

    status_code: int
    detail: str
    fields: list[str] | msgspec.UnsetType = msgspec.UNSET


class ErrorBody(BaseModel):
    """The documented shape of an error answer (`ErrorOut` without `fields`), e.g. a 404."""

    status_code: int
    detail: str


class ValidationErrorBody(BaseModel):
    """The documented shape of a 422: `detail` is "validation failed", `fields` the sorted,
    de-duplicated names of the offending params or body fields (empty when the body as a whole
    is bad)."""

    status_code: int
    detail: str
    fields: list[str]


def error_json(status_code: int, detail: str, fields: list[str] | None = None) -> bytes:
    """The exact bytes both apps send for an error (fields sorted and de-duplicated)."""
    if status_code >= 500:
        detail = INTERNAL_ERROR  # never leak internals
    body = ErrorOut(status_code, detail)
    if fields is not None:
        body.fields = sorted(set(fields))
    return msgspec.json.encode(body)


_AT_FIELD = re.compile(r" - at `\$\.([^.\[`]+)")
_MISSING = re.compile(r"Object missing required field `(.*)`", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`", re.DOTALL)


def msgspec_error_field(message: str) -> str | None:
    """The top-level field a msgspec ValidationError message is about; None when it is about the
    body as a whole ("Expected `object`, got `array`")."""
    if match := _MISSING.fullmatch(message) or _UNKNOWN.fullmatch(message):
        return match.group(1)
    if match := _AT_FIELD.search(message):
        return match.group(1)
    return None
