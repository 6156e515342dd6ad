"""The verbs that need no run loop: report, compare, seed, clean (list and show: their own
modules). Each imports what it uses when it runs, so that one verb does not pay for another's."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from harness.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from harness.report.console import what_to_pick
    from harness.report.document import write_report
    from harness.results.store import find_run

    path = write_report(find_run(args.run_dir, args.out))
    if (picks := what_to_pick(path.parent)) is not None:
        console.print(picks)
    console.print(f"Report rebuilt: {path} (one page per scenario beside it)")
    return 0


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from harness.report.compare import compare_runs, parse_threshold, render_markdown
    from harness.results.store import write_atomic

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
    from harness.data.dataset import DatasetSpec, ensure_dataset
    from harness.measure import machine
    from harness.server import provision

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

    if args.cache:
        from harness.cache import remove_cache

        root, size = remove_cache()
        if root is None:
            console.print("the cache is off (PATTERNBENCH_CACHE=off): nothing to remove")
        elif size:
            console.print(f"removed the cache {root} ({size / 1e6:,.1f} MB)")
        else:
            console.print(f"no cache at {root}: nothing to remove")
        if args.postgres is None:
            return 0
    if args.postgres is None:
        raise UserError("clean takes --postgres URL (the suite's schema on that server) or --cache")
    if not args.postgres.startswith(("postgresql://", "postgres://")):
        raise UserError(
            f"clean takes --postgres URL (postgresql://user:password@host:port/db), got "
            f"{args.postgres!r}: the embedded and Docker servers are thrown away after each run"
        )
    clean_schema(args.postgres, args.yes, console.print)
    return 0
