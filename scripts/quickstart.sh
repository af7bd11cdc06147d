#!/usr/bin/env bash
# The quickstart: installs what is missing, then runs the real `pulumi up` of examples/quickstart against the
# local libvirt, with a local file backend (your own Pulumi login and stacks are never touched), and prints
# what it made, including what QEMU reports through query-block.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/scripts/prepare.sh"

program="$repo/examples/quickstart"
state="${QUICKSTART_STATE:-/var/lib/pulumi-libvirt-live/quickstart}"
mkdir -p "$state/backend" "$state/home"
export PULUMI_BACKEND_URL="file://$state/backend" PULUMI_HOME="$state/home" PULUMI_CONFIG_PASSPHRASE=""
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
"$repo/scripts/link-program.sh" "$program"
cd "$program"
pulumi stack select quickstart --create --non-interactive >/dev/null
pulumi config set kernel "$GUEST_DIR/vmlinux"
pulumi config set initrd "$GUEST_DIR/initrd.gz"
pulumi up --yes --non-interactive --skip-preview
echo
echo "What runs now (the live view comes from QEMU's query-block):"
pulumi stack output --json
echo
echo "Try: edit examples/quickstart/index.js (say, memoryMiB or the cdrom media), run 'pulumi preview' there with"
echo "the same PULUMI_* variables, or remove it all with: (cd examples/quickstart && PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL \\"
echo "  PULUMI_HOME=$PULUMI_HOME PULUMI_CONFIG_PASSPHRASE= pulumi destroy --yes)"
