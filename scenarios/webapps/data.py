"""The apps' data access: one protocol, two implementations that return equal plain dicts.

- `OrmData`: SQLAlchemy 2 async ORM over asyncpg (the shared models of `harness.data.domain`), a
  session per request, the activity's comments loaded with `selectinload(Post.comments)`.
- `AsyncpgData`: a raw asyncpg pool and hand-written SQL.

Both only ever pass values as bind parameters (never formatted into SQL), hand out ids as int and
datetimes as timezone-aware UTC datetimes, and select only the columns the responses need (the
ORM through `load_only`, so both do the same work on the server). POSTs write to
`pb_http_posts` (DDL below, run by the caller: the apps never create tables), so the shared
dataset never changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from sqlalchemy import URL, BigInteger, Identity, Text, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, load_only, mapped_column, selectinload
from sqlalchemy.types import TIMESTAMP

from harness.data.domain import Comment, Post, User
from scenarios.webapps.config import AppConfig

HTTP_POSTS_DDL = (
    "CREATE TABLE IF NOT EXISTS pb_http_posts ("
    "id bigint generated always as identity primary key, "
    "user_id bigint not null references users(id), "
    "title text not null, "
    "body text not null, "
    "created_at timestamptz not null default now())"
)
FOREIGN_KEY_VIOLATION = "23503"


class HttpBase(DeclarativeBase):
    """Its own metadata: the dataset loader owns `harness.data.domain.Base` and its three tables."""


class HttpPost(HttpBase):
    """A row of pb_http_posts. The FK to users lives in the DDL only: it would not resolve in
    this separate metadata, and the apps never emit DDL."""

    __tablename__ = "pb_http_posts"
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy's configuration hook

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )


class DataLayer(Protocol):
    """What the apps need from a data layer. Every method is safe to call concurrently."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def get_user(self, user_id: int) -> dict[str, Any] | None: ...

    async def get_activity(self, user_id: int, limit: int) -> dict[str, Any] | None: ...

    async def list_posts(self, after: int, limit: int) -> dict[str, Any]: ...

    async def create_post(self, user_id: int, title: str, body: str) -> dict[str, Any] | None: ...


def make_data_layer(cfg: AppConfig) -> DataLayer:
    """The data layer `cfg.data` names (not yet opened)."""
    if cfg.data == "orm":
        return OrmData(cfg)
    if cfg.data == "asyncpg":
        return AsyncpgData(cfg)
    raise ValueError(f"PB_APP_DATA must be one of orm, asyncpg; got {cfg.data!r}")


# ---------------------------------------------------------------- the dict shapes


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _user(id_: int, email: str, name: str, created_at: datetime) -> dict[str, Any]:
    return {"id": id_, "email": email, "name": name, "created_at": _utc(created_at)}


def _comment(id_: int, author_id: int, body: str, created_at: datetime) -> dict[str, Any]:
    return {"id": id_, "author_id": author_id, "body": body, "created_at": _utc(created_at)}


def _post_with_comments(
    id_: int, title: str, body: str, created_at: datetime, comments: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "body": body,
        "created_at": _utc(created_at),
        "comments": comments,
    }


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_after": items[-1]["id"] if len(items) == limit else None}


def _summary(id_: int, user_id: int, title: str, created_at: datetime) -> dict[str, Any]:
    return {"id": id_, "user_id": user_id, "title": title, "created_at": _utc(created_at)}


def _post_out(
    id_: int, user_id: int, title: str, body: str, created_at: datetime
) -> dict[str, Any]:
    return {
        "id": id_,
        "user_id": user_id,
        "title": title,
        "body": body,
        "created_at": _utc(created_at),
    }


# ---------------------------------------------------------------- SQLAlchemy async ORM


class OrmData:
    """SQLAlchemy 2 async ORM over asyncpg: a QueuePool of `pool_size`, no overflow."""

    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    async def open(self) -> None:
        cfg = self.cfg
        connect_args: dict[str, Any] = {}
        if settings := cfg.server_settings():
            connect_args["server_settings"] = settings
        self._engine = create_async_engine(
            sqlalchemy_url(cfg), pool_size=cfg.pool_size, max_overflow=0, connect_args=connect_args
        )
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        await self.ping()  # fail at startup, not on the first request

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
        self._engine = self._sessions = None

    def _session(self) -> AsyncSession:
        if self._sessions is None:
            raise RuntimeError("OrmData is not open")
        return self._sessions()

    async def ping(self) -> None:
        async with self._session() as session:
            await session.execute(text("SELECT 1"))

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        async with self._session() as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            return _user(user.id, user.email, user.name, user.created_at)

    async def get_activity(self, user_id: int, limit: int) -> dict[str, Any] | None:
        async with self._session() as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            stmt = (
                select(Post)
                .options(
                    load_only(Post.id, Post.title, Post.body, Post.created_at),
                    selectinload(Post.comments).load_only(
                        Comment.id,
                        Comment.post_id,
                        Comment.author_id,
                        Comment.body,
                        Comment.created_at,
                    ),
                )
                .where(Post.user_id == user_id)
                .order_by(Post.created_at.desc(), Post.id.desc())
                .limit(limit)
            )
            posts = (await session.scalars(stmt)).all()
            return {
                "user": _user(user.id, user.email, user.name, user.created_at),
                "posts": [
                    _post_with_comments(
                        p.id,
                        p.title,
                        p.body,
                        p.created_at,
                        [_comment(c.id, c.author_id, c.body, c.created_at) for c in p.comments],
                    )
                    for p in posts
                ],
            }

    async def list_posts(self, after: int, limit: int) -> dict[str, Any]:
        async with self._session() as session:
            stmt = (
                select(Post)
                .options(load_only(Post.id, Post.user_id, Post.title, Post.created_at))
                .where(Post.id > after)
                .order_by(Post.id)
                .limit(limit)
            )
            posts = (await session.scalars(stmt)).all()
            return _page([_summary(p.id, p.user_id, p.title, p.created_at) for p in posts], limit)

    async def create_post(self, user_id: int, title: str, body: str) -> dict[str, Any] | None:
        try:
            async with self._session() as session, session.begin():
                exists = await session.scalar(select(User.id).where(User.id == user_id))
                if exists is None:
                    return None
                post = HttpPost(user_id=user_id, title=title, body=body)
                session.add(post)
                await session.flush()  # INSERT ... RETURNING id, created_at
                return _post_out(post.id, post.user_id, post.title, post.body, post.created_at)
        except IntegrityError as exc:  # the user vanished between the check and the insert
            if getattr(exc.orig, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
                return None
            raise


def sqlalchemy_url(cfg: AppConfig) -> URL:
    """The SQLAlchemy URL (postgresql+asyncpg) for `cfg`."""
    return URL.create(
        "postgresql+asyncpg",
        username=cfg.db_user,
        password=cfg.db_password,
        host=cfg.db_host,
        port=cfg.db_port,
        database=cfg.db_name,
    )


# ---------------------------------------------------------------- raw asyncpg

USER_SQL = "SELECT id, email, name, created_at FROM users WHERE id = $1"
POSTS_OF_USER_SQL = (
    "SELECT id, title, body, created_at FROM posts WHERE user_id = $1 "
    "ORDER BY created_at DESC, id DESC LIMIT $2"
)
COMMENTS_OF_POSTS_SQL = (
    "SELECT id, post_id, author_id, body, created_at FROM comments "
    "WHERE post_id = ANY($1::bigint[]) ORDER BY post_id, created_at, id"
)
PAGE_SQL = "SELECT id, user_id, title, created_at FROM posts WHERE id > $1 ORDER BY id LIMIT $2"
# one statement: inserts only when the user exists, so an unknown user is "no row", not an error
CREATE_POST_SQL = (
    "INSERT INTO pb_http_posts (user_id, title, body) "
    "SELECT u.id, $2::text, $3::text FROM users u WHERE u.id = $1::bigint "
    "RETURNING id, user_id, title, body, created_at"
)


class AsyncpgData:
    """Raw asyncpg: a pool of exactly `pool_size` connections and parameterised SQL."""

    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            **self.cfg.asyncpg_kwargs(), min_size=self.cfg.pool_size, max_size=self.cfg.pool_size
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("AsyncpgData is not open")
        return self._pool

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(USER_SQL, user_id)
        return None if row is None else _user(*row)

    async def get_activity(self, user_id: int, limit: int) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            user = await conn.fetchrow(USER_SQL, user_id)
            if user is None:
                return None
            posts = await conn.fetch(POSTS_OF_USER_SQL, user_id, limit)
            comments: Iterable[asyncpg.Record] = ()
            if posts:
                comments = await conn.fetch(COMMENTS_OF_POSTS_SQL, [p["id"] for p in posts])
        by_post: dict[int, list[dict[str, Any]]] = {p["id"]: [] for p in posts}
        for c in comments:
            by_post[c["post_id"]].append(
                _comment(c["id"], c["author_id"], c["body"], c["created_at"])
            )
        return {
            "user": _user(*user),
            "posts": [
                _post_with_comments(
                    p["id"], p["title"], p["body"], p["created_at"], by_post[p["id"]]
                )
                for p in posts
            ],
        }

    async def list_posts(self, after: int, limit: int) -> dict[str, Any]:
        rows = await self.pool.fetch(PAGE_SQL, after, limit)
        return _page([_summary(*r) for r in rows], limit)

    async def create_post(self, user_id: int, title: str, body: str) -> dict[str, Any] | None:
        try:
            row = await self.pool.fetchrow(CREATE_POST_SQL, user_id, title, body)
        except asyncpg.ForeignKeyViolationError:  # the user vanished mid-statement
            return None
        return None if row is None else _post_out(*row)
