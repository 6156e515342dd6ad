"""The peak-memory meters: an operation's peak counts what it held at once, not what it touched."""

import sys

import pytest

from harness.measure.memory import peak_memory

MB = 1_000_000


def test_what_an_operation_holds_at_its_peak_is_counted_and_what_it_let_go_is_not():
    held = peak_memory(lambda: bytearray(20 * MB))
    assert held.python_bytes >= 20 * MB

    def streamed() -> int:
        total = 0
        for _ in range(20):  # 20 MB passes through, 1 MB at a time
            total += len(bytearray(MB))
        return total

    passing = peak_memory(streamed)
    assert passing.python_bytes < 3 * MB, passing
    assert peak_memory(lambda: None).python_bytes < 100_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the RSS meter reads /proc")
def test_the_resident_high_water_mark_is_reset_before_each_operation():
    first = peak_memory(lambda: b"x" * (50 * MB), operations=1)  # written: resident
    assert first.rss_bytes is not None and first.rss_bytes >= 45 * MB
    small = peak_memory(lambda: b"x" * MB, operations=1)  # the 50 MB peak is not carried over
    assert small.rss_bytes is not None and small.rss_bytes < 10 * MB, small


def test_prepare_runs_before_each_operation_outside_the_metering():
    calls: list[str] = []
    grown: list[bytearray] = []

    def prepare() -> None:
        calls.append("prepare")
        grown.append(bytearray(10 * MB))  # allocated before the operation: not its peak

    def operation() -> None:
        calls.append("op")

    peak = peak_memory(operation, operations=2, prepare=prepare)
    assert calls == ["prepare", "op"] * 4  # two per meter
    assert peak.python_bytes < MB
