"""`patternbench run`: provisions the server, runs every plan, keeps results, writes the report."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness.cli.plans import Choice, build_plans
from harness.cli.signals import StopRequest, Terminated
from harness.errors import ServerGone
from harness.measure import machine
from harness.measure.netem import achieved_rtts
from harness.report.console import RunProgress, summary_tables, time_table, what_to_pick
from harness.report.document import write_report
from harness.report.units import duration, rtt_text
from harness.results.records import RunRecord
from harness.results.running import RunSlot
from harness.results.store import RunFolder, check_writable
from harness.run import Plan, RunContext, check_connection_budget, run_scenario
from harness.runners.base import RunOptions
from harness.runners.http.appserver import ServeOptions
from harness.runners.http.runner import HttpOptions
from harness.server import RestartableServer
from harness.server.target import ServerTarget
from harness.server.watchdog import Watchdog


def choice_of(args: argparse.Namespace) -> Choice:
    """The command line's run options as one Choice."""
    http = HttpOptions(
        serve=ServeOptions(server=args.app_server, workers=args.app_workers),
        locust_workers=args.locust_workers or 0,
        rate=args.rate or 0.0,
    )
    return Choice(
        scenarios=tuple(args.scenario or ()),
        variants=tuple(args.variant or ()),
        profile=args.profile,
        grid=tuple(args.grid),
        rtts_ms=tuple(args.rtt),
        scenario_paths=tuple(args.scenario_path),
        postgres=args.postgres,
        options=RunOptions(
            http=http,
            op_timeout_s=args.op_timeout,
            max_interference=args.max_interference,
            gc=args.gc,
        ),
    )


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    plans = build_plans(choice_of(args))
    check_writable(args.out)
    env = machine.describe()
    started = time.monotonic()
    server = RestartableServer(
        args.postgres,
        allow_existing_tables=args.allow_existing_tables,
        pin_cores=args.pin_cores,
        dataset=plans[0].dataset_for(args.profile).fingerprint if plans else None,
    )
    with RunSlot(args.allow_concurrent) as slot, server as target:
        start_s = time.monotonic() - started
        check_connection_budget(plans, target)

        def others(run: RunRecord) -> None:
            run.concurrent_runs = slot.concurrent()

        folder = RunFolder.new(args.out, env["git_sha"], before_save=others)
        run_id = folder.run_id
        slot.named(run_id, folder.path)
        console.print(
            f"PostgreSQL {target.version} ({target.provider}) at {target.display_url}; "
            f"profile {args.profile}; run {run_id}"
            + (f"; rtt {', '.join(map(rtt_text, args.rtt))}" if args.rtt != (0.0,) else "")
        )
        run = _new_run(args, run_id, env, target, console)
        folder.save(run)
        try:
            failed = _run_plans(args, plans, run, folder, server, target, console)
            run.partial = bool(failed)
        except KeyboardInterrupt as exc:
            run.interrupted = (
                "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
            )
            raise
        finally:
            run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
            folder.save(run)
            report_started = time.monotonic()
            _report(folder.path, run, console)
            report_s = time.monotonic() - report_started
    for table in summary_tables(run):
        console.print(table)
    if (picks := what_to_pick(folder.path)) is not None:
        console.print(picks)
    console.print(time_table(run, start_s, report_s, time.monotonic() - started))
    console.print(f"Results: {folder.path}/report.md  ({time.monotonic() - started:.0f} s)")
    problems = run.problems()
    if run.concurrent_runs:
        console.print(
            f"[yellow]Other runs shared this machine[/yellow] ({', '.join(run.concurrent_runs)}): "
            "its verdicts may not hold"
        )
    if problems:
        console.print(f"[red]Exit code 1[/red]: {'; '.join(problems)}")
    return 1 if problems or failed else 0


def _report(path: Path, run: RunRecord, console: Console) -> None:
    """Writes the report, also for an interrupted run (marked partial); when that cannot be
    done (interrupted again, or an error), says the one command that builds it later."""
    try:
        write_report(path)
    except BaseException as exc:
        why = (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        )
        sys.stderr.write(
            f"patternbench: the report was not written ({why}); the results are kept: build "
            f"it with `patternbench report {path}`\n"
        )
        raise
    if run.interrupted:
        sys.stderr.write(
            f"patternbench: partial report of what was measured: {path / 'report.md'}\n"
        )


def _new_run(
    args: argparse.Namespace,
    run_id: str,
    env: dict[str, object],
    target: ServerTarget,
    console: Console,
) -> RunRecord:
    """The run's record before any scenario, with the achieved round trip at each rtt."""
    run = RunRecord(
        run_id=run_id,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        profile=args.profile,
        environment=env,
        server=target.describe(),
        rtts_ms=list(args.rtt),
        gc=args.gc,
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
    return run


def _run_plans(
    args: argparse.Namespace,
    plans: list[Plan],
    run: RunRecord,
    folder: RunFolder,
    server: RestartableServer,
    target: ServerTarget,
    console: Console,
) -> list[str]:
    """Every plan in turn under a progress bar and the stall watchdog; a server that dies fails
    its scenario and is replaced for the scenarios after it. The names of failed scenarios."""
    stop: StopRequest = args.stop
    failed: list[str] = []
    total = sum(plan.planned_seconds(args.profile) for plan in plans)
    with (
        RunProgress(console, total) as progress,
        Watchdog(target, args.stall_timeout, progress.note) as watchdog,
    ):

        def step(label: str, units: float) -> None:
            stop.raise_if_requested()  # between operations, in case one was lost
            watchdog.beat()
            progress.step(label, units)

        rc = RunContext(run, folder, args.profile, step, progress.note)
        for index, plan in enumerate(plans):
            try:
                run_scenario(plan, rc, target)
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
    return failed
