"""The `patternbench` command: list, check, run, report, compare, seed.

Errors a user can cause end in one line naming what is valid, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import faulthandler
import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from harness.cli.parser import EXIT_USAGE, build_parser
from harness.cli.signals import Terminated, signals_as_exceptions
from harness.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

EXIT_INTERRUPTED = 130
Verb = Callable[[argparse.Namespace, "Console"], int]
# verb -> "module:function", imported when the verb runs: `--help`, and every verb, load only
# what they use (the drivers, SQLAlchemy, numpy, matplotlib... stay out of `--help`)
VERBS: dict[str, str] = {
    "list": "harness.cli.listing:cmd_list",
    "run": "harness.cli.run:cmd_run",
    "report": "harness.cli.verbs:cmd_report",
    "show": "harness.cli.show:cmd_show",
    "check": "harness.cli.check:cmd_check",
    "compare": "harness.cli.verbs:cmd_compare",
    "seed": "harness.cli.verbs:cmd_seed",
    "clean": "harness.cli.verbs:cmd_clean",
}


def verb_handler(verb: str) -> Verb:
    module, _, name = VERBS[verb].partition(":")
    handler: Verb = getattr(importlib.import_module(module), name)
    return handler


def _redacted(exc: BaseException) -> str:
    from harness.server.redaction import redact_text

    return redact_text(str(exc))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        with signals_as_exceptions() as stop:
            args.stop = stop
            handler = verb_handler(args.verb)
            return handler(args, console)
    except UserError as exc:
        from harness.server.provider import SpecError

        # the server spec is the --postgres option's
        where = "--postgres " if isinstance(exc, SpecError) else ""
        sys.stderr.write(f"patternbench: error: {where}{_redacted(exc)}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM as Terminated
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        sys.stderr.write(f"patternbench: {how}; nothing left running, partial results kept\n")
        return EXIT_INTERRUPTED


def entry() -> NoReturn:
    """The `patternbench` command: `main`, and a crash inside a C extension (a driver, greenlet)
    prints where Python was instead of ending the process without a word."""
    faulthandler.enable()
    exit_promptly(main())


def exit_promptly(code: int) -> NoReturn:
    """Ends the process with `code`, without the interpreter's teardown of every module it
    imported (SQLAlchemy, matplotlib and the drivers make that a noticeable part of a short
    run). When `main` returns, every server, app, proxy and file it opened is released (each is
    a context); what is left runs here first: the atexit handlers, then the flush of stdout and
    stderr. A thread still running (none should be) gets the interpreter's normal exit, which
    waits for it."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`) or stream
            stream.flush()
    os._exit(code)
