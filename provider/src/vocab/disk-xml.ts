// libvirt <disk> elements: built from a typed spec (for define, attach, detach and update) and
// read back from live or persistent domain XML into the same vocabulary.

import { SpecError, XmlParseError } from "./errors";
import {
  attr,
  buildXmlDocument,
  child,
  childText,
  children,
  element,
  hasChild,
  parseXmlRoot,
  textElement,
  uintValue,
  type XmlElement,
  type XmlNode,
} from "./xml";

export const DISK_DEVICES = ["disk", "cdrom"] as const;
export type DiskDevice = (typeof DISK_DEVICES)[number];
export const DISK_BUSES = ["virtio", "scsi", "usb", "sata", "ide"] as const;
export type DiskBus = (typeof DISK_BUSES)[number];
export const DISK_FORMATS = ["raw", "qcow2"] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

/** <address type='usb'>; port is a string because behind a hub it reads "1.2". */
export interface UsbAddress {
  readonly type: "usb";
  readonly bus: number;
  readonly port: string;
}
/** <address type='drive'>: the controller of the disk's own bus kind (scsi controller 0 ≠ sata controller 0). */
export interface DriveAddress {
  readonly type: "drive";
  readonly controller: number;
  readonly bus: number;
  readonly target: number;
  readonly unit: number;
}
export interface PciAddress {
  readonly type: "pci";
  readonly domain: number;
  readonly bus: number;
  readonly slot: number;
  readonly function: number;
}
export type DeviceAddress = UsbAddress | DriveAddress | PciAddress;

/** What we ask libvirt for. */
export interface DiskSpec {
  readonly device: DiskDevice;
  readonly bus: DiskBus;
  /** Target name, e.g. "vdb" or "sdzy" (see disk-placement for picking a free one). */
  readonly target: string;
  /** Absolute path of the image or block device; null/undefined = no medium (cdrom only). */
  readonly source?: string | null;
  /** "block" writes <source dev=…> for a host block device; default "file". */
  readonly sourceType?: "file" | "block";
  /** Default "raw". */
  readonly format?: DiskFormat;
  /** A cdrom is always read-only (libvirt forces it), so it is always written. */
  readonly readonly?: boolean;
  readonly serial?: string;
  readonly bootOrder?: number;
  /** User alias; libvirt requires the "ua-" prefix (see qmp-names.deriveUserAlias). */
  readonly alias?: string;
  /** scsi and sata need one: without it libvirt derives the controller from the target name. */
  readonly address?: DeviceAddress;
  /** usb only: the guest sees a removable device (<target removable='on'>). */
  readonly removable?: boolean;
}

/** A disk as libvirt reports it. Strings stay open-ended: libvirt knows more kinds than we build. */
export interface ParsedDisk {
  readonly device: string;
  /** <disk type=…>: file, block, network, volume, … */
  readonly type: string;
  readonly bus: string | null;
  readonly target: string;
  /** File path (type file) or device path (type block); null when empty or not a local path. */
  readonly source: string | null;
  /** libvirt's source index in live XML: its QEMU node-names are libvirt-<index>-format/-storage. */
  readonly sourceIndex: number | null;
  readonly format: string | null;
  readonly readonly: boolean;
  readonly serial: string | null;
  readonly bootOrder: number | null;
  readonly alias: string | null;
  readonly address: DeviceAddress | null;
  readonly removable: boolean | null;
}

// ---------------------------------------------------------------------------------------------
// Validation rules shared with the domain builder

/** libvirt user aliases: "ua-" then the characters libvirt's domain_conf accepts. */
const USER_ALIAS = /^ua-[A-Za-z0-9_-]+$/;
/** libvirt's RNG pattern for <serial>. */
const DISK_SERIAL = /^[A-Za-z0-9_.+\- ]+$/;
const TARGET_NAME = /^(vd|sd|hd)[a-z]+$/;

/** Which target-name family a bus uses (scsi, usb and sata share "sd"). */
export function targetPrefixForBus(bus: DiskBus): "vd" | "sd" | "hd" {
  switch (bus) {
    case "virtio":
      return "vd";
    case "ide":
      return "hd";
    case "scsi":
    case "usb":
    case "sata":
      return "sd";
  }
}

function requireUint(value: number, field: string, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) throw new SpecError(field, `must be an integer from 0 to ${max}, got ${value}`);
}

function validateAddress(bus: DiskBus, address: DeviceAddress, field: string): void {
  const expected = bus === "usb" ? "usb" : bus === "virtio" ? "pci" : "drive";
  if (address.type !== expected) throw new SpecError(`${field}.type`, `a ${bus} disk needs a ${expected} address, got ${address.type}`);
  switch (address.type) {
    case "usb":
      requireUint(address.bus, `${field}.bus`);
      if (!/^[1-9][0-9]*(\.[1-9][0-9]*)*$/.test(address.port)) throw new SpecError(`${field}.port`, `must look like "3" or "1.2", got ${JSON.stringify(address.port)}`);
      return;
    case "drive":
      requireUint(address.controller, `${field}.controller`);
      requireUint(address.bus, `${field}.bus`);
      requireUint(address.target, `${field}.target`);
      requireUint(address.unit, `${field}.unit`);
      return;
    case "pci":
      requireUint(address.domain, `${field}.domain`, 0xffff);
      requireUint(address.bus, `${field}.bus`, 0xff);
      requireUint(address.slot, `${field}.slot`, 0x1f);
      requireUint(address.function, `${field}.function`, 7);
      return;
  }
}

/** Checks a disk spec; `field` prefixes error paths (e.g. "disks[2]"). */
export function validateDiskSpec(spec: DiskSpec, field = "disk"): void {
  if (!DISK_DEVICES.includes(spec.device)) throw new SpecError(`${field}.device`, `must be one of ${DISK_DEVICES.join(", ")}`);
  if (!DISK_BUSES.includes(spec.bus)) throw new SpecError(`${field}.bus`, `must be one of ${DISK_BUSES.join(", ")}`);
  if (spec.device === "cdrom" && spec.bus === "virtio") throw new SpecError(`${field}.bus`, "a cdrom cannot sit on virtio (no removable media); use scsi, usb, sata or ide");
  if (!TARGET_NAME.test(spec.target)) throw new SpecError(`${field}.target`, `must look like vda, sdb or hdc, got ${JSON.stringify(spec.target)}`);
  const prefix = targetPrefixForBus(spec.bus);
  if (!spec.target.startsWith(prefix)) throw new SpecError(`${field}.target`, `a ${spec.bus} disk's target starts with "${prefix}", got ${JSON.stringify(spec.target)}`);
  if (spec.source !== undefined && spec.source !== null && !spec.source.startsWith("/")) {
    throw new SpecError(`${field}.source`, `must be an absolute path, got ${JSON.stringify(spec.source)}`);
  }
  if ((spec.source === undefined || spec.source === null) && spec.device !== "cdrom") throw new SpecError(`${field}.source`, "only a cdrom may have no medium");
  if (spec.format !== undefined && !DISK_FORMATS.includes(spec.format)) throw new SpecError(`${field}.format`, `must be one of ${DISK_FORMATS.join(", ")}`);
  if (spec.serial !== undefined && !DISK_SERIAL.test(spec.serial)) throw new SpecError(`${field}.serial`, "may hold only letters, digits, space and _ . + -");
  if (spec.bootOrder !== undefined && (!Number.isSafeInteger(spec.bootOrder) || spec.bootOrder < 1)) throw new SpecError(`${field}.bootOrder`, "must be a positive integer");
  if (spec.alias !== undefined && !USER_ALIAS.test(spec.alias)) throw new SpecError(`${field}.alias`, `must be "ua-" followed by letters, digits, _ or -, got ${JSON.stringify(spec.alias)}`);
  if (spec.removable !== undefined && spec.bus !== "usb") throw new SpecError(`${field}.removable`, "only applies to usb disks");
  if (spec.address !== undefined) validateAddress(spec.bus, spec.address, `${field}.address`);
  else if (spec.bus === "scsi" || spec.bus === "sata") {
    throw new SpecError(`${field}.address`, `a ${spec.bus} disk needs an explicit drive address (libvirt would otherwise derive the controller from the target name: sdzy → controller 100)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Building

function hex(value: number, digits: number): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}

function addressElement(address: DeviceAddress): XmlElement {
  switch (address.type) {
    case "usb":
      return element({ type: "usb", bus: address.bus, port: address.port });
    case "drive":
      return element({ type: "drive", controller: address.controller, bus: address.bus, target: address.target, unit: address.unit });
    case "pci":
      return element({ type: "pci", domain: hex(address.domain, 4), bus: hex(address.bus, 2), slot: hex(address.slot, 2), function: hex(address.function, 1) });
  }
}

/** The <disk> element as an object, for embedding in a domain. Validates first. */
export function diskElement(spec: DiskSpec, field = "disk"): XmlElement {
  validateDiskSpec(spec, field);
  const sourceType = spec.sourceType ?? "file";
  const hasMedium = spec.source !== undefined && spec.source !== null;
  const readonly = spec.device === "cdrom" || spec.readonly === true;
  return element(
    { type: sourceType, device: spec.device },
    {
      driver: element({ name: "qemu", type: spec.format ?? "raw" }),
      source: hasMedium ? element(sourceType === "block" ? { dev: spec.source ?? undefined } : { file: spec.source ?? undefined }) : undefined,
      target: element({ dev: spec.target, bus: spec.bus, removable: spec.removable === undefined ? undefined : spec.removable ? "on" : "off" }),
      readonly: readonly ? element() : undefined,
      serial: spec.serial === undefined ? undefined : textElement(spec.serial),
      boot: spec.bootOrder === undefined ? undefined : element({ order: spec.bootOrder }),
      alias: spec.alias === undefined ? undefined : element({ name: spec.alias }),
      address: spec.address === undefined ? undefined : addressElement(spec.address),
    },
  );
}

/** A standalone <disk> document for attach/detach/update-device. */
export function buildDiskXml(spec: DiskSpec): string {
  return buildXmlDocument("disk", diskElement(spec));
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Reads an <address> element of the kinds disks use; null for absent or other kinds. */
export function parseDeviceAddress(node: XmlNode | undefined): DeviceAddress | null {
  if (node === undefined) return null;
  const type = attr(node, "type");
  const n = (name: string): number => uintValue(attr(node, name)) ?? 0;
  switch (type) {
    case "usb": {
      const port = attr(node, "port");
      return port === undefined ? null : { type: "usb", bus: n("bus"), port };
    }
    case "drive":
      return { type: "drive", controller: n("controller"), bus: n("bus"), target: n("target"), unit: n("unit") };
    case "pci":
      return { type: "pci", domain: n("domain"), bus: n("bus"), slot: n("slot"), function: n("function") };
    default:
      return null;
  }
}

/** Reads one <disk> element. */
export function parseDiskElement(node: XmlNode): ParsedDisk {
  const type = attr(node, "type") ?? "file";
  const target = child(node, "target");
  const source = child(node, "source");
  const sourcePath = type === "block" ? attr(source, "dev") : type === "file" ? attr(source, "file") : undefined;
  const boot = uintValue(attr(child(node, "boot"), "order"));
  const index = uintValue(attr(source, "index"));
  const removable = attr(target, "removable");
  const targetDev = attr(target, "dev");
  if (targetDev === undefined) throw new XmlParseError("a <disk> has no <target dev=…>");
  return {
    device: attr(node, "device") ?? "disk",
    type,
    bus: attr(target, "bus") ?? null,
    target: targetDev,
    source: sourcePath ?? null,
    sourceIndex: index ?? null,
    format: attr(child(node, "driver"), "type") ?? null,
    readonly: hasChild(node, "readonly"),
    serial: childText(node, "serial") ?? null,
    bootOrder: boot ?? null,
    alias: attr(child(node, "alias"), "name") ?? null,
    address: parseDeviceAddress(child(node, "address")),
    removable: removable === undefined ? null : removable === "on",
  };
}

/**
 * Disks from a domain XML document, a standalone <disk> document, or an already-parsed
 * <domain>/<disk> root element.
 */
export function parseDisks(input: string | XmlNode): ParsedDisk[] {
  let root: XmlNode;
  let isDomain: boolean;
  if (typeof input === "string") {
    const parsed = parseXmlRoot(input);
    if (parsed.rootName !== "domain" && parsed.rootName !== "disk") throw new XmlParseError(`expected <domain> or <disk>, found <${parsed.rootName}>`);
    root = parsed.root;
    isDomain = parsed.rootName === "domain";
  } else {
    root = input;
    isDomain = hasChild(input, "devices") || hasChild(input, "name");
  }
  const nodes = isDomain ? children(child(root, "devices"), "disk") : [root];
  return nodes.map(parseDiskElement);
}

function isOneOf<T extends string>(values: readonly T[], value: string | null): value is T {
  return value !== null && (values as readonly string[]).includes(value);
}

/** The spec that would (re)create a parsed disk; throws SpecError for kinds we do not build. */
export function diskSpecFromParsed(disk: ParsedDisk): DiskSpec {
  if (!isOneOf(DISK_DEVICES, disk.device)) throw new SpecError("device", `${disk.device} disks are not supported`);
  if (!isOneOf(DISK_BUSES, disk.bus)) throw new SpecError("bus", `bus ${String(disk.bus)} is not supported`);
  if (disk.type !== "file" && disk.type !== "block") throw new SpecError("type", `${disk.type} disks are not supported`);
  const format = disk.format ?? "raw";
  if (!isOneOf(DISK_FORMATS, format)) throw new SpecError("format", `format ${format} is not supported`);
  return {
    device: disk.device,
    bus: disk.bus,
    target: disk.target,
    source: disk.source,
    sourceType: disk.type,
    format,
    readonly: disk.readonly,
    ...(disk.serial !== null ? { serial: disk.serial } : {}),
    ...(disk.bootOrder !== null ? { bootOrder: disk.bootOrder } : {}),
    ...(disk.alias !== null && USER_ALIAS.test(disk.alias) ? { alias: disk.alias } : {}),
    ...(disk.address !== null ? { address: disk.address } : {}),
    ...(disk.removable !== null ? { removable: disk.removable } : {}),
  };
}
