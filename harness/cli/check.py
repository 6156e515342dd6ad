"""`patternbench check`: the harness measured on this machine, printed as tables."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

from harness.measure import machine
from harness.measure.netem import DelayProxy, measure_select1
from harness.processes import cpu_list
from harness.report.units import duration, rtt_text, signed_duration
from harness.results.store import check_writable, write_atomic
from harness.server import provision
from harness.server.target import ServerTarget

if TYPE_CHECKING:
    from harness.measure.gc_effect import GcEffect
    from harness.measure.selfcheck import OverheadRow, Placement


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from harness.measure.gc_effect import gc_effect
    from harness.measure.selfcheck import (
        core_placement,
        measure_overhead,
        timer_resolution_ns,
        wakeup_lateness,
    )

    if args.out is not None:  # everything printed, also kept as text beside a run's report
        check_writable(args.out.parent, min_free_bytes=0)
        console = Console(highlight=False, width=120, record=True)
    here = machine.describe()
    console.print(
        f"patternbench check, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {here['cpu']}, "
        f"{here['cores']} cores, {here['memory_gib']} GiB, Python {here['python']}, "
        f"{here['os']}"
    )
    console.print(
        f"timer: perf_counter_ns, smallest visible step {timer_resolution_ns():.0f} ns "
        f"(clock says {time.get_clock_info('perf_counter').resolution * 1e9:.0f} ns)"
    )
    if args.no_db:
        console.print(overhead_table(measure_overhead(None, args.seconds)))
    else:
        with provision(
            args.postgres,
            allow_existing_tables=args.allow_existing_tables,
            pin_cores=args.pin_cores,
        ) as target:
            console.print(f"PostgreSQL {target.version} ({target.provider})")
            console.print(overhead_table(measure_overhead(target, args.seconds)))
            late = wakeup_lateness(seconds=args.seconds, cpus=target.server_cpus)
            console.print(
                f"delay proxy's timers: asyncio.sleep({late.sleep_us:g} µs) on a select() loop "
                f"with 1 ns timer slack, on CPU {late.cpus}, woke {late.median_us:.0f} µs late "
                f"(median; p99 {late.p99_us:.0f} µs; {late.n:,} sleeps)"
            )
            console.print(gc_table(gc_effect(target, seconds=max(1.0, 4 * args.seconds))))
            if placement := core_placement(target, max(1.0, 4 * args.seconds)):
                console.print(placement_table(placement, target))
            if args.rtt != (0.0,):
                console.print(rtt_table(target, args.rtt, args.seconds))
                console.print(bandwidth_table(target, args.rtt))
    if args.out is not None:
        write_atomic(args.out, console.export_text().encode())
        sys.stdout.write(f"written to {args.out}\n")
    return 0


def overhead_table(rows: list[OverheadRow]) -> Table:
    table = Table(title="runner overhead: per-op timing vs a bare loop of the same call")
    for column in ("call", "bare loop / call", "runner mean / op", "runner median / op", "ratio"):
        table.add_column(column, justify="right" if column != "call" else "left")
    for row in rows:
        table.add_row(
            row.what,
            f"{row.bare_ns:,.0f} ns",
            f"{row.runner_ns:,.0f} ns",
            f"{row.runner_median_ns:,.0f} ns",
            f"{row.ratio:.3f}",
        )
    return table


def gc_table(effect: GcEffect) -> Table:
    """The collector's mode against one ORM read: what `--gc` changes, in this process."""
    table = Table(
        title=f"garbage collector: one ORM read of {effect.rows:,} User objects (psycopg, "
        "alternating batches)"
    )
    for column in ("--gc", "median / read", "reads"):
        table.add_column(column, justify="right" if column != "--gc" else "left")
    table.add_row(
        "freeze (the default)", duration(effect.median_us["freeze"]), f"{effect.n['freeze']:,}"
    )
    table.add_row("default", duration(effect.median_us["default"]), f"{effect.n['default']:,}")
    ratio = effect.default_over_frozen
    verdict = (
        f"frozen, the read was {ratio:.2f}x faster than with Python's default collector"
        if ratio >= 1.05
        else f"with Python's default collector the read was {1 / ratio:.2f}x faster than frozen"
        if ratio <= 1 / 1.05
        else "the two modes are within 5% of each other: a tie"
    )
    table.caption = (
        f"{verdict}. Measured in this check's own process; a run's process holds more "
        "objects, which the default collector's full collections also walk."
    )
    return table


def placement_table(rows: list[Placement], target: ServerTarget) -> Table:
    server = cpu_list(target.server_cpus)
    table = Table(
        title=f"core placement: pgbench SELECT 1 (prepared, one client), server on CPU {server}"
    )
    columns = ("client", "client CPU", "TPS", "1 / TPS", "logged median", "logged p99", "0 µs")
    for column in columns:
        table.add_column(column, justify="right" if column != "client" else "left")
    for row in rows:
        if row.error:
            table.add_row(row.where, row.client_cpus, row.error, "", "", "", "")
        else:
            table.add_row(
                row.where,
                row.client_cpus,
                f"{row.tps:,.0f}",
                duration(row.per_transaction_us),
                duration(row.median_us),
                duration(row.p99_us),
                f"{row.zero_share:.0%}",
            )
    table.caption = (
        "1 / TPS is the time per transaction. pgbench reads its clock lazily and logs a reply "
        "that was already there as 0 µs (share in the last column); logged percentiles are of "
        "the rest."
    )
    return table


def rtt_table(target: ServerTarget, rtts: tuple[float, ...], seconds: float) -> Table:
    """Configured vs achieved round trip: `SELECT 1` over psycopg, direct and through the
    delay proxy at each rtt, before and after the proxy subtracted its own forwarding time
    (what the uncalibrated proxy added beyond the rtt)."""
    table = Table(
        title=f"network distance: SELECT 1 round trip (psycopg, medians of {seconds:g} s)"
    )
    for column in (
        "rtt configured",
        "direct",
        "through proxy, uncalibrated",
        "proxy forwarding",
        "through proxy",
        "added",
        "off by",
        "delay per direction",
    ):
        table.add_column(column, justify="right")
    direct = float(np.median(measure_select1(target, seconds)))
    table.add_row("0", duration(direct), "", "", "", "", "", "no proxy")
    for rtt in rtts:
        if rtt == 0:
            continue
        with DelayProxy(target, rtt) as proxy:
            raw = float(np.median(measure_select1(proxy.target(), seconds)))
            c = proxy.calibrate(seconds)
        table.add_row(
            rtt_text(rtt),
            duration(c.direct_us),
            duration(raw),
            signed_duration(raw - c.direct_us - rtt * 1e3),
            duration(c.through_us),
            duration(c.added_us),
            f"{(c.added_us - rtt * 1e3) / (rtt * 1e3):+.1%}",
            f"{c.one_way_us:,.0f} µs",
        )
    return table


def bandwidth_table(target: ServerTarget, rtts: tuple[float, ...]) -> Table:
    """COPY's rate each way, direct and through the calibrated delay proxy at each rtt: what
    an operation that moves many bytes pays beyond its round trips."""
    from harness.measure.selfcheck import copy_bandwidth

    rows = [copy_bandwidth(target, "direct")]
    for rtt in rtts:
        if rtt > 0:
            with DelayProxy(target, rtt) as proxy:
                proxy.calibrate()
                rows.append(copy_bandwidth(proxy.target(), f"rtt {rtt_text(rtt)}"))
    size = f"{rows[0].megabytes} MB"
    table = Table(title=f"bandwidth: COPY of {size} each way (psycopg, medians of 3)")
    for column in ("path", "client → server", "server → client", f"{size} up: extra time"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for row in rows:
        extra = "" if row is rows[0] else signed_duration(row.extra_up_us(rows[0]))
        table.add_row(row.where, f"{row.up_mb_s:,.0f} MB/s", f"{row.down_mb_s:,.0f} MB/s", extra)
    return table
