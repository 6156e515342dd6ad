"""`python -m harness.cli`: the patternbench command."""

from harness.cli import entry

raise SystemExit(entry())
