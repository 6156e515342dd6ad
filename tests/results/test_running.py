"""One run at a time on a machine, unless asked; no run ever takes another's folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from report_pages import report_text

from harness.cli import main
from harness.errors import UserError
from harness.results.running import RunSlot
from harness.results.store import RunFolder

FIXTURES = Path(__file__).parents[1] / "scenarios_fixture"
ROOT = Path(__file__).resolve().parents[2]


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    now = datetime(2026, 12, 2, 7, 26, 49, tzinfo=UTC)
    first = RunFolder.new(tmp_path, "abc1234", now)
    second = RunFolder.new(tmp_path, "abc1234", now)
    third = RunFolder.new(tmp_path, "abc1234", now)
    assert first.run_id == "20261202T072649Z-abc1234"
    assert second.run_id == "20261202T072649Z-abc1234-2" and third.run_id.endswith("-3")
    assert all(f.path.is_dir() for f in (first, second, third))


def test_a_second_run_is_refused_while_one_holds_its_slot(tmp_path):
    with RunSlot(folder=tmp_path) as first:
        first.named("20261202T072649Z-abc1234", tmp_path / "results")
        with pytest.raises(UserError) as refused, RunSlot(folder=tmp_path):
            pass
        text = str(refused.value)
        assert "another patternbench run is going on this machine" in text
        assert "20261202T072649Z-abc1234" in text and "--allow-concurrent" in text
        assert "\n" not in text
        with RunSlot(allow_concurrent=True, folder=tmp_path) as second:
            assert second.concurrent() == ["20261202T072649Z-abc1234"]
            assert first.concurrent() == [f"pid {second.me.pid}"]  # not yet named
    with RunSlot(folder=tmp_path) as later:  # both gone: the machine is free again
        assert later.concurrent() == []
    assert not list(tmp_path.glob("run-*.json"))


def test_the_slot_of_a_killed_run_is_freed_by_the_kernel(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from harness.results.running import RunSlot; "
            f"s = RunSlot(folder=__import__('pathlib').Path({str(tmp_path)!r})).__enter__(); "
            "print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"pid {holder.pid}"), RunSlot(folder=tmp_path):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    with RunSlot(folder=tmp_path) as free:
        assert free.concurrent() == []
    assert not list(tmp_path.glob("run-*.json"))  # the leftover was removed


def _run(out: Path, *extra: str) -> int:
    return main(
        [
            "run", "--postgres", "embedded", "--scenario-path", str(FIXTURES),
            "--scenario", "wrong_answers", "--variant", "honest_async", "--grid", "users=3",
            "--out", str(out), *extra,
        ]
    )  # fmt: skip


def test_the_command_line_refuses_a_second_run_in_one_line_and_starts_nothing(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATTERNBENCH_RUNS_DIR", str(tmp_path / "slots"))
    with RunSlot() as other:
        other.named("20261202T000000Z-0000000", tmp_path / "elsewhere")
        started = time.monotonic()
        assert _run(tmp_path / "out") == 2
        assert time.monotonic() - started < 10  # refused before any server started
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "20261202T000000Z-0000000" in err, err
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())

        assert _run(tmp_path / "out", "--allow-concurrent") == 0
        (folder,) = list((tmp_path / "out").iterdir())
        run = json.loads((folder / "run.json").read_text())
        assert run["concurrent_runs"] == ["20261202T000000Z-0000000"]
        report = report_text(folder)
        assert (
            "**Other patternbench runs shared this machine** (20261202T000000Z-0000000)" in report
        )
    assert "Other runs shared this machine" in capsys.readouterr().out


def test_a_scenario_whose_every_variant_failed_is_failed_and_exits_1(tmp_path, capsys):
    code = main(
        [
            "run", "--postgres", "embedded", "--scenario-path", str(FIXTURES),
            "--scenario", "all_fail", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    assert "Exit code 1" in out and "scenario all_fail failed" in out
    (folder,) = list(tmp_path.iterdir())
    run = json.loads((folder / "run.json").read_text())
    (record,) = run["scenarios"]
    assert record["status"] == "failed" and "every variant failed" in record["error"]
    assert "> **This scenario failed**: every variant failed" in report_text(folder)
