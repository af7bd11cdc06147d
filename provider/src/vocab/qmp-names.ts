// Names QEMU and libvirt accept for devices and block nodes, and deterministic short names derived
// from Pulumi resource names (which may be long or hold any character).
//
// QEMU (util/id.c id_wellformed): a letter, then letters, digits, '-', '.', '_'. Block node-names
// follow the same rule and must be shorter than 32 bytes (BlockDriverState.node_name[32]), i.e. at
// most 31 characters. libvirt user aliases must start with "ua-" and its domain_conf allows only
// letters, digits, '_' and '-' after it, so derived names avoid '.' to be valid for both.

import { createHash } from "node:crypto";
import { SpecError } from "./errors";

/** QEMU's limit for a block node-name. */
export const MAX_NODE_NAME_LENGTH = 31;
/** Suffixes appended to a block id to name its two nodes; the longest one bounds the id. */
export const FILE_NODE_SUFFIX = "-file";
export const FORMAT_NODE_SUFFIX = "-fmt";
/** Longest id whose derived node-names still fit in MAX_NODE_NAME_LENGTH. */
export const MAX_BLOCK_ID_LENGTH = MAX_NODE_NAME_LENGTH - Math.max(FILE_NODE_SUFFIX.length, FORMAT_NODE_SUFFIX.length);
export const USER_ALIAS_PREFIX = "ua-";

const QEMU_ID = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** True when QEMU accepts `id` as a device id (qdev id). */
export function isValidQemuId(id: string): boolean {
  return QEMU_ID.test(id);
}

/** True when QEMU accepts `name` as a block node-name. */
export function isValidNodeName(name: string): boolean {
  return QEMU_ID.test(name) && name.length <= MAX_NODE_NAME_LENGTH;
}

/** Throws SpecError unless `id` is a valid QEMU device id. */
export function assertQemuId(id: string, field = "id"): void {
  if (!isValidQemuId(id)) throw new SpecError(field, `${JSON.stringify(id)} is not a QEMU id (a letter, then letters, digits, '-', '.', '_')`);
}

/** Throws SpecError unless `name` is a valid block node-name. */
export function assertNodeName(name: string, field = "node-name"): void {
  if (!isValidNodeName(name)) {
    throw new SpecError(field, `${JSON.stringify(name)} is not a QEMU node-name (a letter, then letters, digits, '-', '.', '_'; at most ${MAX_NODE_NAME_LENGTH} characters)`);
  }
}

function shortHash(input: string): string {
  return createHash("sha256").update(input, "utf8").digest("hex").slice(0, 8);
}

/**
 * A safe, deterministic name for `resourceName`: characters outside [A-Za-z0-9_-] become '-', a
 * leading non-letter gets `prefix`, and when anything was changed or the result is longer than
 * `maxLength`, it is cut and given a hash of the original so distinct inputs stay distinct.
 */
export function deriveSafeName(resourceName: string, options: { maxLength?: number; prefix?: string } = {}): string {
  const maxLength = options.maxLength ?? MAX_BLOCK_ID_LENGTH;
  const prefix = options.prefix ?? "d";
  if (!/^[A-Za-z]/.test(prefix)) throw new SpecError("prefix", `must start with a letter, got ${JSON.stringify(prefix)}`);
  if (maxLength < prefix.length + 10) throw new SpecError("maxLength", `must leave room for a hash, got ${maxLength}`);
  let name = resourceName.replace(/[^A-Za-z0-9_-]/g, "-");
  if (!/^[A-Za-z]/.test(name)) name = prefix + "-" + name;
  if (name === resourceName && name.length <= maxLength) return name;
  const suffix = "-" + shortHash(resourceName);
  return name.slice(0, maxLength - suffix.length).replace(/-+$/, "") + suffix;
}

/** A block id for the QMP path: short enough that both node-names fit QEMU's 31-character limit. */
export function deriveBlockId(resourceName: string): string {
  return deriveSafeName(resourceName, { maxLength: MAX_BLOCK_ID_LENGTH });
}

/** A libvirt user alias ("ua-…") for a resource; also a valid QEMU id, since libvirt uses it as qdev id. */
export function deriveUserAlias(resourceName: string, maxLength = 48): string {
  return USER_ALIAS_PREFIX + deriveSafeName(resourceName, { maxLength: maxLength - USER_ALIAS_PREFIX.length });
}

/** The two node-names of one QMP-added image: the protocol (file) node and the format node on top. */
export interface BlockNodeNames {
  readonly file: string;
  readonly format: string;
}

export function blockNodeNames(blockId: string): BlockNodeNames {
  const names = { file: blockId + FILE_NODE_SUFFIX, format: blockId + FORMAT_NODE_SUFFIX };
  assertNodeName(names.file, "blockId");
  assertNodeName(names.format, "blockId");
  return names;
}

/** The node-names libvirt gives a disk source whose live XML says <source index='N'>. */
export function libvirtNodeNames(sourceIndex: number): BlockNodeNames {
  return { file: `libvirt-${sourceIndex}-storage`, format: `libvirt-${sourceIndex}-format` };
}

/** libvirt's qdev bus names for its own controllers: usb index 0 is "usb", others "usbN"; scsi is "scsiN". */
export function libvirtUsbBus(controllerIndex = 0): string {
  return (controllerIndex === 0 ? "usb" : `usb${controllerIndex}`) + ".0";
}

export function libvirtScsiBus(controllerIndex = 0): string {
  return `scsi${controllerIndex}.0`;
}
