"""The shared domain's data: deterministic (seeded), loaded with COPY, reused while unchanged.

Users come in cohorts by activity: every user of the cohort `posts_per_user=10` has exactly ten
posts, so a scenario that loads "20 users with 10 posts each" picks the first 20 ids of that
cohort and every loading strategy must return exactly those rows. Filler users make the tables
the size of a real application's, so indexes and plans are realistic.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import psycopg
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable

from harness.data.domain import Base
from harness.errors import UserError
from harness.server.target import ServerTarget

GENERATOR_VERSION = 1
EPOCH = np.datetime64("2026-01-01T00:00:00", "s")
CHUNK_ROWS = 50_000
_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
_KINDS = ("note", "photo", "link", "checkin", "review", "question", "answer", "event")


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. Two equal specs always produce byte-identical tables."""

    cohorts: tuple[tuple[int, int], ...] = ((1, 200), (10, 200), (100, 200))
    filler_users: int = 9_400  # 10,000 users in all
    filler_posts_per_user: int = 8
    comments_per_post: int = 3  # mean; each post gets 0..2*mean comments
    seed: int = 20261126

    def __post_init__(self) -> None:
        for posts, users in self.cohorts:
            if posts < 0 or users < 0:
                raise UserError(
                    f"dataset cohort ({posts} posts x {users} users) must not be negative"
                )
        if min(self.filler_users, self.filler_posts_per_user, self.comments_per_post) < 0:
            raise UserError("dataset sizes must not be negative")
        if self.total_posts > 50_000_000:
            raise UserError(
                f"dataset of {self.total_posts:,} posts is too large (limit 50,000,000)"
            )

    @property
    def total_users(self) -> int:
        return sum(users for _, users in self.cohorts) + self.filler_users

    @property
    def total_posts(self) -> int:
        return (
            sum(posts * users for posts, users in self.cohorts)
            + self.filler_users * self.filler_posts_per_user
        )

    @property
    def fingerprint(self) -> str:
        text = json.dumps({"v": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cohort_user_ids(self, posts_per_user: int) -> range:
        """The ids of the users who have exactly `posts_per_user` posts."""
        first = 1
        for posts, users in self.cohorts:
            if posts == posts_per_user:
                return range(first, first + users)
            first += users
        valid = ", ".join(str(posts) for posts, _ in self.cohorts)
        raise UserError(f"no dataset cohort has {posts_per_user} posts per user; valid: {valid}")

    def with_cohort(self, posts_per_user: int, users: int) -> DatasetSpec:
        """This spec with a cohort of at least `users` users of `posts_per_user` posts each: an
        existing cohort enlarged in place, or a new one after the others (their ids unchanged)."""
        cohorts = dict(self.cohorts)
        if cohorts.get(posts_per_user, -1) >= users:
            return self
        cohorts[posts_per_user] = users
        return replace(self, cohorts=tuple(cohorts.items()))

    def posts_per_user_array(self) -> np.ndarray:
        parts = [np.full(users, posts, dtype=np.int64) for posts, users in self.cohorts]
        parts.append(np.full(self.filler_users, self.filler_posts_per_user, dtype=np.int64))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


STANDARD = DatasetSpec()  # 10,000 users, 97,400 posts: the quick profile's data
LARGE = DatasetSpec(filler_posts_per_user=104)  # 10,000 users, 999,800 posts: the full profile's


@dataclass(frozen=True)
class DatasetInfo:
    """What was loaded (or found already loaded) and how long loading took."""

    spec: DatasetSpec
    users: int
    posts: int
    comments: int
    reused: bool
    seconds: float
    phases: tuple[tuple[str, float], ...] = ()

    def describe(self) -> dict[str, object]:
        return {
            "fingerprint": self.spec.fingerprint,
            "spec": asdict(self.spec),
            "users": self.users,
            "posts": self.posts,
            "comments": self.comments,
            "reused": self.reused,
            "load_seconds": round(self.seconds, 2),
            "phases_seconds": {name: round(sec, 2) for name, sec in self.phases},
        }

    def summary(self) -> str:
        if self.reused:
            return f"dataset {self.spec.fingerprint} reused ({self.posts:,} posts)"
        parts = ", ".join(f"{name} {sec:.1f}s" for name, sec in self.phases)
        return (
            f"loaded {self.users:,} users, {self.posts:,} posts, {self.comments:,} comments "
            f"in {self.seconds:.1f}s ({parts})"
        )


def _timestamps(seconds: np.ndarray) -> np.ndarray:
    return np.char.add(
        np.datetime_as_string(EPOCH - seconds.astype("timedelta64[s]"), unit="s"), "+00"
    )


def _sentences(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    bank = np.array(
        [" ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(words)) for i in range(256)]
    )
    return bank[rng.integers(0, len(bank), size=n)]


def _user_rows(spec: DatasetSpec) -> Iterator[str]:
    rng = np.random.default_rng([spec.seed, 1])
    n = spec.total_users
    created = _timestamps(rng.integers(365 * 86400, 3 * 365 * 86400, size=n))
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        yield "".join(
            f"{i}\tuser{i}@example.com\tUser {i}\t{created[i - 1]}\n"
            for i in range(start + 1, stop + 1)
        )


def _post_columns(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per post: its user id and its age in seconds (newest posts have the smallest age)."""
    rng = np.random.default_rng([spec.seed, 2])
    per_user = spec.posts_per_user_array()
    user_ids = np.repeat(np.arange(1, spec.total_users + 1, dtype=np.int64), per_user)
    ages = rng.integers(0, 365 * 86400, size=user_ids.size)
    return user_ids, ages


def _post_rows(spec: DatasetSpec) -> Iterator[str]:
    user_ids, ages = _post_columns(spec)
    rng = np.random.default_rng([spec.seed, 3])
    n = user_ids.size
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        size = stop - start
        created = _timestamps(ages[start:stop])
        bodies = _sentences(rng, size, 12)
        kinds = rng.integers(0, len(_KINDS), size=size)
        scores = rng.integers(0, 1000, size=size)
        tags = rng.integers(0, len(_WORDS), size=(size, 2))
        yield "".join(
            f"{start + k + 1}\t{user_ids[start + k]}\tPost {start + k + 1}\t{bodies[k]}\t"
            f'{{"kind": "{_KINDS[kinds[k]]}", "score": {scores[k]}, '
            f'"tags": ["{_WORDS[tags[k, 0]]}", "{_WORDS[tags[k, 1]]}"]}}\t{created[k]}\n'
            for k in range(size)
        )


def _comment_rows(spec: DatasetSpec, counts: list[int]) -> Iterator[str]:
    _, post_ages = _post_columns(spec)
    rng = np.random.default_rng([spec.seed, 4])
    per_post = rng.integers(0, 2 * spec.comments_per_post + 1, size=post_ages.size)
    post_ids = np.repeat(np.arange(1, post_ages.size + 1, dtype=np.int64), per_post)
    counts.append(int(post_ids.size))
    ages = np.repeat(post_ages, per_post) - rng.integers(1, 7 * 86400, size=post_ids.size)
    authors = rng.integers(1, max(2, spec.total_users + 1), size=post_ids.size)
    n = post_ids.size
    for start in range(0, n, CHUNK_ROWS):
        stop = min(n, start + CHUNK_ROWS)
        created = _timestamps(ages[start:stop])
        bodies = _sentences(rng, stop - start, 6)
        yield "".join(
            f"{start + k + 1}\t{post_ids[start + k]}\t{authors[start + k]}\t{bodies[k]}\t{created[k]}\n"
            for k in range(stop - start)
        )


def ddl(statement: object) -> str:
    """A SQLAlchemy DDL element as PostgreSQL's SQL text."""
    return str(statement.compile(dialect=postgresql.dialect()))  # type: ignore[attr-defined]


def existing_tables(conn: psycopg.Connection[Any], names: list[str]) -> set[str]:
    """Which of these tables exist in the connection's schema."""
    return {
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = ANY(%s)",
            (names,),
        )
    }


def ensure_dataset(
    target: ServerTarget,
    spec: DatasetSpec,
    on_progress: Callable[[str], None] = lambda _message: None,
) -> DatasetInfo:
    """Loads `spec` unless the database already holds exactly it; returns what is there."""
    t0 = time.perf_counter()
    with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
        loaded = _already_loaded(conn, spec, target)
        if loaded is not None:
            return loaded
        on_progress(f"generating and loading {spec.total_posts:,} posts with COPY")
        with conn.transaction():
            for table in reversed(Base.metadata.sorted_tables):
                # CASCADE: scenario tables (e.g. pb_bulk_posts) keep foreign keys to ours
                conn.execute(f"DROP TABLE IF EXISTS {table.name} CASCADE")
            conn.execute("DELETE FROM pb_dataset WHERE name = 'shared'")
            # the CASCADE took scenarios' own tables' foreign keys with it: they are filled anew
            conn.execute("UPDATE pb_dataset SET fingerprint = 'stale' WHERE name LIKE 'tables:%'")
            conn.execute("SET LOCAL synchronous_commit = off")
            for table in Base.metadata.sorted_tables:
                conn.execute(ddl(CreateTable(table, include_foreign_key_constraints=[])))
            phases, comments = _copy_rows(conn, spec)
            on_progress("building indexes and foreign keys")
            phases.append(("indexes", _timed(lambda: _build_indexes(conn))))
            counts = {"users": spec.total_users, "posts": spec.total_posts, "comments": comments}
            conn.execute(
                "INSERT INTO pb_dataset (name, fingerprint, spec, counts, seconds) "
                "VALUES ('shared', %s, %s, %s, %s)",
                (
                    spec.fingerprint,
                    json.dumps(asdict(spec)),
                    json.dumps(counts),
                    time.perf_counter() - t0,
                ),
            )
        on_progress("VACUUM ANALYZE")
        phases.append(("vacuum analyze", _timed(lambda: _vacuum(conn))))
    return DatasetInfo(
        spec,
        counts["users"],
        counts["posts"],
        counts["comments"],
        False,
        time.perf_counter() - t0,
        tuple(phases),
    )


def create_registry(conn: psycopg.Connection[Any]) -> None:
    """The table that says what patternbench loaded in this schema: the shared dataset (name
    'shared') and each scenario's own tables ('tables:<scenario>'), with their fingerprints."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS pb_dataset (name text PRIMARY KEY, fingerprint text NOT NULL, "
        "spec jsonb NOT NULL, counts jsonb NOT NULL, seconds double precision NOT NULL, "
        "loaded_at timestamptz NOT NULL DEFAULT now())"
    )


def _already_loaded(
    conn: psycopg.Connection[Any], spec: DatasetSpec, target: ServerTarget
) -> DatasetInfo | None:
    """What is there when the database holds exactly `spec`; None when it must be loaded. Tables
    of the dataset's names that patternbench did not create are refused, never dropped."""
    create_registry(conn)
    row = conn.execute(
        "SELECT fingerprint, counts FROM pb_dataset WHERE name = 'shared'"
    ).fetchone()
    existing = existing_tables(conn, [t.name for t in Base.metadata.sorted_tables])
    if row is not None and row[0] == spec.fingerprint and len(existing) == 3:
        counts = row[1]
        return DatasetInfo(spec, counts["users"], counts["posts"], counts["comments"], True, 0.0)
    if existing and row is None:
        raise UserError(
            f"tables {', '.join(sorted(existing))} exist in schema {target.schema!r} but were not "
            "created by patternbench; refusing to drop them"
        )
    return None


def _copy_rows(
    conn: psycopg.Connection[Any], spec: DatasetSpec
) -> tuple[list[tuple[str, float]], int]:
    """Every table's rows with COPY: the time each took, and how many comments were made."""
    comment_count: list[int] = []
    phases: list[tuple[str, float]] = []
    for columns, rows in (
        ("users (id, email, name, created_at)", _user_rows(spec)),
        ("posts (id, user_id, title, body, payload, created_at)", _post_rows(spec)),
        ("comments (id, post_id, author_id, body, created_at)", _comment_rows(spec, comment_count)),
    ):
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY {columns} FROM STDIN") as copy:
            for chunk in rows:
                copy.write(chunk)
        phases.append((f"COPY {columns.split()[0]}", time.perf_counter() - started))
    return phases, comment_count[0]


def _build_indexes(conn: psycopg.Connection[Any]) -> None:
    """Indexes and foreign keys after the rows (faster than maintaining them while copying), and
    each id sequence moved past the ids the generator gave."""
    for table in Base.metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            conn.execute(ddl(CreateIndex(index)))
        for fk in table.foreign_key_constraints:
            conn.execute(ddl(AddConstraint(fk)))
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
        )


def _vacuum(conn: psycopg.Connection[Any]) -> None:
    for table in Base.metadata.sorted_tables:
        conn.execute(f"VACUUM (ANALYZE) {table.name}")


def _timed(step: Callable[[], None]) -> float:
    """Seconds `step` took."""
    started = time.perf_counter()
    step()
    return time.perf_counter() - started
