"""Run folders and their atomic writes: results/<run-id>/{run.json, measurements.csv, ...}.

Every file is written to a temp file in the same folder and renamed into place, so a reader
(or an interrupted run) never sees half a file and an earlier run is never touched.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.errors import UserError
from harness.results.records import RunRecord, decode_run, encode_run
from harness.results.stats import Ratio, median_ratio


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to `path` through a temp file renamed into place. The temp file's name is
    chosen before it exists, so an interruption at any point (Ctrl-C, SIGTERM) removes it:
    neither half a file nor a stray temp file is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        # 0o666 less the umask: readable like any other file the user writes
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_run_id(git_sha: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{git_sha}"


MIN_FREE_BYTES = 50 * 1024 * 1024  # a full run's run.json, samples and charts, with room to spare


def check_writable(out_dir: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fails before any measuring when results cannot be written there: a read-only or
    unwritable folder, or a disk with less than `min_free_bytes` free."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".write-check-")
        try:
            os.write(fd, b"x" * 65536)
        finally:
            os.close(fd)
            os.unlink(probe)
        free = shutil.disk_usage(out_dir).free
    except OSError as exc:
        raise UserError(
            f"--out {out_dir}: cannot write results there ({exc.strerror or exc})"
        ) from None
    if free < min_free_bytes:
        raise UserError(
            f"--out {out_dir}: only {free / 2**20:.1f} MiB free on that disk; a run needs at "
            f"least {min_free_bytes / 2**20:.0f} MiB"
        )


def tidy_csv(run: RunRecord, axis_names: dict[str, list[str]]) -> bytes:
    """One row per (measurement, metric): run_id, scenario, variant, each grid axis, the rtt it
    was measured at (ms, 0 on loopback), metric, value..., then why it is not plainly ok (a
    FAILED or WRONG reason, a skip's, a flag such as "answered without the database") and why
    it was disturbed, so the CSV alone tells the whole story."""
    all_axes: list[str] = []
    for names in axis_names.values():
        all_axes += [n for n in names if n not in all_axes]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "run_id",
            "scenario",
            "variant",
            *all_axes,
            "rtt_ms",
            "status",
            "metric",
            "value",
            "unit",
            "ci_low",
            "ci_high",
            "n",
            "detail",
            "disturbed",
        ]
    )
    for m in run.measurements:
        axes = [*(m.params.get(name, "") for name in all_axes), f"{m.rtt_ms:g}"]
        why = [m.detail, m.disturbed]
        if not m.metrics:
            writer.writerow(
                [run.run_id, m.scenario, m.variant, *axes, m.status, "", "", "", "", "", "", *why]
            )
        for name, metric in m.metrics.items():
            writer.writerow(
                [
                    run.run_id,
                    m.scenario,
                    m.variant,
                    *axes,
                    m.status,
                    name,
                    f"{metric.value:.6g}",
                    metric.unit,
                    "" if metric.ci_low is None else f"{metric.ci_low:.6g}",
                    "" if metric.ci_high is None else f"{metric.ci_high:.6g}",
                    "" if metric.n is None else metric.n,
                    *why,
                ]
            )
    return buffer.getvalue().encode()


def write_tidy_csv(folder: Path, run: RunRecord) -> None:
    """measurements.csv, derived from run.json's record (so `report` can rebuild it too)."""
    axis_names = {s.name: [a for a, _ in s.axes] for s in run.scenarios}
    write_atomic(folder / "measurements.csv", tidy_csv(run, axis_names))


def sample_key(scenario: str, variant: str, label: str) -> str:
    """Where one measurement's raw per-operation durations (ns) are kept in samples.npz."""
    return f"{scenario}|{variant}|{label}"


def rate_key(scenario: str, variant: str, label: str) -> str:
    """Where a load measurement's requests/s per time slice are kept, beside its durations."""
    return f"{sample_key(scenario, variant, label)}|per_s"


def session_key(scenario: str, variant: str, label: str) -> str:
    """Where a latency measurement's samples per measuring session are kept, beside its
    durations (absent for samples not taken in sessions)."""
    return f"{sample_key(scenario, variant, label)}|sessions"


@dataclass(frozen=True)
class StoredSamples:
    """One latency measurement's stored durations (ns), and how many each of its measuring
    sessions took (None: one session, or a run from before sessions)."""

    ns: np.ndarray
    sessions: np.ndarray | None = None

    def ratio_to(self, other: StoredSamples, rng: np.random.Generator, paired: bool) -> Ratio:
        """How many times slower this is than `other` (median over median, 95% CI); `paired`
        when both were measured in the same sessions (two variants of one grid point)."""
        return median_ratio(self.ns, other.ns, rng, self.sessions, other.sessions, paired)


def stored_samples(
    samples: dict[str, np.ndarray], scenario: str, variant: str, label: str
) -> StoredSamples | None:
    """A measurement's samples from samples.npz, if kept."""
    found = samples.get(sample_key(scenario, variant, label))
    if found is None or not found.size:
        return None
    return StoredSamples(found, samples.get(session_key(scenario, variant, label)))


class RunFolder:
    """One run's folder; every save rewrites its files atomically. `before_save` may bring the
    record up to date first (e.g. with the other runs seen on the machine)."""

    def __init__(
        self, root: Path, run_id: str, before_save: Callable[[RunRecord], None] | None = None
    ) -> None:
        self.path = root / run_id
        self.run_id = run_id
        self.samples: dict[str, np.ndarray] = {}
        self.before_save = before_save

    @classmethod
    def new(
        cls,
        root: Path,
        git_sha: str,
        now: datetime | None = None,
        before_save: Callable[[RunRecord], None] | None = None,
    ) -> RunFolder:
        """A new run's folder, created exclusively: a run started in the same second as another
        gets the next free suffix (`-2`, `-3`, ...), never the other's folder."""
        base = new_run_id(git_sha, now)
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            run_id = base if n == 1 else f"{base}-{n}"
            try:
                (root / run_id).mkdir()
            except FileExistsError:
                continue
            return cls(root, run_id, before_save)
        raise UserError(f"--out {root}: 999 runs named {base} already; choose another --out")

    def save(self, run: RunRecord) -> None:
        if self.before_save is not None:
            self.before_save(run)
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / "run.json", encode_run(run))
        write_tidy_csv(self.path, run)
        if self.samples:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, allow_pickle=False, **self.samples)
            write_atomic(self.path / "samples.npz", buffer.getvalue())


def find_run(run_dir: Path, root: Path) -> Path:
    """`run_dir` itself, or for `latest` the newest run folder under `root`."""
    if str(run_dir) != "latest":
        return run_dir
    runs = sorted(p for p in root.glob("*") if (p / "run.json").is_file())
    if not runs:
        raise UserError(f"no runs under {root}/; run `make bench` first")
    return runs[-1]


def load_run(folder: Path) -> tuple[RunRecord, dict[str, np.ndarray]]:
    """A stored run and its raw samples (empty if samples.npz is absent)."""
    run_file = folder / "run.json"
    if not folder.exists():
        raise UserError(f"{folder}: no such folder; give a run folder under results/")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; give a run folder under results/")
    if not run_file.is_file():
        raise UserError(f"{folder}: no run.json there; give a folder under results/")
    try:
        data = run_file.read_bytes()
    except OSError as exc:
        raise UserError(f"{run_file}: cannot read it ({exc.strerror or exc})") from None
    try:
        run = decode_run(data)
    except Exception as exc:
        raise UserError(f"{run_file}: not a valid run file ({str(exc).splitlines()[0]})") from None
    samples: dict[str, np.ndarray] = {}
    npz = folder / "samples.npz"
    if npz.is_file():
        try:
            with np.load(npz) as data:
                samples = {key: data[key] for key in data.files}
        except Exception as exc:
            raise UserError(
                f"{npz}: the raw samples are unreadable ({type(exc).__name__}); the run's "
                "verdicts and comparisons need them"
            ) from None
    return run, samples
