"""What a runner's report section reads: one scenario of a stored run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.results.records import Measurement, RunRecord, ScenarioRecord
from harness.results.stats import Resamples

SEED = 7  # the report's bootstrap: the same run gives the same intervals every time


@dataclass(frozen=True)
class ScenarioPart:
    """One scenario's record and measurements, the run they belong to, its folder (for charts)
    and its stored samples."""

    run: RunRecord
    record: ScenarioRecord
    measurements: list[Measurement]
    folder: Path
    samples: dict[str, np.ndarray]
    # what the report has worked out from it already (comparisons bootstrap: done once)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    # each measurement's bootstrap medians, drawn once for all the comparisons it is in
    resamples: Resamples = field(default_factory=lambda: Resamples(SEED), compare=False, repr=False)

    @property
    def rtts(self) -> list[float]:
        return self.record.rtts_ms or [0.0]

    def at(self, rtt: float) -> list[Measurement]:
        """The measurements made at one simulated rtt."""
        return [m for m in self.measurements if m.rtt_ms == rtt]
