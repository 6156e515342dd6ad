"""Two stored runs side by side: did anything get slower, faster, or start answering wrong?

`patternbench compare A B` answers, for every measurement the two runs share (same scenario,
variant, grid point and simulated round-trip time): how many times slower B is than A, with a
95% bootstrap CI from both runs' raw samples, and whether that is a regression past the
threshold. For a latency measurement that is B's median over A's; for a load measurement
(requests/s, with 10 or more time slices stored a side) A's requests/s over B's, so above 1 is
slower too; with fewer slices a load is judged on its request latency. A variant that was
correct in A and is WRONG or FAILED in B counts as a regression too: a wrong answer is worse
than a slow one. It also says what differs between
the two runs' machines, software and server settings, since those move the numbers as well.
Only stored files are read; no database is needed.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UserError
from harness.report.units import duration
from harness.results.rates import stored_rates
from harness.results.records import AxisValue, Measurement, RunRecord, disturbed_points, point_label
from harness.results.stats import Ratio, mean_ratio
from harness.results.store import StoredSamples, load_run, stored_samples

DEFAULT_THRESHOLD = 0.10
DEFAULT_SEED = 20240611

MACHINE_FIELDS = ("cpu", "cores", "memory_gib", "os")
SERVER_FIELDS = ("version", "provider")
SETTINGS_THAT_MATTER = (
    "fsync",
    "synchronous_commit",
    "shared_buffers",
    "cpu_affinity",
    "max_connections",
    "work_mem",
    "jit",
)
BAD_STATUSES = ("wrong", "failed")

Key = tuple[str, str, tuple[tuple[str, AxisValue], ...], float]


class Verdict(StrEnum):
    """What one shared measurement did from A to B (compares equal to its plain string)."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    SLOWER = "slower (within threshold)"
    FASTER = "faster (within threshold)"
    UNCHANGED = "no significant change"
    NOISY = "noisy (a run was disturbed here)"


@dataclass(frozen=True)
class Point:
    """Where a measurement was taken: scenario, variant, grid values (in grid order), rtt."""

    scenario: str
    variant: str
    params: tuple[tuple[str, AxisValue], ...]
    rtt_ms: float

    @property
    def label(self) -> str:
        return point_label(dict(self.params), self.rtt_ms)

    def __str__(self) -> str:
        return f"{self.scenario} {self.variant} @ {self.label or '(no grid)'}"


@dataclass(frozen=True)
class Row:
    """One measurement timed in both runs: how many times slower B is, and what that means."""

    point: Point
    native: bool
    a: float  # A's median in µs or, for a load measurement, its requests/s
    b: float
    per_s: bool  # a load measurement: a and b are requests/s
    ratio: Ratio  # median(B) / median(A), or requests/s(A) / requests/s(B)
    verdict: Verdict

    def shown(self, value: float) -> str:
        return f"{value:,.0f}/s" if self.per_s else duration(value)


@dataclass(frozen=True)
class StatusChange:
    """A measurement whose status (ok, wrong, failed, skipped) differs between the runs."""

    point: Point
    status_a: str
    status_b: str
    detail_b: str

    @property
    def is_failure(self) -> bool:
        """Correct in A, wrong or failed in B: counts like a regression."""
        return self.status_a == "ok" and self.status_b in BAD_STATUSES


@dataclass(frozen=True)
class Comparison:
    """Everything `compare` found; `exit_code` is what a CI gate should act on."""

    run_a: str
    run_b: str
    threshold: float
    rows: tuple[Row, ...]
    warnings: tuple[str, ...]
    only_in_a: tuple[Point, ...]
    only_in_b: tuple[Point, ...]
    status_changes: tuple[StatusChange, ...]

    def with_verdict(self, verdict: Verdict) -> list[Row]:
        return [row for row in self.rows if row.verdict == verdict]

    @property
    def failures(self) -> list[StatusChange]:
        return [change for change in self.status_changes if change.is_failure]

    @property
    def exit_code(self) -> int:
        """1 when anything regressed past the threshold or turned wrong/failed, else 0."""
        return 1 if self.with_verdict(Verdict.REGRESSION) or self.failures else 0


# ---- loading ---------------------------------------------------------------------------------


def load_for_compare(path: Path) -> tuple[RunRecord, dict[str, np.ndarray]]:
    """A run folder (or its run.json) and its raw samples; any problem is one UserError line."""
    if path.name == "run.json" and path.is_file():
        path = path.parent
    if not path.exists():
        raise UserError(f"{path}: no such run folder; give a folder under results/")
    if not path.is_dir():
        raise UserError(f"{path}: not a folder; give a run folder under results/")
    return load_run(path)  # UserError when run.json or samples.npz is missing or unreadable


def parse_threshold(text: str) -> float:
    """`10%` or `0.1` -> 0.10. Raises UserError naming the valid forms."""
    raw = text.strip()
    valid = "expected a percentage such as 10% (or a fraction such as 0.1)"
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"threshold {text!r}: {valid}") from None
    if not raw.endswith("%") and value >= 1:
        raise UserError(f"threshold {text!r} is ambiguous; {valid}")
    _check_threshold(value, text)
    return value


def _check_threshold(value: float, shown: object) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise UserError(f"threshold {shown!r} must be 0 or more, e.g. 10%")


# ---- comparing -------------------------------------------------------------------------------


def classify(ratio: Ratio, threshold: float) -> Verdict:
    """Regression/improvement only when the CI excludes 1 and the ratio is past the threshold."""
    limit = 1.0 + threshold
    if ratio.ci_low > 1.0:
        return Verdict.REGRESSION if ratio.value > limit else Verdict.SLOWER
    if ratio.ci_high < 1.0:
        return Verdict.IMPROVEMENT if ratio.value < 1.0 / limit else Verdict.FASTER
    return Verdict.UNCHANGED


def compare_runs(
    a_path: Path, b_path: Path, threshold: float = DEFAULT_THRESHOLD, seed: int = DEFAULT_SEED
) -> Comparison:
    """Compares run B with run A (B is the newer one); `threshold` is a fraction (0.10 = 10%)."""
    run_a, samples_a = load_for_compare(Path(a_path))
    run_b, samples_b = load_for_compare(Path(b_path))
    return compare_records(run_a, samples_a, run_b, samples_b, threshold, seed)


def compare_records(
    run_a: RunRecord,
    samples_a: dict[str, np.ndarray],
    run_b: RunRecord,
    samples_b: dict[str, np.ndarray],
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """`compare_runs` on runs already loaded."""
    _check_threshold(threshold, threshold)
    by_a, by_b = _index(run_a), _index(run_b)
    common = [key for key in by_a if key in by_b]
    if not common:
        raise UserError(
            f"runs {run_a.run_id} and {run_b.run_id} have no measurements in common "
            "(same scenario, variant, grid point and rtt); nothing to compare"
        )
    rows: list[Row] = []
    changes: list[StatusChange] = []
    unsampled = 0
    for key in common:
        a, b = by_a[key], by_b[key]
        point = _point(a)
        if a.status != b.status:
            changes.append(StatusChange(point, a.status, b.status, b.detail))
        elif a.status == "ok":
            row = _row(point, a, b, samples_a, samples_b, threshold, seed)
            if row is None:
                unsampled += 1
            elif (a.disturbed or b.disturbed) and row.verdict != Verdict.UNCHANGED:
                rows.append(replace(row, verdict=Verdict.NOISY))  # no change can be told
            else:
                rows.append(row)
    warnings = _run_warnings(run_a, run_b)
    for side, run in (("A", run_a), ("B", run_b)):
        total, disturbed = disturbed_points(run.measurements)
        if disturbed:
            warnings.append(
                f"disturbed: {len(disturbed)} of {total} grid points of run {side} "
                f"({run.run_id}) ran while other work used the machine; changes there are "
                "called noisy, not regressions or improvements"
            )
    if unsampled:
        warnings.append(
            f"samples: {unsampled} measurement(s) timed in both runs lack raw samples in one "
            "of them (samples.npz); they are not compared"
        )
    warnings += _native_warnings(rows)
    if not rows and not changes:
        raise UserError(
            f"runs {run_a.run_id} and {run_b.run_id} share {len(common)} measurement(s) but "
            "none was timed with raw samples in both; nothing to compare"
        )
    return Comparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        threshold=threshold,
        rows=tuple(rows),
        warnings=tuple(warnings),
        only_in_a=tuple(_point(m) for key, m in by_a.items() if key not in by_b),
        only_in_b=tuple(_point(m) for key, m in by_b.items() if key not in by_a),
        status_changes=tuple(changes),
    )


def _key(m: Measurement) -> Key:
    """Same scenario, variant, grid values (in any order) and rtt: the same measurement."""
    return m.scenario, m.variant, tuple(sorted(m.params.items())), float(m.rtt_ms)


def _point(m: Measurement) -> Point:
    return Point(m.scenario, m.variant, tuple(m.params.items()), float(m.rtt_ms))


def _index(run: RunRecord) -> dict[Key, Measurement]:
    return {_key(m): m for m in run.measurements}


def _samples(samples: dict[str, np.ndarray], m: Measurement) -> StoredSamples | None:
    """The measurement's raw per-op durations in ns (and sessions), if stored."""
    return stored_samples(samples, m.scenario, m.variant, point_label(m.params, m.rtt_ms))


def _row(
    point: Point,
    a: Measurement,
    b: Measurement,
    samples_a: dict[str, np.ndarray],
    samples_b: dict[str, np.ndarray],
    threshold: float,
    seed: int,
) -> Row | None:
    # one generator per point: a row's CI does not depend on which other rows exist
    rng = np.random.default_rng([seed, zlib.crc32(str(point).encode())])
    native = a.kind == "native" or b.kind == "native"
    rates_a, rates_b = stored_rates(samples_a, a), stored_rates(samples_b, b)
    if rates_a is not None and rates_b is not None and float(np.mean(rates_b)) > 0:
        ratio = mean_ratio(rates_a, rates_b, rng)
        mean_a, mean_b = float(np.mean(rates_a)), float(np.mean(rates_b))
        return Row(point, native, mean_a, mean_b, True, ratio, classify(ratio, threshold))
    stored_a, stored_b = _samples(samples_a, a), _samples(samples_b, b)
    if stored_a is None or stored_b is None:
        return None
    ratio = stored_b.ratio_to(stored_a, rng, paired=False)  # two runs: their sessions apart
    median_a, median_b = float(np.median(stored_a.ns)) / 1e3, float(np.median(stored_b.ns)) / 1e3
    return Row(point, native, median_a, median_b, False, ratio, classify(ratio, threshold))


# ---- warnings --------------------------------------------------------------------------------


def _differs(field: str, a: Any, b: Any) -> list[str]:
    return [] if a == b else [f"{field}: A {_shown(a)}, B {_shown(b)}"]


def _shown(value: Any) -> str:
    return "(not recorded)" if value is None or value == "" else str(value)


def _run_warnings(a: RunRecord, b: RunRecord) -> list[str]:
    """One line per difference that can move the numbers, naming the field and both values."""
    lines: list[str] = []
    if a.profile != b.profile:
        lines.append(
            f"profile: A {a.profile}, B {b.profile} (allowed; grids and sample counts may differ)"
        )
    env_a, env_b = a.environment, b.environment
    for field in MACHINE_FIELDS:
        lines += _differs(f"machine {field}", env_a.get(field), env_b.get(field))
    lines += _differs("python", env_a.get("python"), env_b.get("python"))
    packages_a, packages_b = env_a.get("packages") or {}, env_b.get("packages") or {}
    for name in sorted(set(packages_a) | set(packages_b)):
        lines += _differs(f"package {name}", packages_a.get(name), packages_b.get(name))
    for field in SERVER_FIELDS:
        lines += _differs(f"server {field}", a.server.get(field), b.server.get(field))
    settings_a, settings_b = a.server.get("settings") or {}, b.server.get("settings") or {}
    for key in SETTINGS_THAT_MATTER:
        lines += _differs(f"server setting {key}", settings_a.get(key), settings_b.get(key))
    for name, run in (("A", a), ("B", b)):
        if run.partial:
            why = f" ({run.interrupted})" if run.interrupted else ""
            lines.append(f"partial: run {name} ({run.run_id}) did not finish{why}")
    return lines


def _native_warnings(rows: Iterable[Row]) -> list[str]:
    """A native ceiling that moved means the machine or server changed, not only the code."""
    return [
        f"native ceiling {row.point} moved too ({_moved(row.ratio)} in B): the machine or "
        "server changed, so the variants' ratios are not only the code's doing"
        for row in rows
        if row.native and row.verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT)
    ]


def _moved(ratio: Ratio) -> str:
    """B over A, read forward: "1.24x slower" or "1.15x faster", never "0.87x slower"."""
    if ratio.value >= 1:
        return f"{ratio.value:.2f}x slower"
    return f"{1 / ratio.value:.2f}x faster"


def _moved_ci(ratio: Ratio) -> str:
    """B against A with its CI, read forward: `1.50x slower (1.31-1.72)`, `1.67x faster
    (1.52-1.85)`, or no significant change where the CI includes 1."""
    low, high = ratio.ci_low, ratio.ci_high
    if not ratio.significant:
        return f"no significant change ({low:.2f}-{high:.2f})"
    if ratio.value >= 1:
        return f"{ratio.value:.2f}x slower ({low:.2f}-{high:.2f})"
    return f"{1 / ratio.value:.2f}x faster ({1 / high:.2f}-{1 / low:.2f})"


# ---- Markdown --------------------------------------------------------------------------------

_ORDER = (Verdict.REGRESSION, Verdict.IMPROVEMENT, Verdict.SLOWER, Verdict.FASTER, Verdict.NOISY)
_HEADER = [
    "| scenario | variant | grid point | A | B | B against A (95% CI) | verdict |",
    "|---|---|---|---|---|---|---|",
]


def render_markdown(comparison: Comparison) -> str:
    """Title, warnings, status changes, the table (regressions first), what is in one run only,
    and a one-line summary."""
    c = comparison
    pct = f"{c.threshold * 100:g}%"
    lines = [
        f"# patternbench compare: {c.run_a} (A) vs {c.run_b} (B)",
        "",
        "*B against A* is how many times slower or faster B is than A (95% bootstrap CI): from "
        "the medians for a latency (µs), from the requests/s for a load (/s). A *regression* is "
        f"B significantly and more than {pct} slower ({1 + c.threshold:.2f}x); an *improvement* "
        f"B significantly and more than {pct} faster.",
        "",
    ]
    if c.warnings:
        lines += ["> **The runs differ in:**", ">", *(f"> - {w}" for w in c.warnings), ""]
    lines += _status_section(c.status_changes)
    lines += _timing_section(c)
    lines += _only_section("Only in A", c.only_in_a) + _only_section("Only in B", c.only_in_b)
    lines += [f"**Summary**: {summary_line(c)}", ""]
    return "\n".join(lines)


def summary_line(comparison: Comparison) -> str:
    """`2 regressions beyond 10%, 1 improvement, 3 within threshold, 40 unchanged`, and status."""
    c = comparison
    counts = Counter(row.verdict for row in c.rows)
    within = counts[Verdict.SLOWER] + counts[Verdict.FASTER]
    parts = [
        _count(counts[Verdict.REGRESSION], "regression") + f" beyond {c.threshold * 100:g}%",
        _count(counts[Verdict.IMPROVEMENT], "improvement"),
        f"{within} within threshold",
        f"{counts[Verdict.UNCHANGED]} unchanged",
    ]
    if counts[Verdict.NOISY]:
        parts.append(f"{counts[Verdict.NOISY]} noisy (disturbed in a run: not judged)")
    bad = Counter(change.status_b for change in c.failures)
    parts += [f"{n} now {status.upper()}" for status, n in sorted(bad.items())]
    return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _status_section(changes: Iterable[StatusChange]) -> list[str]:
    changes = sorted(changes, key=lambda change: not change.is_failure)
    if not changes:
        return []
    lines = ["## Status changes", ""]
    for change in changes:
        shown = " ".join(change.detail_b.split())  # one line, whatever the error said
        detail = f": {shown}" if shown and change.status_b != "ok" else ""
        text = f"{change.point}: {change.status_a} in A, {change.status_b.upper()} in B{detail}"
        lines.append(f"- **{text}**" if change.is_failure else f"- {text}")
    return [*lines, ""]


def _table_row(row: Row) -> str:
    p, r = row.point, row.ratio
    variant = f"*{p.variant}* (native)" if row.native else p.variant
    verdict = f"**{row.verdict}**" if row.verdict == Verdict.REGRESSION else str(row.verdict)
    cells = [
        p.scenario,
        variant,
        p.label or "-",
        row.shown(row.a),
        row.shown(row.b),
        _moved_ci(r),
        verdict,
    ]
    return "| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |"


def _timing_section(c: Comparison) -> list[str]:
    if not c.rows:
        return ["No measurement was timed in both runs.", ""]
    changed = [row for verdict in _ORDER for row in _ordered(c.with_verdict(verdict), verdict)]
    unchanged = c.with_verdict(Verdict.UNCHANGED)
    lines = ["## Timing", ""]
    if changed:
        lines += [*_HEADER, *(_table_row(row) for row in changed), ""]
    if unchanged:
        lines += [
            "<details>",
            f"<summary>{len(unchanged)} with no significant change</summary>",
            "",
            *_HEADER,
            *(_table_row(row) for row in unchanged),
            "",
            "</details>",
            "",
        ]
    return lines


def _ordered(rows: list[Row], verdict: Verdict) -> list[Row]:
    """Worst first among regressions and slower ones; best first among faster ones."""
    slower = verdict in (Verdict.REGRESSION, Verdict.SLOWER)
    return sorted(rows, key=lambda row: -row.ratio.value if slower else row.ratio.value)


def _only_section(title: str, points: tuple[Point, ...]) -> list[str]:
    if not points:
        return []
    grouped = Counter((p.scenario, p.variant) for p in points)
    items = [
        f"{scenario} {variant} ({_count(n, 'grid point')})"
        for (scenario, variant), n in grouped.items()
    ]
    return [f"**{title}** ({_count(len(points), 'measurement')}): {', '.join(items)}", ""]
