"""Requests/s of two variants under load, compared: the ratio with its 95% CI.

The CI comes from bootstrapping both variants' per-time-slice rates (kept in samples.npz), so a
load verdict carries an interval like every latency verdict. A percentile bootstrap of a handful
of values gives too narrow an interval, so it is used from `MIN_SLICES` slices a side (runs make
10 per repetition); with fewer (runs stored before 10 slices, or before slices were kept at all)
a verdict falls back to whether the two rates' own CIs overlap, which is stricter.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from harness.results.records import Measurement, point_label
from harness.results.stats import Ratio, mean_ratio
from harness.results.store import rate_key

SEED = 11
MIN_SLICES = 10


@dataclass(frozen=True)
class RateComparison:
    """a's requests/s over b's at one grid point."""

    value: float
    ratio: Ratio | None  # None: under MIN_SLICES slices kept a side; only CI overlap is known
    direction: int  # +1 a clearly served more, -1 clearly less, 0 no clear difference

    def text(self, what: str = "") -> str:
        """`2.09x{what} (95% CI 1.95-2.24)`, with "no significant difference" when it is not."""
        if self.ratio is None:
            clear = "" if self.direction else " (95% CIs overlap: no clear difference)"
            return f"{self.value:.2f}x{what}{clear}"
        ci = f"95% CI {self.ratio.ci_low:.2f}-{self.ratio.ci_high:.2f}"
        if self.direction:
            return f"{self.value:.2f}x{what} ({ci})"
        return f"{self.value:.2f}x{what} ({ci}: no significant difference)"


def stored_rates(samples: dict[str, np.ndarray], m: Measurement) -> np.ndarray | None:
    """A load measurement's requests/s per time slice, when `MIN_SLICES` or more were kept."""
    found = samples.get(rate_key(m.scenario, m.variant, point_label(m.params, m.rtt_ms)))
    return found if found is not None and found.size >= MIN_SLICES else None


def compare_rates(
    samples: dict[str, np.ndarray], a: Measurement, b: Measurement
) -> RateComparison | None:
    """a's requests/s over b's; None when either has no rate or b served nothing."""
    ra, rb = a.metrics.get("ops_per_s"), b.metrics.get("ops_per_s")
    if ra is None or rb is None or rb.value <= 0:
        return None
    slices_a, slices_b = stored_rates(samples, a), stored_rates(samples, b)
    if slices_a is not None and slices_b is not None and float(np.mean(slices_b)) > 0:
        # one generator per pair and point: a verdict does not depend on which others exist
        where = f"{a.scenario}|{a.variant}|{b.variant}|{point_label(a.params, a.rtt_ms)}"
        rng = np.random.default_rng([SEED, zlib.crc32(where.encode())])
        ratio = mean_ratio(slices_a, slices_b, rng)
        direction = (ratio.ci_low > 1.0) - (ratio.ci_high < 1.0)
        return RateComparison(ratio.value, ratio, direction)
    low_a, high_a = ra.ci_low or 0.0, ra.ci_high or 0.0
    low_b, high_b = rb.ci_low or 0.0, rb.ci_high or 0.0
    direction = (low_a > high_b) - (high_a < low_b)
    return RateComparison(ra.value / rb.value, None, direction)
