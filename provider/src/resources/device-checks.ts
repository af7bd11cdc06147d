// What a Disk or Cdrom create must know before it touches the domain: the refusals libvirt or QEMU would give
// (said in preview's note and raised by create before anything changes), and whether a device already under the
// resource's name is provably its own. A create never changes a device that is not.
import type { ParsedDisk } from "../vocab/disk-xml";
import { acceptsDeviceBootOrder, freeHotplugSlots, machineFamily, type NicModel, type ParsedDomain, type ParsedInterface } from "../vocab/domain-xml";
import { CONVENTIONAL_PCI_MODELS, normalizeMac } from "../vocab/interface-xml";
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
  if (needsPcieSlot(view, device)) announceSlot(view, alias);
}

function announceSlot(view: DomainView, alias: string): void {
  const planned = plannedSlots.get(view.uuid) ?? new Set<string>();
  planned.add(alias);
  plannedSlots.set(view.uuid, planned);
}

/**
 * The refusal of a live PCI attach on q35 when no root port is left for it. `planned` counts the attaches other
 * creates announced in this run (preview), which disks and NICs share; `what` names the devices in the message.
 */
function slotRefusal(view: DomainView, on: string, alias: string, planned: boolean, field: string, what: string, fix: string): Refusal | null {
  const live = view.live!;
  const free = freeHotplugSlots(live);
  // Announced creates already attached took their slot out of `free`: count only the ones still to come.
  const plugged = new Set([...live.disks, ...live.interfaces].map((d) => d.alias));
  const waiting = [...(plannedSlots.get(view.uuid) ?? [])].filter((a) => a === alias || !plugged.has(a));
  const wanted = planned ? Math.max(1, waiting.indexOf(alias) + 1) : 1;
  if (wanted <= free) return null;
  return {
    field,
    message:
      `${on} (q35) has ${free} free PCIe slot${free === 1 ? "" : "s"} for hot-plugged ${what} devices` +
      `${planned ? ` and this is ${what} attach ${wanted} of this run` : ""}: ${fix}`,
  };
}

/** A device boot order on a domain that chose its boot.devices, which libvirt refuses beside it; null when it may have one. */
function chosenBootDevicesRefusal(config: ParsedDomain, on: string, kind: string): Refusal | null {
  if (acceptsDeviceBootOrder(config) || bootDevicesAreDefault(config.os)) return null;
  return {
    field: "bootOrder",
    message:
      `${on} boots by boot.devices [${config.os.bootDevices.join(", ")}] (<os><boot dev>), and libvirt refuses a per-device boot order beside it: ` +
      `remove bootOrder from this ${kind}, or remove boot.devices from the Domain so it boots by per-device order`,
  };
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
    const chosen = chosenBootDevicesRefusal(config, on, kind);
    if (chosen) refusals.push(chosen);
    const taken = disksOf(view).find((d) => d.bootOrder === device.bootOrder && d.alias !== alias);
    if (taken) refusals.push({ field: "bootOrder", message: `boot order ${device.bootOrder} is already used on ${on} by ${describeDisk(taken)}: choose another bootOrder` });
  }
  if (needsPcieSlot(view, device)) {
    const refusal = slotRefusal(view, on, alias, planned, "bus", "virtio", `use bus "scsi", or raise the Domain's hotplugSlots (applies at its next boot)`);
    if (refusal) refusals.push(refusal);
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

// ---- NICs ---------------------------------------------------------------------------------------------------

/** The inputs an Interface create's checks read. */
export interface PlannedNic {
  domain: string;
  via: "libvirt" | "qmp";
  model: NicModel;
  mac?: string;
  bootOrder?: number;
}

function nicsOf(view: DomainView): ParsedInterface[] {
  return [...(view.live?.interfaces ?? []), ...view.config.interfaces];
}

function describeNic(n: ParsedInterface): string {
  const name = n.alias ?? n.target ?? n.mac ?? "a NIC";
  return `${name} (${n.type}${n.source ? ` ${n.source}` : ""}${n.mac ? `, ${n.mac}` : ""})`;
}

/**
 * A live attach of a PCI Express NIC (virtio, e1000e) through libvirt on q35 takes one free root port; a conventional
 * PCI one takes none, as it cannot be hot-plugged there at all (refused on its own).
 */
function nicNeedsPcieSlot(view: DomainView, nic: PlannedNic): boolean {
  const q35 = machineFamily(view.live?.machine ?? view.config.machine ?? "pc") === "q35";
  return view.running && nic.via === "libvirt" && q35 && !CONVENTIONAL_PCI_MODELS.includes(nic.model);
}

/** Announces a NIC create of this run (preview), so the slots it and the disks of the run need are counted together. */
export function planNicSlot(view: DomainView, nic: PlannedNic, alias: string): void {
  if (nicNeedsPcieSlot(view, nic)) announceSlot(view, alias);
}

/**
 * Every refusal libvirt or QEMU would give this NIC create on the domain as it is now (the network's existence is
 * asked separately: it is not in the domain's XML). `planned` as for createRefusals.
 */
export function nicCreateRefusals(view: DomainView, nic: PlannedNic, alias: string, planned = false): Refusal[] {
  const refusals: Refusal[] = [];
  const on = `domain ${nic.domain}`;
  const machine = view.live?.machine ?? view.config.machine ?? "pc";
  const config: ParsedDomain = view.config;
  if (nic.via === "qmp" && !view.running) {
    refusals.push({ field: "via", message: `via: "qmp" needs a running domain (a NIC added over QMP does not outlive QEMU) and ${on} is stopped: start it (running: true) or use via: "libvirt"` });
  }
  if (view.running && nic.via === "libvirt" && machineFamily(machine) === "q35" && CONVENTIONAL_PCI_MODELS.includes(nic.model)) {
    refusals.push({
      field: "model",
      message: `a ${nic.model} NIC is a conventional PCI device and ${on} (q35) has no slot to hot-plug one into: use model "virtio" or "e1000e", or add it while the domain is stopped`,
    });
  }
  if (nic.mac !== undefined) {
    const wanted = normalizeMac(nic.mac);
    const other = nicsOf(view).find((n) => n.mac !== null && normalizeMac(n.mac) === wanted && n.alias !== alias);
    if (other) refusals.push({ field: "mac", message: `MAC ${wanted} is already used on ${on} by ${describeNic(other)}: choose another mac, or leave mac out to have one assigned` });
  }
  if (nic.bootOrder !== undefined) {
    const chosen = chosenBootDevicesRefusal(config, on, "Interface");
    if (chosen) refusals.push(chosen);
    const disk = disksOf(view).find((d) => d.bootOrder === nic.bootOrder && d.alias !== alias);
    const other = nicsOf(view).find((n) => n.bootOrder === nic.bootOrder && n.alias !== alias);
    if (disk || other) {
      refusals.push({ field: "bootOrder", message: `boot order ${nic.bootOrder} is already used on ${on} by ${disk ? describeDisk(disk) : describeNic(other!)}: choose another bootOrder` });
    }
  }
  if (nicNeedsPcieSlot(view, nic)) {
    const refusal = slotRefusal(view, on, alias, planned, "model", "PCI", "raise the Domain's hotplugSlots (applies at its next boot), or add the NIC while the domain is stopped");
    if (refusal) refusals.push(refusal);
  }
  return refusals;
}

/** Whether libvirt's config would need its <os><boot dev> turned into per-device orders for this NIC. */
export function nicConvertsBootOrder(view: DomainView, nic: PlannedNic): boolean {
  return nic.via === "libvirt" && nic.bootOrder !== undefined && !acceptsDeviceBootOrder(view.config) && bootDevicesAreDefault(view.config.os);
}

/**
 * A NIC already under the resource's alias is adopted (a run interrupted after its attach) only when it is what the
 * resource asks for: its MAC (when one is given) and where it is plugged. Anything else is not provably ours.
 */
export function nicNotOurs(alias: string, domain: string, held: ParsedInterface, wanted: { mac?: string; type: string; source: string | null }): string | null {
  const macDiffers = wanted.mac !== undefined && (held.mac === null || normalizeMac(held.mac) !== normalizeMac(wanted.mac));
  const sourceDiffers = held.type !== wanted.type || (wanted.source !== null && held.source !== wanted.source);
  if (!macDiffers && !sourceDiffers) return null;
  return (
    `NIC ${alias} on domain ${domain} is already there as ${describeNic(held)}, not ${wanted.type}${wanted.source ? ` ${wanted.source}` : ""}` +
    `${wanted.mac ? ` with ${normalizeMac(wanted.mac)}` : ""}, so it is not provably this resource's (another stack, or a NIC made by hand under this name). ` +
    `Nothing was changed: detach that NIC if it is stale, or give this resource another name`
  );
}
