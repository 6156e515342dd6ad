#!/usr/bin/env bash
# A Docker engine of our own for the docker tests, started and stopped again by its pid.
#
#   scripts/docker-engine.sh start DIR [DATA_ROOT]   start dockerd on unix://DIR/docker.sock
#   scripts/docker-engine.sh stop DIR                stop it and restore what it changed
#
# `start` installs docker.io with apt when there is no dockerd (root only), notes what dockerd
# changes on the machine (ip_forward, iptables, the docker0 bridge), starts it in the background
# with its socket, pid file, exec root and (unless DATA_ROOT is given) its images and containers
# all under DIR, waits until it answers and prints the engine version. Its socket is not the
# default one, so nothing else on the machine (`--postgres auto` in another shell) picks it up:
# export DOCKER_HOST=unix://DIR/docker.sock to use it. `stop` lists and removes the containers
# left on it, stops dockerd (SIGTERM, then SIGKILL after 20 s), deletes docker0 if dockerd made it,
# puts iptables and ip_forward back, and removes DIR. Exit 3: no engine can be had here (not root,
# or no apt-get), said in one line.
set -euo pipefail

die() {
	echo "docker-engine: $*" >&2
	exit 2
}
say() { echo "docker-engine: $*"; }

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop DIR [DATA_ROOT]"
export DOCKER_HOST=unix://$dir/docker.sock

start() {
	local data=${1:-$dir/data} t0 pid
	if ! command -v dockerd >/dev/null; then
		if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
			say "no dockerd, and it cannot be installed here (needs root and apt-get): skipped"
			exit 3
		fi
		t0=$(date +%s)
		say "installing docker.io with apt-get"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1 ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1; } ||
			{
				say "apt-get could not install docker.io: skipped"
				exit 3
			}
		say "docker.io installed in $(($(date +%s) - t0)) s"
	fi
	[ "$(id -u)" = 0 ] || {
		say "dockerd needs root here: skipped"
		exit 3
	}
	mkdir -p "$dir"
	cat /proc/sys/net/ipv4/ip_forward >"$dir/ip_forward.before"
	iptables-save >"$dir/iptables.before" 2>/dev/null || rm -f "$dir/iptables.before"
	ip6tables-save >"$dir/ip6tables.before" 2>/dev/null || rm -f "$dir/ip6tables.before"
	if ip link show docker0 >/dev/null 2>&1; then touch "$dir/docker0.before"; fi
	t0=$(date +%s%N)
	# its own session, so that a Ctrl-C in the calling shell reaches only `stop`
	setsid dockerd --host "$DOCKER_HOST" --pidfile "$dir/dockerd.pid" --exec-root "$dir/exec" \
		--data-root "$data" >"$dir/dockerd.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/pid"
	for _ in $(seq 150); do
		docker version >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || die "dockerd exited: $(tail -3 "$dir/dockerd.log" | tr '\n' ' ')"
		sleep 0.2
	done
	docker version >/dev/null 2>&1 || die "dockerd did not answer within 30 s: $(tail -3 "$dir/dockerd.log" | tr '\n' ' ')"
	say "dockerd $(docker version --format '{{.Server.Version}}') (pid $pid) answers on $DOCKER_HOST after $((($(date +%s%N) - t0) / 1000000)) ms; data root $data"
}

stop() {
	[ -f "$dir/pid" ] || die "no dockerd of ours in $dir"
	local pid left
	pid=$(cat "$dir/pid")
	left=$(docker ps -aq 2>/dev/null || true)
	if [ -n "$left" ]; then
		say "containers left on the engine, removed now: $(echo "$left" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		docker rm -f -v $left >/dev/null 2>&1 || true
	else
		say "no container left on the engine"
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "dockerd (pid $pid) did not stop within 20 s: killed"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [ ! -e "$dir/docker0.before" ] && ip link show docker0 >/dev/null 2>&1; then
		ip link delete docker0 || true
	fi
	[ ! -f "$dir/iptables.before" ] || iptables-restore <"$dir/iptables.before" || true
	[ ! -f "$dir/ip6tables.before" ] || ip6tables-restore <"$dir/ip6tables.before" || true
	[ ! -f "$dir/ip_forward.before" ] || cat "$dir/ip_forward.before" >/proc/sys/net/ipv4/ip_forward || true
	# the overlay mounts of a data root inside $dir are gone with dockerd; never cross into others
	rm -rf --one-file-system "$dir"
	say "dockerd (pid $pid) stopped; docker0, iptables and ip_forward as before; $dir removed"
}

case $cmd in
start) start "${3:-}" ;;
stop) stop ;;
*) die "usage: $0 start|stop DIR [DATA_ROOT]" ;;
esac
