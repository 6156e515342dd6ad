"""Old import path, kept so that teams' own scenarios keep working: this name is harness.runners.pools."""

import sys

import harness.runners.pools

sys.modules[__name__] = harness.runners.pools
