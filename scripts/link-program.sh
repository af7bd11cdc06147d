#!/usr/bin/env bash
# Points a Pulumi program folder at this working tree: node_modules/pulumi-libvirt-live and @pulumi link to
# the repo, so the program, its SDK and the provider process (which resolves the package from the program's
# folder) all load one copy of each. Usage: scripts/link-program.sh DIR
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: scripts/link-program.sh DIR}"
mkdir -p "$dir/node_modules"
ln -sfn "$repo" "$dir/node_modules/pulumi-libvirt-live"
ln -sfn "$repo/node_modules/@pulumi" "$dir/node_modules/@pulumi"
