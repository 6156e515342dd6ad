"""The command line's words: verbs, options, and the types that check them as they are parsed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from harness.report.units import parse_rtt_list

EXIT_USAGE = 2

# The choices and defaults the options show, kept here so that `--help` imports no runner (the
# runners import the drivers, SQLAlchemy and numpy); tests/cli/test_fast_cli.py checks that
# they equal the runners' own (harness.runners.base, harness.runners.http.appserver).
PROFILE_NAMES = ("quick", "full")
GC_MODES = ("freeze", "default")
SERVERS = ("uvicorn", "granian")
DEFAULT_OP_TIMEOUT_S = 60.0  # RunOptions.op_timeout_s
DEFAULT_MAX_INTERFERENCE = 0.10  # RunOptions.max_interference
DEFAULT_GC = "freeze"  # RunOptions.gc


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


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or a positive number")
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


def _add_run_dir(p: argparse.ArgumentParser) -> None:
    """A stored run, by folder or as `latest` under `--out`."""
    p.add_argument("run_dir", type=Path, metavar="RUN", help="a folder under results/, or 'latest'")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="where 'latest' is looked up",
    )


def _add_postgres(p: argparse.ArgumentParser, pin: bool = False) -> None:
    p.add_argument(
        "--postgres",
        default="auto",
        metavar="auto|embedded|docker[:MAJOR|:IMAGE]|URL",
        help="which PostgreSQL: auto (Docker if an engine answers, else embedded), embedded, "
        "docker (postgres:18; docker:15 another major, docker:IMAGE any image; built locally "
        "with `make docker-image` where no registry answers), or "
        "postgresql://user:password@host:port/db (default: auto)",
    )
    p.add_argument(
        "--allow-existing-tables",
        action="store_true",
        help="with a URL: accept a database that already holds other tables (the suite still "
        "works only inside its own schema)",
    )
    if pin:
        p.add_argument(
            "--pin-cores",
            action="store_true",
            help="with a URL whose server runs on this machine: split the CPUs between the "
            "suite and the server's processes for the run, as for the embedded server (given "
            "back when it ends; needs the server's OS user or root)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="patternbench",
        description="Which data-access pattern should you pick on PostgreSQL? Measured here.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    p = verbs.add_parser(
        "list",
        help="list scenarios, their variants (sync, async; for load scenarios the pool or app) "
        "and grids (points per profile, and how many each skips)",
    )
    _add_common(p)
    p.add_argument(
        "--fresh",
        action="store_true",
        help="import every scenario module again instead of reading the listing kept in the "
        "cache folder (it is rebuilt anyway when a .py file of harness/, scenarios/ or a "
        "--scenario-path folder changed)",
    )

    p = verbs.add_parser("run", help="run scenarios and write results/<run-id>/")
    _add_common(p)
    _add_postgres(p, pin=True)
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="scenario to run (repeatable; default all)",
    )
    p.add_argument(
        "--variant",
        action="append",
        metavar="NAME",
        help="only these variants, and the reference they are checked against (repeatable); "
        "a plain NAME must exist in every selected scenario, else the run is refused; "
        "SCENARIO:NAME picks a variant of that scenario only",
    )
    p.add_argument(
        "--profile", choices=PROFILE_NAMES, default="quick", help="grid and timing profile"
    )
    p.add_argument(
        "--grid",
        action="append",
        type=_grid_override,
        default=[],
        metavar="AXIS=V1,V2",
        help="replace one grid axis's values (repeatable, once per axis: V1,V2 for several; "
        "an axis given twice is refused); applies to the selected scenarios that have the axis",
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
    p.add_argument(
        "--op-timeout",
        type=_non_negative_float,
        default=DEFAULT_OP_TIMEOUT_S,
        metavar="S",
        help="any one operation past S seconds FAILS its variant at that grid point and the "
        "run goes on: the server's statement_timeout on the suite's connections, and a "
        f"client-side bound for work that is not SQL (0: none; default {DEFAULT_OP_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--gc",
        choices=GC_MODES,
        default=DEFAULT_GC,
        help="the garbage collector while latency points run: freeze (what exists before a "
        "point is frozen out of its scans, as long-running servers do after start-up) or "
        f"default (a default Python process; the ORM's objects cost more) (default {DEFAULT_GC})",
    )
    p.add_argument(
        "--max-interference",
        type=_non_negative_float,
        default=DEFAULT_MAX_INTERFERENCE,
        metavar="CORES",
        help="a grid point during which other work on the machine used more than CORES of one "
        "core (0.10 = 10%%) is marked disturbed, and the report says so "
        f"(default {DEFAULT_MAX_INTERFERENCE:g})",
    )
    p.add_argument(
        "--allow-concurrent",
        action="store_true",
        help="run even while another patternbench run goes on this machine (refused otherwise); "
        "both share the cores, and the report says so",
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
    _add_run_dir(p)

    p = verbs.add_parser(
        "show",
        help="one grid point's numbers from a stored run, with the fastest against the others "
        "(no database)",
    )
    _add_run_dir(p)
    p.add_argument("--scenario", metavar="NAME", help="only this scenario")
    p.add_argument(
        "--point",
        action="append",
        default=[],
        metavar="AXIS=V",
        help="only points with this axis value (repeatable; V1,V2 for several); a value not "
        "measured shows the nearest measured ones, said as such",
    )
    p.add_argument(
        "--variant", action="append", default=[], metavar="NAME", help="only these (repeatable)"
    )
    p.add_argument(
        "--rtt",
        type=_rtt_list,
        default=(),
        metavar="LIST",
        help="only these simulated round-trip times, e.g. 0 or 1ms",
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")

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
    _add_postgres(p, pin=True)
    p.add_argument("--no-db", action="store_true", help="only the in-process calls; no server")
    p.add_argument("--seconds", type=_positive_float, default=0.5, help="time per comparison")
    _add_rtt(p, "SELECT 1 is measured at each, configured vs achieved")
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="also write what it printed here, as text"
    )

    p = verbs.add_parser(
        "clean",
        help="drop the suite's schema (its dataset and scratch tables) from a server given as a "
        "URL, only a schema the suite made and only with --yes; or remove the per-user cache "
        "(--cache: ready clusters, the list catalogue)",
    )
    p.add_argument("--postgres", metavar="URL", help="postgresql://user:pw@host/db")
    p.add_argument("--yes", action="store_true", help="really drop it (else only list it)")
    p.add_argument(
        "--cache",
        action="store_true",
        help="remove the per-user cache folder (PATTERNBENCH_CACHE, else "
        "$XDG_CACHE_HOME/patternbench or ~/.cache/patternbench); every run works without it",
    )

    p = verbs.add_parser(
        "seed", help="load the shared dataset at a given size and print how long it took"
    )
    _add_postgres(p)
    p.add_argument(
        "--posts", type=_positive_int, default=1_000_000, help="total posts (default 1,000,000)"
    )
    return parser
