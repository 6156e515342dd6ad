#!/bin/sh
# Entrypoint of the postgres:<major> images that scripts/docker-image.sh builds without a registry.
# It behaves like the official image's for what the suite (and testcontainers) rely on:
# - POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default: the user's name), POSTGRES_INITDB_ARGS;
# - the command is `postgres -c name=value ...` (or only flags: `-c ...`), anything else is run as is;
# - a new cluster is initialised by a server that listens on its Unix socket only, so nothing can
#   connect over TCP before the database and its password exist; /docker-entrypoint-initdb.d/*.sql
#   and *.sh run then;
# - root is dropped (PostgreSQL refuses to run as root): the server runs as `postgres`.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
SOCKETS=/var/run/postgresql
export PGDATA

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" "$SOCKETS"
	chown postgres:postgres "$PGDATA" "$SOCKETS"
	chmod 700 "$PGDATA"
	chmod 2775 "$SOCKETS"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user=${POSTGRES_USER:-postgres}
	db=${POSTGRES_DB:-$user}
	method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
		echo "entrypoint: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
		exit 1
	fi
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of flags, as in the official image
	initdb --username="$user" --pwfile=/dev/stdin --auth-local=trust --auth-host="$method" \
		--encoding=UTF8 --locale=C ${POSTGRES_INITDB_ARGS:-} <<-PASSWORD >/dev/null
		${POSTGRES_PASSWORD:-}
	PASSWORD
	printf '\nhost all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\nunix_socket_directories = '%s'\n" "$SOCKETS" \
		>>"$PGDATA/postgresql.conf"

	# socket only: no TCP until the database exists
	pg_ctl -D "$PGDATA" -w -t 60 -l /tmp/postgres-init.log \
		-o "-c listen_addresses='' -c unix_socket_directories=$SOCKETS" start >/dev/null
	psql_init() { psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKETS" -U "$user" "$@"; }
	if [ "$db" != postgres ]; then
		psql_init -d postgres -v db="$db" <<-'SQL'
			CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sql) psql_init -d "$db" -f "$f" ;;
		*.sh) . "$f" ;;
		*) ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
	echo "entrypoint: cluster initialised (user $user, database $db); starting PostgreSQL"
fi

exec "$@"
