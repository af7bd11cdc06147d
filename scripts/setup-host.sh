#!/usr/bin/env bash
# Make this Debian machine a libvirt/QEMU host for pulumi-libvirt-live (tests, examples, benchmarks).
#
# Run as root. Idempotent: a second run on a set-up machine only checks things (well under 2 s).
#
# Two modes:
#  * A libvirt daemon that this script did NOT start already answers on qemu:///system: use it and change
#    nothing in its configuration (no qemu.conf edits, no pool creation, no restarts). Only client-side
#    tools are installed if missing, and the domain type is detected.
#  * No libvirt on this machine at all, or a daemon that is ours (marker file below): install packages, create
#    the users and groups the QEMU driver needs, write the qemu.conf settings this sandbox needs, start
#    `libvirtd -d` inside a network namespace of its own (below), and make sure the `default` directory pool
#    exists and is active.
#  * libvirt installed but not answering (its daemon stopped, or modular daemons such as virtqemud not
#    running), and not ours: refuse and change nothing, since the sandbox settings in the system-wide qemu.conf
#    (user = "root", security_driver = "none", dynamic_ownership = 0, cgroup_controllers = []) weaken every
#    VM on the host. Opt in on a machine that is a sandbox of its own with PULUMI_LIBVIRT_LIVE_SANDBOX=1 or
#    --sandbox; PULUMI_LIBVIRT_LIVE_SANDBOX=auto (what scripts/test.sh and scripts/quickstart.sh pass) opts in
#    only inside a container or under CI (CI=true).
#
# For tests of this script, SETUP_HOST_STATE_DIR, SETUP_HOST_SOCK, SETUP_HOST_QEMU_CONF, SETUP_HOST_LOG,
# SETUP_HOST_PIDFILE and SETUP_HOST_LIBVIRTD (the command that starts the daemon) replace the system paths.
#
# Our daemon runs inside the network namespace pulumi-libvirt-live ($NETNS), so the bridges, taps, dnsmasq and
# firewall rules of the networks tests create, and every guest's traffic, stay out of the host's namespace. Its
# unix socket is a file and serves clients in any namespace; its TCP and TLS listeners on 127.0.0.1 are the
# namespace's loopback (clients of those run under `ip netns exec`). The name is written to
# /var/lib/pulumi-libvirt-live/netns, which is absent when the daemon is someone else's.
#
# Output: /var/lib/pulumi-libvirt-live/domain-type holds "kvm" or "qemu" (the domain type tests should use),
# and the same word is printed as the last line.
#
# Facts behind each step: /work/shared/DESIGN.md §2 (hosting libvirt) and §6 (KVM under kvm_pvm).

set -euo pipefail

SANDBOX="${PULUMI_LIBVIRT_LIVE_SANDBOX:-0}"
for arg in "$@"; do
  case $arg in
    --sandbox) SANDBOX=1 ;;
    *) printf 'setup-host: ERROR: unknown argument %s (only --sandbox)\n' "$arg" >&2; exit 2 ;;
  esac
done

STATE_DIR=${SETUP_HOST_STATE_DIR:-/var/lib/pulumi-libvirt-live}
# Present <=> this script configured and started the libvirt daemon on this machine.
OURS_MARKER="$STATE_DIR/libvirtd-started-by-setup-host"
DOMAIN_TYPE_FILE="$STATE_DIR/domain-type"
NETNS=pulumi-libvirt-live
NETNS_FILE="$STATE_DIR/netns"
URI=qemu:///system
SOCK=${SETUP_HOST_SOCK:-/var/run/libvirt/libvirt-sock}
QEMU_CONF=${SETUP_HOST_QEMU_CONF:-/etc/libvirt/qemu.conf}
LIBVIRTD=${SETUP_HOST_LIBVIRTD:-libvirtd}
LIBVIRTD_LOG=${SETUP_HOST_LOG:-/var/log/libvirt/libvirtd.log}
LIBVIRTD_PIDFILE=${SETUP_HOST_PIDFILE:-/run/libvirtd.pid}
POOL_NAME=default
POOL_DIR=/var/lib/libvirt/images
START_TIMEOUT_S=${LIBVIRTD_START_TIMEOUT_S:-20}
# Our daemon also listens for TLS on loopback, with a CA, server and client certificate of its own, so the
# qemu+tls:// transport is tested against libvirtd's real TLS listener. Clients find their files under
# $TLS_DIR/client (the URI's pkipath); tests read the URI from $TLS_URI_FILE and skip TLS when it is absent.
TLS_DIR="$STATE_DIR/pki"
TLS_PORT=16514
TLS_URI_FILE="$STATE_DIR/tls-uri"
LIBVIRTD_CONF="$STATE_DIR/libvirtd.conf"
# A host with its own libvirtd.conf keeps it: our daemon then starts as before, without the TLS listener.
SYSTEM_LIBVIRTD_CONF=/etc/libvirt/libvirtd.conf
libvirtd_args() {
  if [ -e "$SYSTEM_LIBVIRTD_CONF" ]; then echo -d; else echo "-d --listen --config $LIBVIRTD_CONF"; fi
}

ALL_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils
  qemu-guest-agent libxml2-utils openssh-server openssh-client openssl
  # libvirt's network driver: dnsmasq serves DHCP/DNS on its networks; 9.0 needs a firewall backend binary even
  # for isolated networks (its rules land in our daemon's namespace only).
  dnsmasq-base iptables)
# With someone else's daemon we only need the tools that talk to it (virsh, qemu-img, xmllint, ssh/sshd).
CLIENT_PACKAGES=(libvirt-clients qemu-utils libxml2-utils openssh-server openssh-client)

log() { printf 'setup-host: %s\n' "$*" >&2; }
die() { printf 'setup-host: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages, creates users and starts libvirtd)"
mkdir -p "$STATE_DIR"

# --- helpers --------------------------------------------------------------------------------------------

# True when the daemon answers a real RPC (a socket file alone may be stale after a crash or reboot).
daemon_answers() {
  command -v virsh >/dev/null 2>&1 || return 1
  # libvirtd's socket, or the modular QEMU daemon's (virtqemud) next to it.
  [ -S "$SOCK" ] || [ -S "$(dirname "$SOCK")/virtqemud-sock" ] || return 1
  virsh -c "$URI" version >/dev/null 2>&1
}

# Prints the packages from "$@" that are not installed (one dpkg-query call: cheap on the second run).
missing_packages() {
  local installed
  # dpkg-query exits 1 when some name is unknown to dpkg; that is the "missing" case, not an error.
  installed=$({ dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true; } |
    awk '$2=="installed"{print $1}')
  local p
  for p in "$@"; do
    grep -qx -- "$p" <<<"$installed" || printf '%s\n' "$p"
  done
}

apt_lists_empty() {
  ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# True when apt knows no installable version of some package (lists empty or missing that package).
apt_lacks_candidate() {
  local p out
  for p in "$@"; do
    # Capture first: `apt-cache ... | grep -q` under pipefail fails with SIGPIPE when grep quits early.
    out=$(apt-cache policy "$p" 2>/dev/null || true)
    grep -q 'Candidate: [^(]' <<<"$out" || return 0
  done
  return 1
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages: all present"
    return
  fi
  log "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other sessions on this machine may be running apt too: wait for the dpkg lock instead of failing.
  # Do not let package scripts start services (openssh-server would start sshd on port 22; tests run their own
  # sshd on loopback with their own config). Docker images usually ship this policy already; add it only for
  # the duration of the install when it is absent.
  local tmp_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    tmp_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# temporary, from pulumi-libvirt-live setup-host.sh\nexit 101\n' >"$tmp_policy"
    chmod 755 "$tmp_policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # apt-get update only when needed: lists empty or lacking a package, or an install failed on stale lists
  # (mirrors drop superseded .debs, giving 404s).
  if apt_lists_empty || apt_lacks_candidate "${missing[@]}"; then
    log "packages: apt lists empty or incomplete, running apt-get update"
    apt-get update -qq
  fi
  if ! apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}" >/tmp/setup-host-apt.log 2>&1; then
    log "packages: install failed (stale apt lists?), running apt-get update and retrying"
    tail -n 5 /tmp/setup-host-apt.log >&2 || true
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends "${missing[@]}" >/tmp/setup-host-apt.log 2>&1 ||
      { tail -n 30 /tmp/setup-host-apt.log >&2; die "apt-get install ${missing[*]} failed (log: /tmp/setup-host-apt.log)"; }
  fi
  if [ -n "$tmp_policy" ]; then rm -f "$tmp_policy"; trap - EXIT; fi
  log "packages: installed"
}

# The Debian packages do not create their system users inside these sandboxes; libvirtd's QEMU driver then
# fails with "Failed to parse user 'libvirt-qemu'" even though qemu.conf says user = "root".
ensure_users() {
  local g
  for g in kvm libvirt-qemu libvirt swtpm; do
    getent group "$g" >/dev/null || { groupadd --system "$g"; log "created group $g"; }
  done
  if ! getent passwd libvirt-qemu >/dev/null; then
    useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
      --gid libvirt-qemu --groups kvm libvirt-qemu
    log "created user libvirt-qemu"
  fi
  if ! getent passwd swtpm >/dev/null; then
    useradd --system --no-create-home --home-dir /var/lib/swtpm --shell /usr/sbin/nologin --gid swtpm swtpm
    log "created user swtpm"
  fi
}

# Settings this sandbox needs (no systemd, no virtlogd, no cgroup delegation, no SELinux/AppArmor,
# images owned by root). Kept in one marked block at the end of qemu.conf; any other active assignment of
# the same keys (including multi-line arrays) is commented out so the block is the only source of truth.
QEMU_CONF_BEGIN='# BEGIN pulumi-libvirt-live (scripts/setup-host.sh)'
QEMU_CONF_END='# END pulumi-libvirt-live'
QEMU_CONF_BLOCK="$QEMU_CONF_BEGIN
user = \"root\"
group = \"root\"
dynamic_ownership = 0
security_driver = \"none\"
cgroup_controllers = [ ]
stdio_handler = \"file\"
$QEMU_CONF_END"

# Prints 1 when qemu.conf changed, 0 otherwise.
ensure_qemu_conf() {
  mkdir -p "$(dirname "$QEMU_CONF")"
  [ -f "$QEMU_CONF" ] || : >"$QEMU_CONF"
  local tmp
  tmp=$(mktemp "$QEMU_CONF.XXXXXX")
  awk -v begin="$QEMU_CONF_BEGIN" -v end="$QEMU_CONF_END" '
    $0 == begin { inblock = 1; next }
    inblock { if ($0 == end) inblock = 0; next }
    incont { print "#" $0; if ($0 ~ /\]/) incont = 0; next }
    /^[ \t]*(user|group|dynamic_ownership|security_driver|cgroup_controllers|stdio_handler)[ \t]*=/ {
      print "#" $0
      if ($0 ~ /\[/ && $0 !~ /\]/) incont = 1
      next
    }
    { print }
  ' "$QEMU_CONF" >"$tmp"
  printf '%s\n' "$QEMU_CONF_BLOCK" >>"$tmp"
  if cmp -s "$tmp" "$QEMU_CONF"; then
    rm -f "$tmp"
    echo 0
  else
    [ -e "$QEMU_CONF.orig-pulumi-libvirt-live" ] || cp -p "$QEMU_CONF" "$QEMU_CONF.orig-pulumi-libvirt-live"
    chmod --reference="$QEMU_CONF" "$tmp" 2>/dev/null || chmod 600 "$tmp"
    mv -f "$tmp" "$QEMU_CONF"
    log "qemu.conf: wrote settings block (backup of the original: $QEMU_CONF.orig-pulumi-libvirt-live)"
    echo 1
  fi
}

# A CA, a server certificate for localhost/127.0.0.1 and a client certificate, made once (10 years), with the
# key usages libvirt checks. Prints 1 when it wrote anything (the daemon must then be restarted).
ensure_tls_files() {
  local changed=0 ca="$TLS_DIR/ca" server="$TLS_DIR/server" client="$TLS_DIR/client"
  if [ ! -s "$client/clientkey.pem" ] || [ ! -s "$server/serverkey.pem" ] || [ ! -s "$ca/cacert.pem" ]; then
    rm -rf "$TLS_DIR"
    mkdir -p "$ca" "$server" "$client"
    chmod 700 "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pulumi-libvirt-live test CA" \
      -keyout "$ca/cakey.pem" -out "$ca/cacert.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    local role
    for role in server client; do
      local dir="$TLS_DIR/$role" ext
      if [ "$role" = server ]; then
        ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
      else
        ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
      fi
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$role.pulumi-libvirt-live.test" \
        -keyout "$dir/${role}key.pem" -out "$dir/$role.csr" 2>/dev/null
      openssl x509 -req -in "$dir/$role.csr" -CA "$ca/cacert.pem" -CAkey "$ca/cakey.pem" -CAcreateserial \
        -days 3650 -out "$dir/${role}cert.pem" -extfile <(printf '%s\n' "$ext") 2>/dev/null
      rm -f "$dir/$role.csr"
      cp "$ca/cacert.pem" "$dir/cacert.pem"
    done
    chmod 600 "$TLS_DIR"/*/*key.pem
    log "tls: made a test CA, a server certificate (localhost, 127.0.0.1) and a client certificate in $TLS_DIR"
    changed=1
  fi
  local conf
  conf=$(cat <<CONF
# Written by scripts/setup-host.sh for its own sandbox daemon: TLS on loopback, client certificates required;
# plain TCP on loopback too, without authentication, so qemu+tcp:// is tested against a real listener. Any local
# process can then drive this daemon, as root can through its socket: that is why only a daemon this script started
# on a machine opted in as a sandbox gets it.
listen_tls = 1
listen_tcp = 1
listen_addr = "127.0.0.1"
tls_port = "$TLS_PORT"
tcp_port = "16509"
auth_tcp = "none"
ca_file = "$TLS_DIR/server/cacert.pem"
cert_file = "$TLS_DIR/server/servercert.pem"
key_file = "$TLS_DIR/server/serverkey.pem"
CONF
)
  if [ "$(cat "$LIBVIRTD_CONF" 2>/dev/null || true)" != "$conf" ]; then
    printf '%s\n' "$conf" >"$LIBVIRTD_CONF"
    changed=1
  fi
  echo "$changed"
}

# True when our running daemon was started with the arguments this script uses now, inside our namespace.
libvirtd_has_our_args() {
  local pid
  pid=$(libvirtd_pid) || return 1
  [ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "libvirtd $(libvirtd_args) " ] || return 1
  # `ip netns identify` names every namespace file bound to the pid's namespace; ours must be among them.
  ip netns identify "$pid" 2>/dev/null | grep -qx -- "$NETNS"
}

# The daemon's network namespace, with its loopback up (its TCP/TLS listeners bind 127.0.0.1 there).
ensure_netns() {
  if [ ! -e "/run/netns/$NETNS" ]; then
    ip netns add "$NETNS"
    log "netns: created $NETNS"
  fi
  ip -n "$NETNS" link set lo up
}

libvirtd_pid() {
  local pid
  [ -f "$LIBVIRTD_PIDFILE" ] || return 1
  pid=$(cat "$LIBVIRTD_PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ] || return 1
  printf '%s\n' "$pid"
}

start_libvirtd() {
  log "libvirtd: starting (log: $LIBVIRTD_LOG)"
  # Errors and warnings to a file: with -d the daemon's stderr is gone, and a failed start must be explainable.
  # shellcheck disable=SC2046 # the arguments are words without spaces
  LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" ip netns exec "$NETNS" "$LIBVIRTD" $(libvirtd_args) >>"$LIBVIRTD_LOG" 2>&1 ||
    { tail -n 20 "$LIBVIRTD_LOG" >&2; die "libvirtd -d failed"; }
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until daemon_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "libvirtd: last lines of $LIBVIRTD_LOG:"
      tail -n 20 "$LIBVIRTD_LOG" >&2 || true
      die "libvirtd did not answer on $SOCK within ${START_TIMEOUT_S}s"
    fi
    sleep 0.1
  done
  log "libvirtd: up in netns $NETNS (pid $(libvirtd_pid || echo '?'))"
}

stop_our_libvirtd() {
  local pid
  pid=$(libvirtd_pid) || return 0
  log "libvirtd: stopping our daemon (pid $pid) to apply the new configuration or namespace (running domains survive)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 15))
  while [ -d "/proc/$pid" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "libvirtd (pid $pid) did not exit within 15s"
    sleep 0.1
  done
}

ensure_default_pool() {
  local state
  if ! state=$(virsh -c "$URI" pool-info "$POOL_NAME" 2>/dev/null); then
    log "pool $POOL_NAME: defining directory pool at $POOL_DIR"
    virsh -q -c "$URI" pool-define-as "$POOL_NAME" dir --target "$POOL_DIR" >/dev/null
    virsh -q -c "$URI" pool-build "$POOL_NAME" >/dev/null
    state=$(virsh -c "$URI" pool-info "$POOL_NAME")
  fi
  if ! grep -Eq '^State:[[:space:]]+running' <<<"$state"; then
    log "pool $POOL_NAME: starting"
    # A pool defined earlier whose directory was removed: rebuild it first (pool-build on dir is mkdir -p).
    virsh -q -c "$URI" pool-build "$POOL_NAME" >/dev/null 2>&1 || true
    virsh -q -c "$URI" pool-start "$POOL_NAME" >/dev/null
  fi
  if ! grep -Eq '^Autostart:[[:space:]]+yes' <<<"$state"; then
    virsh -q -c "$URI" pool-autostart "$POOL_NAME" >/dev/null
    log "pool $POOL_NAME: autostart on"
  fi
}

# DESIGN §6: /dev/kvm here comes from kvm_pvm and opens fine, but stock guest kernels fail under it. Only call
# KVM usable when the CPU itself shows hardware virtualisation (vmx/svm) AND /dev/kvm opens read-write.
detect_domain_type() {
  local type=qemu
  if grep -Eqw 'vmx|svm' /proc/cpuinfo && [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; then
    type=kvm
  fi
  if [ "$(cat "$DOMAIN_TYPE_FILE" 2>/dev/null || true)" != "$type" ]; then
    printf '%s\n' "$type" >"$DOMAIN_TYPE_FILE"
  fi
  printf '%s\n' "$type"
}

# True when some libvirt is on this machine already: a daemon binary (monolithic or modular), its package, or
# a qemu.conf. Then its qemu.conf and daemon belong to someone else unless the marker says they are ours.
libvirt_present() {
  [ -e "$QEMU_CONF" ] && return 0
  command -v "$LIBVIRTD" >/dev/null 2>&1 && return 0
  command -v virtqemud >/dev/null 2>&1 && return 0
  [ -n "$(missing_packages libvirt-daemon)" ] || return 0
  return 1
}

# True when this run may make the host a sandbox: opted in, or "auto" inside a container or under CI.
sandbox_opted_in() {
  case $SANDBOX in
    1 | yes | true) return 0 ;;
    auto)
      [ "${CI:-}" = true ] && return 0
      [ -e /.dockerenv ] || [ -e /run/.containerenv ] && return 0
      command -v systemd-detect-virt >/dev/null 2>&1 && systemd-detect-virt --quiet --container && return 0
      return 1 ;;
    *) return 1 ;;
  esac
}

refuse_foreign_libvirt() {
  local settings
  settings=$(sed -n '2,$p' <<<"$QEMU_CONF_BLOCK" | sed '$d' | sed 's/^/    /')
  die "libvirt is installed on this host but no daemon answers on $URI (stopped, or modular daemons such as virtqemud not running), and this script did not set it up. Nothing was changed.
Setting it up as a test sandbox would rewrite the system-wide $QEMU_CONF (a backup is kept) with
$settings
which weakens every VM on this host (QEMU runs as root, no SELinux/AppArmor confinement, no cgroups), and start libvirtd itself.
Either start your libvirt daemon (e.g. 'systemctl start libvirtd', or 'systemctl start virtqemud.socket') and run this again: a daemon that answers is used as it is, with nothing changed;
or, on a machine that is a sandbox of its own, opt in: PULUMI_LIBVIRT_LIVE_SANDBOX=1 bash scripts/setup-host.sh (or --sandbox; bash scripts/test.sh and scripts/quickstart.sh take the same variable)."
}

# --- main -----------------------------------------------------------------------------------------------

if daemon_answers && [ ! -e "$OURS_MARKER" ]; then
  log "a libvirt daemon not started by this script already answers on $URI: using it, changing nothing in its configuration"
  rm -f "$TLS_URI_FILE" # its TLS listener, if any, is not one whose certificates we know
  rm -f "$NETNS_FILE"   # nor does it run in our namespace
  install_packages "${CLIENT_PACKAGES[@]}"
  virsh -c "$URI" pool-info "$POOL_NAME" >/dev/null 2>&1 ||
    log "WARNING: that daemon has no storage pool '$POOL_NAME' (the provider's default); pass pool explicitly or create one"
else
  if [ -S "$SOCK" ] && [ ! -e "$OURS_MARKER" ] && pgrep -x libvirtd >/dev/null 2>&1; then
    die "a libvirtd process runs but does not answer on $URI, and this script did not start it; not touching it"
  fi
  if [ ! -e "$OURS_MARKER" ] && libvirt_present && ! sandbox_opted_in; then
    refuse_foreign_libvirt
  fi
  # From here on the daemon is ours: nothing of anyone else's was there, or the run opted in. A run that stops
  # half-way then still counts as ours the next time.
  touch "$OURS_MARKER"
  install_packages "${ALL_PACKAGES[@]}"
  { command -v libvirtd >/dev/null && command -v virsh >/dev/null; } ||
    die "libvirtd/virsh not found after installing packages (PATH=$PATH)"
  ensure_users
  # Runtime and state dirs libvirtd expects (no systemd-tmpfiles here). /run/sshd: sshd's privilege separation
  # dir, needed by tests that start their own sshd on loopback.
  mkdir -p /var/log/libvirt /var/lib/libvirt/qemu /var/cache/libvirt /run/libvirt /run/sshd
  ensure_netns
  conf_changed=$(ensure_qemu_conf)
  if [ -e "$SYSTEM_LIBVIRTD_CONF" ]; then
    log "tls: $SYSTEM_LIBVIRTD_CONF exists; keeping it, so no loopback TLS listener (the TLS tests will skip)"
  elif [ "$(ensure_tls_files)" = 1 ]; then
    conf_changed=1
  fi
  touch "$OURS_MARKER"
  if daemon_answers; then
    if [ "$conf_changed" = 1 ] || ! libvirtd_has_our_args; then
      stop_our_libvirtd
      start_libvirtd
    else
      log "libvirtd: ours, already running in netns $NETNS (pid $(libvirtd_pid || echo '?'))"
    fi
  else
    if pid=$(libvirtd_pid); then
      # Ours but not answering (hung or still starting): give it the bounded wait, then report.
      log "libvirtd: pid $pid runs but does not answer yet; waiting"
      deadline=$((SECONDS + START_TIMEOUT_S))
      until daemon_answers; do
        [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$LIBVIRTD_LOG" >&2 || true; die "libvirtd pid $pid does not answer on $SOCK"; }
        sleep 0.1
      done
    else
      start_libvirtd
    fi
  fi
  ensure_default_pool
  [ "$(cat "$NETNS_FILE" 2>/dev/null || true)" = "$NETNS" ] || printf '%s\n' "$NETNS" >"$NETNS_FILE"
  if [ -e "$SYSTEM_LIBVIRTD_CONF" ]; then
    rm -f "$TLS_URI_FILE"
  else
    printf 'qemu+tls://localhost:%s/system?pkipath=%s\n' "$TLS_PORT" "$TLS_DIR/client" >"$TLS_URI_FILE"
  fi
fi

versions=$(virsh -c "$URI" version 2>/dev/null | sed -n 's/^Using library: //p; s/^Running hypervisor: //p' | paste -sd ';' -)
log "libvirt: ${versions:-unknown}"
domain_type=$(detect_domain_type)
log "domain type: $domain_type (written to $DOMAIN_TYPE_FILE)"
printf '%s\n' "$domain_type"
