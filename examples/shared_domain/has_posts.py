"""Does this user have any posts? EXISTS, COUNT(*) > 0, or fetching one row?

On the shared domain (users, posts): the check a handler makes before rendering an empty state.
`count` counts every post of the user and compares with zero; `exists` asks
`SELECT EXISTS (...)` and stops at the first; `limit_one` fetches one id and tests for a row;
`orm_any` is SQLAlchemy's `User.posts.any()`. The `posts_per_user` axis is the user's activity:
COUNT's work grows with it, the others stop at the first row the index gives.

Run it: `patternbench run --scenario-path examples/shared_domain --scenario has_posts`.
"""

from __future__ import annotations

from sqlalchemy import exists, select

from harness import Context, Grid, Scenario, User

scenario = Scenario(
    name="has_posts",
    question="does a user have posts: EXISTS, COUNT(*) > 0 or LIMIT 1?",
    quick=Grid.of(posts_per_user=[1, 100]),
    full=Grid.of(posts_per_user=[1, 10, 100]),
    reference="count",
    chart_x="posts_per_user",
    comparisons=(("exists", "count"), ("limit_one", "exists")),
)


def _user(ctx: Context) -> int:
    """The first user of the point's cohort: one with exactly `posts_per_user` posts."""
    return ctx.dataset.cohort_user_ids(int(ctx.params.posts_per_user))[0]


@scenario.variant
def count(ctx: Context) -> bool:
    """SELECT count(*) > 0: every post of the user is counted."""
    row = ctx.psycopg.execute(
        "SELECT count(*) > 0 FROM posts WHERE user_id = %s", (_user(ctx),)
    ).fetchone()
    return bool(row and row[0])


@scenario.variant
def exists_(ctx: Context) -> bool:
    """SELECT EXISTS (SELECT 1 ...): stops at the first post."""
    row = ctx.psycopg.execute(
        "SELECT EXISTS (SELECT 1 FROM posts WHERE user_id = %s)", (_user(ctx),)
    ).fetchone()
    return bool(row and row[0])


@scenario.variant
def limit_one(ctx: Context) -> bool:
    """SELECT id ... LIMIT 1, and a row or none."""
    return (
        ctx.psycopg.execute(
            "SELECT id FROM posts WHERE user_id = %s LIMIT 1", (_user(ctx),)
        ).fetchone()
        is not None
    )


@scenario.variant
def orm_any(ctx: Context) -> bool:
    """The ORM's relationship test, User.posts.any(), through a Session."""
    query = select(exists().where(User.id == _user(ctx), User.posts.any()))
    with ctx.session() as session:
        return bool(session.scalar(query))
