"""A PostgreSQL container via testcontainers: `docker` (the embedded binaries' major version),
`docker:MAJOR` (`postgres:MAJOR`) or `docker:IMAGE`.

The image is the official one where a registry answers; on a machine without one,
`make docker-image` (scripts/docker-image.sh) builds local `postgres:<major>` images that are found
first. Ryuk is not used (it needs an image of its own): every container carries the suite's labels
and is removed when the block ends, also on errors, Ctrl-C and SIGTERM; one left by a harness that
was killed (SIGKILL) is removed by the next start, as the embedded server's data dirs are. On a
local engine the port is published on 127.0.0.1 only, and client and server get CPUs of their own
(the container's cpuset), as the embedded server does."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import psutil

from harness.errors import UserError
from harness.server.provider import Opening, Provider, SpecError
from harness.server.target import EMBEDDED_DATABASE, EMBEDDED_SETTINGS, ServerTarget, finish_target

log = logging.getLogger(__name__)

DEFAULT_MAJOR = "18"  # the same major version as the embedded binaries
IMAGE_REPO = "postgres"
DOCKER_IMAGE = f"{IMAGE_REPO}:{DEFAULT_MAJOR}"
SPEC = "docker"
BUILD_HINT = (
    "make docker-image MAJORS={major} (scripts/docker-image.sh builds it without a registry)"
)

# What marks the suite's containers, and who owns one (host, pid and that process's start time,
# so a pid the system gave to another process since is not taken for the owner)
LABEL_ROLE = "org.patternbench.role"
LABEL_OWNER = "org.patternbench.owner"
LABEL_SOURCE = "org.patternbench.source"  # set by scripts/docker-image.sh on its images
ROLE = "server"
START_TIMEOUT_S = 120.0
PORT_RETRIES = 3


def image_for(spec: str) -> str:
    """The image a docker spec names: `docker` -> postgres:18, `docker:15` -> postgres:15,
    `docker:IMAGE` -> IMAGE; SpecError for anything else."""
    if spec == SPEC:
        return DOCKER_IMAGE
    rest = spec.removeprefix(f"{SPEC}:")
    if re.fullmatch(r"\d{1,3}(\.\d+)?", rest):
        return f"{IMAGE_REPO}:{rest}"
    if re.fullmatch(r"[a-z0-9][a-z0-9._/-]*(:[0-9]+)?(/[a-z0-9._/-]+)*(:[A-Za-z0-9._-]+)?", rest):
        return rest
    raise SpecError(
        f"{spec!r} names no image; use docker (postgres:{DEFAULT_MAJOR}), docker:MAJOR such as "
        "docker:15, or docker:IMAGE such as docker:postgres:16-alpine"
    )


def _major_of(image: str) -> str:
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    match = re.match(r"\d+", tag)
    return match.group(0) if match else "MAJOR"


def docker_host() -> str:
    """The engine's address: DOCKER_HOST, else the default socket ("" when there is none)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        return host
    return "unix:///var/run/docker.sock" if Path("/var/run/docker.sock").exists() else ""


def engine_is_local(host: str | None = None) -> bool:
    """True when the engine runs on this machine (a Unix socket, or tcp to a loopback address)."""
    host = docker_host() if host is None else host
    if host.startswith("unix://"):
        return True
    address = re.sub(r"^[a-z]+://", "", host).rsplit(":", 1)[0].strip("[]")
    return address in ("localhost", "127.0.0.1", "::1")


def _client(timeout_s: float = 60.0) -> Any:
    import docker

    return docker.DockerClient(base_url=docker_host(), timeout=max(1, round(timeout_s)))


def docker_engine_answers(timeout_s: float = 1.0) -> bool:
    """True when a Docker engine answers a ping within `timeout_s` (socket checked first)."""
    if not docker_host():
        return False
    try:
        client = _client(timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def engine_version() -> str:
    """The engine's version ("" when none answers)."""
    try:
        client = _client(5)
        try:
            return str(client.version().get("Version", ""))
        finally:
            client.close()
    except Exception:
        return ""


# --- the containers a killed harness left -------------------------------------------------------


def _owner_mark(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    try:
        started = f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        started = "0"
    return f"{socket.gethostname()}:{pid}:{started}"


def _owner_gone(mark: str) -> bool:
    """True when the process that started a container (on this host) no longer runs."""
    host, _, rest = mark.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's: not ours to judge
    try:
        proc = psutil.Process(int(pid_text))
        return f"{proc.create_time():.2f}" != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def sweep_stale_containers(client: Any = None) -> list[str]:
    """Removes the suite's containers whose harness is gone (killed by SIGKILL, say: nothing
    could remove them then). The short ids removed."""
    own = client is None
    client = _client() if own else client
    removed = []
    try:
        for container in client.containers.list(
            all=True, filters={"label": f"{LABEL_ROLE}={ROLE}"}
        ):
            if _owner_gone(container.labels.get(LABEL_OWNER, "")):
                with contextlib.suppress(Exception):
                    container.remove(force=True, v=True)
                    removed.append(container.short_id)
                    log.info(
                        "removed container %s left by a harness that is gone", container.short_id
                    )
    finally:
        if own:
            client.close()
    return removed


def suite_containers() -> list[str]:
    """The short ids of the suite's containers on the engine (running or not)."""
    client = _client()
    try:
        found = client.containers.list(all=True, filters={"label": f"{LABEL_ROLE}={ROLE}"})
        return [c.short_id for c in found]
    finally:
        client.close()


# --- one container -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    name: str
    id: str
    source: str  # how it was made: scripts/docker-image.sh's label, else "pulled"


def ensure_image(client: Any, image: str) -> ImageInfo:
    """The image, pulled when it is not here; UserError when it cannot be had."""
    import docker

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            log.info("pulling %s", image)
            found = client.images.pull(image)
        except docker.errors.DockerException as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"docker: image {image} is not on this machine and cannot be pulled ({first[:160]}); "
                f"build it: {BUILD_HINT.format(major=_major_of(image))}"
            ) from None
        source = "pulled"
    else:
        source = (found.labels or {}).get(LABEL_SOURCE) or "pulled (or built elsewhere)"
    return ImageInfo(image, str(found.id), source)


def _postgres_container(image: str, password: str, cpuset: str, local: bool) -> Any:
    """A PostgresContainer that binds 127.0.0.1 on a local engine, carries the suite's labels,
    and whose readiness wait ends as soon as the container exits."""
    from testcontainers.community.postgres import PostgresContainer

    class Container(PostgresContainer):
        def _connect(self) -> None:
            deadline = time.monotonic() + START_TIMEOUT_S
            check = [
                "sh",
                "-c",
                f"PGPASSWORD='{password}' psql --username {self.username} --dbname "
                f"{self.dbname} --host 127.0.0.1 -c 'select version();'",
            ]
            wrapped = self.get_wrapped_container()
            while True:
                wrapped.reload()
                if wrapped.status in ("exited", "dead"):
                    tail = wrapped.logs(tail=5).decode(errors="replace").strip()
                    raise UserError(
                        f"docker: the {image} container exited while starting: "
                        f"{' | '.join(tail.splitlines()[-3:])[-300:]}"
                    )
                if wrapped.exec_run(check).exit_code == 0:
                    return
                if time.monotonic() > deadline:
                    raise UserError(
                        f"docker: the {image} container did not answer psql within "
                        f"{START_TIMEOUT_S:.0f} s"
                    )
                time.sleep(0.2)

    container = Container(
        image,
        username="patternbench",
        password=password,
        dbname=EMBEDDED_DATABASE,
        driver=None,
    )
    flags = " ".join(f"-c {k}={v}" for k, v in EMBEDDED_SETTINGS.items())
    container.with_command(f"postgres {flags}")
    if local:
        # never on other interfaces (docker-py takes (ip, port); testcontainers types only ports)
        container.ports = cast(Any, {5432: ("127.0.0.1", None)})
    extra: dict[str, Any] = {"labels": {LABEL_ROLE: ROLE, LABEL_OWNER: _owner_mark()}}
    if cpuset:
        extra["cpuset_cpus"] = cpuset
    container.with_kwargs(**extra)  # with_kwargs replaces what an earlier call gave
    return container


def _is_port_clash(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "port is already allocated" in text or "address already in use" in text


def _engine_error(exc: BaseException) -> UserError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return UserError(f"docker: the Docker engine at {docker_host()} failed: {first[:200]}")


def _published_port(container: Any) -> tuple[str, int]:
    attrs = container.get_wrapped_container()
    attrs.reload()
    binding = attrs.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]
    return binding["HostIp"], int(binding["HostPort"])


def _host_pid(container: Any) -> int | None:
    """The container's postmaster as this machine sees it (None when its pid namespace is not
    ours to see, e.g. a remote engine)."""
    pid = int(container.get_wrapped_container().attrs["State"].get("Pid") or 0)
    try:
        return pid if pid and psutil.Process(pid).name() == "postgres" else None
    except psutil.Error:
        return None


def _port_relays(port: int) -> tuple[int, ...]:
    """The engine's userland proxies (docker-proxy) that forward this machine's `port` to the
    container: every connection of the run passes through them. None when the engine forwards
    in the kernel alone (`userland-proxy: false`) or runs elsewhere."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        args = proc.info["cmdline"] or []
        if proc.info["name"] != "docker-proxy" or "-host-port" not in args:
            continue
        at = args.index("-host-port")
        if at + 1 < len(args) and args[at + 1] == str(port):
            found.append(proc.pid)
    return tuple(sorted(found))


@contextlib.contextmanager
def docker_postgres(image: str = DOCKER_IMAGE) -> Iterator[ServerTarget]:
    """A postgres container of `image`, always removed when the block ends."""
    import docker
    from requests.exceptions import RequestException

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk needs its own image
    from harness.server.embedded import CorePlan

    local = engine_is_local()
    cores = CorePlan.split() if local else None
    client = _client()
    container: Any = None
    client_affinity: set[int] | None = None
    try:
        try:
            sweep_stale_containers(client)
            info = ensure_image(client, image)
        except (docker.errors.DockerException, RequestException) as exc:
            raise _engine_error(exc) from None
        password = secrets.token_hex(16)
        cpuset = ",".join(str(c) for c in sorted(cores.server)) if cores else ""
        started = time.monotonic()
        for attempt in range(PORT_RETRIES):
            container = _postgres_container(image, password, cpuset, local)
            try:
                container.start()
                break
            except (docker.errors.DockerException, RequestException) as exc:
                _remove(container)
                container = None
                if _is_port_clash(exc) and attempt < PORT_RETRIES - 1:
                    continue
                if _is_port_clash(exc):
                    raise UserError(
                        f"docker: no free port could be published for {image} "
                        f"({PORT_RETRIES} tries): {str(exc).strip()[:160]}"
                    ) from None
                raise _engine_error(exc) from None
        assert container is not None
        ready_s = time.monotonic() - started
        container_id = container.get_wrapped_container().short_id
        log.info("started container %s (%s) in %.1f s", container_id, image, ready_s)
        bound, port = _published_port(container)
        host = "127.0.0.1" if local else container.get_container_host_ip()
        if not local and bound not in ("", "0.0.0.0", "::"):
            host = bound
        target = ServerTarget(
            provider="docker",
            host=host,
            port=port,
            user="patternbench",
            password=password,
            database=EMBEDDED_DATABASE,
            schema="public",
            pid=_host_pid(container) if local else None,
            relay_pids=_port_relays(port) if local else (),
            image=image,
            image_source=info.source,
            container=container_id,
        )
        if cores:
            client_affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, cores.client)
        target = finish_target(target)
        settings = {**target.settings, "container_ready_s": f"{ready_s:.1f}"}
        if cores:
            settings["cpu_affinity"] = cores.describe() + " (the container's cpuset)"
        yield replace(target, settings=settings, server_cpus=cores.server if cores else frozenset())
    finally:
        if client_affinity is not None:
            os.sched_setaffinity(0, client_affinity)
        if container is not None:
            _remove(container)
        client.close()


def _remove(container: Any) -> None:
    """Removes the container (and its volumes); an engine that is gone took it with it, and one
    that comes back has it removed by the next start's sweep."""
    wrapped = getattr(container, "_container", None)
    short = wrapped.short_id if wrapped is not None else "(not created)"
    try:
        container.stop()
        log.info("removed container %s", short)
    except Exception as exc:
        log.warning("could not remove container %s: %s", short, str(exc).splitlines()[0][:200])


def _image_problem(image: str) -> str | None:
    """Why `image` cannot be had (not here and not pullable); None when it can, or when the
    engine's own failure is left for the start to report."""
    try:
        client = _client(30)
    except Exception:
        return None
    try:
        ensure_image(client, image)
    except UserError as exc:
        return str(exc).removeprefix("docker: ")
    except Exception:
        return None
    finally:
        client.close()
    return None


def _unusable(spec: str) -> str | None:
    """Why `spec` cannot be served here: a bad image name, no engine, or an image that is neither
    here nor pullable (so that `auto` falls back to embedded then)."""
    try:
        image = image_for(spec)
    except SpecError as exc:
        return str(exc)
    if not docker_engine_answers():
        return (
            f"{spec}: no Docker engine answers (checked DOCKER_HOST and /var/run/docker.sock); "
            "use embedded, auto or a postgresql:// URL"
        )
    problem = _image_problem(image)
    return f"{spec}: {problem}" if problem else None


def _open(spec: str, _opening: Opening) -> contextlib.AbstractContextManager[ServerTarget]:
    return docker_postgres() if spec == SPEC else docker_postgres(image_for(spec))


PROVIDER = Provider(
    name="docker",
    shown_as="docker",
    matches=lambda spec: spec == SPEC or spec.startswith(f"{SPEC}:"),
    open=_open,
    unusable=_unusable,
    restartable=True,
    auto_rank=0,
)
