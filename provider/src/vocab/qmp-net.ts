// NICs over QMP, as in Ganeti's QmpConnection (seed 003): `netdev_add` then `device_add` to plug one in,
// `device_del` then `netdev_del` to take it out, `set_link` for its carrier, `query-rx-filter` to read it back.
// Typed command builders and reply readers only; argument names and JSON types follow QEMU 7.2's schema.
//
// Link state: QEMU 7.2 has no way to read it back. Measured on 7.2.22: after `set_link` no QOM property of a
// virtio-net-pci or e1000 device changes (153 properties compared), and neither `info network`, `info qtree` nor
// `info pci` (HMP) shows it; upstream QEMU has no query for it (Proxmox patches in its own get_link_status). The
// only reader that works is the guest: /sys/class/net/<if>/carrier through the agent (guestLinksCommand below).

import { createHash } from "node:crypto";
import { ProtocolShapeError, SpecError } from "./errors";
import { isRecord } from "./json-reply";
import type { NicModel } from "./domain-xml";
import type { QmpCommand } from "./qmp";
import { assertQemuId } from "./qmp-names";

// ---------------------------------------------------------------------------------------------
// Models and MACs

/** The QEMU device (driver) of each model. */
export const NIC_DRIVERS: Readonly<Record<NicModel, string>> = {
  virtio: "virtio-net-pci",
  e1000: "e1000",
  e1000e: "e1000e",
  rtl8139: "rtl8139",
};

/**
 * QEMU device types that are NICs, for finding them among a machine's devices: query-rx-filter lists only
 * virtio-net ones ("net client(e1) doesn't support rx-filter querying" for the others, measured on 7.2).
 */
export const NIC_DEVICE_TYPES: ReadonlySet<string> = new Set([
  "virtio-net-pci", "virtio-net-pci-transitional", "virtio-net-pci-non-transitional", "virtio-net-device",
  "e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "igb", "rtl8139", "ne2k_pci", "pcnet",
  "vmxnet3", "tulip", "i82550", "i82551", "i82557a", "i82557b", "i82557c", "i82558a", "i82558b", "i82559a",
  "i82559b", "i82559c", "i82559er", "i82562", "i82801", "usb-net",
]);

/** The model a QEMU device type stands for, or null for one we do not add. */
export function nicModelOfDriver(driver: string): NicModel | null {
  if (driver.startsWith("virtio-net-pci")) return "virtio";
  const found = (Object.keys(NIC_DRIVERS) as NicModel[]).find((m) => NIC_DRIVERS[m] === driver);
  return found ?? null;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lower-case, colon-separated; throws SpecError unless it is a unicast MAC (the low bit of the first octet clear). */
export function qmpNicMac(mac: string, field = "mac"): string {
  const lower = mac.toLowerCase();
  if (!MAC.test(lower)) throw new SpecError(field, `${JSON.stringify(mac)} is not a MAC address (six hex pairs separated by ':')`);
  if (parseInt(lower.slice(0, 2), 16) & 1) throw new SpecError(field, `${lower} is a multicast address; a NIC needs a unicast one (first octet even)`);
  if (lower === "00:00:00:00:00:00") throw new SpecError(field, "00:00:00:00:00:00 is not a usable address");
  return lower;
}

/** QEMU's and libvirt's own prefix for generated MACs: 0x52 is locally administered and unicast. */
export const QEMU_MAC_PREFIX = "52:54:00";

/**
 * A MAC for a NIC added over QMP, derived from `seed` (the owner hash), so an interrupted create asks for the
 * same one again: 52:54:00 and three bytes of sha256(seed). Addresses in `taken` (lower-case) are skipped by
 * hashing the seed again with a counter, so two NICs of one machine never share one.
 */
export function deriveNicMac(seed: string, taken: ReadonlySet<string> = new Set()): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const digest = createHash("sha256").update(attempt === 0 ? seed : `${seed}\0${attempt}`, "utf8").digest();
    const mac = `${QEMU_MAC_PREFIX}:${[0, 1, 2].map((i) => digest[i]!.toString(16).padStart(2, "0")).join(":")}`;
    if (!taken.has(mac)) return mac;
  }
  throw new Error(`no free MAC derived from ${JSON.stringify(seed)} after 1000 attempts`);
}

// ---------------------------------------------------------------------------------------------
// Backends (netdev_add)

export interface UserNetdevSpec {
  readonly type: "user";
  readonly id: string;
  /** The subnet QEMU's slirp hands out (its DHCP server starts at .15); QEMU's default is 10.0.2.0/24. */
  readonly ipv4?: { readonly address: string; readonly prefixLength: number };
  /** true: the guest reaches only QEMU's own DHCP/DNS/gateway, nothing beyond the host (QEMU's restrict=on). */
  readonly restrict?: boolean;
}

export interface BridgeNetdevSpec {
  readonly type: "bridge";
  readonly id: string;
  /** A host bridge; QEMU's bridge helper creates a tap and puts it on this bridge, if /etc/qemu/bridge.conf allows. */
  readonly bridge: string;
}

export interface TapNetdevSpec {
  readonly type: "tap";
  readonly id: string;
  /** A tap QEMU opens (or creates, given CAP_NET_ADMIN); no script runs either way. */
  readonly ifname: string;
}

export type NetdevSpec = UserNetdevSpec | BridgeNetdevSpec | TapNetdevSpec;

export type NetdevAddArgs =
  | { readonly type: "user"; readonly id: string; readonly net?: string; readonly restrict?: boolean }
  | { readonly type: "bridge"; readonly id: string; readonly br: string }
  | { readonly type: "tap"; readonly id: string; readonly ifname: string; readonly script: "no"; readonly downscript: "no" };

/** Where QEMU's bridge helper reads which bridges it may attach to. */
export const BRIDGE_CONF = "/etc/qemu/bridge.conf";

/** Linux interface names: 1–15 characters; we allow the ones that need no quoting anywhere. */
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export function assertIfname(name: string, field: string): void {
  if (!IFNAME.test(name) || name === "." || name === "..") {
    throw new SpecError(field, `${JSON.stringify(name)} is not an interface name (1–15 letters, digits, '_', '.', '-'; not starting with '.' or '-')`);
  }
}

function parseIpv4(address: string, field: string): number {
  const parts = address.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)) {
    throw new SpecError(field, `${JSON.stringify(address)} is not an IPv4 address`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * slirp's net=ADDR/PREFIX: the network address (host bits cleared). The prefix is 8–28: slirp puts its gateway at
 * .2, its DNS at .3 and its first DHCP lease at .15, which must all lie inside the subnet.
 */
export function slirpNet(ipv4: { address: string; prefixLength: number }, field = "ipv4"): string {
  const address = parseIpv4(ipv4.address, `${field}.address`);
  const prefix = ipv4.prefixLength;
  if (!Number.isInteger(prefix) || prefix < 8 || prefix > 28) {
    throw new SpecError(`${field}.prefixLength`, `must be 8–28 (QEMU's user network needs room for its gateway .2, DNS .3 and leases from .15), got ${prefix}`);
  }
  const size = 2 ** (32 - prefix);
  return `${formatIpv4(address - (address % size))}/${prefix}`;
}

export function netdevAdd(spec: NetdevSpec): QmpCommand<"netdev_add", NetdevAddArgs> {
  assertQemuId(spec.id, "netdevId");
  switch (spec.type) {
    case "user":
      return {
        execute: "netdev_add",
        arguments: {
          type: "user",
          id: spec.id,
          ...(spec.ipv4 !== undefined ? { net: slirpNet(spec.ipv4) } : {}),
          ...(spec.restrict !== undefined ? { restrict: spec.restrict } : {}),
        },
      };
    case "bridge":
      assertIfname(spec.bridge, "bridge");
      return { execute: "netdev_add", arguments: { type: "bridge", id: spec.id, br: spec.bridge } };
    case "tap":
      assertIfname(spec.ifname, "ifname");
      // "no": QEMU runs no /etc/qemu-ifup script as root when it opens the tap.
      return { execute: "netdev_add", arguments: { type: "tap", id: spec.id, ifname: spec.ifname, script: "no", downscript: "no" } };
  }
}

export function netdevDel(id: string): QmpCommand<"netdev_del", { readonly id: string }> {
  assertQemuId(id, "netdevId");
  return { execute: "netdev_del", arguments: { id } };
}

/**
 * What a refused netdev_add means for the user, or null to pass QEMU's words on as they are. QEMU reports only
 * "bridge helper failed" for the bridge helper (its reasons go to QEMU's stderr), so the message names both
 * causes the helper has: the ACL file and the capability to make a tap.
 */
export function explainNetdevRefusal(spec: NetdevSpec, desc: string): string | null {
  if (spec.type === "bridge" && /bridge helper/i.test(desc)) {
    return (
      `QEMU's bridge helper refused bridge ${spec.bridge} (${desc}): it attaches only to bridges that ${BRIDGE_CONF} allows on the host QEMU runs on; ` +
      `add the line "allow ${spec.bridge}" to ${BRIDGE_CONF}, and run QEMU with CAP_NET_ADMIN or keep qemu-bridge-helper setuid root ` +
      `(a QEMU started by libvirt has its capabilities dropped: attach through libvirt instead, via: "libvirt")`
    );
  }
  if (spec.type === "tap" && /\/dev\/net\/tun: no such file/i.test(desc)) {
    return (
      `QEMU cannot open tap ${spec.ifname} (${desc}): it runs with a /dev of its own without /dev/net/tun, as libvirt starts QEMU; ` +
      `put the NIC on its bridge through libvirt (via: "libvirt")`
    );
  }
  if (spec.type === "tap" && /(could not (configure|open)|tun|operation not permitted|permission denied)/i.test(desc)) {
    return (
      `QEMU could not open tap ${spec.ifname} (${desc}): create it beforehand for QEMU's user (ip tuntap add dev ${spec.ifname} mode tap user <uid>) ` +
      `and put it on its bridge, or give QEMU CAP_NET_ADMIN`
    );
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The guest device (device_add)

export interface NicDeviceSpec {
  /** The qdev id: device_del, set_link and query-rx-filter name the NIC by it. */
  readonly id: string;
  readonly model: NicModel;
  /** The netdev id of its backend (netdev_add first). */
  readonly netdev: string;
  readonly mac: string;
  /** "pci.0" on i440fx, or the id of an empty pcie-root-port on q35. */
  readonly bus?: string;
  /** Slot[.function] on that bus, e.g. "0x1f"; "0x0" on a root port. */
  readonly addr?: string;
  readonly bootIndex?: number;
  /** The MTU virtio-net advertises to the guest (QEMU's host_mtu); only virtio has it. */
  readonly mtu?: number;
}

export interface NicDeviceAddArgs {
  readonly driver: string;
  readonly id: string;
  readonly netdev: string;
  readonly mac: string;
  readonly bus?: string;
  readonly addr?: string;
  readonly bootindex?: number;
  readonly host_mtu?: number;
}

const PCI_ADDR = /^0x[0-9a-f]{1,2}(\.[0-7])?$/;

export function nicDeviceAdd(spec: NicDeviceSpec): QmpCommand<"device_add", NicDeviceAddArgs> {
  assertQemuId(spec.id, "id");
  assertQemuId(spec.netdev, "netdevId");
  const driver = NIC_DRIVERS[spec.model];
  if (driver === undefined) throw new SpecError("model", `must be one of ${Object.keys(NIC_DRIVERS).join(", ")}, got ${JSON.stringify(spec.model)}`);
  const args: { -readonly [K in keyof NicDeviceAddArgs]: NicDeviceAddArgs[K] } = { driver, id: spec.id, netdev: spec.netdev, mac: qmpNicMac(spec.mac) };
  if (spec.bus !== undefined) {
    assertQemuId(spec.bus, "bus");
    args.bus = spec.bus;
  }
  if (spec.addr !== undefined) {
    if (!PCI_ADDR.test(spec.addr)) throw new SpecError("addr", `must look like "0x1f" or "0x3.1", got ${JSON.stringify(spec.addr)}`);
    args.addr = spec.addr;
  }
  if (spec.bootIndex !== undefined) {
    if (!Number.isSafeInteger(spec.bootIndex) || spec.bootIndex < 0) throw new SpecError("bootOrder", `must be a non-negative integer, got ${spec.bootIndex}`);
    args.bootindex = spec.bootIndex;
  }
  if (spec.mtu !== undefined) {
    if (spec.model !== "virtio") throw new SpecError("mtu", `only a virtio NIC tells the guest its MTU over QMP; ${spec.model} has no such setting`);
    if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) throw new SpecError("mtu", `must be 68–65535, got ${spec.mtu}`);
    args.host_mtu = spec.mtu;
  }
  return { execute: "device_add", arguments: args };
}

/** Carrier on or off, as the guest sees it (a cable pulled); `name` is the NIC's qdev id. */
export function setLink(name: string, up: boolean): QmpCommand<"set_link", { readonly name: string; readonly up: boolean }> {
  assertQemuId(name, "id");
  return { execute: "set_link", arguments: { name, up } };
}

// ---------------------------------------------------------------------------------------------
// Reading NICs back

export function queryRxFilter(name?: string): QmpCommand<"query-rx-filter", { readonly name?: string }> {
  if (name === undefined) return { execute: "query-rx-filter" };
  assertQemuId(name, "id");
  return { execute: "query-rx-filter", arguments: { name } };
}

export interface RxFilterNic {
  /** The NIC's name: its qdev id (or QEMU's own name for a NIC added without one). */
  readonly id: string;
  /** The MAC in use now (the guest may change it), lower-case. */
  readonly mac: string;
}

/** query-rx-filter's return: one entry per virtio-net NIC (other models are not listed). */
export function parseRxFilter(reply: unknown): RxFilterNic[] {
  if (!Array.isArray(reply)) throw new ProtocolShapeError("query-rx-filter", "return is not a list");
  return reply.map((entry, i) => {
    if (!isRecord(entry) || typeof entry["name"] !== "string" || typeof entry["main-mac"] !== "string") {
      throw new ProtocolShapeError("query-rx-filter", `entry ${i} lacks name or main-mac`);
    }
    return { id: entry["name"], mac: entry["main-mac"].toLowerCase() };
  });
}

export interface QomChild {
  readonly name: string;
  readonly type: string;
}

/** qom-list's return: the children (`child<TYPE>`) of a QOM path, with their types. */
export function parseQomChildren(reply: unknown): QomChild[] {
  if (!Array.isArray(reply)) throw new ProtocolShapeError("qom-list", "return is not a list");
  return reply.flatMap((entry) => {
    if (!isRecord(entry) || typeof entry["name"] !== "string" || typeof entry["type"] !== "string") return [];
    const m = /^child<(.+)>$/.exec(entry["type"]);
    return m ? [{ name: entry["name"], type: m[1]! }] : [];
  });
}

// ---------------------------------------------------------------------------------------------
// The guest's view of its links (the only reader of link state that works on QEMU 7.2: see the top of this file)

/** A guest-exec spec printing "NAME MAC CARRIER" per interface; CARRIER is "-" when the link is administratively down. */
export function guestLinksCommand(): { path: string; args: string[] } {
  const script = 'for d in /sys/class/net/*; do n=${d##*/}; [ "$n" = lo ] && continue; c=$(cat "$d/carrier" 2>/dev/null) || c=-; echo "$n $(cat "$d/address") ${c:--}"; done';
  return { path: "/bin/sh", args: ["-c", script] };
}

export interface GuestLink {
  readonly name: string;
  readonly mac: string;
  /** null: the guest has the interface down (the kernel refuses to read its carrier then). */
  readonly carrier: boolean | null;
}

export function parseGuestLinks(stdout: string): GuestLink[] {
  return stdout.split("\n").flatMap((line) => {
    const m = /^(\S+) ([0-9a-fA-F:]{17}) (0|1|-)$/.exec(line.trim());
    return m ? [{ name: m[1]!, mac: m[2]!.toLowerCase(), carrier: m[3] === "-" ? null : m[3] === "1" }] : [];
  });
}
