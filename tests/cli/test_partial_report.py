"""A run whose report cannot be written still says how to build it: one command."""

from __future__ import annotations

import pytest
from rich.console import Console

from harness.cli.run import _report
from harness.errors import UserError
from harness.results.records import RunRecord


def test_a_report_that_cannot_be_written_names_the_command_that_builds_it(tmp_path, capsys):
    run = RunRecord(
        "r", "2026-12-03T00:00:00Z", "quick", {}, {}, interrupted="interrupted (Ctrl-C)"
    )
    with pytest.raises(UserError):  # no run.json in the folder: the report cannot be built
        _report(tmp_path, run, Console())
    err = capsys.readouterr().err
    assert f"build it with `patternbench report {tmp_path}`" in err
    assert "the results are kept" in err
