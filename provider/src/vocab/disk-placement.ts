// Where a new disk goes: a free target name, a free scsi/sata unit, a free usb port. Pure
// functions over what the domain already holds, mirroring libvirt's own naming and numbering.

import { SpecError } from "./errors";
import { targetPrefixForBus, type DeviceAddress, type DiskBus, type DriveAddress, type UsbAddress } from "./disk-xml";

/** Anything placed on a bus: a ParsedDisk or a DiskSpec both fit. */
export interface PlacedDisk {
  readonly target: string;
  readonly bus: string | null;
  readonly address?: DeviceAddress | null;
}

/** libvirt's virIndexToDiskName: 0 → a, 25 → z, 26 → aa, 700 → zy (bijective base 26). */
export function diskTargetName(prefix: string, index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`disk index must be a non-negative integer, got ${index}`);
  let letters = "";
  for (let n = index; n >= 0; n = Math.floor(n / 26) - 1) letters = String.fromCharCode(97 + (n % 26)) + letters;
  return prefix + letters;
}

/** libvirt's virDiskNameToIndex for vd/sd/hd names; null for anything else. */
export function parseDiskTargetName(name: string): { prefix: "vd" | "sd" | "hd"; index: number } | null {
  const prefix = name.slice(0, 2);
  if (prefix !== "vd" && prefix !== "sd" && prefix !== "hd") return null;
  const letters = name.slice(2);
  if (!/^[a-z]+$/.test(letters)) return null;
  let index = 0;
  for (let i = 0; i < letters.length; i++) index = (index + (i === 0 ? 0 : 1)) * 26 + (letters.charCodeAt(i) - 97);
  return { prefix, index };
}

/** IDE on i440fx: two buses with two units each, hda..hdd. */
const IDE_TARGETS = 4;
/** AHCI controllers have six ports. */
export const SATA_UNITS_PER_CONTROLLER = 6;
/** libvirt's limit for virtio-scsi units (LUNs) on one target. */
export const SCSI_MAX_UNIT = 16383;
/** Reserved for the initiator on narrow SCSI controllers; skipping it everywhere costs one slot and sidesteps model-specific checks. */
const SCSI_RESERVED_UNIT = 7;
/** How far the picker searches before giving up (about 18k names: more than any domain holds). */
const MAX_TARGET_INDEX = 26 + 26 * 26 + 26 * 26 * 26;

/**
 * The lowest free target name for `bus`. Names are compared across all buses: scsi, usb and sata
 * share the "sd" family, so a usb "sdb" makes "sdb" unavailable to scsi as well.
 */
export function pickFreeTarget(bus: DiskBus, existing: Iterable<string | PlacedDisk>): string {
  const taken = new Set<string>();
  for (const item of existing) taken.add(typeof item === "string" ? item : item.target);
  const prefix = targetPrefixForBus(bus);
  const limit = bus === "ide" ? IDE_TARGETS : MAX_TARGET_INDEX;
  for (let index = 0; index < limit; index++) {
    const name = diskTargetName(prefix, index);
    if (!taken.has(name)) return name;
  }
  throw new SpecError("target", `no free ${prefix}X target name left for a ${bus} disk`);
}

/**
 * The drive address libvirt derives from a target name when a disk has none
 * (virDomainDiskDefAssignAddress): scsi 7 units per controller, sata 6, ide 2 buses × 2 units.
 */
export function impliedDriveAddress(bus: string | null, target: string): DriveAddress | null {
  const parsed = parseDiskTargetName(target);
  if (parsed === null) return null;
  const i = parsed.index;
  switch (bus) {
    case "scsi":
      return { type: "drive", controller: Math.floor(i / 7), bus: 0, target: 0, unit: i % 7 };
    case "sata":
      return { type: "drive", controller: Math.floor(i / SATA_UNITS_PER_CONTROLLER), bus: 0, target: 0, unit: i % SATA_UNITS_PER_CONTROLLER };
    case "ide":
      return { type: "drive", controller: Math.floor(i / 4), bus: Math.floor((i % 4) / 2), target: 0, unit: i % 2 };
    default:
      return null;
  }
}

function driveAddressOf(disk: PlacedDisk): DriveAddress | null {
  if (disk.address?.type === "drive") return disk.address;
  if (disk.address === undefined || disk.address === null) return impliedDriveAddress(disk.bus, disk.target);
  return null;
}

/**
 * The lowest free unit on `controller` (bus 0, target 0) of the given drive-addressed bus. Only
 * disks on the same bus kind count: scsi controller 0 and sata controller 0 are different devices.
 */
export function pickFreeDriveUnit(bus: "scsi" | "sata", existing: readonly PlacedDisk[], controller = 0): DriveAddress {
  const used = new Set<number>();
  for (const disk of existing) {
    if (disk.bus !== bus) continue;
    const address = driveAddressOf(disk);
    if (address !== null && address.controller === controller && address.bus === 0 && address.target === 0) used.add(address.unit);
  }
  const maxUnit = bus === "sata" ? SATA_UNITS_PER_CONTROLLER - 1 : SCSI_MAX_UNIT;
  for (let unit = 0; unit <= maxUnit; unit++) {
    if (bus === "scsi" && unit === SCSI_RESERVED_UNIT) continue;
    if (!used.has(unit)) return { type: "drive", controller, bus: 0, target: 0, unit };
  }
  throw new SpecError("address", `no free unit left on ${bus} controller ${controller}`);
}

/** Ports a USB controller model offers when its XML gives no `ports` (libvirt's defaults). */
export function usbControllerPorts(controller: { readonly model: string | null; readonly ports?: number | null }): number {
  if (controller.ports !== undefined && controller.ports !== null) return controller.ports;
  switch (controller.model) {
    case "qemu-xhci":
    case "nec-xhci":
      return 4;
    case "ich9-ehci1":
      return 6;
    case "none":
      return 0;
    default:
      return 2; // the uhci family and anything unknown: be conservative
  }
}

/** The lowest free top-level port on usb bus `bus`; `taken` are the usb addresses of all devices. */
export function pickFreeUsbPort(taken: readonly UsbAddress[], ports: number, bus = 0): UsbAddress {
  const used = new Set<string>();
  for (const address of taken) if (address.bus === bus) used.add(address.port.split(".")[0] ?? address.port);
  for (let port = 1; port <= ports; port++) {
    if (!used.has(String(port))) return { type: "usb", bus, port: String(port) };
  }
  throw new SpecError("address", `no free port left on usb bus ${bus} (${ports} ports)`);
}
