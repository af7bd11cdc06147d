#!/usr/bin/env bash
# The quickstart: installs what is missing, then runs the real `pulumi up` of examples/quickstart against the
# local libvirt, with a local file backend (your own Pulumi login and stacks are never touched), and prints
# what it made, including what QEMU reports through query-block.
#
# It prints the next steps as lines that work as they are in any new shell: the first one sources
# $state/env.sh, which puts this Node 22 and pulumi on PATH and points pulumi at the quickstart's backend.
# Env (for tests): QUICKSTART_STATE (default /var/lib/pulumi-libvirt-live/quickstart), QUICKSTART_STACK
# (default quickstart), QUICKSTART_PREFIX (names of the domain, volumes and network; default quickstart),
# QUICKSTART_SUBNET (first three octets of the network's /24; default 198.18.100).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# A host with libvirt installed but stopped is set up as a sandbox only inside a container or under CI (see
# scripts/setup-host.sh); PULUMI_LIBVIRT_LIVE_SANDBOX=1 opts in anywhere.
export PULUMI_LIBVIRT_LIVE_SANDBOX="${PULUMI_LIBVIRT_LIVE_SANDBOX:-auto}"
. "$repo/scripts/prepare.sh"

program="$repo/examples/quickstart"
state="${QUICKSTART_STATE:-/var/lib/pulumi-libvirt-live/quickstart}"
stack="${QUICKSTART_STACK:-quickstart}"
mkdir -p "$state/backend" "$state/home"
export PULUMI_BACKEND_URL="file://$state/backend" PULUMI_HOME="$state/home" PULUMI_CONFIG_PASSPHRASE=""
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
"$repo/scripts/link-program.sh" "$program"
# `npx pulumi-libvirt-live` in the program folder finds the linked package's command without the registry.
chmod +x "$repo/dist/provider/src/cli.js"
mkdir -p "$program/node_modules/.bin"
ln -sfn ../pulumi-libvirt-live/dist/provider/src/cli.js "$program/node_modules/.bin/pulumi-libvirt-live"
# One line to source in a new shell: the same Node, pulumi and backend as this run.
env_file="$state/env.sh"
{
  echo "# Written by scripts/quickstart.sh. Source it ('. $env_file'): pulumi and Node 22 on PATH, and the"
  echo "# quickstart's own file backend (your Pulumi login and stacks are not touched)."
  printf 'export PATH=%q:%q:"$PATH"\n' "$(dirname "$(command -v node)")" "$(dirname "$(command -v pulumi)")"
  printf 'export PULUMI_BACKEND_URL=%q PULUMI_HOME=%q PULUMI_CONFIG_PASSPHRASE=\n' "$PULUMI_BACKEND_URL" "$PULUMI_HOME"
  echo "export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
} >"$env_file"
cd "$program"
pulumi stack select "$stack" --create --non-interactive >/dev/null
pulumi config set kernel "$GUEST_DIR/vmlinux"
pulumi config set initrd "$GUEST_DIR/initrd.gz"
if [ -n "${QUICKSTART_PREFIX:-}" ]; then pulumi config set prefix "$QUICKSTART_PREFIX"; fi
if [ -n "${QUICKSTART_SUBNET:-}" ]; then pulumi config set subnet "$QUICKSTART_SUBNET"; fi
pulumi up --yes --non-interactive --skip-preview
echo
echo "What runs now (the live view comes from QEMU's query-block):"
pulumi stack output --json
echo
echo "The VM's address on the quickstart network: $(pulumi stack output address)"
echo
echo "Next steps: these lines work as they are, in this shell or a new one (the first sets PATH and the backend):"
echo
printf '  . %q\n' "$env_file"
printf '  cd %q\n' "$program"
echo "  pulumi preview                 # after editing index.js: say memoryMiB, or the cdrom media"
echo "  pulumi preview --json > plan.json && npx pulumi-libvirt-live explain plan.json"
echo "  pulumi destroy --yes           # removes it all"
