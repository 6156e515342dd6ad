"""`patternbench show`: one point's numbers from a stored run, the fastest read forward."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from harness.cli import main

FULL = Path(__file__).parents[2] / "results/published/20261126T122728Z-68505ec"
LOADING_POINT = [
    "--scenario", "loading", "--point", "users=1", "--point", "posts_per_user=10",
    "--point", "nesting=comments",
]  # fmt: skip


def test_one_question_is_one_command_and_its_answer_reads_forward(capsys):
    both = ["--variant", "selectinload", "--variant", "joinedload", "--rtt", "0"]
    assert main(["show", str(FULL), *LOADING_POINT, *both]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "users=1 posts_per_user=10 nesting=comments" in out
    assert "rtt=" not in out  # the rtt asked for was 0 only
    verdict = re.search(r"(selectinload|joinedload) is (\d+\.\d\d)x faster than (\w+)", out)
    tie = "selectinload vs joinedload: no significant difference" in out
    assert verdict or tie, out
    if verdict:
        assert float(verdict.group(2)) >= 1.0 and verdict.group(1) != verdict.group(3)
    assert not re.search(r"\b0\.\d\dx faster", out)  # never backwards


def test_a_value_not_measured_shows_the_nearest_and_says_so(capsys):
    assert main(["show", str(FULL), "--scenario", "loading", "--point", "users=50",
                 "--point", "posts_per_user=10", "--point", "nesting=posts", "--rtt", "0",
                 "--variant", "selectinload"]) == 0  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert "users=50 was not measured; the nearest measured: users=20 and users=200" in out
    assert "users=20 posts_per_user=10 nesting=posts" in out
    assert "users=200 posts_per_user=10 nesting=posts" in out


def test_a_load_point_compares_requests_per_second(capsys):
    assert main(["show", str(FULL), "--scenario", "pool_sizing", "--point", "clients=32",
                 "--point", "pool_size=32", "--rtt", "0", "--variant", "psycopg_pool",
                 "--variant", "queuepool"]) == 0  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"psycopg_pool served \d+\.\d\dx the requests/s.* of queuepool", out), out


def test_csv_and_json_hold_exactly_the_chosen_measurements(capsys):
    args = ["show", str(FULL), *LOADING_POINT, "--variant", "lazy", "--rtt", "0,1ms"]
    assert main([*args, "--format", "json"]) == 0
    chosen = json.loads(capsys.readouterr().out)
    assert {(m["variant"], m["rtt_ms"]) for m in chosen} == {("lazy", 0.0), ("lazy", 1.0)}
    assert main([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == sum(len(m["metrics"]) for m in chosen)
    assert {r["variant"] for r in rows} == {"lazy"} and {r["nesting"] for r in rows} == {"comments"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--scenario", "nope"], "--scenario 'nope' is not in this run; valid: bulk_insert"),
        (["--variant", "nope"], "--variant 'nope' was not measured; valid: "),
        (["--point", "colour=red"], "--point colour: not an axis of any scenario of this run"),
        (["--scenario", "loading", "--point", "nesting=deep"], "--point nesting=deep: not a measured value; valid: posts, comments"),
        (["--scenario", "loading", "--rtt", "2ms"], "--rtt 2ms was not measured in loading; valid: 0ms, 1ms"),
        (["--point", "users"], "--point 'users': expected AXIS=VALUE or AXIS=V1,V2"),
    ],
)  # fmt: skip
def test_a_question_the_run_cannot_answer_is_one_line_and_exit_2(argv, expected, capsys):
    assert main(["show", str(FULL), *argv]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and expected in err[0], err


def test_show_latest_without_runs_names_what_to_do(tmp_path, capsys):
    assert main(["show", "latest", "--out", str(tmp_path)]) == 2
    assert "run `make bench` first" in capsys.readouterr().err
