"""What a provisioning backend is: how a `--postgres` value names it, and how it starts a server."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from harness.errors import UserError
from harness.server.target import ServerTarget


class SpecError(UserError):
    """A PostgreSQL spec (auto, embedded, docker, a URL) that names no usable server. The message
    starts with the spec itself, so each front end puts its own option name before it
    (`--postgres`, `--pb-postgres`)."""


@dataclass(frozen=True)
class Opening:
    """What a run asks of the server it opens. `allow_existing_tables`: a URL's database may
    hold tables of a team's own (never the suite's names). `dataset`: the fingerprint of the
    shared dataset the run needs first, so a server of the suite's own can start on a kept
    cluster that holds it (None: no preference)."""

    allow_existing_tables: bool = False
    dataset: str | None = None


@dataclass(frozen=True)
class Provider:
    """One backend: `matches` tells whether a spec names it, `unusable` why it cannot serve that
    spec here (None when it can), `open` starts (or connects to) the server and always releases
    it. `restartable`: the suite owns the server and may start another when it dies. `auto_rank`:
    where it comes when the spec is `auto` (lowest first; None: never)."""

    name: str
    shown_as: str
    matches: Callable[[str], bool]
    open: Callable[[str, Opening], AbstractContextManager[ServerTarget]]
    unusable: Callable[[str], str | None] = lambda _spec: None
    restartable: bool = False
    auto_rank: int | None = None
