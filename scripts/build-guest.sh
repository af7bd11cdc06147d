#!/usr/bin/env bash
# Build (or reuse) the small Linux test guest that runs the QEMU guest agent.
#
# Output: a directory holding
#   vmlinux     uncompressed ELF kernel (QEMU boots it via PVH: <kernel>, no bootloader)
#   initrd.gz   gzip newc cpio: busybox, the drivers below + their dependencies, qemu-ga + its libraries,
#               /init (scripts/guest/init), /sbin/shutdown (scripts/guest/shutdown) and udhcpc's event script
#               /usr/share/udhcpc/default.script (scripts/guest/udhcpc.script)
#   manifest.txt  what went in
# Boot with cmdline "console=ttyS0 quiet panic=-1" and a virtio-serial channel named
# org.qemu.guest_agent.0. See DESIGN.md section 6.
#
# Everything comes from Debian packages: the newest linux-image-6.1.0-N-amd64 and busybox-static
# (apt-get download + dpkg-deb -x, never installed; host /boot untouched) and the host's own
# /usr/sbin/qemu-ga (package qemu-guest-agent, installed if missing) with the libraries ldd lists.
#
# util-linux's eject (Debian package eject, apt-get download + dpkg-deb -x, never installed) replaces busybox's
# applet at /usr/bin/eject, with the libraries ldd lists: the guest's own eject opens a cdrom tray.
#
# Cache: $GUEST_CACHE_DIR (default /var/cache/pulumi-libvirt-live/guest)/<key>/ where <key> is
#   <kernel ABI>_<kernel pkg version>__bb-<busybox-static version>__qga-<qemu-guest-agent version>__ej-<eject version>__<hash>
# and <hash> = sha256 (first 12 hex) of scripts/guest/{init,shutdown,udhcpc.script}, this script, and the
# qemu-ga binary + libraries. A directory is only ever created complete (built aside, then renamed).
# The kernel part (vmlinux + module closure, from the 70 MB kernel .deb) is cached separately in
# .kernel/<kernel ABI>_<version>__<hash of module list> so init-only changes rebuild in a few seconds;
# each guest dir's vmlinux is a hard link to it. Older guest dirs beyond GUEST_KEEP (3) are pruned.
# Resolving versions needs apt-cache (~1 s here: the apt pkgcache is disabled), so the resolved key is
# remembered in $GUEST_CACHE_DIR/.resolved/ under a stamp of the apt lists, dpkg status and those files.
# If a newer package cannot be downloaded, the newest existing build with the same <hash> is used (warning).
# Concurrent runs serialize on $GUEST_CACHE_DIR/.lock; only the build path needs root.
#
# stdout: ONLY the output directory path. Progress goes to stderr.
# Env: GUEST_CACHE_DIR, GUEST_DEB_CACHE (downloaded .debs; default /var/cache/pulumi-libvirt-live/debs),
#      GUEST_KERNEL_PKG (force a kernel package, e.g. linux-image-6.1.0-56-amd64), GUEST_QUIET=1.
set -euo pipefail
umask 022
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
GUEST_SRC="$SCRIPT_DIR/guest"
CACHE_ROOT=${GUEST_CACHE_DIR:-/var/cache/pulumi-libvirt-live/guest}
DEB_CACHE=${GUEST_DEB_CACHE:-/var/cache/pulumi-libvirt-live/debs}
QGA=/usr/sbin/qemu-ga

# Drivers the tests need, loaded in this order by /init (dependencies come along via modules.dep).
# virtio_balloon: the guest gives memory back when a live memoryMiB change lowers the balloon target.
# crct10dif_generic / crc64_rocksoft_generic are crypto providers sd_mod's CRC libraries ask for at
# load time (not hard deps in modules.dep), so they go first.
MODULES=(crct10dif_generic crc64_rocksoft_generic virtio_pci virtio_console virtio_blk virtio_scsi
	sd_mod sr_mod xhci_pci usb_storage uas isofs virtio_balloon)
# NIC drivers for the models the provider offers (virtio, e1000, e1000e, rtl8139: 8139cp drives QEMU's rtl8139
# when its C+ mode is on, 8139too otherwise) and af_packet, which udhcpc's raw sockets need (built into
# Debian's 6.1 kernel; listed so a kernel with it as a module still works). /init loads these from
# /etc/modules.net once the agent runs, not at boot, so the agent answers as soon as before.
NET_MODULES=(af_packet virtio_net e1000 e1000e 8139cp 8139too)
MODULES+=("${NET_MODULES[@]}")

T0=$(date +%s.%N)
log() { [ "${GUEST_QUIET:-0}" = 1 ] || printf 'build-guest: %s\n' "$*" >&2; }
die() { printf 'build-guest: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
sanitize() { printf '%s' "$1" | tr -c 'A-Za-z0-9.+_-' '_'; }

APT_OPTS=(-o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root -q)

# --- tools -----------------------------------------------------------------------------------------
apt_updated=0
apt_install() {
	[ "$(id -u)" = 0 ] || die "need root to apt-get install $*"
	log "installing $*"
	if ! DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "$@" >&2; then
		[ "$apt_updated" = 1 ] && die "apt-get install $* failed"
		apt-get "${APT_OPTS[@]}" update >&2 && apt_updated=1
		DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "$@" >&2 ||
			die "apt-get install $* failed"
	fi
}
missing=()
[ -x "$QGA" ] || missing+=(qemu-guest-agent)
command -v xz > /dev/null || missing+=(xz-utils)
command -v gzip > /dev/null || missing+=(gzip)
command -v flock > /dev/null || missing+=(util-linux)
[ ${#missing[@]} = 0 ] || apt_install "${missing[@]}"

# --- the key ---------------------------------------------------------------------------------------
qga_files() { # qemu-ga and every library ldd resolves for it (absolute paths, one a line)
	local out
	out=$(ldd "$QGA") || die "ldd $QGA failed"
	if grep -q 'not found' <<< "$out"; then die "ldd $QGA: $(grep 'not found' <<< "$out")"; fi
	echo "$QGA"
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$out"
}
QGA_FILES=$(qga_files)
mapfile -t QGA_REAL < <(xargs readlink -f <<< "$QGA_FILES")
CONTENT_HASH=$({
	printf '%s\n' "${MODULES[@]}"
	# Digests only: the key must not depend on where the repo is checked out.
	sha256sum "$GUEST_SRC/init" "$GUEST_SRC/shutdown" "$GUEST_SRC/udhcpc.script" "$SELF" | awk '{ print $1 }'
	sha256sum "${QGA_REAL[@]}" | awk '{ print $1 }'
} | sha256sum | cut -c1-12)

QGA_VER=$(dpkg-query -W -f='${Version}' qemu-guest-agent 2> /dev/null || true)
[ -n "$QGA_VER" ] || QGA_VER=unpackaged

# Stamp of everything the version resolution depends on; if unchanged, reuse the last resolved key.
stamp_inputs() {
	stat -c '%n %s %Y' /var/lib/apt/lists/*_Packages* /var/lib/dpkg/status 2> /dev/null || true
	echo "kernel=${GUEST_KERNEL_PKG:-} qga=$QGA_VER hash=$CONTENT_HASH"
}
STAMP=$(stamp_inputs | sha256sum | cut -c1-32)
RESOLVED="$CACHE_ROOT/.resolved/$STAMP"

if [ -r "$RESOLVED" ]; then
	read -r KEY KPKG KVER BB_VER < "$RESOLVED" || true
	if [ -n "${KEY:-}" ] && [ -f "$CACHE_ROOT/$KEY/initrd.gz" ] && [ -f "$CACHE_ROOT/$KEY/vmlinux" ]; then
		log "cached ($(elapsed) s): $CACHE_ROOT/$KEY"
		echo "$CACHE_ROOT/$KEY"
		exit 0
	fi
fi

resolve_versions() { # sets KPKG KVER BB_VER from one apt-cache call
	local q out
	if [ -n "${GUEST_KERNEL_PKG:-}" ]; then q=$GUEST_KERNEL_PKG; else q='?name(^linux-image-6\.1\.0-[0-9]+-amd64$)'; fi
	out=$(apt-cache show --no-all-versions "$q" busybox-static eject 2> /dev/null |
		awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }') || true
	BB_VER=$(awk '$1 == "busybox-static" { print $2; exit }' <<< "$out")
	EJ_VER=$(awk '$1 == "eject" { print $2; exit }' <<< "$out")
	read -r KPKG KVER < <(awk '$1 ~ /^linux-image-/ { n = $1; sub(/^linux-image-6\.1\.0-/, "", n); sub(/-.*/, "", n); print n + 0, $1, $2 }' <<< "$out" |
		sort -k1,1n | tail -1 | cut -d' ' -f2-) || true
	[ -n "${KPKG:-}" ] && [ -n "${KVER:-}" ] && [ -n "$BB_VER" ] && [ -n "$EJ_VER" ]
}
if ! resolve_versions; then
	[ "$(id -u)" = 0 ] || die "no kernel / busybox-static candidate in apt lists (and not root to apt-get update)"
	log "no linux-image-6.1.0-*-amd64 / busybox-static candidate; apt-get update"
	apt-get "${APT_OPTS[@]}" update >&2
	resolve_versions || die "apt-cache has no linux-image-6.1.0-*-amd64, busybox-static or eject candidate"
fi
KABI=${KPKG#linux-image-}
KEY=$(sanitize "${KABI}_${KVER}__bb-${BB_VER}__qga-${QGA_VER}__ej-${EJ_VER}__${CONTENT_HASH}")
OUT="$CACHE_ROOT/$KEY"

remember_key() { # best effort (a non-root caller of a cached build may not be able to write)
	{
		mkdir -p "$CACHE_ROOT/.resolved" &&
			printf '%s %s %s %s\n' "$KEY" "$KPKG" "$KVER" "$BB_VER" > "$RESOLVED.tmp.$$" &&
			mv -f "$RESOLVED.tmp.$$" "$RESOLVED"
	} 2> /dev/null || true
}

if [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinux" ]; then
	remember_key
	log "cached ($(elapsed) s): $OUT"
	echo "$OUT"
	exit 0
fi

# --- build -----------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "need root to build (mknod, $CACHE_ROOT)"
mkdir -p "$CACHE_ROOT" "$DEB_CACHE"
exec 9> "$CACHE_ROOT/.lock"
flock 9
if [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinux" ]; then # built by a concurrent run meanwhile
	remember_key
	log "built concurrently ($(elapsed) s): $OUT"
	echo "$OUT"
	exit 0
fi
log "building $KEY"

WORK=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# If the newest packages cannot be fetched (mirror unreachable, lists newer than the mirror), use the
# newest complete build of the same guest content (same hash) instead of failing, with a warning.
fallback_or_die() {
	local d
	d=$(find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d -name "*__$CONTENT_HASH" -printf '%T@ %p\n' |
		sort -rn | cut -d' ' -f2- | while read -r d; do
			if [ -f "$d/vmlinux" ] && [ -f "$d/initrd.gz" ]; then
				echo "$d"
				break
			fi
		done)
	[ -n "$d" ] || die "$1"
	printf 'build-guest: warning: %s; using the older build %s\n' "$1" "$d" >&2
	echo "$d"
	exit 0
}

fetch_deb() { # pkg version -> FETCHED = path of the .deb in DEB_CACHE (downloaded once; no subshell,
	# so that fallback_or_die can end the script)
	local pkg=$1 ver=$2 f dl
	f="$DEB_CACHE/${pkg}_$(sanitize "$ver")_amd64.deb"
	if [ ! -s "$f" ]; then
		dl=$(mktemp -d "$DEB_CACHE/.dl.XXXXXX")
		log "apt-get download $pkg=$ver"
		if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" download "$pkg=$ver" >&2); then
			rm -rf "$dl"
			fallback_or_die "apt-get download $pkg=$ver failed"
		fi
		mv -f "$dl"/*.deb "$f"
		rm -rf "$dl"
	fi
	FETCHED=$f
}
fetch_deb busybox-static "$BB_VER"
BBDEB=$FETCHED

# busybox-static: the guest's userland, and our host-side cpio + depmod.
mkdir -p "$WORK/bb"
dpkg-deb -x "$BBDEB" "$WORK/bb"
BB="$WORK/bb/bin/busybox"
[ -x "$BB" ] || die "no bin/busybox in $BBDEB"

# eject (util-linux): the guest-side tray eject the cdrom drift tests run through the agent.
fetch_deb eject "$EJ_VER"
mkdir -p "$WORK/ej"
dpkg-deb -x "$FETCHED" "$WORK/ej"
EJECT="$WORK/ej/usr/bin/eject"
[ -x "$EJECT" ] || die "no usr/bin/eject in $FETCHED"
ej_libs() { # the libraries ldd resolves for eject on this host (absolute paths, one a line)
	local out
	out=$(ldd "$EJECT") || die "ldd $EJECT failed"
	if grep -q 'not found' <<< "$out"; then die "ldd $EJECT: $(grep 'not found' <<< "$out")"; fi
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<< "$out"
}
EJ_FILES=$(ej_libs)

# --- kernel part: vmlinux + the module closure, cached per kernel package version and module list ----
# (unpacking the 70 MB kernel .deb is most of a build; init-only changes reuse this).
# Bump KPART_REV when the extraction below changes.
KPART_REV=1
KPART="$CACHE_ROOT/.kernel/$(sanitize "${KABI}_${KVER}")__$(printf '%s\n' "$KPART_REV" "${MODULES[@]}" | sha256sum | cut -c1-8)"

extract_vmlinux() { # the kernel's extract-vmlinux approach: find the payload, decompress, check ELF
	local img=$1 out=$2 pair magic tool off
	for pair in 'fd377a585a00|xz -dc --single-stream' '28b52ffd|zstd -dc' '1f8b0800|gzip -dc'; do
		magic=${pair%%|*}
		tool=${pair#*|}
		command -v "${tool%% *}" > /dev/null || continue
		# byte offsets of the magic; try the first few hits until one decompresses to an ELF
		for off in $(grep -obUaP "$(printf '%s' "$magic" | sed 's/../\\x&/g')" "$img" | cut -d: -f1 | head -5); do
			tail -c +"$((off + 1))" "$img" | $tool > "$out" 2> /dev/null || true
			if [ "$(head -c4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
				return 0
			fi
		done
	done
	return 1
}

mod_depends() { # module file -> its depends= list, space separated, underscores
	local f=$1
	case $f in
		*.xz) xz -dc "$f" ;;
		*.zst) zstd -dc "$f" ;;
		*.gz) gzip -dc "$f" ;;
		*) cat "$f" ;;
	esac | tr '\0' '\n' | awk -F= '/^depends=/ { gsub(/,/, " ", $2); gsub(/-/, "_", $2); print $2; exit }'
}

build_kernel_part() {
	local kdeb krel vmlinuz moddir kp p n m d
	fetch_deb "$KPKG" "$KVER"
	kdeb=$FETCHED
	mkdir -p "$WORK/k"
	dpkg-deb -x "$kdeb" "$WORK/k" # unpacked aside, never installed; host /boot untouched
	krel=$(find "$WORK/k/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | head -1)
	vmlinuz="$WORK/k/boot/vmlinuz-$krel"
	[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$krel in $kdeb"
	log "unpacked $KPKG ($krel) ($(elapsed) s)"

	kp="$WORK/kpart"
	mkdir -p "$kp"
	extract_vmlinux "$vmlinuz" "$kp/vmlinux" || die "could not extract an ELF kernel from $vmlinuz"
	log "vmlinux extracted ($(stat -c %s "$kp/vmlinux") bytes) ($(elapsed) s)"

	# Dependency closure of MODULES, read from each .ko's .modinfo "depends=" (the package ships no
	# modules.dep; busybox depmod runs later on the small set).
	moddir="$WORK/k/lib/modules/$krel"
	declare -A modpath=() want=()
	local load=() queue=()
	while read -r p; do
		n=${p##*/}
		n=${n%%.ko*}
		modpath[${n//-/_}]=${p#"$moddir"/}
	done < <(find "$moddir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
	for m in "${MODULES[@]}"; do
		m=${m//-/_}
		if [ -z "${modpath[$m]:-}" ]; then
			if grep -qE "/${m//_/[-_]}\.ko$" "$moddir/modules.builtin" 2> /dev/null; then
				log "$m is built into $krel"
				continue
			fi
			die "module $m not in $KPKG"
		fi
		load+=("$m")
		queue+=("$m")
	done
	while [ ${#queue[@]} -gt 0 ]; do
		m=${queue[0]}
		queue=("${queue[@]:1}")
		[ -z "${want[$m]:-}" ] || continue
		want[$m]=1
		for d in $(mod_depends "$moddir/${modpath[$m]}"); do
			[ -n "${modpath[$d]:-}" ] || die "$m depends on $d, which is not a module in $KPKG"
			[ -n "${want[$d]:-}" ] || queue+=("$d")
		done
	done
	for m in "${!want[@]}"; do
		mkdir -p "$kp/modules/$krel/$(dirname "${modpath[$m]}")"
		cp "$moddir/${modpath[$m]}" "$kp/modules/$krel/${modpath[$m]}"
	done
	for p in modules.order modules.builtin modules.builtin.modinfo; do
		[ ! -f "$moddir/$p" ] || cp "$moddir/$p" "$kp/modules/$krel/$p"
	done
	printf '%s\n' "${load[@]}" > "$kp/modules.load"
	printf '%s\n' "${!want[@]}" | sort > "$kp/modules.included"
	echo "$krel" > "$kp/release"
	rm -rf "$WORK/k"
	mkdir -p "$(dirname "$KPART")"
	rm -rf "$KPART"
	mv -T "$kp" "$KPART"
}
if [ -f "$KPART/vmlinux" ] && [ -s "$KPART/release" ]; then
	log "kernel part cached: $KPART"
else
	build_kernel_part
fi
KREL=$(cat "$KPART/release")

# --- initramfs tree --------------------------------------------------------------------------------
R="$WORK/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,mnt,var,usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64}
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
ln -s ../run "$R/var/run"
mkdir -p "$R/var/log" "$R/var/tmp"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3

cp "$BB" "$R/bin/busybox"
while read -r applet; do
	case $applet in '' | linuxrc) continue ;; esac
	[ -e "$R/$applet" ] || [ -L "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done < <("$BB" --list-full)

install -m 0755 "$GUEST_SRC/init" "$R/init"
install -m 0755 "$GUEST_SRC/shutdown" "$R/sbin/shutdown"
install -D -m 0755 "$GUEST_SRC/udhcpc.script" "$R/usr/share/udhcpc/default.script"

# qemu-ga and its libraries at the paths ldd printed (lib -> usr/lib as on the host).
for f in $QGA_FILES; do
	mkdir -p "$R$(dirname "$f")"
	cp -L "$f" "$R$f"
done

# util-linux's eject in place of busybox's applet, and its libraries (lib -> usr/lib as on the host).
rm -f "$R/usr/bin/eject" "$R/bin/eject"
install -m 0755 "$EJECT" "$R/usr/bin/eject"
for f in $EJ_FILES; do
	mkdir -p "$R$(dirname "$f")"
	[ -e "$R$f" ] || cp -L "$f" "$R$f"
done

mkdir -p "$R/usr/lib/modules"
cp -a "$KPART/modules/$KREL" "$R/usr/lib/modules/"
"$BB" depmod -b "$R" "$KREL"
[ -s "$R/lib/modules/$KREL/modules.dep" ] || die "busybox depmod wrote no modules.dep"
# Boot drivers in /etc/modules, NIC drivers in /etc/modules.net (built-in ones are in neither).
grep -vxF -f <(printf '%s\n' "${NET_MODULES[@]}") "$KPART/modules.load" > "$R/etc/modules" || true
grep -xF -f <(printf '%s\n' "${NET_MODULES[@]}") "$KPART/modules.load" > "$R/etc/modules.net" || true
log "$(wc -l < "$KPART/modules.included") modules: $(tr '\n' ' ' < "$KPART/modules.included")"

mkdir -p "$WORK/out"
ln "$KPART/vmlinux" "$WORK/out/vmlinux" 2> /dev/null || cp "$KPART/vmlinux" "$WORK/out/vmlinux"

# --- pack ------------------------------------------------------------------------------------------
(cd "$R" && find . -mindepth 1 | sort | "$BB" cpio -o -H newc 2> /dev/null) | gzip -6 -n > "$WORK/out/initrd.gz"
{
	echo "key=$KEY"
	echo "kernel_package=$KPKG"
	echo "kernel_version=$KVER"
	echo "kernel_release=$KREL"
	echo "busybox_static=$BB_VER"
	echo "qemu_guest_agent=$QGA_VER"
	echo "content_hash=$CONTENT_HASH"
	echo "modules_loaded=$(tr '\n' ' ' < "$R/etc/modules")"
	echo "modules_net=$(tr '\n' ' ' < "$R/etc/modules.net")"
	echo "modules_included=$(tr '\n' ' ' < "$KPART/modules.included")"
	echo "qga_files=$(tr '\n' ' ' <<< "$QGA_FILES")"
	echo "eject=$EJ_VER"
	echo "eject_files=/usr/bin/eject $(tr '\n' ' ' <<< "$EJ_FILES")"
	echo "cmdline=console=ttyS0 quiet panic=-1"
	echo "vmlinux_bytes=$(stat -c %s "$WORK/out/vmlinux")"
	echo "initrd_bytes=$(stat -c %s "$WORK/out/initrd.gz")"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$WORK/out/manifest.txt"
chmod 0755 "$WORK/out"
chmod 0644 "$WORK/out"/*

mv -T "$WORK/out" "$OUT"
remember_key

# Prune: keep the newest GUEST_KEEP (default 3) guest dirs, kernel parts still linked from one of them
# (or just used), and .resolved entries whose dir still exists.
prune() {
	local d n=0 key
	while read -r d; do
		n=$((n + 1))
		[ "$n" -le "${GUEST_KEEP:-3}" ] || [ "$d" = "$OUT" ] || { log "pruning $d"; rm -rf "$d"; }
	done < <(find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
	for d in "$CACHE_ROOT"/.kernel/*/; do
		d=${d%/}
		if [ ! -d "$d" ] || [ "$d" = "$KPART" ]; then continue; fi
		if [ ! -f "$d/vmlinux" ] || [ "$(stat -c %h "$d/vmlinux")" -le 1 ]; then
			log "pruning $d"
			rm -rf "$d"
		fi
	done
	for d in "$CACHE_ROOT"/.resolved/*; do
		[ -f "$d" ] || continue
		read -r key _ < "$d" || true
		[ -d "$CACHE_ROOT/${key:-/nonexistent}" ] || rm -f "$d"
	done
}
prune
log "built in $(elapsed) s: $OUT (initrd $(stat -c %s "$OUT/initrd.gz") bytes)"
echo "$OUT"
