"""A PostgreSQL container via testcontainers, pinned to the embedded binaries' major version."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from harness.server.provider import Provider
from harness.server.target import EMBEDDED_DATABASE, EMBEDDED_SETTINGS, ServerTarget, finish_target

DOCKER_IMAGE = "postgres:18"  # the same major version as the embedded binaries


def docker_engine_answers(timeout_s: float = 1.0) -> bool:
    """True when a Docker engine answers a ping within `timeout_s` (socket checked first)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        if not Path("/var/run/docker.sock").exists():
            return False
        host = "unix:///var/run/docker.sock"
    try:
        import docker

        client = docker.DockerClient(base_url=host, timeout=max(1, round(timeout_s)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def docker_postgres() -> Iterator[ServerTarget]:
    """A postgres container via testcontainers (Ryuk removes it even if we are killed)."""
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        DOCKER_IMAGE, username="patternbench", password="patternbench", dbname=EMBEDDED_DATABASE
    )
    flags = " ".join(f"-c {k}={v}" for k, v in EMBEDDED_SETTINGS.items())
    container.with_command(f"postgres {flags}")
    container.start()
    try:
        target = ServerTarget(
            provider="docker",
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(5432)),
            user="patternbench",
            password="patternbench",
            database=EMBEDDED_DATABASE,
            schema="public",
        )
        yield finish_target(target)
    finally:
        container.stop()


def _unusable(spec: str) -> str | None:
    if docker_engine_answers():
        return None
    return (
        f"{spec}: no Docker engine answers (checked DOCKER_HOST and /var/run/docker.sock); "
        "use embedded, auto or a postgresql:// URL"
    )


PROVIDER = Provider(
    name="docker",
    shown_as="docker",
    matches=lambda spec: spec == "docker",
    open=lambda _spec, _allow_existing_tables: docker_postgres(),
    unusable=_unusable,
    restartable=True,
    auto_rank=0,
)
