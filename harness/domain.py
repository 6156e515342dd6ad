"""Old import path, kept so that teams' own scenarios keep working: this name is harness.data.domain."""

import sys

import harness.data.domain

sys.modules[__name__] = harness.data.domain
