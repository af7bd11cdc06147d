// QMP commands as typed JSON objects (never strings), for the QMP path of Disk and Cdrom and for
// reading the truth about block devices. Argument names and value types follow QEMU 7.2's schema:
// since QEMU 6.2 device_add checks JSON types, so ports are strings and scsi-id/lun/bootindex numbers.

import { SpecError } from "./errors";
import { commandName, returnOf } from "./json-reply";
import { assertNodeName, assertQemuId, blockNodeNames } from "./qmp-names";

/** One QMP command: what is sent as `{"execute": …, "arguments": …}`. */
export interface QmpCommand<Name extends string = string, Args extends object = object> {
  readonly execute: Name;
  readonly arguments?: Args;
}

// ---------------------------------------------------------------------------------------------
// Errors and replies

/** Well-known QMP error classes; QEMU may add others, so any string is possible. */
export type QmpErrorClass = "GenericError" | "CommandNotFound" | "DeviceNotActive" | "DeviceNotFound" | "KVMMissingCap";

/** QEMU refused a command: `{"error": {"class", "desc"}}`. */
export class QmpError extends Error {
  override readonly name = "QmpError";
  constructor(
    readonly command: string,
    readonly errorClass: QmpErrorClass | (string & {}),
    readonly desc: string,
  ) {
    super(`QMP ${command} failed (${errorClass}): ${desc}`);
  }
}

/**
 * The `return` value of a reply (libvirt's monitor command hands back QEMU's whole reply as JSON
 * text). A reply carrying `error` throws QmpError; anything else malformed throws ProtocolShapeError.
 */
export function parseQmpReply(reply: string | unknown, command: string | QmpCommand): unknown {
  const name = commandName(command);
  return returnOf(reply, name, "reply", (errorClass, desc) => new QmpError(name, errorClass, desc));
}

// ---------------------------------------------------------------------------------------------
// Block nodes

export interface BlockdevAddSpec {
  /** Names both nodes (see qmp-names.blockNodeNames); at most MAX_BLOCK_ID_LENGTH characters. */
  readonly blockId: string;
  readonly filename: string;
  readonly format: "raw" | "qcow2";
  readonly readOnly: boolean;
  /** A host block device (/dev/…) uses QEMU's host_device protocol driver instead of file. */
  readonly hostDevice?: boolean;
}

export interface BlockdevFileNode {
  readonly driver: "file" | "host_device";
  readonly filename: string;
  readonly "node-name": string;
  readonly "read-only": boolean;
  /** false: a read-write open that is not permitted fails instead of silently becoming read-only. */
  readonly "auto-read-only": false;
}

export interface BlockdevAddArgs {
  readonly driver: "raw" | "qcow2";
  readonly "node-name": string;
  readonly "read-only": boolean;
  /**
   * qcow2 only: null means "no backing image". Left out, QEMU opens whatever backing file the image's own
   * header names (any path on the host, e.g. a guest-written image pointing at /etc/shadow or another VM's disk).
   */
  readonly backing?: null;
  readonly file: BlockdevFileNode;
}

/**
 * One blockdev-add creating the format node with its file node defined inline. Inline children
 * belong to their parent, so a single blockdev-del of the format node removes both.
 */
export function blockdevAdd(spec: BlockdevAddSpec): QmpCommand<"blockdev-add", BlockdevAddArgs> {
  const names = blockNodeNames(spec.blockId);
  if (!spec.filename.startsWith("/")) throw new SpecError("filename", `must be an absolute path, got ${JSON.stringify(spec.filename)}`);
  return {
    execute: "blockdev-add",
    arguments: {
      driver: spec.format,
      "node-name": names.format,
      "read-only": spec.readOnly,
      // No backing store is ever declared through this path, so none may come from the image header either.
      ...(spec.format === "qcow2" ? { backing: null } : {}),
      file: {
        driver: spec.hostDevice === true ? "host_device" : "file",
        filename: spec.filename,
        "node-name": names.file,
        "read-only": spec.readOnly,
        "auto-read-only": false,
      },
    },
  };
}

export function blockdevDel(nodeName: string): QmpCommand<"blockdev-del", { readonly "node-name": string }> {
  assertNodeName(nodeName);
  return { execute: "blockdev-del", arguments: { "node-name": nodeName } };
}

// ---------------------------------------------------------------------------------------------
// Devices

interface DeviceCommon {
  /** The qdev id; device_del and the tray commands use it. */
  readonly id: string;
  readonly bootIndex?: number;
  readonly serial?: string;
}

export type DeviceAddSpec =
  | (DeviceCommon & {
      readonly driver: "scsi-hd";
      /** Node-name of the format node. */
      readonly drive: string;
      /** e.g. "scsi0.0" (qmp-names.libvirtScsiBus). */
      readonly bus: string;
      readonly channel?: number;
      readonly scsiId?: number;
      readonly lun?: number;
      readonly removable?: boolean;
    })
  | (DeviceCommon & {
      readonly driver: "scsi-cd";
      /** Absent for an empty drive; insert media later with blockdev-insert-medium. */
      readonly drive?: string;
      readonly bus: string;
      readonly channel?: number;
      readonly scsiId?: number;
      readonly lun?: number;
    })
  | (DeviceCommon & {
      readonly driver: "usb-storage";
      readonly drive: string;
      /** e.g. "usb.0" (qmp-names.libvirtUsbBus). */
      readonly bus?: string;
      readonly port?: string;
      readonly removable?: boolean;
    })
  | (DeviceCommon & {
      readonly driver: "virtio-blk-pci";
      readonly drive: string;
      /** e.g. "pci.0" on i440fx, or a root port's alias "pci.N" on q35. */
      readonly bus?: string;
      /** Slot[.function] on that bus, e.g. "0x7". */
      readonly addr?: string;
    });

/** device_add arguments exactly as QEMU names them. */
export interface DeviceAddArgs {
  readonly driver: DeviceAddSpec["driver"];
  readonly id: string;
  readonly drive?: string;
  readonly bus?: string;
  readonly port?: string;
  readonly addr?: string;
  readonly channel?: number;
  readonly "scsi-id"?: number;
  readonly lun?: number;
  readonly bootindex?: number;
  readonly serial?: string;
  readonly removable?: boolean;
}

function checkUint(value: number | undefined, field: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw new SpecError(field, `must be a non-negative integer, got ${value}`);
}

export function deviceAdd(spec: DeviceAddSpec): QmpCommand<"device_add", DeviceAddArgs> {
  assertQemuId(spec.id, "id");
  if (spec.drive !== undefined) assertNodeName(spec.drive, "drive");
  checkUint(spec.bootIndex, "bootIndex");
  const args: { -readonly [K in keyof DeviceAddArgs]: DeviceAddArgs[K] } = { driver: spec.driver, id: spec.id };
  if (spec.drive !== undefined) args.drive = spec.drive;
  if (spec.bus !== undefined) args.bus = spec.bus;
  switch (spec.driver) {
    case "scsi-hd":
    case "scsi-cd":
      checkUint(spec.channel, "channel");
      checkUint(spec.scsiId, "scsiId");
      checkUint(spec.lun, "lun");
      if (spec.channel !== undefined) args.channel = spec.channel;
      if (spec.scsiId !== undefined) args["scsi-id"] = spec.scsiId;
      if (spec.lun !== undefined) args.lun = spec.lun;
      if (spec.driver === "scsi-hd" && spec.removable !== undefined) args.removable = spec.removable;
      break;
    case "usb-storage":
      if (spec.port !== undefined) {
        if (!/^[1-9][0-9]*(\.[1-9][0-9]*)*$/.test(spec.port)) throw new SpecError("port", `must look like "3" or "1.2", got ${JSON.stringify(spec.port)}`);
        args.port = spec.port;
      }
      if (spec.removable !== undefined) args.removable = spec.removable;
      break;
    case "virtio-blk-pci":
      if (spec.addr !== undefined) args.addr = spec.addr;
      break;
  }
  if (spec.bootIndex !== undefined) args.bootindex = spec.bootIndex;
  if (spec.serial !== undefined) args.serial = spec.serial;
  return { execute: "device_add", arguments: args };
}

/** Asks the guest to release a device; completion is the DEVICE_DELETED event, not this reply. */
export function deviceDel(id: string): QmpCommand<"device_del", { readonly id: string }> {
  assertQemuId(id);
  return { execute: "device_del", arguments: { id } };
}

// ---------------------------------------------------------------------------------------------
// Removable media (scsi-cd, ide-cd). `id` is the qdev id (a libvirt alias such as "ua-cd1").

export function blockdevOpenTray(id: string, force = false): QmpCommand<"blockdev-open-tray", { readonly id: string; readonly force?: boolean }> {
  assertQemuId(id);
  return { execute: "blockdev-open-tray", arguments: force ? { id, force } : { id } };
}

export function blockdevCloseTray(id: string): QmpCommand<"blockdev-close-tray", { readonly id: string }> {
  assertQemuId(id);
  return { execute: "blockdev-close-tray", arguments: { id } };
}

/** Needs the tray open first. */
export function blockdevRemoveMedium(id: string): QmpCommand<"blockdev-remove-medium", { readonly id: string }> {
  assertQemuId(id);
  return { execute: "blockdev-remove-medium", arguments: { id } };
}

/** Needs the tray open and no medium; `nodeName` comes from a prior blockdev-add. */
export function blockdevInsertMedium(id: string, nodeName: string): QmpCommand<"blockdev-insert-medium", { readonly id: string; readonly "node-name": string }> {
  assertQemuId(id);
  assertNodeName(nodeName);
  return { execute: "blockdev-insert-medium", arguments: { id, "node-name": nodeName } };
}

export type ReadOnlyMode = "retain" | "read-only" | "read-write";

export interface BlockdevChangeMediumArgs {
  readonly id: string;
  readonly filename: string;
  readonly format?: string;
  readonly "read-only-mode"?: ReadOnlyMode;
  readonly force?: boolean;
}

/** Open tray, swap, close tray in one command. libvirt's XML keeps showing the old file afterwards. */
export function blockdevChangeMedium(spec: {
  readonly id: string;
  readonly filename: string;
  readonly format?: "raw" | "qcow2";
  readonly readOnlyMode?: ReadOnlyMode;
  readonly force?: boolean;
}): QmpCommand<"blockdev-change-medium", BlockdevChangeMediumArgs> {
  assertQemuId(spec.id);
  if (!spec.filename.startsWith("/")) throw new SpecError("filename", `must be an absolute path, got ${JSON.stringify(spec.filename)}`);
  return {
    execute: "blockdev-change-medium",
    arguments: {
      id: spec.id,
      filename: spec.filename,
      ...(spec.format !== undefined ? { format: spec.format } : {}),
      ...(spec.readOnlyMode !== undefined ? { "read-only-mode": spec.readOnlyMode } : {}),
      ...(spec.force !== undefined ? { force: spec.force } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Queries

export function queryBlock(): QmpCommand<"query-block"> {
  return { execute: "query-block" };
}

/** `flat: true` lists each node once instead of nesting backing chains. */
export function queryNamedBlockNodes(flat = true): QmpCommand<"query-named-block-nodes", { readonly flat: boolean }> {
  return { execute: "query-named-block-nodes", arguments: { flat } };
}

export function queryPci(): QmpCommand<"query-pci"> {
  return { execute: "query-pci" };
}
