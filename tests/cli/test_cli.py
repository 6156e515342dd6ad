"""The command line: bad input ends in one line and exit 2; a run writes a complete folder."""

import csv
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from process_watch import Seen, watch_until
from report_pages import report_text

from harness.cli import main
from harness.server import docker

FIXTURES = Path(__file__).parents[1] / "scenarios_fixture"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def foreign_db_url(server, fresh_database) -> str:
    fresh_database("crm", "customers")
    return f"postgresql://{server.user}:pw-secret@{server.host}:{server.port}/crm"


@pytest.fixture(scope="module")
def not_postgres_port() -> Iterator[int]:
    """A port in use by something that is not PostgreSQL (it answers like an HTTP server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture(scope="module")
def locked_role_url(server) -> str:
    """A role that must give a password (scram) on TCP, though the server trusts everyone else."""
    with psycopg.connect(**server.psycopg_kwargs(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS pb_locked")
        conn.execute("CREATE ROLE pb_locked LOGIN PASSWORD 'the-right-one'")
        hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
        rules = hba.read_text()
        hba.write_text("host all pb_locked 127.0.0.1/32 scram-sha-256\n" + rules)
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.3)
    return f"postgresql://pb_locked:pw-secret@{server.host}:{server.port}/{server.database}"


def _bad_inputs(
    tmp: Path, foreign_url: str, locked_url: str, other_port: int
) -> list[tuple[list[str], str]]:
    a_file = tmp / "a-file"
    a_file.write_text("x")
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text('{"run_id": "x", "started_at": ')
    misnamed = tmp / "misnamed"
    misnamed.mkdir()
    (misnamed / "mine.py").write_text(
        "from harness.scenario import Grid, Scenario\n"
        "my_scenario = Scenario(name='misnamed', question='?', quick=Grid.of(n=[1]), "
        "full=Grid.of(n=[1]), reference='a')\n"
    )
    port = _free_port()
    return [
        (
            ["run", "--scenario", "nope"],
            "unknown scenario 'nope'; valid: bulk_insert, http, loading, pool_sizing, reads",
        ),
        (["run", "--variant", "nope"], "unknown variant 'nope'; valid: "),
        (
            ["run", "--scenario", "reads", "--scenario", "loading", "--variant", "asyncpg_fetch"],
            "variant 'asyncpg_fetch' is not in scenario 'loading' (its variants: lazy,",
        ),
        (
            ["run", "--scenario", "loading", "--grid", "users=1", "--grid", "users=20"],
            "--grid users is given twice (users=1 and users=20)",
        ),
        (
            ["run", "--scenario-path", str(misnamed)],
            "defines Scenario 'misnamed' as 'my_scenario'",
        ),
        (
            ["run", "--scenario", "loading", "--grid", "users=many"],
            "grid axis 'users' takes int values",
        ),
        (["run", "--grid", "users"], "expected AXIS=V1,V2"),
        (["run", "--op-timeout", "-1"], "'-1' must be 0 or a positive number"),
        (["run", "--op-timeout", "soon"], "'soon' is not a number"),
        (
            ["run", "--grid", "colour=red"],
            "unknown grid axis 'colour'; valid: clients, endpoint, keys, nesting, pool_size, posts_per_user, rows, users, width",
        ),
        (["run", "--grid", "users=0"], "takes positive values"),
        (["run", "--grid", "users=-5"], "takes positive values"),
        (["run", "--profile", "huge"], "invalid choice: 'huge'"),
        (["run", "--postgres", "docker"], "no Docker engine answers"),
        (["run", "--postgres", "sqlite:///x.db"], "only postgresql:// URLs are supported"),
        (["run", "--postgres", "nonsense"], "use auto, embedded, docker or a URL"),
        (
            ["run", "--postgres", f"postgresql://me:pw-secret@127.0.0.1:{port}/db"],
            "cannot use PostgreSQL at postgresql://me:***@",
        ),
        (
            ["run", "--postgres", f"postgresql://me:pw-secret@127.0.0.1:{other_port}/db"],
            f"cannot use PostgreSQL at postgresql://me:***@127.0.0.1:{other_port}/db",
        ),
        (
            ["run", "--postgres", locked_url],
            'password authentication failed for user "pb_locked"',
        ),
        (
            ["run", "--postgres", foreign_url],
            "already holds 1 table(s) outside schema 'patternbench'",
        ),
        (["run", "--out", str(a_file / "sub")], "cannot write results there"),
        (["run", "--scenario-path", str(tmp / "missing")], "not a folder"),
        (["report", str(tmp / "missing-run")], "no such folder"),
        (["report", str(a_file)], "not a folder"),
        (["report", str(corrupt)], "not a valid run file"),
        (["seed", "--posts", "-5"], "must be positive"),
        (["seed", "--posts", "100_000_000_000"], "is too large (limit 50,000,000)"),
        (["run", "--stall-timeout", "0"], "must be positive"),
        (["check", "--seconds", "zero"], "is not a number"),
        (["explode"], "invalid choice: 'explode'"),
        (["run", "--rtt", "1"], "rtt '1': expected 0 or a number with a unit"),
        (
            ["run", "--scenario", "pool_sizing", "--grid", "clients=500", "--grid", "pool_size=8"],
            "pool_sizing at clients=500 pool_size=8 may open 500 connections",
        ),
        (
            ["run", "--scenario", "loading", "--grid", "users=200", "--grid", "posts_per_user=100"],
            "loading: --grid users=200 posts_per_user=100 leaves no point of the quick grid, "
            "which skips 200 users x 100 posts",
        ),
        (["compare", str(tmp / "missing-a"), str(tmp / "missing-b")], "missing-a"),
        (["compare", str(corrupt), str(corrupt), "--threshold", "ten"], "threshold"),
        (["run", "--rtt=-1ms"], "rtt '-1ms' must not be negative"),
        (["run", "--rtt", "0,,1ms"], "has an empty value"),
        (["run", "--rtt", "5s"], "is more than 1000 ms"),
        (["check", "--rtt", "fast"], "rtt 'fast': expected 0 or a number with a unit"),
        (["run", "--app-server", "gunicorn"], "invalid choice: 'gunicorn'"),
        (["run", "--app-workers", "0"], "'0' must be positive"),
        (["run", "--locust-workers", "two"], "'two' is not a whole number"),
        (["run", "--rate", "0"], "'0' must be positive"),
        (
            ["run", "--scenario", "http", "--app-workers", "4"],
            "http at endpoint=user users=32 may open 240 connections",
        ),
        (
            ["run", "--scenario", "http", "--grid", "endpoint=delete_everything"],
            "unknown endpoint 'delete_everything'; valid: user, activity, posts_page, create_post",
        ),
        (  # grids the dataset cannot serve, even grown, are refused before any server starts
            [
                "run",
                "--scenario",
                "loading",
                "--profile",
                "full",
                "--grid",
                "posts_per_user=1000000",
            ],
            "dataset of 200,999,800 posts is too large (limit 50,000,000)",
        ),
        (
            ["run", "--scenario", "reads", "--grid", "rows=10_000_000_000"],
            "reads at rows=10000000000: the dataset has 10,000 users; valid rows: 1 to 10000",
        ),
    ]


def test_bad_input_exits_2_with_one_clear_line(
    tmp_path, capsys, monkeypatch, foreign_db_url, locked_role_url, not_postgres_port
):
    monkeypatch.setattr(docker, "docker_engine_answers", lambda timeout_s=1.0: False)
    cases = _bad_inputs(tmp_path, foreign_db_url, locked_role_url, not_postgres_port)
    for argv, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(
                main(
                    [*argv, "--out", str(tmp_path / "out")]
                    if argv[0] == "run" and "--out" not in argv
                    else argv
                )
            )
        out, err = capsys.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        assert exit_info.value.code == 2, (argv, err)
        assert len(lines) == 1, (argv, err)
        assert expected in lines[0], (argv, lines[0])
        assert "Traceback" not in err and "pw-secret" not in err + out
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), (
        "nothing half-written"
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    code = main(
        [
            "run",
            "--postgres",
            "embedded",
            "--scenario",
            "loading",
            "--out",
            str(out),
            "--grid",
            "users=1,20",
            "--grid",
            "posts_per_user=1,10",
            "--grid",
            "nesting=posts",
            "--variant",
            "lazy",
            "--variant",
            "raw_json_agg_asyncpg",
        ]
    )
    assert code == 0
    (folder,) = list(out.iterdir())
    return folder


def test_a_run_writes_a_complete_folder(finished_run):
    names = {p.name for p in finished_run.iterdir()}
    assert {"run.json", "measurements.csv", "report.md", "charts", "samples.npz"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    run = json.loads((finished_run / "run.json").read_text())
    assert run["partial"] is False
    assert run["server"]["provider"] == "embedded"
    assert run["environment"]["cores"] >= 1
    assert {"sqlalchemy", "asyncpg", "psycopg"} <= set(run["environment"]["packages"])
    assert [s["name"] for s in run["scenarios"]] == ["loading"]
    # the reference joins the chosen variants: it is the answer they are checked against
    assert set(run["scenarios"][0]["variants"]) == {"selectinload", "lazy", "raw_json_agg_asyncpg"}
    assert len(run["measurements"]) == 4 * 3
    rows = list(csv.DictReader((finished_run / "measurements.csv").open()))
    assert set(rows[0]) == {
        "run_id",
        "scenario",
        "variant",
        "users",
        "posts_per_user",
        "nesting",
        "rtt_ms",
        "status",
        "metric",
        "value",
        "unit",
        "ci_low",
        "ci_high",
        "n",
        "detail",
        "disturbed",
    }
    lazy = {
        (r["users"], r["posts_per_user"]): float(r["value"])
        for r in rows
        if r["variant"] == "lazy" and r["metric"] == "statements_per_op"
    }
    assert lazy == {("1", "1"): 2, ("1", "10"): 2, ("20", "1"): 21, ("20", "10"): 21}
    medians = [r for r in rows if r["metric"] == "median_us"]
    assert all(float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"]) for r in medians)


def test_report_shows_lazy_statement_counts_and_verdicts(finished_run):
    index = (finished_run / "report.md").read_text()
    text = report_text(finished_run)
    assert "## loading: How should I load users with their recent activity?" in index
    assert "![loading: latency](charts/loading.png)" in text
    assert (
        "**[loading](#loading-how-should-i-load-users-with-their-recent-activity)**: How should "
        "I load users with their recent activity?"
    ) in index
    assert "## What to pick" in index and "[report-loading.md](report-loading.md)" in index
    assert (finished_run / "charts" / "loading.png").stat().st_size > 10_000
    lazy_rows = [
        line for line in text.splitlines() if line.startswith("| lazy |") and line.count("|") > 5
    ]
    assert [line.split("|")[5].strip() for line in lazy_rows] == ["2", "2", "21", "21"]
    assert "### Verdicts" in text and "selectinload vs lazy" in text


def test_report_is_rebuilt_from_stored_files_alone(finished_run, tmp_path, monkeypatch, capsys):
    copy = tmp_path / finished_run.name
    shutil.copytree(finished_run, copy)
    original = report_text(copy)
    table = (copy / "measurements.csv").read_text()
    comparisons = (copy / "comparisons.csv").read_text()
    for page in [*copy.glob("report*.md"), copy / "measurements.csv", copy / "comparisons.csv"]:
        page.unlink()
    shutil.rmtree(copy / "charts")

    def no_database(*args, **kwargs):
        raise AssertionError("report must not connect to a database")

    monkeypatch.setattr(psycopg, "connect", no_database)
    assert main(["report", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "What to pick" in out and "selectinload" in out  # said in the terminal too
    assert report_text(copy) == original
    assert (copy / "measurements.csv").read_text() == table
    assert (copy / "comparisons.csv").read_text() == comparisons
    assert (copy / "report-loading.md").is_file()
    assert (copy / "charts" / "loading.png").exists()


def test_report_links_a_self_check_kept_in_the_run_folder(finished_run, tmp_path):
    copy = tmp_path / finished_run.name
    shutil.copytree(finished_run, copy)
    assert "check.txt" not in (copy / "report.md").read_text()
    (copy / "check.txt").write_text("patternbench check, 2026-11-26 ...\n")
    assert main(["report", str(copy)]) == 0
    assert "- **Harness self-check**: [check.txt](check.txt)" in (copy / "report.md").read_text()


def test_a_run_at_1ms_rtt_pays_for_every_round_trip(tmp_path):
    args = ["run", "--postgres", "embedded", "--scenario", "loading", "--out", str(tmp_path)]
    args += ["--grid", "users=20", "--grid", "posts_per_user=1", "--grid", "nesting=posts"]
    args += ["--variant", "lazy", "--variant", "raw_json_agg_asyncpg", "--rtt", "0,1ms"]
    assert main(args) == 0
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    assert run["rtts_ms"] == [0.0, 1.0] and run["scenarios"][0]["rtts_ms"] == [0.0, 1.0]
    assert set(run["rtt_select1_us"]) == {"0", "1"}
    held = run["scenarios"][0]["rtt_held_ms"]["1"]  # the delay, measured again at the end
    assert 0.75 <= held <= 1.25, held
    median = {
        (m["variant"], m["rtt_ms"]): m["metrics"]["median_us"]["value"] for m in run["measurements"]
    }
    assert len(median) == 6
    rows = list(csv.DictReader((folder / "measurements.csv").open()))
    in_csv = {
        (r["variant"], float(r["rtt_ms"])): float(r["value"])
        for r in rows
        if r["metric"] == "median_us"
    }
    assert in_csv == pytest.approx(median, rel=1e-5)  # the tidy table tells the rtts apart
    trips = next(
        m["metrics"]["round_trips_per_op"]["value"]
        for m in run["measurements"]
        if m["variant"] == "lazy"
    )
    assert trips >= 21, "1 query for the users, 1 per user, and the transaction around them"
    # a physical floor, not a speed claim: even the fastest operation waited for each of its
    # round trips through the delay (~0.9 ms of the 1 ms is the proxy's delay; the rest is its
    # forwarding). A difference of the two rtts' medians would not do: on a busy machine the
    # rtt 0 median can grow by as much as the delay adds.
    fastest_at_1ms = next(
        m["metrics"]["min_us"]["value"]
        for m in run["measurements"]
        if m["variant"] == "lazy" and m["rtt_ms"] == 1.0
    )
    assert fastest_at_1ms >= trips * 600
    lazy = next(m["metrics"] for m in run["measurements"] if m["variant"] == "lazy")
    json_agg = next(m["metrics"] for m in run["measurements"] if m["variant"] != "lazy")
    # the same answer; lazy's 21 queries send and receive more protocol than one json_agg
    assert lazy["sent_bytes_per_op"]["value"] > json_agg["sent_bytes_per_op"]["value"] > 0
    assert json_agg["received_bytes_per_op"]["value"] > 0
    text = report_text(folder)
    assert "### How the answer changes with distance" in text
    assert "#### rtt=1ms users=20 posts_per_user=1 nesting=posts" in text
    # one grid point: no chart of it per rtt (it would have one position along x), and the
    # chart against the reference puts the two rtts side by side
    assert "charts/loading-rtt1ms.png" not in text and "charts/summary-loading.png" in text
    assert "× round trips × Δrtt" in text and "| round trips/op | sent/op |" in text
    assert "At rtt 1 ms the delay held" in text


def test_wrong_variant_is_flagged_in_console_and_report(tmp_path, capsys):
    code = main(
        [
            "run",
            "--postgres",
            "embedded",
            "--scenario-path",
            str(FIXTURES),
            "--scenario",
            "wrong_answers",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1  # a WRONG and a FAILED variant: the exit code says so
    out = capsys.readouterr().out
    assert "drops_a_row WRONG: result: 2 items, expected 3" in out
    assert "Exit code 1" in out and "WRONG measurement(s): wrong_answers.drops_a_row" in out
    assert "FAILED measurement(s): wrong_answers.raises" in out
    (folder,) = list(tmp_path.iterdir())
    text = report_text(folder)
    assert "| drops_a_row | **WRONG**: result: 4 items, expected 5 |" in text
    assert "| raises | **FAILED**: RuntimeError: boom |" in text
    rows = list(csv.DictReader((folder / "measurements.csv").open()))  # the reasons too
    wrong = [r for r in rows if r["variant"] == "drops_a_row" and r["status"] == "wrong"]
    assert wrong and all(r["detail"].startswith("result: ") for r in wrong)
    failed = [r for r in rows if r["variant"] == "raises"]
    assert failed and all(r["detail"] == "RuntimeError: boom" for r in failed)


def test_list_shows_scenarios_and_variants(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["list", "--scenario-path", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "loading: How should I load users with their recent activity?" in out
    assert "raw_json_agg_asyncpg" in out and "wrong_answers" in out


def test_check_prints_the_harness_overhead(capsys):
    assert main(["check", "--no-db", "--seconds", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "smallest visible step" in out and "no-op function (sync)" in out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_stops_postgres_and_keeps_partial_results(tmp_path, sig):
    earlier = tmp_path / "20200101T000000Z-earlier"
    earlier.mkdir()
    (earlier / "run.json").write_text("{}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            "--postgres",
            "embedded",
            "--profile",
            "quick",
            "--scenario",
            "loading",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def measuring(now: list[Seen]) -> bool:
        runs = [p for p in tmp_path.iterdir() if p != earlier and (p / "run.json").exists()]
        return (
            any(s.name == "postgres" for s in now)
            and bool(runs)
            and len(json.loads((runs[0] / "run.json").read_text()).get("measurements", [])) > 0
        )

    now = watch_until(proc, measuring, "measuring")
    servers = [s.process for s in now if s.name == "postgres"]
    workdirs = {
        Path(a.split("=", 1)[1])
        for s in now
        if s.name == "postgres"
        for a in s.cmdline
        if a.startswith("unix_socket_directories=")
    }
    proc.send_signal(sig)
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # the command enables faulthandler: on SIGABRT it prints where it hung
        proc.send_signal(signal.SIGABRT)
        _out, err = proc.communicate()
        pytest.fail(f"the run did not stop after {sig!r}:\n{err[-4000:]}")
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "partial results kept" in err and "Traceback" not in err
    assert ("terminated (SIGTERM)" if sig == signal.SIGTERM else "interrupted (Ctrl-C)") in err
    _gone, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive, "postgres outlived the harness"
    assert workdirs and not any(d.exists() for d in workdirs)
    (run_dir,) = [p for p in tmp_path.iterdir() if p != earlier]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["partial"] is True and run["interrupted"]
    assert (run_dir / "report.md").read_text().count("Partial run") == 1
    assert f"partial report of what was measured: {run_dir / 'report.md'}" in err
    assert (earlier / "run.json").read_text() == "{}", "an earlier run is never touched"
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_harness_killed_with_sigkill_takes_its_server_and_proxy_with_it(tmp_path):
    args = ["run", "--postgres", "embedded", "--scenario", "loading", "--rtt", "1ms"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args, "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def server_and_proxy_up(now: list[Seen]) -> bool:
        return any("postgres" in s.command and "-D" in s.cmdline for s in now) and any(
            "harness.measure.netem" in s.command for s in now
        )

    children = [s.process for s in watch_until(proc, server_and_proxy_up, "its delay proxy")]
    proc.kill()  # SIGKILL: no handler, no finally, only PR_SET_PDEATHSIG is left
    proc.wait()
    _gone, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"outlived a SIGKILLed harness: {[p.cmdline()[:3] for p in alive]}"


def test_a_password_in_the_url_reaches_no_file_and_no_output(
    tmp_path, capfd, server, fresh_database
):
    fresh_database("pb_secret_check")
    url = f"postgresql://{server.user}:pw-secret@{server.host}:{server.port}/pb_secret_check"
    args = ["run", "--postgres", url, "--scenario", "loading", "--out", str(tmp_path)]
    args += ["--grid", "users=1", "--grid", "posts_per_user=1", "--grid", "nesting=posts"]
    assert main(args) == 0
    out, err = capfd.readouterr()
    (folder,) = list(tmp_path.iterdir())
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {"run.json", "measurements.csv", "report.md"} <= {p.name for p in files}
    leaked = [p.name for p in files if b"pw-secret" in p.read_bytes()]
    assert not leaked and "pw-secret" not in out + err
    assert "postgresql://postgres:***@" in (folder / "report.md").read_text()


def _run_and_break_the_server(tmp_path: Path, break_it, *extra: str) -> tuple[dict, str, str]:
    """Runs reads then loading in a subprocess; once reads saved a measurement, `break_it`
    gets the server's processes. Returns run.json, report.md and stderr."""
    args = ["run", "--postgres", "embedded", "--out", str(tmp_path), *extra]
    args += ["--scenario", "reads", "--grid", "rows=1,100,10000"]
    args += ["--scenario", "loading", "--grid", "users=1", "--grid", "posts_per_user=1"]
    args += [
        "--grid",
        "nesting=posts",
        "--variant",
        "loading:lazy",
        "--variant",
        "reads:orm_entities",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[psutil.Process] = set()

    def measuring(now: list[Seen]) -> bool:
        runs = [p / "run.json" for p in tmp_path.iterdir() if (p / "run.json").exists()]
        return any(s.name == "postgres" for s in now) and bool(
            runs and json.loads(runs[0].read_text()).get("measurements")
        )

    now = watch_until(proc, measuring, "measuring", seen=seen)
    break_it([s.process for s in now if s.name == "postgres"])
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err + out
    _gone, alive = psutil.wait_procs(list(seen), timeout=10)
    assert not alive, f"outlived the run: {[p.pid for p in alive]}"
    (run_dir,) = list(tmp_path.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    status = {s["name"]: s["status"] for s in run["scenarios"]}
    assert status == {"reads": "failed", "loading": "ok"}, run["scenarios"]
    assert "PostgreSQL stopped answering" in run["scenarios"][0]["error"]
    assert run["partial"] is True and len(run["server_restarts"]) == 1
    assert any(m["scenario"] == "loading" and m["status"] == "ok" for m in run["measurements"])
    report = report_text(run_dir)
    assert "This scenario failed" in report and "Server restarted" in report
    return run, report, err


@pytest.mark.slow
def test_a_killed_server_fails_its_scenario_and_the_run_goes_on_with_a_new_one(tmp_path):
    def kill_postmaster(servers: list[psutil.Process]) -> None:
        min(servers, key=lambda s: s.create_time()).kill()

    _run_and_break_the_server(tmp_path, kill_postmaster)


@pytest.mark.slow
def test_a_paused_server_is_noticed_replaced_and_the_run_stays_bounded(tmp_path):
    def pause_everything(servers: list[psutil.Process]) -> None:
        for server in servers:
            server.suspend()  # SIGSTOP: connections stay open, nothing answers

    started = time.monotonic()
    run, _report, _err = _run_and_break_the_server(
        tmp_path, pause_everything, "--stall-timeout", "3"
    )
    assert "did not answer a new connection" in run["server_restarts"][0]
    assert time.monotonic() - started < 150
