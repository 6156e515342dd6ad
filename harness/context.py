"""Old import path, kept so that teams' own scenarios keep working: this name is harness.scenario.context."""

import sys

import harness.scenario.context

sys.modules[__name__] = harness.scenario.context
