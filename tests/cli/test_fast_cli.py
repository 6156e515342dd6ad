"""`patternbench --help` and `patternbench list` import none of the heavy modules (drivers,
SQLAlchemy, numpy, matplotlib, the web frameworks), and a one-point run no matplotlib: what they
import is checked, not timed.
`list` shows every scenario's variants with their kind and how many points each profile skips."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main, parser

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parents[1] / "scenarios_fixture"
HEAVY = (
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "psycopg_pool",
    "numpy",
    "matplotlib",
    "locust",
    "fastapi",
    "litestar",
    "httpx",
    "msgspec",
    "psutil",
    "testcontainers",
    "scenarios",
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATTERNBENCH_CACHE", str(tmp_path / "cache" / "patternbench"))


def _imported(argv: list[str], cache: Path) -> tuple[set[str], str]:
    """The top-level modules `python -X importtime -m harness.cli ARGV` imported, and its output."""
    env = {**os.environ, "PATTERNBENCH_CACHE": str(cache / "patternbench")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness.cli", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return names, done.stdout


def test_help_imports_no_heavy_module(tmp_path):
    for argv in (["--help"], ["run", "--help"], ["list", "--help"]):
        names, out = _imported(argv, tmp_path)
        assert "patternbench" in out or "usage" in out
        assert not names & set(HEAVY), (argv, sorted(names & set(HEAVY)))
        assert "rich" not in names, argv


def test_list_from_the_kept_catalogue_imports_no_heavy_module(tmp_path):
    cache = tmp_path / "cache"
    first_names, first = _imported(["list", "--scenario-path", str(FIXTURES)], cache)
    assert "sqlalchemy" in first_names  # the first listing imports the scenarios
    names, again = _imported(["list", "--scenario-path", str(FIXTURES)], cache)
    assert again == first
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_a_one_point_run_draws_no_chart_imports_no_matplotlib_and_says_everything(tmp_path):
    out = tmp_path / "results"
    argv = ["run", "--scenario", "reads", "--grid", "rows=1", "--variant", "asyncpg_fetch"]
    names, text = _imported([*argv, "--out", str(out)], tmp_path)
    assert "matplotlib" not in names and "sqlalchemy" in names
    (folder,) = out.iterdir()
    assert not (folder / "charts").exists() and "![" not in (folder / "report.md").read_text()
    # the process ended without the interpreter's teardown: its output is all there
    assert text.rstrip().splitlines()[-1].startswith(f"Results: {folder}/report.md")
    refused = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--variant", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "unknown variant 'nope'" in refused.stderr


def test_the_parsers_defaults_are_the_runners(tmp_path):
    from harness.runners.base import GC_MODES, PROFILE_NAMES, RunOptions
    from harness.runners.http.appserver import SERVERS

    assert parser.PROFILE_NAMES == PROFILE_NAMES and parser.GC_MODES == GC_MODES
    assert parser.SERVERS == SERVERS
    options = RunOptions()
    assert options.op_timeout_s == parser.DEFAULT_OP_TIMEOUT_S
    assert options.max_interference == parser.DEFAULT_MAX_INTERFERENCE
    assert options.gc == parser.DEFAULT_GC


def _list(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["list", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def _line(lines: list[str], start: str) -> str:
    (found,) = [line for line in lines if line.strip().startswith(start)]
    return " ".join(found.split())


def test_list_shows_pool_kinds_and_skipped_points(capsys):
    lines = _list(capsys)
    assert _line(lines, "psycopg_pool ").startswith("psycopg_pool sync pool psycopg_pool.")
    assert "(reference)" in _line(lines, "psycopg_pool ")
    for name in ("psycopg_async_pool", "asyncpg_pool", "asyncpg_pool_no_reset", "sqlalchemy_async"):
        assert _line(lines, name + " ").startswith(f"{name} async pool "), name
    for name in ("queuepool", "queuepool_overflow", "nullpool"):
        assert _line(lines, name + " ").startswith(f"{name} sync pool "), name
    assert _line(lines, "fastapi_orm ").startswith("fastapi_orm ASGI app FastAPI")
    assert _line(lines, "raw_json_agg_asyncpg ").startswith("raw_json_agg_asyncpg async ")
    assert _line(lines, "lazy ").startswith("lazy sync ")
    pool_quick = [line for line in lines if "quick: clients=4,32,128; pool_size=" in line]
    assert (
        pool_quick
        and "(11 of 15 points; skips 4: pool sizes more than twice the number" in (pool_quick[0])
    )
    assert any("full: rows=1,10,100,1000,10000 (5 points)" in line for line in lines)
    assert any("(5 of 8 points; skips 3: keys=yes beyond" in line for line in lines)


def test_list_from_the_catalogue_is_the_same_and_follows_a_changed_scenario(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    source = (
        "from harness.scenario import Grid, Scenario\n"
        "scenario = Scenario(name='pb_listed', question='QUESTION', quick=Grid.of(n=[1, 2]), "
        "full=Grid.of(n=[1]), reference='only')\n"
        "@scenario.variant\n"
        "async def only(ctx):\n"
        "    '''The only one.'''\n"
    )
    (folder / "listed.py").write_text(source.replace("QUESTION", "First?"))
    fresh = _list(capsys, "--scenario-path", str(folder), "--fresh")
    assert _list(capsys, "--scenario-path", str(folder)) == fresh
    assert "pb_listed: First?" in fresh
    assert any(" ".join(line.split()) == "only async The only one. (reference)" for line in fresh)
    assert any("quick: n=1,2 (2 points)" in line for line in fresh)
    time.sleep(0.01)
    (folder / "listed.py").write_text(source.replace("QUESTION", "Second?"))
    # a new process, as a user's next `patternbench list` (this one imported the module once)
    _, changed = _imported(["list", "--scenario-path", str(folder)], tmp_path / "cache")
    assert "pb_listed: Second?" in changed and "pb_listed: First?" not in changed
