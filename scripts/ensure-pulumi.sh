#!/usr/bin/env bash
# ensure-pulumi.sh — make a Pulumi CLI available without get.pulumi.com, and print its bin dir.
#
#   PATH="$(scripts/ensure-pulumi.sh):$PATH"
#
# stdout carries ONLY the bin dir; progress and errors go to stderr. The bin dir holds
#   pulumi                          the CLI, built from github.com/pulumi/pulumi/pkg/v3
#   pulumi-language-nodejs          the Node.js language host (scripts/pulumi-cli/pulumi-language-nodejs)
#   pulumi-resource-pulumi-nodejs   the dynamic-provider shim shipped in the @pulumi/pulumi npm package
#
# Order of preference:
#   1. a `pulumi` on PATH reporting >= $PULUMI_CLI_VERSION, with pulumi-language-nodejs next to it or on PATH;
#   2. a cached build in $PULUMI_CLI_CACHE_DIR (default /var/cache/pulumi-libvirt-live/pulumi-cli),
#      keyed by the pinned version and a hash of scripts/pulumi-cli;
#   3. a fresh build with Go from the module proxy (5-6 min on 2 cores with cold Go caches, measured
#      5 min 14 s plus ~20 s of module downloads; ~10 s with warm Go caches, e.g. when only
#      scripts/pulumi-cli changed). The build goes to a temp dir that is moved into place at the end,
#      so an interrupted build never leaves a half cache.
#
# Why not @pulumi/pulumi's own version (3.270.0): the module proxy reachable here serves
# github.com/pulumi/pulumi/pkg/v3 only up to v3.259.0, and refuses the upstream language-host module
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 at every version; see
# scripts/pulumi-cli/README.md.
set -euo pipefail

PULUMI_CLI_VERSION=v3.259.0 # keep in step with scripts/pulumi-cli/go.mod (pkg/v3 and sdk/v3)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
wrapper="$here/pulumi-cli"

log() { printf 'ensure-pulumi: %s\n' "$*" >&2; }

# version_ge A B: true when semver A >= B (leading "v" optional, pre-release suffix ignored).
version_ge() {
	local a="${1#v}" b="${2#v}"
	a="${a%%-*}"
	b="${b%%-*}"
	[ "$(printf '%s\n%s\n' "$b" "$a" | sort -V | head -n1)" = "$b" ]
}

# 1. A good enough pulumi already on PATH.
if existing="$(command -v pulumi 2>/dev/null)"; then
	have="$(PULUMI_SKIP_UPDATE_CHECK=true "$existing" version 2>/dev/null | tail -n1 || true)"
	dir="$(cd "$(dirname "$existing")" && pwd)"
	if [ -n "$have" ] && version_ge "$have" "$PULUMI_CLI_VERSION"; then
		if [ -x "$dir/pulumi-language-nodejs" ] || command -v pulumi-language-nodejs >/dev/null 2>&1; then
			log "using pulumi $have at $dir"
			printf '%s\n' "$dir"
			exit 0
		fi
		log "pulumi $have at $dir has no pulumi-language-nodejs next to it or on PATH; not using it"
	elif [ -n "$have" ]; then
		log "pulumi on PATH is $have, older than $PULUMI_CLI_VERSION; not using it"
	fi
fi

# 2. A cached build.
src_hash="$(cd "$wrapper" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
	LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
cache_root="${PULUMI_CLI_CACHE_DIR:-/var/cache/pulumi-libvirt-live/pulumi-cli}"
if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
	cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-libvirt-live/pulumi-cli"
	mkdir -p "$cache_root"
fi
final="$cache_root/$PULUMI_CLI_VERSION-$src_hash"

cached() {
	[ -x "$final/bin/pulumi" ] && [ -x "$final/bin/pulumi-language-nodejs" ] &&
		[ -x "$final/bin/pulumi-resource-pulumi-nodejs" ]
}

if cached; then
	printf '%s\n' "$final/bin"
	exit 0
fi

# 3. Build it.
gobin="$(command -v go 2>/dev/null || true)"
if [ -z "$gobin" ] && [ -x /usr/local/go/bin/go ]; then
	gobin=/usr/local/go/bin/go
fi
if [ -z "$gobin" ]; then
	cat >&2 <<EOF
ensure-pulumi: no usable Pulumi CLI and no Go toolchain to build one.
  Either install the Pulumi CLI ($PULUMI_CLI_VERSION or newer) so that \`pulumi\` and
  \`pulumi-language-nodejs\` are on PATH:
      curl -fsSL https://get.pulumi.com | sh      (then add ~/.pulumi/bin to PATH)
      or see https://www.pulumi.com/docs/install/
  or install Go 1.25.11 or newer (https://go.dev/dl/, or /usr/local/go) and run this script again:
  it builds the CLI from the Go module proxy into $cache_root.
EOF
	exit 1
fi

# One build at a time; whoever waited finds the cache filled.
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
	log "another build is running; waiting for it"
	flock 9
fi
if cached; then
	printf '%s\n' "$final/bin"
	exit 0
fi

tmp="$(mktemp -d "$cache_root/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

log "building pulumi $PULUMI_CLI_VERSION with $("$gobin" version) (cold Go caches: ~6 min on 2 cores)"
start=$SECONDS
ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_CLI_VERSION"
(
	cd "$wrapper"
	# go.sum is committed: refuse to resolve anything it does not already pin.
	export GOFLAGS="-mod=readonly -buildvcs=false"
	"$gobin" build -trimpath -ldflags "$ldflags" -o "$tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	"$gobin" build -trimpath -ldflags "$ldflags" -o "$tmp/bin/pulumi-language-nodejs" ./pulumi-language-nodejs
) >&2

shim="$repo/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"
if [ -f "$shim" ]; then
	cp "$shim" "$tmp/bin/pulumi-resource-pulumi-nodejs"
else
	# Same content as the shim at the root of the @pulumi/pulumi npm package.
	cat >"$tmp/bin/pulumi-resource-pulumi-nodejs" <<'EOF'
#!/bin/sh
PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")
if [ ! -z "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ]; then
    node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" $@
fi
EOF
fi
chmod 755 "$tmp/bin/pulumi-resource-pulumi-nodejs"

PULUMI_SKIP_UPDATE_CHECK=true "$tmp/bin/pulumi" version >/dev/null
rm -rf "$final"
mv -T "$tmp" "$final"
trap - EXIT
# Drop builds of this version from older scripts/pulumi-cli sources (running binaries keep working).
for old in "$cache_root/$PULUMI_CLI_VERSION"-*; do
	[ "$old" = "$final" ] || rm -rf "$old"
done
log "built in $((SECONDS - start)) s into $final/bin"
printf '%s\n' "$final/bin"
