"""The `patternbench` command: list, check, run, report, seed.

Errors a user can cause end in one line naming what is valid, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import numpy as np
from rich.console import Console
from rich.table import Table

from harness import environment, registry
from harness.appserver import SERVERS, ServeOptions
from harness.console import RunProgress, summary_tables
from harness.dataset import DatasetSpec, ensure_dataset
from harness.errors import ServerGone, UserError
from harness.execution import Plan, check_connection_budget, run_scenario
from harness.netem import DelayProxy, measure_select1
from harness.postgres import RestartableServer, ServerTarget, cpu_list, provision
from harness.records import RunRecord
from harness.redaction import redact_text
from harness.report import write_report
from harness.runners.http import HttpOptions
from harness.runners.latency import PROFILES
from harness.scenario import Scenario
from harness.store import RunFolder, check_writable, new_run_id, write_atomic
from harness.units import duration, parse_rtt_list, rtt_text, signed_duration
from harness.watchdog import Watchdog

if TYPE_CHECKING:
    from harness.selfcheck import OverheadRow, Placement

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so every cleanup runs. A KeyboardInterrupt because
    asyncio re-raises only those (and SystemExit) from its callbacks; others it swallows."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"patternbench: error: {message} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _rtt_list(text: str) -> tuple[float, ...]:
    try:
        return parse_rtt_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_rtt(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--rtt",
        type=_rtt_list,
        default=(0.0,),
        metavar="LIST",
        help=f"simulated network round-trip time(s) to the database, e.g. 0,1ms,2ms: {what} "
        "(a delay proxy on 127.0.0.1; 0 = direct, no proxy; default 0)",
    )


def _grid_override(text: str) -> tuple[str, str]:
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected AXIS=V1,V2 (e.g. users=1,20)")
    return name.strip(), values.strip()


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="also load scenario modules from DIR (repeatable)",
    )


def _add_postgres(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--postgres",
        default="auto",
        metavar="auto|embedded|docker|URL",
        help="which PostgreSQL: auto (Docker if an engine answers, else embedded), embedded, "
        "docker, or postgresql://user:password@host:port/db (default: auto)",
    )
    p.add_argument(
        "--allow-existing-tables",
        action="store_true",
        help="with a URL: accept a database that already holds other tables (the suite still "
        "works only inside its own schema)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="patternbench",
        description="Which data-access pattern should you pick on PostgreSQL? Measured here.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    p = verbs.add_parser("list", help="list scenarios, their variants and grids")
    _add_common(p)

    p = verbs.add_parser("run", help="run scenarios and write results/<run-id>/")
    _add_common(p)
    _add_postgres(p)
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="scenario to run (repeatable; default all)",
    )
    p.add_argument(
        "--variant", action="append", metavar="NAME", help="only these variants (repeatable)"
    )
    p.add_argument(
        "--profile", choices=sorted(PROFILES), default="quick", help="grid and timing profile"
    )
    p.add_argument(
        "--grid",
        action="append",
        type=_grid_override,
        default=[],
        metavar="AXIS=V1,V2",
        help="replace one grid axis's values (repeatable)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("results"), metavar="DIR", help="results folder"
    )
    _add_rtt(p, "every scenario runs at each")
    p.add_argument(
        "--stall-timeout",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="when nothing progressed for S seconds and the server does not answer a new "
        "connection, the suite's own server is killed and replaced (default 60)",
    )
    http = p.add_argument_group("http scenario")
    http.add_argument(
        "--app-server",
        choices=SERVERS,
        default="uvicorn",
        help="what serves the apps under test (default uvicorn)",
    )
    http.add_argument(
        "--app-workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server worker processes per app (default 1)",
    )
    http.add_argument(
        "--locust-workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="run locust distributed: one master and N worker processes (default: one process)",
    )
    http.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        metavar="R",
        help="constant-rate mode: R requests/s in all, to see latency below saturation "
        "(default: closed loop, as fast as the app answers)",
    )

    p = verbs.add_parser(
        "report",
        help="rebuild report.md, charts/ and measurements.csv of a stored run (no database)",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="a folder under results/, or 'latest'")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="where 'latest' is looked up",
    )

    p = verbs.add_parser(
        "compare",
        help="B against A: per variant and grid point, how many times slower B is, with a "
        "95%% CI; exit 1 on a significant regression beyond the threshold",
    )
    p.add_argument("run_a", type=Path, metavar="RUN_A", help="the baseline run folder")
    p.add_argument("run_b", type=Path, metavar="RUN_B", help="the run to judge")
    p.add_argument(
        "--threshold",
        default="10%",
        metavar="PCT",
        help="a regression must be slower than this to fail (default 10%%)",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="also write the Markdown table here")

    p = verbs.add_parser(
        "check",
        help="measure the harness itself: timer resolution, runner overhead, the delay "
        "proxy's timers and forwarding, core placement",
    )
    _add_postgres(p)
    p.add_argument("--no-db", action="store_true", help="only the in-process calls; no server")
    p.add_argument("--seconds", type=_positive_float, default=0.5, help="time per comparison")
    _add_rtt(p, "SELECT 1 is measured at each, configured vs achieved")
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="also write what it printed here, as text"
    )

    p = verbs.add_parser(
        "seed", help="load the shared dataset at a given size and print how long it took"
    )
    _add_postgres(p)
    p.add_argument(
        "--posts", type=_positive_int, default=1_000_000, help="total posts (default 1,000,000)"
    )
    return parser


@dataclass
class StopRequest:
    """Ctrl-C or SIGTERM, remembered: the handler raises at once, and the runner raises again
    between operations, because an exception raised inside a finaliser or a weakref callback
    is printed and dropped by Python ("Exception ignored in ...")."""

    signum: int | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        sys.unraisablehook = self._quiet_unraisable
        self.raise_if_requested()

    @staticmethod
    def _quiet_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
        """Our own interrupt, dropped inside a finaliser, is not worth a traceback."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        sys.__unraisablehook__(unraisable)

    def raise_if_requested(self) -> None:
        if self.signum == signal.SIGTERM:
            raise Terminated()
        if self.signum is not None:
            raise KeyboardInterrupt()


@contextmanager
def _signals_as_exceptions() -> Iterator[StopRequest]:
    request = StopRequest()
    previous_term = signal.signal(signal.SIGTERM, request.on_signal)
    # Ctrl-C must stop a run cleanly even when started from a shell that ignores SIGINT
    # for background jobs (Python then installs no KeyboardInterrupt handler of its own).
    previous_int = signal.signal(signal.SIGINT, request.on_signal)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
        sys.unraisablehook = sys.__unraisablehook__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        with _signals_as_exceptions() as stop:
            args.stop = stop
            handler = {
                "list": cmd_list,
                "run": cmd_run,
                "report": cmd_report,
                "check": cmd_check,
                "compare": cmd_compare,
                "seed": cmd_seed,
            }[args.verb]
            return handler(args, console)
    except UserError as exc:
        sys.stderr.write(f"patternbench: error: {redact_text(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as Terminated
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        sys.stderr.write(f"patternbench: {how}; nothing left running, partial results kept\n")
        return EXIT_INTERRUPTED


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    for scenario in registry.discover(args.scenario_path).values():
        console.print(f"[bold]{scenario.name}[/bold]: {scenario.question}")
        for name, variant in scenario.variants.items():
            ref = " [dim](reference)[/dim]" if name == scenario.reference else ""
            kind = "async" if variant.is_async else "sync"
            console.print(f"  {name:24} {kind:5} {variant.description}{ref}")
        for profile in ("quick", "full"):
            grid = scenario.grid(profile)
            axes = "; ".join(f"{n}={','.join(map(str, v))}" for n, v in grid.axes)
            console.print(f"  [dim]{profile}: {axes} ({len(grid)} points)[/dim]")
    return 0


def _check_categories(scenario: Scenario, overrides: dict[str, str]) -> None:
    """A text axis (endpoint, width, nesting...) takes only the values the scenario knows."""
    for name, raw in overrides.items():
        known = list(dict.fromkeys([*scenario.quick.values(name), *scenario.full.values(name)]))
        if not all(isinstance(v, str) for v in known):
            continue
        for text in (t.strip() for t in raw.split(",")):
            if text not in known:
                raise UserError(f"unknown {name} {text!r}; valid: {', '.join(map(str, known))}")


def _plans(args: argparse.Namespace) -> list[Plan]:
    available = registry.discover(args.scenario_path)
    chosen = registry.select(available, args.scenario)
    overrides = dict(args.grid)
    known_axes = {name for s in chosen for name in s.grid(args.profile).names}
    for name in overrides:
        if name not in known_axes:
            raise UserError(f"unknown grid axis {name!r}; valid: {', '.join(sorted(known_axes))}")
    if args.variant:
        known = {v for s in chosen for v in s.variants}
        for name in args.variant:
            if name not in known:
                raise UserError(f"unknown variant {name!r}; valid: {', '.join(sorted(known))}")
    http = HttpOptions(
        serve=ServeOptions(server=args.app_server, workers=args.app_workers),
        locust_workers=args.locust_workers or 0,
        rate=args.rate or 0.0,
    )
    plans = []
    for scenario in chosen:
        grid = scenario.grid(args.profile)
        mine = {k: v for k, v in overrides.items() if k in grid.names}
        _check_categories(scenario, mine)
        grid = grid.override(mine) if mine else grid
        wanted = [v for v in (args.variant or []) if v in scenario.variants] or None
        if args.variant and not wanted:
            continue
        variants = tuple(scenario.select_variants(wanted))
        plans.append(Plan(scenario, variants, grid, rtts_ms=tuple(args.rtt), http=http))
    return plans


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    plans = _plans(args)
    timing = PROFILES[args.profile]
    check_writable(args.out)
    env = environment.describe()
    run_id = new_run_id(env["git_sha"])
    folder = RunFolder(args.out, run_id)
    started = time.monotonic()
    server = RestartableServer(args.postgres, allow_existing_tables=args.allow_existing_tables)
    with server as target:
        check_connection_budget(plans, target)
        console.print(
            f"PostgreSQL {target.version} ({target.provider}) at {target.display_url}; "
            f"profile {args.profile}; run {run_id}"
            + (f"; rtt {', '.join(map(rtt_text, args.rtt))}" if args.rtt != (0.0,) else "")
        )
        run = RunRecord(
            run_id=run_id,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            profile=args.profile,
            environment=env,
            server=target.describe(),
            rtts_ms=list(args.rtt),
        )
        if args.rtt != (0.0,):
            run.rtt_select1_us = achieved_rtts(target, args.rtt, 1.0)
            console.print(
                "SELECT 1 round trip: "
                + ", ".join(
                    f"{duration(us)} at rtt {rtt_text(float(r))}"
                    for r, us in run.rtt_select1_us.items()
                )
            )
        folder.save(run)
        failed: list[str] = []
        total = sum(plan.planned_seconds(args.profile) for plan in plans)
        try:
            with (
                RunProgress(console, total) as progress,
                Watchdog(target, args.stall_timeout, progress.note) as watchdog,
            ):

                def step(label: str, units: float) -> None:
                    args.stop.raise_if_requested()  # between operations, in case one was lost
                    watchdog.beat()
                    progress.step(label, units)

                for index, plan in enumerate(plans):
                    try:
                        run_scenario(
                            plan,
                            run,
                            folder,
                            target,
                            args.profile,
                            timing,
                            step,
                            progress.note,
                        )
                    except ServerGone as exc:
                        failed.append(plan.scenario.name)
                        progress.note(f"[red]{plan.scenario.name} failed[/red]: {exc}")
                        if target.is_alive() or index == len(plans) - 1:
                            continue
                        if not server.can_restart:
                            run.interrupted = "PostgreSQL stopped answering"
                            break
                        why = f" ({watchdog.fired})" if watchdog.fired else ""
                        target = server.restart()
                        watchdog.retarget(target)
                        run.server_restarts.append(
                            f"PostgreSQL stopped answering during {plan.scenario.name}{why}; a "
                            f"new {target.provider} server was started for the scenarios after it"
                        )
                        progress.note(run.server_restarts[-1])
                        folder.save(run)
            run.partial = bool(failed)
        except KeyboardInterrupt as exc:
            run.interrupted = (
                "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
            )
            raise
        finally:
            run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            folder.save(run)
            write_report(folder.path)
    for table in summary_tables(run):
        console.print(table)
    console.print(f"Results: {folder.path}/report.md  ({time.monotonic() - started:.0f} s)")
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    folder: Path = args.run_dir
    if str(folder) == "latest":
        runs = sorted(p for p in args.out.glob("*") if (p / "run.json").is_file())
        if not runs:
            raise UserError(f"no runs under {args.out}/; run `make bench` first")
        folder = runs[-1]
    path = write_report(folder)
    console.print(f"Report rebuilt: {path}")
    return 0


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from harness.compare import compare_runs, parse_threshold, render_markdown

    comparison = compare_runs(args.run_a, args.run_b, parse_threshold(args.threshold))
    text = render_markdown(comparison)
    if args.out is not None:
        try:
            write_atomic(args.out, text.encode())
        except OSError as exc:
            raise UserError(
                f"--out {args.out}: cannot write there ({exc.strerror or exc})"
            ) from None
    sys.stdout.write(text)
    return comparison.exit_code


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from harness.selfcheck import (
        core_placement,
        measure_overhead,
        timer_resolution_ns,
        wakeup_lateness,
    )

    if args.out is not None:  # everything printed, also kept as text beside a run's report
        check_writable(args.out.parent, min_free_bytes=0)
        console = Console(highlight=False, width=120, record=True)
    machine = environment.describe()
    console.print(
        f"patternbench check, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"{machine['os']}"
    )
    console.print(
        f"timer: perf_counter_ns, smallest visible step {timer_resolution_ns():.0f} ns "
        f"(clock says {time.get_clock_info('perf_counter').resolution * 1e9:.0f} ns)"
    )
    if args.no_db:
        console.print(overhead_table(measure_overhead(None, args.seconds)))
    else:
        with provision(args.postgres, allow_existing_tables=args.allow_existing_tables) as target:
            console.print(f"PostgreSQL {target.version} ({target.provider})")
            console.print(overhead_table(measure_overhead(target, args.seconds)))
            late = wakeup_lateness(seconds=args.seconds, cpus=target.server_cpus)
            console.print(
                f"delay proxy's timers: asyncio.sleep({late.sleep_us:g} µs) on a select() loop "
                f"with 1 ns timer slack, on CPU {late.cpus}, woke {late.median_us:.0f} µs late "
                f"(median; p99 {late.p99_us:.0f} µs; {late.n:,} sleeps)"
            )
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


def achieved_rtts(
    target: ServerTarget, rtts: tuple[float, ...], seconds: float
) -> dict[str, float]:
    """Median `SELECT 1` in µs (psycopg), direct ("0") and through the calibrated delay proxy
    at each rtt."""
    out = {"0": float(np.median(measure_select1(target, seconds)))}
    for rtt in rtts:
        if rtt > 0:
            with DelayProxy(target, rtt) as proxy:
                out[f"{rtt:g}"] = proxy.calibrate(seconds / 2).through_us
    return out


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
    from harness.selfcheck import copy_bandwidth

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


def cmd_seed(args: argparse.Namespace, console: Console) -> int:
    base = DatasetSpec()
    cohort_posts = sum(p * u for p, u in base.cohorts)
    filler_users = max(0, (args.posts - cohort_posts + 99) // 100)
    spec = DatasetSpec(cohorts=base.cohorts, filler_users=filler_users, filler_posts_per_user=100)
    with provision(args.postgres, allow_existing_tables=args.allow_existing_tables) as target:
        console.print(
            f"PostgreSQL {target.version} ({target.provider}); machine: "
            f"{environment.describe()['cpu']}, {os.cpu_count()} cores"
        )
        info = ensure_dataset(target, spec, lambda m: console.print(f"· {m}"))
        console.print(info.summary())
        copy_posts = dict(info.phases).get("COPY posts")
        if copy_posts:
            console.print(
                f"COPY of {info.posts:,} posts: {copy_posts:.1f} s "
                f"({info.posts / copy_posts:,.0f} rows/s)"
            )
    return 0


def entry() -> int:
    """The `patternbench` command: `main`, and a crash inside a C extension (a driver, greenlet)
    prints where Python was instead of ending the process without a word."""
    faulthandler.enable()
    return main()


if __name__ == "__main__":
    raise SystemExit(entry())
