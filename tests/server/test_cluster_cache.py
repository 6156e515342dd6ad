"""Ready clusters: a run that ends well keeps its embedded cluster, the next starts from it (moved
in when it holds the dataset that run needs, else copied) and finds its dataset in place; a cluster whose shared rows changed, or a run that failed, keeps
nothing; scenarios' own tables never carry over; the cache keeps few entries and can be removed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest

from harness.cache import ENV_CACHE, remove_cache
from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.server.cluster_cache import KEEP_ENTRIES, ClusterCache
from harness.server.embedded import EmbeddedPostgres, bin_dir

TINY = DatasetSpec(cohorts=((1, 3),), filler_users=2, filler_posts_per_user=1, comments_per_post=1)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_CACHE, str(folder))
    return folder


def _entries() -> list[Path]:
    found = ClusterCache.for_server(bin_dir() / "postgres", EmbeddedPostgres().settings)
    assert found is not None
    return found.entries()


def _load(spec: DatasetSpec, change: str | None = None, ready_for: str | None = None) -> bool:
    """One run on a new embedded server: the dataset ensured (and `change` run); whether the
    server started from a kept cluster."""
    server = EmbeddedPostgres(pin_cores=False, ready_for=ready_for)
    with server as target:
        ensure_dataset(target, spec)
        if change:
            with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
                conn.execute(change)
    return server.from_cache


def test_a_run_that_ends_well_is_kept_and_the_next_starts_from_it(cache):
    assert _load(TINY) is False
    (entry,) = _entries()
    assert entry.name == TINY.fingerprint
    server = EmbeddedPostgres(pin_cores=False)
    with server as target:
        assert server.from_cache
        info = ensure_dataset(target, TINY)
        assert info.reused and info.users == TINY.total_users
        # a private copy: the kept entry is not the running data dir
        assert server.workdir is not None and not str(server.workdir).startswith(str(cache))
    assert len(_entries()) == 1


def test_the_entry_holding_the_dataset_a_run_needs_is_moved_in_and_given_back(cache):
    other = DatasetSpec(cohorts=((1, 3),), filler_users=5, comments_per_post=0)
    _load(TINY)
    (entry,) = _entries()
    kept = (entry / "data" / "PG_VERSION").stat().st_ino
    server = EmbeddedPostgres(pin_cores=False, ready_for=TINY.fingerprint)
    with server as target:
        assert server.from_cache and _entries() == []  # moved out, not copied
        assert server.workdir is not None
        assert (server.workdir / "data" / "PG_VERSION").stat().st_ino == kept
        assert ensure_dataset(target, TINY).reused
    (entry,) = _entries()
    assert entry.name == TINY.fingerprint
    # a run that needs another dataset copies the latest entry, which stays
    server = EmbeddedPostgres(pin_cores=False, ready_for=other.fingerprint)
    with server as target:
        assert server.from_cache and [p.name for p in _entries()] == [TINY.fingerprint]
        assert not ensure_dataset(target, other).reused
    assert [p.name for p in _entries()] == [other.fingerprint, TINY.fingerprint]
    # a failed run keeps nothing: the entry it moved in is gone, the other stays
    with (
        pytest.raises(RuntimeError),
        EmbeddedPostgres(pin_cores=False, ready_for=TINY.fingerprint) as target,
    ):
        ensure_dataset(target, TINY)
        raise RuntimeError("the run failed")
    assert [p.name for p in _entries()] == [other.fingerprint]


def test_on_another_filesystem_the_entry_is_copied_and_stays(cache, monkeypatch, tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no tmpfs beside the cache here to put the temp dir on")
    _load(TINY)
    with tempfile.TemporaryDirectory(dir=shm) as elsewhere:
        Path(elsewhere).chmod(0o1777)  # as /tmp is: the server's own account works below it
        monkeypatch.setattr(tempfile, "tempdir", elsewhere)  # a /tmp that is a tmpfs
        server = EmbeddedPostgres(pin_cores=False, ready_for=TINY.fingerprint)
        with server as target:
            assert server.from_cache and str(server.workdir).startswith(elsewhere)
            assert [p.name for p in _entries()] == [TINY.fingerprint]  # copied, not moved
            assert ensure_dataset(target, TINY).reused
        assert [p.name for p in _entries()] == [TINY.fingerprint]


def test_changed_rows_or_a_failed_run_keep_nothing(cache):
    assert _load(TINY, change="UPDATE users SET name = 'x' WHERE id = 1") is False
    assert _entries() == []
    assert _load(TINY, change="DELETE FROM comments WHERE id = 1") is False
    assert _entries() == []
    assert _load(TINY, change="TRUNCATE comments") is False
    assert _entries() == []
    assert _load(TINY, change="CREATE INDEX ix_pb_test_posts_title ON posts (title)") is False
    assert _entries() == []
    insert = (
        "INSERT INTO comments (post_id, author_id, body, created_at) "
        "SELECT post_id, author_id, body, created_at FROM comments LIMIT 1"
    )
    assert _load(TINY, change=insert) is False
    assert _entries() == []
    with pytest.raises(RuntimeError), EmbeddedPostgres(pin_cores=False) as target:
        ensure_dataset(target, TINY)
        raise RuntimeError("the run failed")
    assert _entries() == []


def test_own_tables_never_carry_over(cache):
    server = EmbeddedPostgres(pin_cores=False)
    with server as target:
        ensure_dataset(target, TINY)
        with psycopg.connect(**target.psycopg_kwargs(), autocommit=True) as conn:
            conn.execute("CREATE TABLE pb_test_kept (id int)")
            conn.execute(
                "INSERT INTO pb_dataset (name, fingerprint, spec, counts, seconds) VALUES "
                "('tables:t', 'f', '{\"tables\": [\"pb_test_kept\"]}', '{}', 0)"
            )
    again = EmbeddedPostgres(pin_cores=False)
    with again as target, psycopg.connect(**target.psycopg_kwargs()) as conn:
        assert again.from_cache
        assert conn.execute("SELECT to_regclass('pb_test_kept')").fetchone() == (None,)
        names = [r[0] for r in conn.execute("SELECT name FROM pb_dataset ORDER BY 1")]
        assert names == ["shared"]


def test_few_entries_are_kept_and_the_cache_can_be_removed(cache):
    specs = [DatasetSpec(cohorts=((1, 3),), filler_users=n, comments_per_post=0) for n in (1, 2, 3)]
    for spec in specs:
        _load(spec)  # each starts from the last kept cluster and reloads its own dataset
    kept = _entries()
    assert len(kept) == KEEP_ENTRIES
    assert [p.name for p in kept] == [s.fingerprint for s in reversed(specs)][:KEEP_ENTRIES]
    root, size = remove_cache()
    assert root == cache and size > 0 and not cache.exists()


def test_the_cache_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_CACHE, "off")
    assert _load(TINY) is False
    assert ClusterCache.for_server(bin_dir() / "postgres", {}) is None
    assert remove_cache() == (None, 0)


def test_clean_cache_removes_it_and_says_so(cache, capsys):
    from harness.cli import main

    _load(TINY)
    assert cache.exists()
    assert main(["clean", "--cache"]) == 0
    assert f"removed the cache {cache} (" in capsys.readouterr().out
    assert not cache.exists()
    assert main(["clean", "--cache"]) == 0
    assert "nothing to remove" in capsys.readouterr().out
    assert main(["clean"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert "clean takes --postgres URL" in line and "--cache" in line
