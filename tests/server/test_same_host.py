"""A server given as a URL that runs on this machine: told apart, its processes found, and with
--pin-cores given CPUs of its own for the run, and back afterwards, also when the harness is
SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest
from report_pages import report_text

from harness.cli import main
from harness.processes import PROJECT_ROOT, all_cpus
from harness.server import provision
from harness.server.embedded import CorePlan, EmbeddedPostgres
from harness.server.local import on_this_host
from harness.server.target import ServerTarget

pytestmark = pytest.mark.skipif(len(all_cpus()) < 2, reason="pinning needs two CPUs")


@pytest.fixture(autouse=True)
def every_cpu() -> Iterator[None]:
    """The test process as a harness starts: on every CPU (the session's embedded server has
    pinned it to the client's half)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, all_cpus())
    yield
    os.sched_setaffinity(0, before)


@pytest.fixture(scope="module")
def neighbour() -> Iterator[tuple[ServerTarget, str]]:
    """A real server on this host that the suite is only given as a URL, on every CPU."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, all_cpus())  # its processes inherit this
    try:
        with EmbeddedPostgres(pin_cores=False) as target:
            url = f"postgresql://{target.user}@127.0.0.1:{target.port}/{target.database}"
            yield target, url
    finally:
        os.sched_setaffinity(0, before)


def _affinities(postmaster: int) -> dict[int, frozenset[int]]:
    root = psutil.Process(postmaster)
    return {p.pid: frozenset(p.cpu_affinity()) for p in [root, *root.children(recursive=True)]}


def test_this_host_is_told_from_another():
    assert on_this_host("127.0.0.1") and on_this_host("localhost") and on_this_host("/tmp")
    assert not on_this_host("192.0.2.1")  # TEST-NET-1: never an address of this machine
    assert not on_this_host("no-such-host.invalid")


def test_a_same_host_url_is_seen_and_left_unpinned_without_the_flag(neighbour):
    server, url = neighbour
    with provision(url, allow_existing_tables=True) as target:
        assert target.same_host and target.seen_pid == server.pid
        assert target.pid is None  # never the suite's to kill
        assert target.server_process == server.pid
        assert "cpu_affinity" not in target.settings
        described = target.describe()
        assert described["same_host"] and described["processes_seen"]


def test_pin_cores_splits_the_cpus_for_the_block_and_gives_them_back(neighbour):
    server, url = neighbour
    assert server.pid is not None
    everything = frozenset(os.sched_getaffinity(0))
    plan = CorePlan.split()
    assert plan is not None
    before = _affinities(server.pid)
    with provision(url, allow_existing_tables=True, pin_cores=True) as target:
        assert frozenset(os.sched_getaffinity(0)) == plan.client
        assert target.server_cpus == plan.server
        assert "pinned by --pin-cores" in target.settings["cpu_affinity"]
        import psycopg

        with psycopg.connect(**target.psycopg_kwargs()) as conn:  # a backend started meanwhile
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            assert frozenset(psutil.Process(backend).cpu_affinity()) == plan.server
        assert set(_affinities(server.pid).values()) == {plan.server}
    assert frozenset(os.sched_getaffinity(0)) == everything
    after = _affinities(server.pid)
    assert after[server.pid] == before[server.pid] == everything
    assert all(cpus == everything for cpus in after.values())


def test_a_harness_killed_while_pinned_leaves_the_server_its_cpus(neighbour):
    server, url = neighbour
    assert server.pid is not None
    everything = frozenset(os.sched_getaffinity(0))
    script = (
        "import sys, time\n"
        "from harness.server import provision\n"
        f"with provision({url!r}, allow_existing_tables=True, pin_cores=True):\n"
        "    print('pinned', flush=True)\n"
        "    time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"pinned"
        assert _affinities(server.pid)[server.pid] != everything
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _affinities(server.pid)[server.pid] != everything and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _affinities(server.pid)[server.pid] == everything
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def test_pin_cores_on_a_server_the_suite_starts_is_one_line_and_exit_2(capsys):
    code = main(["run", "--postgres", "embedded", "--pin-cores", "--scenario", "reads"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--pin-cores: only a server given as a URL" in err[0], err


def test_the_report_says_when_a_same_host_server_shared_the_cpus_unpinned(neighbour, tmp_path):
    _server, url = neighbour
    args = ["run", "--postgres", url, "--allow-existing-tables", "--scenario", "reads",
            "--grid", "rows=1", "--variant", "core_select", "--out"]  # fmt: skip
    assert main([*args, str(tmp_path / "shared")]) == 0
    (folder,) = list((tmp_path / "shared").iterdir())
    report = report_text(folder)
    assert "the server runs on this machine and shares its CPUs with the suite, unpinned" in report
    assert main([*args, str(tmp_path / "pinned"), "--pin-cores"]) == 0
    (folder,) = list((tmp_path / "pinned").iterdir())
    run = json.loads((folder / "run.json").read_text())
    assert "pinned by --pin-cores" in run["server"]["settings"]["cpu_affinity"]
    report = report_text(folder)
    assert "unpinned" not in report and "pinned by --pin-cores" in report
