"""A results folder on a full, nearly full or read-only disk is refused before anything is
measured (no server is even started), in one line with exit code 2.

The disks are real: small tmpfs mounts. Mounting needs root (CAP_SYS_ADMIN); elsewhere these
tests are skipped, and `test_bad_input_exits_2_with_one_clear_line` still covers an unwritable
path."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.cli import main


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: " + done.stderr.decode().strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _refused(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(["run", "--scenario", "reads", "--out", str(out / "results")]))
    _out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    started = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not started, "nothing is started for a run that cannot save its results"
    return lines[0]


def test_a_disk_with_too_little_room_is_refused(tiny_disk, capsys):
    line = _refused(tiny_disk, capsys)
    assert "MiB free on that disk; a run needs at least 50 MiB" in line


def test_a_full_disk_is_refused(tiny_disk, capsys):
    with (tiny_disk / "filler").open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
    line = _refused(tiny_disk, capsys)
    assert "cannot write results there (No space left on device)" in line


def test_a_read_only_disk_is_refused(tiny_disk, capsys):
    (tiny_disk / "results").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    line = _refused(tiny_disk, capsys)
    assert "cannot write results there (Read-only file system)" in line
