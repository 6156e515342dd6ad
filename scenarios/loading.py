"""How should I load users with their recent activity?

An endpoint returns N users, each with all of their posts (newest first) and, when nesting is
`comments`, each post's comments (oldest first), as JSON. Users are taken from the dataset cohort
whose members have exactly `posts_per_user` posts, so every strategy must return the same rows.

Look at: how lazy loading's statement count grows with users (1 + users, and + users x posts with
comments: the N+1 problem); where joinedload's row multiplication starts to cost (many posts times
many comments); selectinload's batches; and how far one query that builds the JSON in PostgreSQL
(`json_agg`) is ahead of hydrating ORM objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload, subqueryload

from harness.data.dataset import LARGE, STANDARD, DatasetSpec
from harness.data.domain import Post, User
from harness.scenario.context import Context
from harness.scenario.grid import Grid, Params
from harness.scenario.spec import Scenario


def _canonical(result: str) -> Any:
    """The response body parsed, timestamps compared as instants (drivers format them differently)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: datetime.fromisoformat(v).timestamp() if k == "created_at" else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(json.loads(result))


scenario = Scenario(
    name="loading",
    question="How should I load users with their recent activity?",
    quick=Grid.of(
        users=[1, 20, 200], posts_per_user=[1, 10, 100], nesting=["posts", "comments"]
    ).skipping(
        "200 users x 100 posts (20,000 posts, about 80,000 rows with comments: seconds per ORM "
        "operation): full only",
        lambda p: int(p.users) * int(p.posts_per_user) > 10_000,
    ),
    full=Grid.of(users=[1, 20, 200], posts_per_user=[1, 10, 100], nesting=["posts", "comments"]),
    reference="selectinload",
    dataset=STANDARD,
    full_dataset=LARGE,
    normalise=_canonical,
    chart_x="posts_per_user",
    comparisons=(
        ("selectinload", "lazy"),
        ("selectinload", "joinedload"),
        ("raw_json_agg", "selectinload"),
        ("raw_json_agg_asyncpg", "raw_json_agg"),
        ("selectinload", "async_selectinload"),
    ),
)


@scenario.hook("grow_dataset")
def _with_cohort(params: Params, dataset: DatasetSpec) -> DatasetSpec:
    """A posts_per_user the dataset has no cohort for (or more users than its cohort has) gets
    one: "selectinload or joinedload for a user with ~20 posts?" is a question of its own."""
    return dataset.with_cohort(int(params.posts_per_user), int(params.users))


@scenario.hook("check_point")
def _servable(params: Params, dataset: DatasetSpec) -> str | None:
    """Users are taken from the cohort with the grid point's posts per user."""
    cohorts = dict(dataset.cohorts)
    posts, users = int(params.posts_per_user), int(params.users)
    if posts not in cohorts:
        valid = ", ".join(str(p) for p in cohorts)
        return f"no dataset cohort has {posts} posts per user; valid posts_per_user: {valid}"
    if users > cohorts[posts]:
        return (
            f"the dataset cohort with {posts} posts per user has {cohorts[posts]} users; "
            f"valid users: 1 to {cohorts[posts]}"
        )
    return None


def _user_ids(ctx: Context) -> list[int]:
    cohort = ctx.dataset.cohort_user_ids(int(ctx.params.posts_per_user))
    wanted = int(ctx.params.users)
    if wanted > len(cohort):
        raise ValueError(f"the dataset cohort has {len(cohort)} users, the grid asks for {wanted}")
    return list(cohort[:wanted])


def _with_comments(ctx: Context) -> bool:
    return ctx.params.nesting == "comments"


def _to_json(users: list[User], with_comments: bool) -> str:
    """What the endpoint sends: every loaded object turned into a dict, then JSON."""
    body = []
    for user in users:
        posts = []
        for post in user.posts:
            item: dict[str, Any] = {
                "id": post.id,
                "title": post.title,
                "body": post.body,
                "payload": post.payload,
                "created_at": post.created_at.isoformat(),
            }
            if with_comments:
                item["comments"] = [
                    {
                        "id": c.id,
                        "author_id": c.author_id,
                        "body": c.body,
                        "created_at": c.created_at.isoformat(),
                    }
                    for c in post.comments
                ]
            posts.append(item)
        body.append({"id": user.id, "name": user.name, "email": user.email, "posts": posts})
    return json.dumps(body)


def _loader(strategy: Callable[..., Any], ctx: Context) -> Any:
    """The loader option for the users' posts and, with comments, the posts' comments."""
    option = strategy(User.posts)
    if _with_comments(ctx):
        option = getattr(option, strategy.__name__)(Post.comments)
    return option


def _users_query(ctx: Context) -> Any:
    return select(User).where(User.id.in_(_user_ids(ctx))).order_by(User.id)


@scenario.variant
def lazy(ctx: Context) -> str:
    """Lazy loading (the default): one query for users, then one per user, one per post (N+1)."""
    with ctx.session() as session:
        users = list(session.scalars(_users_query(ctx)))
        return _to_json(users, _with_comments(ctx))


@scenario.variant
def joinedload_(ctx: Context) -> str:
    """joinedload: one query with LEFT OUTER JOINs; rows multiply (users x posts x comments)."""
    option = _loader(joinedload, ctx)
    with ctx.session() as session:
        users = list(session.scalars(_users_query(ctx).options(option)).unique())
        return _to_json(users, _with_comments(ctx))


@scenario.variant
def selectinload_(ctx: Context) -> str:
    """selectinload: one query per level, parents' keys sent as IN (...) in batches of 500."""
    option = _loader(selectinload, ctx)
    with ctx.session() as session:
        users = list(session.scalars(_users_query(ctx).options(option)))
        return _to_json(users, _with_comments(ctx))


@scenario.variant
def subqueryload_(ctx: Context) -> str:
    """subqueryload: one query per level that re-runs the parent query as a subquery."""
    option = _loader(subqueryload, ctx)
    with ctx.session() as session:
        users = list(session.scalars(_users_query(ctx).options(option)))
        return _to_json(users, _with_comments(ctx))


_COMMENTS_JSON = """, (SELECT coalesce(json_agg(c ORDER BY c.created_at, c.id), '[]') FROM (
          SELECT comments.id, comments.author_id, comments.body, comments.created_at
          FROM comments WHERE comments.post_id = posts.id) c) AS comments"""
_JSON_SQL = """
SELECT coalesce(json_agg(u ORDER BY u.id), '[]')::text FROM (
  SELECT users.id, users.name, users.email,
    (SELECT coalesce(json_agg(p ORDER BY p.created_at DESC, p.id DESC), '[]') FROM (
       SELECT posts.id, posts.title, posts.body, posts.payload, posts.created_at{comments}
       FROM posts WHERE posts.user_id = users.id) p) AS posts
  FROM users WHERE users.id = ANY({ids})
) u
"""


def _json_sql(ctx: Context, placeholder: str) -> str:
    return _JSON_SQL.format(comments=_COMMENTS_JSON if _with_comments(ctx) else "", ids=placeholder)


@scenario.variant
def raw_json_agg(ctx: Context) -> str:
    """One hand-written query (psycopg 3) in which PostgreSQL builds the nested JSON (json_agg)."""
    row = ctx.psycopg.execute(_json_sql(ctx, "%s"), (_user_ids(ctx),)).fetchone()
    assert row is not None
    return str(row[0])


@scenario.variant
async def raw_json_agg_asyncpg(ctx: Context) -> str:
    """The same json_agg query through asyncpg (prepared and cached by the driver)."""
    conn = await ctx.asyncpg()
    return str(await conn.fetchval(_json_sql(ctx, "$1::bigint[]"), _user_ids(ctx)))


@scenario.variant
async def async_selectinload(ctx: Context) -> str:
    """AsyncSession (asyncpg) with selectinload, as an async endpoint would do it."""
    option = _loader(selectinload, ctx)
    async with ctx.async_session() as session:
        users = list(await session.scalars(_users_query(ctx).options(option)))
        return _to_json(users, _with_comments(ctx))
