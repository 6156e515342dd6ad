"""The shipped pytest-benchmark module's setup: it loads the patternbench plugin.

Run this folder by naming it (`uv run pytest benchmarks ...` or `make bench-pytest`); the plain
`uv run pytest` runs only `tests/`. pytest accepts `pytest_plugins` here only because the folder
is named on the command line: `pytest .` stops with "Defining 'pytest_plugins' in a non-top-level
conftest is no longer supported". A team that keeps its own benchmark folder puts the same line
in that folder's conftest.py, or passes `-p harness.pytest_plugin`.
"""

pytest_plugins = ["harness.pytest_plugin"]
