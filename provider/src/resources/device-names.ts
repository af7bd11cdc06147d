// The one place that names a Disk's, Cdrom's or Interface's device: its libvirt user alias, or its QMP id (which
// is also the base of its block node-names, or of its netdev's id). The name carries the owner — a hash of the resource's URN (project, stack,
// parents, name) — so two stacks that both declare `Disk("data")` on one domain never find, change or remove
// each other's device, and the same resource always finds its own device again after an interrupted run.
import { createHash } from "node:crypto";
import { deriveBlockId, deriveUserAlias, MAX_BLOCK_ID_LENGTH, USER_ALIAS_PREFIX } from "../vocab/qmp-names";

export type DeviceKindName = "Disk" | "Cdrom" | "Interface";

/** What names a device: the SDK sets `owner` (the URN) and `resourceName`; older programs set only the name. */
export interface DeviceIdentity {
  owner?: string;
  resourceName?: string;
  via: "libvirt" | "qmp";
}

/** Hex digits of the owner's hash in a name: 48 bits, so a collision between two stacks is not a practical risk. */
const OWNER_HASH_LENGTH = 12;
/** libvirt keeps user aliases short in practice; 48 leaves the readable part room. */
const MAX_ALIAS_LENGTH = 48;

function ownerHash(owner: string): string {
  return createHash("sha256").update(owner, "utf8").digest("hex").slice(0, OWNER_HASH_LENGTH);
}

/** The readable part: letters, digits, '_' and '-' of the resource name, cut to `max` characters. */
function readable(name: string | undefined, max: number): string {
  const cleaned = (name ?? "").replace(/[^A-Za-z0-9_-]/g, "-").replace(/-+/g, "-").replace(/^-|-$/g, "");
  return cleaned.slice(0, max).replace(/-+$/, "");
}

const KIND_WORD: Record<DeviceKindName, { alias: string; qmp: string }> = {
  Disk: { alias: "disk", qmp: "d" },
  Cdrom: { alias: "cdrom", qmp: "c" },
  Interface: { alias: "nic", qmp: "n" },
};

/**
 * The device name of a resource that knows its owner: `ua-disk-<name>-<hash>` through libvirt, `lv<k>-<name>-<hash>`
 * over QMP (short enough that `-file` and `-fmt` node-names stay within QEMU's 31 characters).
 */
export function ownedDeviceName(kind: DeviceKindName, owner: string, resourceName: string | undefined, via: "libvirt" | "qmp"): string {
  const hash = ownerHash(owner);
  if (via === "qmp") {
    const head = `lv${KIND_WORD[kind].qmp}`;
    const room = MAX_BLOCK_ID_LENGTH - head.length - hash.length - 2;
    const name = readable(resourceName, room);
    return name ? `${head}-${name}-${hash}` : `${head}-${hash}`;
  }
  const head = `${USER_ALIAS_PREFIX}${KIND_WORD[kind].alias}`;
  const room = MAX_ALIAS_LENGTH - head.length - hash.length - 2;
  const name = readable(resourceName, room);
  return name ? `${head}-${name}-${hash}` : `${head}-${hash}`;
}

/**
 * The names devices got before they carried their owner (from the bare resource name, or without one from
 * `fallbackSeed`). Stacks made then keep their recorded alias; new devices never get such a name from the SDK.
 */
export function legacyDeviceName(kind: DeviceKindName, resourceName: string | undefined, fallbackSeed: string, via: "libvirt" | "qmp"): string {
  const seed = resourceName ?? createHash("sha256").update(fallbackSeed).digest("hex").slice(0, 12);
  if (kind === "Disk") return via === "qmp" ? deriveBlockId(`lvq-disk-${seed}`) : deriveUserAlias(`disk-${seed}`);
  if (kind === "Interface") return via === "qmp" ? deriveBlockId(`lvq-nic-${seed}`) : deriveUserAlias(`nic-${seed}`);
  return via === "qmp" ? deriveBlockId(`lvq-cd-${seed}`) : deriveUserAlias(`cdrom-${seed}`);
}

/** The name a new device of this resource gets. */
export function deviceNameFor(kind: DeviceKindName, identity: DeviceIdentity, fallbackSeed: string): string {
  return identity.owner
    ? ownedDeviceName(kind, identity.owner, identity.resourceName, identity.via)
    : legacyDeviceName(kind, identity.resourceName, fallbackSeed, identity.via);
}

/**
 * The QMP id of a device on a QEMU run without libvirt (`qmp` instead of `domain`): from the owner, or for a program
 * without the SDK's owner from the socket and the resource name.
 */
export function socketDeviceName(kind: DeviceKindName, inputs: { owner?: string; resourceName?: string; qmp?: string }): string {
  return inputs.owner ? ownedDeviceName(kind, inputs.owner, inputs.resourceName, "qmp") : legacyDeviceName(kind, inputs.resourceName, `${inputs.qmp}\0${kind}`, "qmp");
}

/**
 * The id of the netdev (the host side) behind an Interface's QMP device: `lvnd-<name>-<hash>` beside the device's
 * `lvn-<name>-<hash>`, so both are found again from the one name the resource records.
 */
export function nicNetdevId(deviceId: string): string {
  return deviceId.startsWith("lvn-") ? `lvnd-${deviceId.slice("lvn-".length)}` : `${deviceId}-netdev`;
}
