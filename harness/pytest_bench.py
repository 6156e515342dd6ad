"""Old import path, kept so that teams' own scenarios keep working: this name is harness.pytest_plugin."""

import sys

import harness.pytest_plugin

sys.modules[__name__] = harness.pytest_plugin
