"""Ready clusters for the embedded server: a new run starts from a copy instead of initdb + COPY.

When an embedded server stops at the end of a run that went well, its data directory is kept in
a per-user cache folder, keyed by the PostgreSQL version, the server settings and the shared
dataset it holds (its fingerprint). The next run copies the most recently used entry into its
own private temp dir and starts there: the dataset is found in place (`ensure_dataset` reuses it
by fingerprint, or reloads it when the run needs another), and nothing else carries over. The
entry that already holds the dataset the run needs is moved in rather than copied (a rename,
where a copy of the data dir takes most of a second), and the run gives it back when it ends
well; a run that fails keeps nothing, so the next starts from another entry or from initdb.

A cluster is kept only when it is exactly what a fresh load would give: every row of the shared
tables is one the loading transaction wrote, and all of them are there (no insert, update,
delete or truncation since), their id sequences untouched, their columns and indexes as
declared; scenarios' scratch tables are gone (they drop them), scenarios' own tables and their
registry rows are dropped before it is kept (a variant may have written to them), and
pg_stat_statements is reset. Writes go to a temp folder renamed into place, so an interrupted
or concurrent write never leaves a half entry; an entry that fails to copy is skipped.

The clusters live under the per-user cache folder (harness.cache: `PATTERNBENCH_CACHE`, `off`
to turn it off, `patternbench clean --cache` to remove it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Table

from harness.cache import cache_root
from harness.data.domain import Base
from harness.processes import pid_alive

KEEP_ENTRIES = 2  # clusters kept per version and settings (most recently used first)
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class ClusterCache:
    """The ready clusters of one PostgreSQL build and one set of server settings."""

    folder: Path  # <root>/clusters/<key>

    @classmethod
    def for_server(cls, postgres: Path, settings: dict[str, str]) -> ClusterCache | None:
        """The cache for clusters of this `postgres` binary (its version) and these settings;
        None when the cache is disabled or the binary does not say its version."""
        root = cache_root()
        if root is None:
            return None
        try:
            version = subprocess.run(
                [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        text = json.dumps({"version": version, "settings": settings}, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        return cls(root / "clusters" / key)

    def entries(self) -> list[Path]:
        """The kept clusters, most recently used first."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if not p.name.startswith(TMP_PREFIX)]
        found = [p for p in found if (p / "data" / "PG_VERSION").is_file()]
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def take(self, into: Path, owner: str | None, ready_for: str | None = None) -> bool:
        """A ready cluster's data dir at `into` (which must not exist), owned by `owner`.
        The entry that holds `ready_for` (the dataset the run needs first) is moved out of the
        cache: the run starts on it at once, and gives it back when it ends well. Any other
        entry is copied (the run reloads its dataset in it, which costs far more than the copy)
        and stays. False (and `into` absent) when there is none or it could not be had."""
        if ready_for is not None and self._move_out(self.folder / ready_for, into, owner):
            return True
        for entry in self.entries():
            try:
                _copy_tree(entry / "data", into)
                _own(into, owner)
                os.utime(entry)  # most recently used
                return True
            except (OSError, subprocess.SubprocessError):
                shutil.rmtree(into, ignore_errors=True)
        return False

    def _move_out(self, entry: Path, into: Path, owner: str | None) -> bool:
        """Renames the entry's data dir to `into`; False when it is not there (another run
        took it first), on another filesystem, or cannot be given to `owner`."""
        try:
            (entry / "data").rename(into)
        except OSError:
            return False
        shutil.rmtree(entry, ignore_errors=True)
        try:
            _own(into, owner)
        except (OSError, subprocess.SubprocessError):
            shutil.rmtree(into, ignore_errors=True)
            return False
        return True

    def keep(self, data: Path, fingerprint: str) -> None:
        """Moves the stopped cluster's data dir `data` into the cache as the entry for
        `fingerprint` (replacing an older one), then keeps only the newest KEEP_ENTRIES."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sweep()
        staging = self.folder / f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir()
        try:
            try:
                data.rename(staging / "data")  # same filesystem: free
            except OSError:
                _copy_tree(data, staging / "data")
            entry = self.folder / fingerprint
            old = self.folder / f"{TMP_PREFIX}old-{os.getpid()}-{time.monotonic_ns()}"
            with contextlib.suppress(FileNotFoundError):
                entry.rename(old)
            staging.rename(entry)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return
        for stale in self.entries()[KEEP_ENTRIES:]:
            shutil.rmtree(stale, ignore_errors=True)

    def sweep(self) -> None:
        """Removes temp folders a killed writer left (its pid gone)."""
        for folder in self.folder.glob(f"{TMP_PREFIX}*"):
            pid = folder.name.removeprefix(TMP_PREFIX).removeprefix("old-").split("-")[0]
            if not pid.isdigit() or not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def _own(folder: Path, owner: str | None) -> None:
    """Gives the tree to `owner` (the server's OS user, when the harness runs as root)."""
    if owner is not None:
        subprocess.run(["chown", "-R", owner, str(folder)], check=True, timeout=120)


def _copy_tree(source: Path, into: Path) -> None:
    """`cp -a` (a reflink where the filesystem offers one): ownership and modes kept."""
    subprocess.run(
        ["cp", "-a", "--reflink=auto", str(source), str(into)],
        check=True,
        capture_output=True,
        timeout=600,
    )


def pristine_dataset(conn: psycopg.Connection[Any]) -> str | None:
    """The fingerprint of the shared dataset when the database holds it exactly as loaded (made
    ready to keep: scenarios' own tables dropped, pg_stat_statements reset); None when it must
    not be kept. As loaded: every row of the shared tables written by the loading transaction
    (the one that wrote its registry row) and as many as it wrote, their id sequences untouched,
    their columns and indexes those the domain declares."""
    row = conn.execute(
        "SELECT xmin::text, fingerprint, counts FROM pb_dataset WHERE name = 'shared'"
    ).fetchone()
    if row is None:
        return None
    load_xid, fingerprint, counts = str(row[0]), str(row[1]), row[2]
    for table in Base.metadata.sorted_tables:
        found = conn.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE xmin::text NOT IN (%s, '2')), "
                "(SELECT is_called FROM {}) FROM {}"
            ).format(sql.Identifier(f"{table.name}_id_seq"), sql.Identifier(table.name)),
            (load_xid,),
        ).fetchone()
        if found is None or tuple(found) != (counts.get(table.name), 0, False):
            return None
        if _shape(conn, table.name) != _declared_shape(table):
            return None
    own = conn.execute(
        "SELECT name, spec->'tables' FROM pb_dataset WHERE name LIKE 'tables:%'"
    ).fetchall()
    for name, tables in own:
        for table_name in tables or ():
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table_name))
            )
        conn.execute("DELETE FROM pb_dataset WHERE name = %s", (name,))
    with contextlib.suppress(psycopg.Error):
        conn.execute("SELECT pg_stat_statements_reset()")
    return fingerprint


def _shape(conn: psycopg.Connection[Any], table: str) -> tuple[int, int]:
    """How many columns and indexes the table has on the server."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %(t)s), "
        "(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %(t)s)",
        {"t": table},
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (-1, -1)


def _declared_shape(table: Table) -> tuple[int, int]:
    """The columns and indexes the domain declares: its indexes, the primary key's and one per
    unique column."""
    unique = sum(1 for column in table.columns if column.unique)
    return len(table.columns), len(table.indexes) + 1 + unique
