#!/usr/bin/env bash
# Everything the quickstart and the test suite need on a Debian machine, installed only when missing:
# libvirt + QEMU (setup-host.sh), Node 22 (ensure-node.sh), the Pulumi CLI (ensure-pulumi.sh, a cached build),
# the test guest (build-guest.sh, cached), npm dependencies and the compiled project.
# Source it: `. scripts/prepare.sh` leaves PATH with Node 22 and pulumi first, and exports GUEST_DIR.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$repo/scripts/setup-host.sh" >/dev/null
PATH="$("$repo/scripts/ensure-node.sh"):$PATH"
PATH="$("$repo/scripts/ensure-pulumi.sh"):$PATH"
export PATH
GUEST_DIR="$("$repo/scripts/build-guest.sh")"
export GUEST_DIR

# npm ci only when the lock file changed since the last install (it rewrites node_modules from scratch).
if [ ! -f "$repo/node_modules/.package-lock.json" ] || [ "$repo/package-lock.json" -nt "$repo/node_modules/.package-lock.json" ]; then
  (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
fi
# From a clean dist/: a test file deleted from the tree must not run from an old build.
rm -rf "$repo/dist"
(cd "$repo" && npx tsc -p tsconfig.json)
