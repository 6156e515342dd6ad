"""Other work on the machine is seen, and the run's own work (children included, and what relays
its traffic) is not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
from report_pages import report_text

from harness.cli import main
from harness.measure.interference import OutsideCpu

FIXTURES = Path(__file__).parents[1] / "scenarios_fixture"
BURN = "import time\nend = time.time() + {s}\nwhile time.time() < end: pass\n"


@contextmanager
def outside_burners(seconds: float, count: int = 2) -> Iterator[list[int]]:
    """`count` busy processes that are not this process's children (a shell starts them in the
    background and exits, so they are re-parented and their CPU is nobody's in this tree);
    bounded by `seconds` and killed on the way out."""
    code = BURN.format(s=seconds)
    launch = " ".join(
        f"{sys.executable} -c '{code}' </dev/null >/dev/null 2>&1 & echo $!;" for _ in range(count)
    )
    out = subprocess.run(["sh", "-c", launch], capture_output=True, text=True, timeout=10)
    pids = [int(line) for line in out.stdout.split()]
    try:
        yield pids
    finally:
        for pid in pids:
            with suppress(psutil.Error):
                psutil.Process(pid).kill()


def test_outside_work_is_seen_and_the_runs_own_children_are_not():
    meter = OutsideCpu()
    with outside_burners(3.0):
        time.sleep(0.5)  # both started
        start = meter.mark()
        time.sleep(1.0)
        busy = meter.between(start, meter.mark())
    assert busy.outside_cores > 0.7, busy  # two burners on two cores: well over one core
    assert "other work used" in busy.disturbed(0.10)
    start = meter.mark()
    subprocess.run([sys.executable, "-c", BURN.format(s=1.0)], timeout=10)  # our own child
    own = meter.between(start, meter.mark())
    assert own.outside_cores < busy.outside_cores - 0.4, (own, busy)


def test_a_relay_of_the_runs_traffic_is_the_runs_own():
    """A process outside the harness's tree that carries its traffic (Docker's port proxy) is
    named as a relay: its CPU is not other work."""
    with outside_burners(3.0, count=1) as (relay,):
        time.sleep(0.5)
        plain, relayed = OutsideCpu(), OutsideCpu(relays=[relay])
        starts = plain.mark(), relayed.mark()
        time.sleep(1.0)
        seen = plain.between(starts[0], plain.mark())
        owned = relayed.between(starts[1], relayed.mark())
    assert seen.outside_cores > 0.6, seen  # one burner: most of a core
    assert owned.outside_cores < seen.outside_cores - 0.5, (owned, seen)


def _run(out: Path) -> int:
    return main(
        [
            "run", "--postgres", "embedded", "--scenario-path", str(FIXTURES),
            "--scenario", "wrong_answers", "--variant", "honest_async", "--out", str(out),
        ]
    )  # fmt: skip


def test_a_run_beside_busy_processes_says_its_points_were_disturbed(tmp_path):
    with outside_burners(60.0):
        assert _run(tmp_path / "busy") == 0  # disturbed is said, not an error
    (folder,) = list((tmp_path / "busy").iterdir())
    run = json.loads((folder / "run.json").read_text())
    assert all(m["disturbed"] for m in run["measurements"]), run["measurements"]
    assert all(m["metrics"]["outside_cpu_pct"]["value"] > 10 for m in run["measurements"])
    report = report_text(folder)
    assert "**2 of 2 grid points were disturbed**" in report
