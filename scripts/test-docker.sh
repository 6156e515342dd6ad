#!/usr/bin/env bash
# `make test-docker`: the docker tests against a real engine. When none answers and this runs as
# root with apt-get, it starts one of its own (scripts/docker-engine.sh: docker.io installed if
# missing, dockerd on a private socket with a fresh data root, so nothing is cached between runs),
# builds the images (scripts/docker-image.sh), runs tests/server/test_docker_engine.py and stops
# dockerd again by its pid. Where that cannot be done it says so in one line and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-python3 -m uv}
t0=$(date +%s)
own=""
if DOCKER_HOST=${DOCKER_HOST:-} docker version >/dev/null 2>&1; then
	echo "test-docker: using the engine that answers (${DOCKER_HOST:-/var/run/docker.sock})"
else
	if ! command -v docker >/dev/null && [ "$(id -u)" != 0 ]; then
		echo "test-docker: skipped: no Docker engine answers and docker.io cannot be installed (not root)"
		exit 0
	fi
	own=$(mktemp -d /tmp/pb-docker-XXXXXX)
	rc=0
	scripts/docker-engine.sh start "$own" || rc=$?
	if [ $rc = 3 ]; then
		rm -rf "$own"
		exit 0 # said why in one line
	fi
	[ $rc = 0 ] || exit $rc
	export DOCKER_HOST=unix://$own/docker.sock
	trap 'scripts/docker-engine.sh stop "$own"' EXIT
fi
scripts/docker-image.sh
$UV run --frozen pytest tests/server/test_docker_engine.py -s -ra -p no:cacheprovider
echo "test-docker: $(($(date +%s) - t0)) s in all"
