// query-block and query-named-block-nodes replies, read into what the resources report: which
// medium a device really has (libvirt's XML can lag behind, e.g. after blockdev-change-medium).
//
// Keying: with -blockdev (libvirt ≥ 5.10) `device` is "" for every entry, so devices are
// identified by `qdev`. QEMU reports the qdev id when the block backend's device has one (scsi-hd,
// scsi-cd: libvirt's alias, e.g. "ua-cd1"), and otherwise the QOM path of the anonymous child that
// holds the backend: "/machine/peripheral/<id>/virtio-backend" for virtio-blk-pci,
// "/machine/peripheral/<id>/<id>.0/legacy[0]" for usb-storage. `qdevId` is that <id> in all cases.

import { ProtocolShapeError } from "./errors";
import { isRecord } from "./json-reply";

export interface BlockInserted {
  /** Plain path of the top image; json:{…} pseudo-filenames are resolved to the file underneath. */
  readonly file: string;
  /** The top node's driver ("drv"): qcow2, raw, … */
  readonly format: string;
  readonly readOnly: boolean;
  readonly nodeName: string | null;
  /** From image.virtual-size. */
  readonly virtualSizeBytes: number | null;
  readonly backingFile: string | null;
}

export interface BlockDeviceInfo {
  /** Legacy drive name; "" under -blockdev. */
  readonly device: string;
  /** What QEMU reports: a qdev id or a QOM path; null when the backend has no device. */
  readonly qdev: string | null;
  /** The user-visible device id behind `qdev` (a libvirt alias such as "ua-disk1"), when known. */
  readonly qdevId: string | null;
  readonly removable: boolean;
  readonly locked: boolean;
  /** Only devices with a tray report it. */
  readonly trayOpen: boolean | null;
  readonly ioStatus: string | null;
  /** null when no medium is inserted (empty cdrom, or tray opened and medium removed). */
  readonly inserted: BlockInserted | null;
}

const COMMAND = "query-block";
const PERIPHERAL = "/machine/peripheral/";

/** The device id a qdev field belongs to; null for anonymous devices. */
export function qdevIdFromPath(qdev: string): string | null {
  if (!qdev.startsWith("/")) return qdev;
  if (!qdev.startsWith(PERIPHERAL)) return null;
  const id = qdev.slice(PERIPHERAL.length).split("/")[0];
  return id === undefined || id === "" ? null : id;
}

function filenameInside(options: unknown): string | null {
  if (!isRecord(options)) return null;
  if (typeof options["filename"] === "string") return options["filename"];
  return filenameInside(options["file"]);
}

/** QEMU writes json:{…} when a node's options cannot be expressed as a plain filename. */
export function plainFilename(filename: string): string {
  if (!filename.startsWith("json:")) return filename;
  try {
    return filenameInside(JSON.parse(filename.slice("json:".length)) as unknown) ?? filename;
  } catch {
    return filename;
  }
}

function optionalString(entry: Record<string, unknown>, key: string): string | null {
  const value = entry[key];
  return typeof value === "string" ? value : null;
}

function requireBoolean(entry: Record<string, unknown>, key: string, where: string): boolean {
  const value = entry[key];
  if (typeof value !== "boolean") throw new ProtocolShapeError(COMMAND, `${where}.${key} is not a boolean`);
  return value;
}

function parseInserted(value: unknown, where: string): BlockInserted | null {
  if (value === undefined) return null;
  if (!isRecord(value)) throw new ProtocolShapeError(COMMAND, `${where}.inserted is not an object`);
  const file = value["file"];
  const drv = value["drv"];
  if (typeof file !== "string" || typeof drv !== "string") throw new ProtocolShapeError(COMMAND, `${where}.inserted lacks file or drv`);
  const image = value["image"];
  const size = isRecord(image) ? image["virtual-size"] : undefined;
  const backing = optionalString(value, "backing_file");
  return {
    file: plainFilename(file),
    format: drv,
    readOnly: requireBoolean(value, "ro", `${where}.inserted`),
    nodeName: optionalString(value, "node-name"),
    virtualSizeBytes: typeof size === "number" ? size : null,
    backingFile: backing === null ? null : plainFilename(backing),
  };
}

/** Reads the `return` of query-block (see parseQmpReply). */
export function parseQueryBlock(ret: unknown): BlockDeviceInfo[] {
  if (!Array.isArray(ret)) throw new ProtocolShapeError(COMMAND, "return is not an array");
  return ret.map((entry: unknown, i: number): BlockDeviceInfo => {
    const where = `return[${i}]`;
    if (!isRecord(entry)) throw new ProtocolShapeError(COMMAND, `${where} is not an object`);
    const qdev = optionalString(entry, "qdev");
    const tray = entry["tray_open"];
    return {
      device: optionalString(entry, "device") ?? "",
      qdev,
      qdevId: qdev === null ? null : qdevIdFromPath(qdev),
      removable: requireBoolean(entry, "removable", where),
      locked: requireBoolean(entry, "locked", where),
      trayOpen: typeof tray === "boolean" ? tray : null,
      ioStatus: optionalString(entry, "io-status"),
      inserted: parseInserted(entry["inserted"], where),
    };
  });
}

/**
 * The entry for a device, matched by qdev id (a libvirt alias or our QMP device id) or, failing
 * that, by the node-name of its medium (libvirt-<index>-format/-storage, or our own node-names).
 */
export function findBlockDevice(
  devices: readonly BlockDeviceInfo[],
  by: { readonly qdevId?: string; readonly nodeNames?: readonly string[] },
): BlockDeviceInfo | undefined {
  if (by.qdevId !== undefined) {
    const match = devices.find((device) => device.qdevId === by.qdevId);
    if (match !== undefined) return match;
  }
  const names = by.nodeNames ?? [];
  return devices.find((device) => device.inserted?.nodeName != null && names.includes(device.inserted.nodeName));
}

export interface NamedBlockNode {
  readonly nodeName: string;
  readonly driver: string;
  readonly file: string;
  readonly readOnly: boolean;
  readonly virtualSizeBytes: number | null;
}

/** Reads the `return` of query-named-block-nodes: e.g. to find nodes left behind after a detach. */
export function parseNamedBlockNodes(ret: unknown): NamedBlockNode[] {
  const command = "query-named-block-nodes";
  if (!Array.isArray(ret)) throw new ProtocolShapeError(command, "return is not an array");
  return ret.map((entry: unknown, i: number): NamedBlockNode => {
    if (!isRecord(entry)) throw new ProtocolShapeError(command, `return[${i}] is not an object`);
    const nodeName = entry["node-name"];
    const drv = entry["drv"];
    const file = entry["file"];
    if (typeof nodeName !== "string" || typeof drv !== "string" || typeof file !== "string") {
      throw new ProtocolShapeError(command, `return[${i}] lacks node-name, drv or file`);
    }
    const image = entry["image"];
    const size = isRecord(image) ? image["virtual-size"] : undefined;
    return {
      nodeName,
      driver: drv,
      file: plainFilename(file),
      readOnly: entry["ro"] === true,
      virtualSizeBytes: typeof size === "number" ? size : null,
    };
  });
}
