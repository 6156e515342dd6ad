import os
import subprocess
from pathlib import Path

import psutil
import psycopg
import pytest

from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.errors import UserError
from harness.server import docker, provision
from harness.server.embedded import EmbeddedPostgres
from harness.server.redaction import redact_text, redact_url
from harness.server.target import ServerTarget
from harness.server.url import external_target


def test_embedded_starts_on_loopback_with_pg_stat_statements_and_leaves_nothing_behind():
    server = EmbeddedPostgres()
    with server as target:
        workdir = server.workdir
        assert workdir is not None and workdir.exists()
        assert target.host == "127.0.0.1"
        assert target.has_pg_stat_statements
        assert target.version.startswith("18")
        assert target.settings["listen_addresses"] == "127.0.0.1"
        assert target.settings["shared_preload_libraries"] == "pg_stat_statements"
        postmaster = psutil.Process(target.pid)
        children = postmaster.children(recursive=True)
        assert children, "a running server has background processes"
        with psycopg.connect(**target.psycopg_kwargs()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    _gone, alive = psutil.wait_procs([postmaster, *children], timeout=10)
    assert not alive, f"left running: {alive}"
    assert not workdir.exists(), "the private data dir must be removed"


def test_embedded_is_stopped_when_the_body_raises():
    server = EmbeddedPostgres()
    with pytest.raises(RuntimeError), server as target:
        pid = target.pid
        raise RuntimeError("body failed")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_unknown_postgres_choice_names_the_valid_ones():
    with pytest.raises(UserError, match="use auto, embedded, docker or a URL"), provision("sqlite"):
        pass


def test_docker_without_an_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(docker, "docker_engine_answers", lambda timeout_s=1.0: False)
    with pytest.raises(UserError, match="no Docker engine answers"), provision("docker"):
        pass


def test_docker_engine_detection_gives_up_fast_without_a_socket(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert docker.docker_engine_answers() is False
    monkeypatch.delenv("DOCKER_HOST")
    if not Path("/var/run/docker.sock").exists():
        assert docker.docker_engine_answers() is False


def test_auto_picks_docker_only_when_an_engine_answers(monkeypatch, server):
    """Docker cannot run here, so the engine and the container are the only things mocked."""
    from contextlib import contextmanager

    used = []

    @contextmanager
    def fake_docker():
        used.append("docker")
        yield server

    monkeypatch.setattr(docker, "docker_postgres", fake_docker)
    monkeypatch.setattr(docker, "docker_engine_answers", lambda timeout_s=1.0: True)
    with provision("auto") as target:
        assert target is server
    assert used == ["docker"]

    monkeypatch.setattr(docker, "docker_engine_answers", lambda timeout_s=1.0: False)
    with provision("auto") as target:
        assert target.provider == "embedded" and target is not server


def _url(server: ServerTarget, database: str, password: str = "") -> str:
    auth = f"{server.user}:{password}" if password else server.user
    return f"postgresql://{auth}@{server.host}:{server.port}/{database}"


def test_url_with_foreign_tables_is_refused_unless_allowed(server, fresh_database):
    fresh_database("team_app", "orders")
    with pytest.raises(UserError, match=r"already holds 1 table.*--allow-existing-tables"):
        external_target(_url(server, "team_app"), allow_existing_tables=False)
    target = external_target(_url(server, "team_app"), allow_existing_tables=True)
    assert target.schema == "patternbench" and target.provider == "url"
    with psycopg.connect(**target.psycopg_kwargs()) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("patternbench",)


def test_the_dataset_never_drops_a_table_it_did_not_create(server, fresh_database):
    tiny = DatasetSpec(cohorts=((2, 3),), filler_users=0)
    kwargs = fresh_database("team_shop", "orders")
    target = external_target(_url(server, "team_shop"), allow_existing_tables=True)
    assert ensure_dataset(target, tiny).users == 3
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('public.orders')").fetchone()[0] == "orders"
        # tables named like the dataset's that patternbench has no record of creating
        conn.execute("DROP TABLE patternbench.posts CASCADE")
        conn.execute("DELETE FROM patternbench.pb_dataset")
    with pytest.raises(UserError, match=r"were not created by patternbench; refusing to drop"):
        ensure_dataset(target, tiny)
    with psycopg.connect(**kwargs) as conn:
        assert conn.execute("SELECT count(*) FROM patternbench.users").fetchone() == (3,)


def test_empty_url_database_is_used_inside_its_own_schema(server, fresh_database):
    fresh_database("empty_app")
    target = external_target(_url(server, "empty_app"), allow_existing_tables=False)
    assert target.has_pg_stat_statements
    with psycopg.connect(**target.psycopg_kwargs()) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert "patternbench" in schemas


def test_unreachable_url_is_one_clear_line_without_the_password(unused_port):
    url = f"postgresql://alice:s3cret-pw@127.0.0.1:{unused_port}/db"
    with pytest.raises(UserError) as info:
        external_target(url, allow_existing_tables=False)
    message = str(info.value)
    assert "cannot use PostgreSQL at postgresql://alice:***@127.0.0.1" in message
    assert "s3cret-pw" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url", ["postgresql://", "mysql://u:p@h/db", "not a url at all ::", "postgresql://u:p@/db"]
)
def test_bad_urls_are_refused(url):
    with pytest.raises(UserError):
        external_target(url, allow_existing_tables=False)


def test_passwords_are_redacted_from_urls_and_text():
    assert redact_url("postgresql://bob:hunter2@db:5432/x") == "postgresql://bob:***@db:5432/x"
    text = "failed: postgresql://bob:hunter2@db/x and password=hunter2 (hunter2)"
    cleaned = redact_text(text, ("hunter2",))
    assert "hunter2" not in cleaned


def test_target_never_shows_its_password():
    t = ServerTarget("url", "h", 5432, "u", "d", "patternbench", password="topsecret")
    assert "topsecret" not in repr(t)
    assert "topsecret" not in str(t.describe())
    assert "topsecret" not in t.display_url


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_data_dirs_left_by_a_killed_harness_are_swept(tmp_path):
    from harness.server.embedded import OWNER_FILE, WORKDIR_PREFIX, sweep_stale_workdirs

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"{WORKDIR_PREFIX}stale"
    (stale / "data").mkdir(parents=True)
    (stale / OWNER_FILE).write_text(str(dead.pid))
    live = tmp_path / f"{WORKDIR_PREFIX}live"
    live.mkdir()
    (live / OWNER_FILE).write_text(str(os.getpid()))
    young = tmp_path / f"{WORKDIR_PREFIX}young-without-owner"
    young.mkdir()
    assert sweep_stale_workdirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and young.exists()
