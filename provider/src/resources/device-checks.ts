// What a Disk or Cdrom create must know before it touches the domain: the refusals libvirt or QEMU would give
// (said in preview's note and raised by create before anything changes), and whether a device already under the
// resource's name is provably its own. A create never changes a device that is not.
import type { ParsedDisk } from "../vocab/disk-xml";
import { acceptsDeviceBootOrder, freeHotplugSlots, machineFamily, type ParsedDomain } from "../vocab/domain-xml";
import { bootDevicesAreDefault } from "../vocab/boot-order";
import { findBlockDevice, type BlockDeviceInfo } from "../vocab/query-block";
import { blockNodeNames, MAX_BLOCK_ID_LENGTH } from "../vocab/qmp-names";
import type { DomainView } from "./domain-view";

/** The inputs the checks read, common to Disk and Cdrom. */
export interface PlannedDevice {
  domain: string;
  bus: string;
  via: "libvirt" | "qmp";
  target?: string;
  bootOrder?: number;
  media?: string | null;
}

/** A refusal: the input field it concerns and the message, which names the fix. */
export interface Refusal {
  field: string;
  message: string;
}

function disksOf(view: DomainView): ParsedDisk[] {
  return [...(view.live?.disks ?? []), ...view.config.disks];
}

function describeDisk(d: ParsedDisk): string {
  return `${d.target} (${d.alias ? `${d.alias}, ` : ""}${d.source ?? "no medium"})`;
}

/** The one place q35's PCI slots are counted: a live virtio attach through libvirt takes one free root port. */
function needsPcieSlot(view: DomainView, device: PlannedDevice): boolean {
  return view.running && device.via === "libvirt" && device.bus === "virtio" && machineFamily(view.live?.machine ?? view.config.machine ?? "pc") === "q35";
}

/**
 * Virtio creates a preview has announced per domain in this provider process (one process serves a whole run),
 * so the fifth of five planned virtio Disks is told there are four free slots.
 */
const plannedSlots = new Map<string, Set<string>>();

export function planSlot(view: DomainView, device: PlannedDevice, alias: string): void {
  if (!needsPcieSlot(view, device)) return;
  const planned = plannedSlots.get(view.uuid) ?? new Set<string>();
  planned.add(alias);
  plannedSlots.set(view.uuid, planned);
}

/**
 * Every refusal libvirt or QEMU would give this create on the domain as it is now. `planned` counts the PCI slots
 * other creates announced in this run (preview); a create itself passes false and sees the slots really left.
 */
export function createRefusals(kind: "Disk" | "Cdrom", view: DomainView, device: PlannedDevice, alias: string, planned = false): Refusal[] {
  const refusals: Refusal[] = [];
  const on = `domain ${device.domain}`;
  const machine = view.live?.machine ?? view.config.machine ?? "pc";
  const config: ParsedDomain = view.config;

  if (device.via === "qmp" && !view.running) {
    refusals.push({ field: "via", message: `via: "qmp" needs a running domain (QMP devices do not outlive QEMU) and ${on} is stopped: start it (running: true) or use via: "libvirt"` });
  }
  if (device.via === "qmp" && device.bus === "virtio" && machineFamily(machine) !== "i440fx") {
    refusals.push({ field: "via", message: `QMP virtio hotplug is supported on pc (i440fx) machines and ${on} is ${machine}: use via: "libvirt"` });
  }
  if (device.target !== undefined) {
    const other = disksOf(view).find((d) => d.target === device.target && d.alias !== alias);
    if (other) refusals.push({ field: "target", message: `target ${device.target} is in use on ${on} by ${describeDisk(other)}: leave target out to pick a free one, or choose another` });
  }
  if (device.bus === "usb") {
    const usb = (view.live ?? config).controllers.find((c) => c.type === "usb" && c.index === 0);
    if (!usb || usb.model === "none") refusals.push({ field: "bus", message: `${on} has no USB controller: use bus "scsi" (or "virtio" for a Disk), or give the domain a USB controller` });
  }
  if (device.bus === "ide" && machineFamily(machine) === "q35") {
    refusals.push({ field: "bus", message: `q35 machines have no IDE controller (${on} is ${machine}): use bus "sata" or "scsi"` });
  }
  if (kind === "Cdrom" && device.bus === "usb" && !device.media) {
    refusals.push({ field: "media", message: 'a usb cdrom needs media: usb-storage has no tray to stay empty (use bus "scsi" for an empty drive)' });
  }
  if (device.bootOrder !== undefined) {
    if (!acceptsDeviceBootOrder(config) && !bootDevicesAreDefault(config.os)) {
      refusals.push({
        field: "bootOrder",
        message:
          `${on} boots by boot.devices [${config.os.bootDevices.join(", ")}] (<os><boot dev>), and libvirt refuses a per-device boot order beside it: ` +
          `remove bootOrder from this ${kind}, or remove boot.devices from the Domain so it boots by per-device order`,
      });
    }
    const taken = disksOf(view).find((d) => d.bootOrder === device.bootOrder && d.alias !== alias);
    if (taken) refusals.push({ field: "bootOrder", message: `boot order ${device.bootOrder} is already used on ${on} by ${describeDisk(taken)}: choose another bootOrder` });
  }
  if (needsPcieSlot(view, device)) {
    const free = freeHotplugSlots(view.live!);
    // Announced creates already attached took their slot out of `free`: count only the ones still to come.
    const waiting = [...(plannedSlots.get(view.uuid) ?? [])].filter((a) => a === alias || !view.live!.disks.some((d) => d.alias === a));
    const wanted = planned ? Math.max(1, waiting.indexOf(alias) + 1) : 1;
    if (wanted > free) {
      refusals.push({
        field: "bus",
        message:
          `${on} (q35) has ${free} free PCIe slot${free === 1 ? "" : "s"} for hot-plugged virtio devices${planned ? ` and this is virtio attach ${wanted} of this run` : ""}: ` +
          `use bus "scsi", or raise the Domain's hotplugSlots (applies at its next boot)`,
      });
    }
  }
  return refusals;
}

/** Whether libvirt's config would need its <os><boot dev> turned into per-device orders for this device. */
export function convertsBootOrder(view: DomainView, device: PlannedDevice): boolean {
  return device.via === "libvirt" && device.bootOrder !== undefined && !acceptsDeviceBootOrder(view.config) && bootDevicesAreDefault(view.config.os);
}

/** The medium a device under `name` has now (live first), or undefined when there is no such device. */
export function heldMedium(view: DomainView, blocks: readonly BlockDeviceInfo[], name: string, via: "libvirt" | "qmp"): { file: string | null } | undefined {
  if (via === "qmp") {
    const nodeNames = name.length <= MAX_BLOCK_ID_LENGTH ? [blockNodeNames(name).format] : [];
    const block = findBlockDevice(blocks, { qdevId: name, nodeNames });
    return block?.qdevId === name ? { file: block.inserted?.file ?? null } : undefined;
  }
  const disk = view.live?.disks.find((d) => d.alias === name) ?? view.config.disks.find((d) => d.alias === name);
  return disk ? { file: disk.source } : undefined;
}

/**
 * A device already under this resource's name is adopted (a run interrupted after its attach) only when it holds
 * what this resource asks for; anything else is not provably ours, and changing it could take a disk from a
 * running guest that another stack or a person put there.
 */
export function notOurs(name: string, domain: string, held: { file: string | null }, wanted: string | null): string | null {
  if (held.file === wanted) return null;
  return (
    `device ${name} on domain ${domain} already holds ${held.file ?? "no medium"}, not ${wanted ?? "no medium"}, so it is not provably this resource's ` +
    `(another stack, or a device made by hand under this name). Nothing was changed: detach that device if it is stale, or give this resource another name`
  );
}
