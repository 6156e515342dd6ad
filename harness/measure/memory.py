"""Peak memory of one operation: what it needs at once, the cost streaming exists to cut.

Two meters, both around a single call, never around a timed one (tracing slows every allocation):

- *Python heap*: tracemalloc's peak above the heap at the start of the call. Exact for what Python
  and the drivers' extensions allocate through Python's allocators (objects, rows, asyncpg's
  buffers); blind to what a C library mallocs itself (libpq's result buffers under psycopg).
- *RSS*: how far the process's resident high-water mark rose during the call, after the
  collector ran and the C allocator gave its free memory back (Linux: `/proc/self/clear_refs`
  resets the mark). It sees libpq's buffers too, but in pages, and only memory the process did
  not already hold.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_HIGH_WATER_MARK = "5"  # proc(5): clear_refs value that resets VmHWM to VmRSS
Prepare = Callable[[], Any] | None


@dataclass(frozen=True)
class MemoryPeak:
    """One operation's peak: bytes on the Python heap, and resident bytes (None where the
    platform cannot say)."""

    python_bytes: int
    rss_bytes: int | None


def _status_kib(key: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def _settle(prepare: Prepare) -> None:
    """Runs `prepare`, then collects garbage and asks glibc (the symbols this process already
    has: no library lookup) to return its free pages; the trim is a no-op elsewhere."""
    if prepare is not None:
        prepare()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _rss_rise(call: Callable[[], Any], prepare: Prepare) -> int | None:
    _settle(prepare)
    before = _status_kib("VmRSS")
    try:
        CLEAR_REFS.write_text(RESET_HIGH_WATER_MARK)
    except OSError:
        before = None
    result = call()
    peak = _status_kib("VmHWM")
    del result
    if before is None or peak is None:
        return None
    return max(0, peak - before) * 1024


def _heap_peak(call: Callable[[], Any], prepare: Prepare) -> int:
    _settle(prepare)
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = call()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - start)


def peak_memory(
    call: Callable[[], Any], operations: int = 2, prepare: Prepare = None
) -> MemoryPeak:
    """The smallest peak over `operations` calls for each meter (the result each call returned
    is held until the call's peak is read, as a handler holds what it built); `prepare` runs
    before each call, outside the metering."""
    heap = min(_heap_peak(call, prepare) for _ in range(max(1, operations)))
    rss = [_rss_rise(call, prepare) for _ in range(max(1, operations))]
    known = [r for r in rss if r is not None]
    return MemoryPeak(heap, min(known) if known else None)
