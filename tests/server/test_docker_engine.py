"""`--postgres docker` against a real Docker engine: the image, the settings, a scenario run
through it, and no container left behind (exit, Ctrl-C, SIGTERM, a SIGKILLed harness).

Skipped, in one line, where no engine answers or the images are missing; `make test-docker` starts
an engine of its own and builds the images first. The mocked tests in test_provisioning.py and
tests/cli stay for machines without one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from harness.cli import main
from harness.errors import UserError
from harness.server import docker, provision

ROOT = Path(__file__).resolve().parents[2]

if not docker.docker_engine_answers(timeout_s=2.0):
    pytest.skip(
        "no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): `make test-docker` "
        "starts one",
        allow_module_level=True,
    )


def _image_here(image: str) -> bool:
    client = docker._client(10)
    try:
        client.images.get(image)
        return True
    except Exception:
        return False
    finally:
        client.close()


if not _image_here(docker.DOCKER_IMAGE):
    pytest.skip(
        f"the Docker engine has no {docker.DOCKER_IMAGE} image: `make docker-image` builds it",
        allow_module_level=True,
    )

OTHER_MAJOR = "15"
needs_other = pytest.mark.skipif(
    not _image_here(f"postgres:{OTHER_MAJOR}"),
    reason=f"no postgres:{OTHER_MAJOR} image: `make docker-image` builds it",
)


def _engine() -> Any:
    return docker._client(30)


def _exists(container_id: str) -> bool:
    import docker as docker_sdk

    client = _engine()
    try:
        client.containers.get(container_id)
        return True
    except docker_sdk.errors.NotFound:
        return False
    finally:
        client.close()


def _owned_by(pid: int) -> list[str]:
    """The suite's containers that process `pid` started."""
    client = _engine()
    try:
        found = client.containers.list(
            all=True, filters={"label": f"{docker.LABEL_ROLE}={docker.ROLE}"}
        )
        return [
            c.short_id
            for c in found
            if c.labels.get(docker.LABEL_OWNER, "").split(":")[1] == str(pid)
        ]
    finally:
        client.close()


@pytest.fixture(scope="module", autouse=True)
def engine_in_the_log() -> None:
    print(f"\nDocker engine {docker.engine_version()} at {docker.docker_host()}")


@pytest.mark.parametrize(
    ("spec", "major"),
    [
        ("docker", docker.DEFAULT_MAJOR),
        pytest.param(f"docker:{OTHER_MAJOR}", OTHER_MAJOR, marks=needs_other),
    ],
)
def test_a_container_runs_the_suites_settings_and_is_removed(spec, major):
    started = time.monotonic()
    with provision(spec) as target:
        ready_s = time.monotonic() - started
        container = target.container
        print(f"{spec}: container {container} ({target.image}) ready in {ready_s:.1f} s")
        assert target.provider == "docker" and target.image == f"postgres:{major}"
        assert target.version.split(".")[0] == major
        assert target.host == "127.0.0.1" and _exists(container)
        settings = target.settings
        assert "pg_stat_statements" in settings["shared_preload_libraries"]
        assert settings["shared_buffers"] == "256MB" and settings["max_connections"] == "200"
        assert target.has_pg_stat_statements
        with psycopg.connect(**target.psycopg_kwargs()) as conn:
            conn.execute("SELECT 1")
            assert conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()[0] >= 0
        # the server's processes are ours to see (and meter), and live in the container's cpuset
        assert target.pid is not None
        described = target.describe()
        assert described["image"] == f"postgres:{major}" and described["container"] == container
        assert f"of image postgres:{major}" in described["url"]
        assert target.password and target.password not in json.dumps(described)
        client = _engine()
        try:
            labels = client.containers.get(container).labels
            ports = client.containers.get(container).attrs["NetworkSettings"]["Ports"]
        finally:
            client.close()
        assert labels[docker.LABEL_ROLE] == docker.ROLE
        assert labels[docker.LABEL_OWNER].split(":")[1] == str(__import__("os").getpid())
        assert {b["HostIp"] for b in ports["5432/tcp"]} == {"127.0.0.1"}, (
            "published on loopback only"
        )
        # what listens on the published port relays every connection (the engine's userland
        # proxy, its default; none where the kernel alone forwards): the run meters it as its own
        listeners = {
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == target.port
        }
        assert set(target.relay_pids) == listeners - {None}
        assert described["relays_seen"] == len(target.relay_pids)
    assert not _exists(container), "the container outlived its block"
    print(f"{spec}: container {container} removed")


def test_a_container_is_removed_when_the_block_fails():
    with pytest.raises(RuntimeError), provision("docker") as target:
        container = target.container
        raise RuntimeError("body failed")
    assert not _exists(container)


def test_a_dead_container_is_a_gone_server_and_still_cleaned_up():
    """The container dies mid-run (as when the engine stops it): the target says so, the block
    ends without an error and nothing is left."""
    from harness.errors import ServerGone

    with provision("docker") as target:
        client = _engine()
        try:
            client.containers.get(target.container).kill()
        finally:
            client.close()
        assert not target.is_alive()
        with pytest.raises(ServerGone):
            target.raise_if_gone(RuntimeError("connection lost"))
    assert not _exists(target.container)


def test_a_missing_image_is_one_line_and_exit_2(tmp_path, capsys):
    spec = "docker:patternbench-test/no-such-image:0"
    missing = r"is not on this machine and cannot be pulled.*make docker-image"
    with pytest.raises(UserError, match=missing), provision(spec):
        pass
    code = main(["run", "--postgres", spec, "--scenario", "reads", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        len(err.strip().splitlines()) == 1 and "cannot be pulled" in err and "Traceback" not in err
    )


def test_a_bad_docker_spec_names_the_valid_ones():
    with pytest.raises(UserError, match=r"use docker .*docker:MAJOR"), provision("docker:Bad Name"):
        pass


def test_auto_picks_the_engine_and_a_run_names_provider_and_image(tmp_path):
    """`auto` with an engine: a scenario through the container, the image in run.json and on the
    report's PostgreSQL line, and the container gone afterwards."""
    args = ["run", "--postgres", "auto", "--profile", "quick", "--scenario", "reads"]
    args += ["--grid", "rows=1", "--variant", "psycopg_tuples", "--out", str(tmp_path)]
    assert main(args) == 0
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    server = run["server"]
    assert server["provider"] == "docker" and server["image"] == docker.DOCKER_IMAGE
    assert server["version"].split(".")[0] == docker.DEFAULT_MAJOR
    assert server["settings"]["shared_buffers"] == "256MB"
    assert run["measurements"], "the scenario measured nothing"
    report = (folder / "report.md").read_text()
    assert "(docker, postgresql://patternbench:***@127.0.0.1:" in report
    assert f"of image {docker.DOCKER_IMAGE})" in report
    assert not _exists(server["container"])
    print(f"auto: container {server['container']} ran reads and was removed")


def _start_run(tmp_path: Path, spec: str) -> subprocess.Popen[str]:
    args = ["run", "--postgres", spec, "--profile", "quick", "--scenario", "loading"]
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_measuring(proc: subprocess.Popen[str], tmp_path: Path) -> str:
    """The id of the run's container, once the run has measured something."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"the run ended early ({proc.returncode}): {proc.stderr and proc.stderr.read()}"
            )
        runs = [p / "run.json" for p in tmp_path.iterdir() if (p / "run.json").exists()]
        if runs:
            try:
                run = json.loads(runs[0].read_text())
            except ValueError:
                run = {}
            if run.get("measurements"):
                (container,) = _owned_by(proc.pid)
                return container
        time.sleep(0.3)
    proc.kill()
    pytest.fail("the run measured nothing within 120 s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_removes_its_container(tmp_path, sig):
    proc = _start_run(tmp_path, "docker")
    try:
        container = _wait_for_measuring(proc, tmp_path)
        print(f"{sig.name}: run pid {proc.pid}, container {container}")
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not _exists(container), f"container {container} outlived the run ({sig.name})"
    print(f"{sig.name}: container {container} removed")


def test_a_container_left_by_a_sigkilled_harness_is_removed_by_the_next_start(tmp_path):
    proc = _start_run(tmp_path, "docker")
    try:
        container = _wait_for_measuring(proc, tmp_path)
    finally:
        proc.kill()  # SIGKILL: no handler, no finally
        proc.wait()
    assert _exists(container), "nothing to sweep: was it removed some other way?"
    print(f"SIGKILL: container {container} left behind, as expected")
    with provision("docker") as target:
        assert target.container != container
    assert not _exists(container), "the next start did not remove the left container"
    print(f"SIGKILL: container {container} removed by the next start")
