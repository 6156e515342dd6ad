"""Runners: how a grid point is measured. The table of runners is `harness.runners.table`."""
