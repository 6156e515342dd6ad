"""The verbs that need no run loop: list, report, compare, seed, clean (show: its own module)."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from harness.data.dataset import DatasetSpec, ensure_dataset
from harness.errors import UserError
from harness.measure import machine
from harness.report.console import what_to_pick
from harness.report.document import write_report
from harness.results.store import find_run, write_atomic
from harness.runners.base import PROFILE_NAMES
from harness.scenario import registry
from harness.server import provision


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    for scenario in registry.discover(args.scenario_path).values():
        console.print(f"[bold]{scenario.name}[/bold]: {scenario.question}")
        for name, variant in scenario.variants.items():
            ref = " [dim](reference)[/dim]" if name == scenario.reference else ""
            kind = "async" if variant.is_async else "sync"
            console.print(f"  {name:24} {kind:5} {variant.description}{ref}")
        for profile in PROFILE_NAMES:
            grid = scenario.grid(profile)
            axes = "; ".join(f"{n}={','.join(map(str, v))}" for n, v in grid.axes)
            console.print(f"  [dim]{profile}: {axes} ({len(grid)} points)[/dim]")
    return 0


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    path = write_report(find_run(args.run_dir, args.out))
    if (picks := what_to_pick(path.parent)) is not None:
        console.print(picks)
    console.print(f"Report rebuilt: {path} (one page per scenario beside it)")
    return 0


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from harness.report.compare import compare_runs, parse_threshold, render_markdown

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


def cmd_seed(args: argparse.Namespace, console: Console) -> int:
    base = DatasetSpec()
    cohort_posts = sum(p * u for p, u in base.cohorts)
    filler_users = max(0, (args.posts - cohort_posts + 99) // 100)
    spec = DatasetSpec(cohorts=base.cohorts, filler_users=filler_users, filler_posts_per_user=100)
    with provision(args.postgres, allow_existing_tables=args.allow_existing_tables) as target:
        console.print(
            f"PostgreSQL {target.version} ({target.provider}); machine: "
            f"{machine.describe()['cpu']}, {os.cpu_count()} cores"
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


def cmd_clean(args: argparse.Namespace, console: Console) -> int:
    from harness.server.clean import clean_schema

    if not args.postgres.startswith(("postgresql://", "postgres://")):
        raise UserError(
            f"clean takes --postgres URL (postgresql://user:password@host:port/db), got "
            f"{args.postgres!r}: the embedded and Docker servers are thrown away after each run"
        )
    clean_schema(args.postgres, args.yes, console.print)
    return 0
