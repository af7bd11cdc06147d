// Block devices added and removed over QMP (blockdev-add + device_add, device_del + blockdev-del, media in a
// tray), on any QEMU monitor: a libvirt domain's passthrough or a QEMU run without libvirt. Where a device goes
// (bus, lun, port, slot) is the caller's; for a QEMU without libvirt, `directAddress` asks QEMU itself.
import {
  blockdevAdd,
  blockdevCloseTray,
  blockdevDel,
  blockdevInsertMedium,
  blockdevOpenTray,
  blockdevRemoveMedium,
  deviceAdd,
  type DeviceAddSpec,
  queryPci,
} from "../vocab/qmp";
import { blockNodeNames, MAX_BLOCK_ID_LENGTH } from "../vocab/qmp-names";
import { findBlockDevice, type BlockDeviceInfo } from "../vocab/query-block";
import type { DiskBus } from "../vocab/disk-xml";
import { monitorBlocks, type QemuMonitor } from "./monitor";
import { pollUntil } from "./qemu";
import { unplugDevice } from "./qmp-unplug";

export interface QmpDevice {
  /** qdev id and the base of its node-names. */
  id: string;
  bus: DiskBus;
  cdrom: boolean;
  /** The medium; null only for an empty scsi cdrom. */
  file: string | null;
  format: "raw" | "qcow2";
  readonly: boolean;
  bootOrder?: number;
  serial?: string;
}

export function findBlockById(devices: readonly BlockDeviceInfo[], id: string): BlockDeviceInfo | undefined {
  // Only our QMP ids (short by construction) name block nodes; a libvirt alias may be longer than a node-name can be.
  const nodeNames = id.length <= MAX_BLOCK_ID_LENGTH ? [blockNodeNames(id).format] : [];
  return findBlockDevice(devices, { qdevId: id, nodeNames });
}

function deviceSpec(device: QmpDevice, address: Partial<DeviceAddSpec>, drive: string | undefined): DeviceAddSpec {
  const common = { id: device.id, drive, bootIndex: device.bootOrder, serial: device.serial };
  switch (device.bus) {
    case "scsi":
      return { ...common, ...(address as object), driver: device.cdrom ? "scsi-cd" : "scsi-hd" } as DeviceAddSpec;
    case "usb":
      return { ...common, ...(address as object), driver: "usb-storage" } as DeviceAddSpec;
    default:
      return { ...common, ...(address as object), driver: "virtio-blk-pci" } as DeviceAddSpec;
  }
}

/**
 * Adds the device at `address`. A device already under this id (a run interrupted after its attach) is kept: the
 * callers have checked it is provably theirs.
 */
export async function attachQmp(monitor: QemuMonitor, blocks: readonly BlockDeviceInfo[], device: QmpDevice, address: Partial<DeviceAddSpec>): Promise<void> {
  if (findBlockById(blocks, device.id)?.qdevId === device.id) return;
  const nodes = blockNodeNames(device.id);
  // A device_del from outside leaves our named nodes behind; free them, or blockdev-add reports duplicates. Asked
  // only when QEMU says so: the usual add has nothing to free and needs no call for it.
  if (device.file !== null) {
    const add = () => addNode(monitor, { ...device, file: device.file! });
    await add().catch(async (error) => {
      if (!/duplicate/i.test((error as Error).message)) throw error;
      await releaseNode(monitor, nodes.format, 0);
      await add();
    });
  } else {
    await releaseNode(monitor, nodes.format, 0);
  }
  await plug(monitor, device, address);
}

/** QEMU's words for an add refused because something holds what it names: the node or device id, or the address. */
const TAKEN = /duplicate|already used|in use|not available/i;

/**
 * blockdev-add + device_add at `address` with nothing asked first. False when QEMU refuses because the name or the
 * address is taken (an interrupted run's device or its nodes, a device added by hand): nothing of this call is left
 * then, and the caller looks at QEMU's devices before it tries again. A device with a medium only.
 */
export async function tryAttachQmp(monitor: QemuMonitor, device: QmpDevice & { file: string }, address: Partial<DeviceAddSpec>): Promise<boolean> {
  const taken = (error: unknown) => (TAKEN.test((error as Error).message) ? false : Promise.reject(error));
  try {
    await addNode(monitor, device);
  } catch (error) {
    return taken(error);
  }
  return plug(monitor, device, address).then(() => true, taken);
}

/** blockdev-add of the device's medium under the node-names its id gives. */
async function addNode(monitor: QemuMonitor, device: QmpDevice & { file: string }): Promise<void> {
  await monitor.command(blockdevAdd({ blockId: device.id, filename: device.file, format: device.format, readOnly: device.readonly }));
}

/** device_add onto the node named for the device (none for an empty drive); a refused add frees that node again. */
async function plug(monitor: QemuMonitor, device: QmpDevice, address: Partial<DeviceAddSpec>): Promise<void> {
  const node = device.file === null ? undefined : blockNodeNames(device.id).format;
  try {
    await monitor.command(deviceAdd(deviceSpec(device, address, node)));
  } catch (error) {
    if (node) await monitor.command(blockdevDel(node)).catch(() => undefined);
    throw error;
  }
}

/**
 * device_del, wait until QEMU says DEVICE_DELETED (or no longer lists the device), then drop its block nodes.
 * `blocks` null: not asked, for a device without a tray (a disk): there is no medium to take out first, and
 * device_del itself says whether the device is there (DeviceNotFound: gone already), so no query-block goes first.
 */
export async function detachQmp(monitor: QemuMonitor, blocks: readonly BlockDeviceInfo[] | null, id: string, timeoutSeconds: number, onAsked?: () => void): Promise<void> {
  const device = blocks === null ? undefined : findBlockById(blocks, id);
  if (blocks === null || device?.qdevId === id) {
    // A tray device keeps a medium inserted after plug-in pinned past its own removal: take it out first.
    if (device && device.trayOpen !== null && device.inserted) {
      await monitor.command(blockdevOpenTray(id, true));
      await monitor.command(blockdevRemoveMedium(id));
    }
    // Without an event, query-block is the judge; a disk nobody looked for first may turn out to be gone already.
    const gone = await unplugDevice(monitor, id, {
      present: async () => findBlockById(await monitorBlocks(monitor), id)?.qdevId === id,
      timeoutSeconds,
      onAsked,
      notFoundIsGone: blocks === null,
    });
    if (!gone) {
      throw new Error(`the guest did not release ${id} within ${timeoutSeconds} s; it stays attached and in the stack: retry the delete when the guest responds`);
    }
  }
  // The device lets go of its node a moment after it leaves query-block (usb unplug completes asynchronously).
  // A link lost meanwhile: once more on the new connection (a node already gone counts as released).
  const release = () => releaseNode(monitor, blockNodeNames(id).format, timeoutSeconds);
  await release().catch((error) => (monitor.lost(error) ? release() : Promise.reject(error)));
}

/** Deletes one of our block nodes once nothing holds it; waits up to `timeoutSeconds` for a holder to let go. */
export async function releaseNode(monitor: QemuMonitor, nodeName: string, timeoutSeconds: number): Promise<void> {
  const released = await pollUntil(
    () =>
      monitor.command(blockdevDel(nodeName)).then(
        () => true,
        (error) => {
          const message = (error as Error).message;
          if (/failed to find node/i.test(message)) return true; // nothing to release
          return /in use/i.test(message) ? false : Promise.reject(error);
        },
      ),
    { timeoutMs: timeoutSeconds * 1000 },
  );
  if (!released) throw new Error(`QEMU still holds block node ${nodeName}${timeoutSeconds ? ` after ${timeoutSeconds} s` : ""}: another device uses it`);
}

/** Media change over QMP, keeping our own node names: open, remove, swap the node, insert, close. */
export async function changeMediaQmp(monitor: QemuMonitor, alias: string, media: string | null): Promise<void> {
  const nodes = blockNodeNames(alias);
  await monitor.command(blockdevOpenTray(alias, true));
  await monitor.command(blockdevRemoveMedium(alias));
  await monitor.command(blockdevDel(nodes.format)).catch(() => undefined);
  if (media !== null) {
    await monitor.command(blockdevAdd({ blockId: alias, filename: media, format: "raw", readOnly: true }));
    await monitor.command(blockdevInsertMedium(alias, nodes.format));
  }
  await monitor.command(blockdevCloseTray(alias));
}

// ---- where a device goes on a QEMU run without libvirt ------------------------------------------------------------

/** The controller models we look for, and the one we add when a QEMU has none. */
const CONTROLLERS = {
  scsi: { types: ["virtio-scsi-pci", "virtio-scsi-device", "lsi53c895a", "megasas"], add: "virtio-scsi-pci", ownId: "plv-scsi0", option: "-device virtio-scsi-pci,id=scsi0" },
  usb: { types: ["qemu-xhci", "nec-usb-xhci", "usb-ehci", "ich9-usb-ehci1", "piix3-usb-uhci"], add: "qemu-xhci", ownId: "plv-usb0", option: "-device qemu-xhci,id=usb0" },
} as const;

interface QomChild {
  name: string;
  type: string;
}

async function peripherals(monitor: QemuMonitor): Promise<QomChild[]> {
  const list = (await monitor.command({ execute: "qom-list", arguments: { path: "/machine/peripheral" } })) as QomChild[];
  return list.flatMap((c) => {
    const m = /^child<(.+)>$/.exec(c.type);
    return m ? [{ name: c.name, type: m[1]! }] : [];
  });
}

/** The id of a controller for `bus` that the QEMU has under an id (a bus we can name), or null. */
export async function findController(monitor: QemuMonitor, bus: "scsi" | "usb"): Promise<string | null> {
  const types: readonly string[] = CONTROLLERS[bus].types;
  const found = (await peripherals(monitor)).filter((c) => types.includes(c.type));
  // Ours last: a controller the machine came with is preferred.
  found.sort((a, b) => Number(a.name === CONTROLLERS[bus].ownId) - Number(b.name === CONTROLLERS[bus].ownId));
  return found[0]?.name ?? null;
}

/** What preview says about a bus a QEMU lacks: the controller we will add, and the QEMU option that avoids it. */
export function controllerNote(bus: "scsi" | "usb"): string {
  const c = CONTROLLERS[bus];
  return `the QEMU has no ${bus} controller with an id: a ${c.add} (id ${c.ownId}) is hot-plugged first (start QEMU with ${c.option} to use your own)`;
}

async function qomGet(monitor: QemuMonitor, id: string, property: string): Promise<unknown> {
  return monitor.command({ execute: "qom-get", arguments: { path: `/machine/peripheral/${id}`, property } }).catch(() => undefined);
}

/**
 * A free address for `bus` on a QEMU run without libvirt, asked from QEMU itself: the controller (ours, added now,
 * when it has none we can name), then a lun, port or slot from the far end of what its devices use.
 */
export async function directAddress(monitor: QemuMonitor, blocks: readonly BlockDeviceInfo[], bus: DiskBus): Promise<Partial<DeviceAddSpec>> {
  const others = blocks.flatMap((b) => (b.qdevId && !b.qdevId.startsWith("/") ? [b.qdevId] : []));
  switch (bus) {
    case "scsi":
    case "usb": {
      let controller = await findController(monitor, bus);
      if (!controller) {
        await monitor.command({ execute: "device_add", arguments: { driver: CONTROLLERS[bus].add, id: CONTROLLERS[bus].ownId } });
        controller = CONTROLLERS[bus].ownId;
      }
      if (bus === "scsi") {
        const used = new Set(await Promise.all(others.map(async (id) => Number(await qomGet(monitor, id, "lun")))));
        for (let lun = 255; lun > 0; lun--) if (!used.has(lun)) return { bus: `${controller}.0`, scsiId: 0, lun };
        throw new Error(`no free scsi lun on ${controller}`);
      }
      const used = new Set(await Promise.all(others.map(async (id) => String(await qomGet(monitor, id, "port")))));
      // usb-storage is a USB 2 device: on xhci it takes one of the first p2 ports (4 by default, the USB 3 ones
      // follow them); older controllers have no such property: 2 ports.
      const p2 = await qomGet(monitor, controller, "p2");
      const ports = typeof p2 === "number" ? p2 : 2;
      for (let port = ports; port > 0; port--) if (!used.has(String(port))) return { bus: `${controller}.0`, port: String(port) };
      throw new Error(`no free port on ${controller}`);
    }
    case "virtio": {
      const pci = (await monitor.command(queryPci())) as Array<{ bus: number; devices: Array<{ slot: number }> }>;
      const used = new Set(pci.filter((b) => b.bus === 0).flatMap((b) => b.devices.map((d) => d.slot)));
      for (let slot = 0x1f; slot > 2; slot--) if (!used.has(slot)) return { bus: "pci.0", addr: `0x${slot.toString(16)}` };
      throw new Error("no free slot on pci.0");
    }
    default:
      throw new Error(`${bus} does not hot-plug over QMP`);
  }
}

/** QEMU's block devices now, through the monitor. */
export { monitorBlocks };
