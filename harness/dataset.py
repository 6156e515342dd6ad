"""Old import path, kept so that teams' own scenarios keep working: this name is harness.data.dataset."""

import sys

import harness.data.dataset

sys.modules[__name__] = harness.data.dataset
