"""The loading scenario: every variant returns the canonical answer; statement counts are exact."""

import math

import pytest

from harness.runners.base import PointJob
from harness.runners.latency import Timing, measure_point
from harness.scenario.grid import Params
from scenarios.loading import scenario

TINY = Timing(warmup_s=0.0, measure_s=0.01, min_samples=2, max_samples=3, slice_s=0.005)


def _point(users: int, posts: int, nesting: str) -> Params:
    return Params((("users", users), ("posts_per_user", posts), ("nesting", nesting)))


@pytest.mark.parametrize(
    ("users", "posts", "nesting"),
    [(1, 1, "posts"), (20, 10, "comments"), (200, 1, "posts"), (5, 100, "comments")],
)
def test_every_variant_agrees_with_the_reference(server, dataset, probe, users, posts, nesting):
    results = measure_point(
        PointJob(
            scenario,
            list(scenario.variants.values()),
            _point(users, posts, nesting),
            server,
            dataset.spec,
            TINY,
            probe,
        )
    )
    assert {r.variant: r.status for r in results} == {v: "ok" for v in scenario.variants}
    for r in results:
        assert r.cold_ns and r.cold_ns > 0, "the cold call is timed on its own"
        assert 2 <= len(r.samples_ns) <= 3


def test_canonical_answer_has_the_requested_shape(server, dataset):
    import asyncio

    from harness.scenario.context import Context

    loop = asyncio.new_event_loop()
    ctx = Context(server, _point(3, 10, "comments"), dataset.spec, loop)
    try:
        answer = scenario.canonical(scenario.variants["raw_json_agg"].fn(ctx))
    finally:
        ctx.close()
        loop.close()
    assert [u["id"] for u in answer] == list(dataset.spec.cohort_user_ids(10))[:3]
    for user in answer:
        assert len(user["posts"]) == 10
        times = [p["created_at"] for p in user["posts"]]
        assert times == sorted(times, reverse=True), "newest first"
        assert all("comments" in p for p in user["posts"])


@pytest.mark.parametrize(("users", "posts"), [(1, 1), (20, 10), (200, 1)])
def test_lazy_issues_one_plus_users_statements(server, dataset, probe, users, posts):
    results = measure_point(
        PointJob(
            scenario,
            [scenario.variants["lazy"], scenario.variants["selectinload"]],
            _point(users, posts, "posts"),
            server,
            dataset.spec,
            TINY,
            probe,
        )
    )
    counts = {r.variant: r.statements for r in results}
    assert counts["lazy"].statements == 1 + users
    assert counts["selectinload"].statements == 2
    assert counts["lazy"].rows == users + users * posts
    assert counts["lazy"].round_trips >= counts["lazy"].statements, "each lazy load waits once"


def test_statement_counts_with_comments_including_selectin_batches(server, dataset, probe):
    users, posts = 20, 100  # 2,000 posts: selectinload sends comment ids in batches of 500
    names = [
        "lazy",
        "selectinload",
        "joinedload",
        "subqueryload",
        "raw_json_agg",
        "raw_json_agg_asyncpg",
    ]
    results = measure_point(
        PointJob(
            scenario,
            [scenario.variants[n] for n in names],
            _point(users, posts, "comments"),
            server,
            dataset.spec,
            TINY,
            probe,
        )
    )
    counts = {r.variant: r.statements.statements for r in results}
    assert counts == {
        "lazy": 1 + users + users * posts,
        "selectinload": 1 + 1 + math.ceil(users * posts / 500),
        "joinedload": 1,
        "subqueryload": 3,
        "raw_json_agg": 1,
        "raw_json_agg_asyncpg": 1,
    }


def test_a_posts_per_user_the_dataset_lacks_grows_a_cohort_for_it(server, fresh_database, tmp_path):
    """`--grid posts_per_user=20` is a question ("a user with ~20 posts?"), not an error."""
    import json

    import psycopg

    from harness.cli import main

    kwargs = fresh_database("pb_grow")
    url = f"postgresql://{server.user}@{server.host}:{server.port}/pb_grow"
    code = main([
        "run", "--postgres", url, "--scenario", "loading", "--grid", "posts_per_user=20",
        "--grid", "users=1,30", "--grid", "nesting=posts", "--variant", "joinedload",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    (record,) = run["scenarios"]
    assert [20, 30] in record["dataset"]["spec"]["cohorts"]
    assert {m["status"] for m in run["measurements"]} == {"ok"}
    with psycopg.connect(**kwargs) as conn:
        counts = conn.execute(
            "SELECT count(p.id) FROM patternbench.users u LEFT JOIN patternbench.posts p "
            "ON p.user_id = u.id WHERE u.id BETWEEN 601 AND 630 GROUP BY u.id"
        ).fetchall()  # the cohort after the 3 x 200 users of the standard ones
    assert [c for (c,) in counts] == [20] * 30
