"""The `patternbench` command: list, check, run, report, compare, seed.

Errors a user can cause end in one line naming what is valid, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import faulthandler
import sys
from collections.abc import Callable

from rich.console import Console

from harness.cli.check import cmd_check
from harness.cli.parser import EXIT_USAGE, build_parser
from harness.cli.run import cmd_run
from harness.cli.show import cmd_show
from harness.cli.signals import Terminated, signals_as_exceptions
from harness.cli.verbs import cmd_clean, cmd_compare, cmd_list, cmd_report, cmd_seed
from harness.errors import UserError
from harness.server.provider import SpecError
from harness.server.redaction import redact_text

EXIT_INTERRUPTED = 130
Verb = Callable[[argparse.Namespace, Console], int]
VERBS: dict[str, Verb] = {
    "list": cmd_list,
    "run": cmd_run,
    "report": cmd_report,
    "show": cmd_show,
    "check": cmd_check,
    "compare": cmd_compare,
    "seed": cmd_seed,
    "clean": cmd_clean,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        with signals_as_exceptions() as stop:
            args.stop = stop
            handler = VERBS[args.verb]
            return handler(args, console)
    except SpecError as exc:  # the server spec is the --postgres option's
        sys.stderr.write(f"patternbench: error: --postgres {redact_text(str(exc))}\n")
        return EXIT_USAGE
    except UserError as exc:
        sys.stderr.write(f"patternbench: error: {redact_text(str(exc))}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as Terminated
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        sys.stderr.write(f"patternbench: {how}; nothing left running, partial results kept\n")
        return EXIT_INTERRUPTED


def entry() -> int:
    """The `patternbench` command: `main`, and a crash inside a C extension (a driver, greenlet)
    prints where Python was instead of ending the process without a word."""
    faulthandler.enable()
    return main()
