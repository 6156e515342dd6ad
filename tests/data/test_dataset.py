import psycopg
import pytest

from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.errors import UserError


def _checksum(server, table: str) -> str:
    with psycopg.connect(**server.psycopg_kwargs()) as conn:
        row = conn.execute(
            f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t"
        ).fetchone()
    return row[0]


def test_cohorts_hold_exactly_their_number_of_posts(server, dataset):
    spec = dataset.spec
    with psycopg.connect(**server.psycopg_kwargs()) as conn:
        for posts, users in spec.cohorts:
            ids = list(spec.cohort_user_ids(posts))
            assert len(ids) == users
            counts = conn.execute(
                "SELECT count(DISTINCT user_id), min(c), max(c) FROM ("
                " SELECT user_id, count(*) AS c FROM posts WHERE user_id = ANY(%s) GROUP BY user_id) x",
                (ids,),
            ).fetchone()
            assert counts == (users, posts, posts)
        totals = conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT count(*) FROM comments)"
        ).fetchone()
    assert totals == (dataset.users, dataset.posts, dataset.comments)
    assert dataset.posts == spec.total_posts


def test_loading_again_with_the_same_spec_reuses_the_data(server, dataset):
    again = ensure_dataset(server, dataset.spec)
    assert again.reused and again.posts == dataset.posts


def test_generation_is_deterministic(server, dataset):
    """Reloading the same spec from scratch gives byte-identical tables."""
    before = {t: _checksum(server, t) for t in ("users", "posts", "comments")}
    small = DatasetSpec(
        cohorts=((2, 3),), filler_users=5, filler_posts_per_user=2, comments_per_post=1
    )
    info = ensure_dataset(server, small)
    assert not info.reused and info.posts == 3 * 2 + 5 * 2
    reloaded = ensure_dataset(server, dataset.spec)
    assert not reloaded.reused
    assert {t: _checksum(server, t) for t in ("users", "posts", "comments")} == before


def test_tables_the_suite_did_not_create_are_never_dropped(server, fresh_database):
    fresh_database("foreign_users", "users")
    from dataclasses import replace

    target = replace(server, database="foreign_users")
    with pytest.raises(UserError, match="not created by patternbench; refusing to drop"):
        ensure_dataset(target, DatasetSpec(cohorts=((1, 1),), filler_users=0))


def test_impossible_specs_are_refused():
    with pytest.raises(UserError, match="too large"):
        DatasetSpec(filler_users=1_000_000, filler_posts_per_user=1_000)
    with pytest.raises(UserError, match="negative"):
        DatasetSpec(filler_users=-1)
    with pytest.raises(UserError, match="valid: 1, 10, 100"):
        DatasetSpec().cohort_user_ids(7)
