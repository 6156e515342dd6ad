"""Percentiles, bootstrap confidence intervals and the verdicts built on them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.results.records import Metric

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
_CHUNK_ELEMENTS = 4_000_000  # bounds the memory of one bootstrap step


@dataclass(frozen=True)
class Summary:
    """A sample of per-operation durations (any unit; the caller keeps it consistent)."""

    n: int
    mean: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    min: float
    median_ci_low: float
    median_ci_high: float


@dataclass(frozen=True)
class Ratio:
    """median(a) / median(b) (or mean over mean) with its bootstrap confidence interval."""

    value: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes 1 (a real difference at the chosen confidence)."""
        return self.ci_low > 1.0 or self.ci_high < 1.0

    def inverse(self) -> Ratio:
        """b over a, from the same resamples (so a verdict can keep the declared pair order)."""
        return Ratio(1.0 / self.value, 1.0 / self.ci_high, 1.0 / self.ci_low)


Sessions = np.ndarray | list[int] | None  # samples per measuring session, in the samples' order


def session_sizes(sessions: Sessions, n: int) -> np.ndarray | None:
    """The sessions' sample counts when they describe `n` samples in two sessions or more."""
    if sessions is None:
        return None
    sizes = np.asarray(sessions, dtype=np.int64)
    if sizes.size < 2 or (sizes <= 0).any() or int(sizes.sum()) != n:
        return None
    return sizes


def draw_sessions(
    sessions: Sessions, n: int, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray | None:
    """Which sessions each resample draws (resamples x sessions, with replacement); None when
    the samples were not taken in sessions. Shared by two variants measured in the same
    sessions, it pairs their resamples."""
    sizes = session_sizes(sessions, n)
    if sizes is None:
        return None
    return rng.integers(0, sizes.size, size=(resamples, sizes.size))


def bootstrap_medians(
    samples: np.ndarray,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    sessions: Sessions = None,
    chosen: np.ndarray | None = None,
) -> np.ndarray:
    """Medians of `resamples` bootstrap resamples of `samples`.

    With `sessions` (how many samples each measuring session took, in order; each session on
    fresh connections), two levels: a resample draws sessions with replacement (`chosen`, else
    its own draw), then samples within each drawn session. Operations of one session are alike
    in ways the next session's are not, so the interval widens by what differs between sessions,
    as a repeated run would see it."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no samples")
    sizes = session_sizes(sessions, data.size)
    out = np.empty(resamples, dtype=np.float64)
    if sizes is None:
        per_chunk = max(1, _CHUNK_ELEMENTS // data.size)
        for start in range(0, resamples, per_chunk):
            stop = min(resamples, start + per_chunk)
            idx = rng.integers(0, data.size, size=(stop - start, data.size))
            out[start:stop] = np.median(data[idx], axis=1)
        return out
    if chosen is None:
        chosen = rng.integers(0, sizes.size, size=(resamples, sizes.size))
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    slot = np.repeat(np.arange(sizes.size), sizes)  # which drawn session each position takes
    per_chunk = max(1, _CHUNK_ELEMENTS // (2 * data.size))
    for start in range(0, resamples, per_chunk):
        stop = min(resamples, start + per_chunk)
        session = chosen[start:stop][:, slot]
        idx = offsets[session] + (rng.random(session.shape) * sizes[session]).astype(np.int64)
        out[start:stop] = np.median(data[idx], axis=1)
    return out


def _interval(values: np.ndarray, method: Any = "linear") -> tuple[float, float]:
    tail = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail], method=method)
    return float(low), float(high)


def summarise(
    samples: np.ndarray,
    rng: np.random.Generator,
    sessions: Sessions = None,
    medians: np.ndarray | None = None,
) -> Summary:
    """Percentiles of `samples` and the 95% CI of their median, from `medians` (bootstrap
    medians already drawn, in the samples' unit) or else a bootstrap of its own."""
    data = np.asarray(samples, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no samples")
    p50, p90, p99, p999 = np.percentile(data, [50, 90, 99, 99.9])
    if medians is None:
        medians = bootstrap_medians(data, rng, sessions=sessions)
    low, high = _interval(medians)
    return Summary(
        n=int(data.size),
        mean=float(data.mean()),
        p50=float(p50),
        p90=float(p90),
        p99=float(p99),
        p999=float(p999),
        max=float(data.max()),
        min=float(data.min()),
        median_ci_low=low,
        median_ci_high=high,
    )


def median_ratio(
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    sessions_a: Sessions = None,
    sessions_b: Sessions = None,
    paired: bool = True,
) -> Ratio:
    """How many times slower a is than b (median over median), with a bootstrap CI.

    Taken in sessions (`bootstrap_medians`), both are resampled by session; when both were
    measured in the same sessions (`paired`: the variants of one grid point, interleaved), a
    resample draws the same sessions for both. Otherwise they are resampled independently."""
    point = float(np.median(a) / np.median(b))
    chosen_a = draw_sessions(sessions_a, len(a), rng)
    chosen_b = draw_sessions(sessions_b, len(b), rng)
    same = chosen_a is not None and chosen_b is not None and chosen_a.shape == chosen_b.shape
    if paired and same:
        chosen_b = chosen_a
    boot = bootstrap_medians(a, rng, sessions=sessions_a, chosen=chosen_a) / bootstrap_medians(
        b, rng, sessions=sessions_b, chosen=chosen_b
    )
    low, high = _interval(boot)
    return Ratio(point, low, high)


@dataclass(frozen=True)
class SampleSet:
    """One measurement's samples as `Resamples` draws them: `point` names where they were
    measured (sets of one point taken in the same sessions are paired), `name` which one of the
    point's sets this is."""

    point: str
    name: str
    samples: np.ndarray
    sessions: Sessions = None


class Resamples:
    """Bootstrap medians drawn once per sample set and shared by every interval and ratio that
    uses it (each variant of a point is compared with several others, and each comparison
    redrawn was most of a report's time).

    A ratio between two sets is the ratio of their resampled medians, resample by resample. Sets
    of one point measured in as many sessions draw the same sessions in each resample, so their
    ratio is paired, as `median_ratio` pairs them; sets of different points or session counts
    are drawn apart. Each set's draws are seeded by the seed, its point and its name: the same
    samples get the same interval whichever comparison asked for them first."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._sessions: dict[tuple[str, int], np.ndarray] = {}
        self._medians: dict[tuple[str, str], np.ndarray] = {}

    def _rng(self, *key: str | int) -> np.random.Generator:
        return np.random.default_rng([self._seed, *(zlib.crc32(str(k).encode()) for k in key)])

    def medians(self, s: SampleSet) -> np.ndarray:
        """The set's bootstrap medians (BOOTSTRAP_RESAMPLES of them, in its samples' unit)."""
        key = (s.point, s.name)
        if key not in self._medians:
            sizes = session_sizes(s.sessions, len(s.samples))
            chosen = None
            if sizes is not None:
                shape = (s.point, int(sizes.size))
                if shape not in self._sessions:
                    draw = self._rng("sessions", *shape)
                    self._sessions[shape] = draw.integers(
                        0, sizes.size, size=(BOOTSTRAP_RESAMPLES, sizes.size)
                    )
                chosen = self._sessions[shape]
            rng = self._rng("samples", s.point, s.name)
            self._medians[key] = bootstrap_medians(s.samples, rng, sessions=sizes, chosen=chosen)
        return self._medians[key]

    def ratio(self, a: SampleSet, b: SampleSet) -> Ratio:
        """How many times slower a is than b (median over median), with its 95% CI."""
        point = float(np.median(a.samples) / np.median(b.samples))
        low, high = _interval(self.medians(a) / self.medians(b))
        return Ratio(point, low, high)


UNSTABLE_BEYOND = 1.10  # halves whose medians differ more than this, significantly: unstable
MIN_HALF = 5  # samples each half needs before the halves are compared


def halves_ratio(samples: np.ndarray, rng: np.random.Generator) -> Ratio | None:
    """The second half's median over the first half's, for samples in the order they were
    taken (None when too few): a point whose timings drifted while it was measured shows it."""
    half = len(samples) // 2
    if half < MIN_HALF:
        return None
    return median_ratio(samples[len(samples) - half :], samples[:half], rng)


def is_unstable(ratio: Ratio) -> bool:
    """The halves differ beyond their confidence intervals and by more than UNSTABLE_BEYOND."""
    return ratio.significant and max(ratio.value, 1.0 / ratio.value) > UNSTABLE_BEYOND


def speed_sentence(fast: str, slow: str, ratio: Ratio, where: str) -> str:
    """The verdict on `slow` against `fast`, given ratio = slow/fast."""
    if not ratio.significant:
        return (
            f"{fast} vs {slow}: no significant difference{where} "
            f"(ratio {ratio.value:.2f}, 95% CI {ratio.ci_low:.2f}-{ratio.ci_high:.2f})"
        )
    return (
        f"{fast} is {ratio.value:.2f}x faster than {slow}{where} "
        f"(95% CI {ratio.ci_low:.2f}-{ratio.ci_high:.2f})"
    )


def bootstrap_means(
    values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> np.ndarray:
    """Means of `resamples` bootstrap resamples of a few measurements (one value: itself)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values")
    if data.size == 1:
        return np.full(resamples, data[0])
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    return data[idx].mean(axis=1)


def mean_ci(
    values: np.ndarray | list[float], rng: np.random.Generator, resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, float, float]:
    """Mean of a few measurements (e.g. ops/s per time slice) and a bootstrap 95% CI of it."""
    data = np.asarray(values, dtype=np.float64)
    low, high = _interval(bootstrap_means(data, rng, resamples))
    return float(data.mean()), low, high


def mean_ratio(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> Ratio:
    """mean(a) / mean(b), e.g. two variants' requests/s from their time slices, with a
    bootstrap CI resampling both independently. b's mean must be above 0.

    A resample of b made only of empty slices gives an infinite ratio (kept: it is "far
    above"), one where both are empty no ratio at all (dropped); the interval is read off the
    sorted resamples without interpolating, which infinities would turn into NaN."""
    point = float(np.mean(a) / np.mean(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = bootstrap_means(a, rng) / bootstrap_means(b, rng)
    boot = boot[~np.isnan(boot)]
    if boot.size == 0:
        return Ratio(point, point, point)
    low, high = _interval(boot, method="inverted_cdf")
    return Ratio(point, low, high)


def latency_metrics(s: Summary) -> dict[str, Metric]:
    """The per-operation latency metrics every runner reports, in µs (the summary's unit)."""
    return {
        "median_us": Metric(s.p50, "us", s.median_ci_low, s.median_ci_high, s.n),
        "mean_us": Metric(s.mean, "us", n=s.n),
        "p90_us": Metric(s.p90, "us", n=s.n),
        "p99_us": Metric(s.p99, "us", n=s.n),
        "p999_us": Metric(s.p999, "us", n=s.n),
        "max_us": Metric(s.max, "us", n=s.n),
        "min_us": Metric(s.min, "us", n=s.n),
    }
