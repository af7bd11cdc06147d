// A whole libvirt <domain>: built from a typed spec for define, and read back (live or persistent
// XML) into the fields the Domain resource compares and reports.
//
// Memory model: `memoryKiB` is what the guest should have now and `maxMemoryKiB` the ceiling a
// live change may reach. They map to <currentMemory> (the balloon target, changeable live with
// virDomainSetMemoryFlags) and <memory> (allocated at boot). No <maxMemory slots=…>: growing past
// <memory> would need DIMM hotplug and a NUMA topology, which this provider does not model.
// Shrinking/growing live needs the guest's virtio_balloon driver; without it the guest keeps
// <memory>. Measured on libvirt 9.0: LIVE XML's <currentMemory> is the balloon's actual size
// (equal to <memory> when the guest has no balloon driver); the configured target is only in the
// INACTIVE XML. Compare a memory change against the inactive XML.
//
// Boot: libvirt adds <os><boot dev='hd'/> on define whenever no device has a <boot order>, even
// with direct kernel boot (measured). Such a domain then refuses any hot-added disk carrying
// <boot order> ("per-device boot elements cannot be used together with os/boot elements"): see
// acceptsDeviceBootOrder.

import { SpecError } from "./errors";
import { claimsInMetadata, type DeviceClaim } from "./device-claims";
import { diskElement, parseDeviceAddress, parseDisks, type DeviceAddress, type DiskSpec, type ParsedDisk, type PciAddress, type UsbAddress } from "./disk-xml";
import { pickFreeDriveUnit, pickFreeTarget, type PlacedDisk } from "./disk-placement";
import { toKiB } from "./units";
import {
  attr,
  buildXmlDocument,
  child,
  childText,
  children,
  element,
  parseXmlDocument,
  text,
  textElement,
  uintValue,
  type XmlElement,
  type XmlNode,
} from "./xml";

export const GUEST_AGENT_CHANNEL_NAME = "org.qemu.guest_agent.0";

export type DomainType = "kvm" | "qemu";
export type LifecycleAction = "destroy" | "restart" | "preserve" | "rename-restart";
export type CrashAction = LifecycleAction | "coredump-destroy" | "coredump-restart";
export type BootDevice = "hd" | "cdrom" | "network";
export type NicModel = "virtio" | "e1000" | "e1000e" | "rtl8139";

/** Direct kernel boot. */
export interface KernelBoot {
  readonly kernel: string;
  readonly initrd?: string;
  readonly cmdline?: string;
}
/**
 * Firmware boot from devices in this order. libvirt refuses it together with per-disk bootOrder,
 * and a domain defined this way (or with no disk bootOrder at all) can never take a disk with one.
 */
export interface DeviceBoot {
  readonly devices: readonly BootDevice[];
}
export type DomainBoot = KernelBoot | DeviceBoot;

/** A disk inside a domain spec: target and address are picked when left out. */
export type DomainDiskSpec = Omit<DiskSpec, "target" | "address"> & {
  readonly target?: string;
  readonly address?: DeviceAddress;
};

export type GraphicsSpec = { readonly type: "vnc"; readonly listen?: string } | { readonly type: "none" };
export type SerialSpec = { readonly type: "pty" } | { readonly type: "file"; readonly path: string } | { readonly type: "none" };
/**
 * `alias` (a "ua-" user alias) lets a later redefine tell the NICs the Domain made from ones added beside it. The
 * rest is what an Interface resource may set: link state (absent: up), MTU (tap-backed types only), boot order,
 * and for user-mode networking the subnet QEMU's slirp hands out.
 */
export type InterfaceSpec = (
  | { readonly type: "network"; readonly network: string }
  | { readonly type: "bridge"; readonly bridge: string }
  | { readonly type: "user"; readonly ipv4?: { readonly address: string; readonly prefixLength: number } }
) & {
  readonly model?: NicModel;
  readonly mac?: string;
  readonly alias?: string;
  readonly linkState?: "up" | "down";
  readonly mtu?: number;
  readonly bootOrder?: number;
};

export interface DomainSpec {
  readonly name: string;
  readonly uuid?: string;
  /** "kvm" needs a usable /dev/kvm; "qemu" is TCG. Choosing between them is the caller's job. */
  readonly type: DomainType;
  /** What the guest has now (<currentMemory>, the balloon target). */
  readonly memoryKiB: number;
  /** Ceiling for live memory changes (<memory>); defaults to memoryKiB. */
  readonly maxMemoryKiB?: number;
  readonly vcpus: number;
  /** Ceiling for live vcpu changes; defaults to vcpus. */
  readonly maxVcpus?: number;
  /** Default "pc" (i440fx). "q35" gets a pcie-root and free root ports for hotplug. */
  readonly machine?: string;
  /** Default "x86_64". */
  readonly arch?: string;
  readonly boot?: DomainBoot;
  readonly disks?: readonly DomainDiskSpec[];
  readonly interfaces?: readonly InterfaceSpec[];
  /** The org.qemu.guest_agent.0 virtio channel; default true. */
  readonly guestAgent?: boolean;
  /** A qemu-xhci controller (usb disk/cdrom hotplug); default true. */
  readonly usbController?: boolean;
  /** Ports on that controller (libvirt accepts 1–15); default 8. */
  readonly usbPorts?: number;
  /** A virtio-scsi controller (scsi disk/cdrom hotplug); default true. */
  readonly scsiController?: boolean;
  /** Default VNC on 127.0.0.1 only. */
  readonly graphics?: GraphicsSpec;
  /** Default a pty serial console. */
  readonly serial?: SerialSpec;
  readonly onPoweroff?: LifecycleAction;
  readonly onReboot?: LifecycleAction;
  readonly onCrash?: CrashAction;
  /** q35 only: root ports left free for PCI hotplug (virtio disks), beyond the ones our devices use. Default 8. */
  readonly pcieHotplugPorts?: number;
}

/**
 * Spare q35 root ports when nothing says otherwise. Measured: with 4 spares the fifth virtio disk hot-plug fails
 * with "No more available PCI slots"; 8 leaves room for a handful of Disk resources.
 */
export const DEFAULT_HOTPLUG_SLOTS = 8;

// ---------------------------------------------------------------------------------------------
// Machine families

export type MachineFamily = "i440fx" | "q35" | "other";

/** "pc" and "pc-i440fx-7.2" are the same family; libvirt expands the alias in live XML. */
export function machineFamily(machine: string): MachineFamily {
  if (machine === "q35" || machine.startsWith("pc-q35-")) return "q35";
  if (machine === "pc" || machine.startsWith("pc-i440fx-") || /^pc-[0-9]/.test(machine)) return "i440fx";
  return "other";
}

// ---------------------------------------------------------------------------------------------
// Validation

const UUID = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$/;
const MACHINE_OR_ARCH = /^[A-Za-z0-9._-]+$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const LIFECYCLE: readonly string[] = ["destroy", "restart", "preserve", "rename-restart"];
const CRASH: readonly string[] = [...LIFECYCLE, "coredump-destroy", "coredump-restart"];
const BOOT_DEVICES: readonly string[] = ["hd", "cdrom", "network"];
const NIC_MODELS: readonly string[] = ["virtio", "e1000", "e1000e", "rtl8139"];

function requireCount(value: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new SpecError(field, `must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? "any" : max}, got ${value}`);
  }
}

function requireAbsolutePath(value: string, field: string): void {
  if (!value.startsWith("/")) throw new SpecError(field, `must be an absolute path, got ${JSON.stringify(value)}`);
}

function validateDomainSpec(spec: DomainSpec): void {
  if (spec.name.length === 0) throw new SpecError("name", "must not be empty");
  if (spec.name.includes("/")) throw new SpecError("name", "must not contain '/' (libvirt refuses it)");
  if (/[\u0000-\u001f\u007f]/.test(spec.name)) throw new SpecError("name", "must not contain control characters");
  if (spec.uuid !== undefined && !UUID.test(spec.uuid)) throw new SpecError("uuid", `is not a UUID: ${JSON.stringify(spec.uuid)}`);
  if (spec.type !== "kvm" && spec.type !== "qemu") throw new SpecError("type", `must be kvm or qemu, got ${JSON.stringify(spec.type)}`);
  requireCount(spec.memoryKiB, "memoryKiB", 1);
  if (spec.maxMemoryKiB !== undefined) {
    requireCount(spec.maxMemoryKiB, "maxMemoryKiB", 1);
    if (spec.maxMemoryKiB < spec.memoryKiB) throw new SpecError("maxMemoryKiB", `must be at least memoryKiB (${spec.memoryKiB}), got ${spec.maxMemoryKiB}`);
  }
  requireCount(spec.vcpus, "vcpus", 1);
  if (spec.maxVcpus !== undefined) {
    requireCount(spec.maxVcpus, "maxVcpus", 1);
    if (spec.maxVcpus < spec.vcpus) throw new SpecError("maxVcpus", `must be at least vcpus (${spec.vcpus}), got ${spec.maxVcpus}`);
  }
  if (spec.machine !== undefined && !MACHINE_OR_ARCH.test(spec.machine)) throw new SpecError("machine", `is not a machine type: ${JSON.stringify(spec.machine)}`);
  if (spec.arch !== undefined && !MACHINE_OR_ARCH.test(spec.arch)) throw new SpecError("arch", `is not an architecture: ${JSON.stringify(spec.arch)}`);
  if (spec.usbPorts !== undefined) requireCount(spec.usbPorts, "usbPorts", 1, 15);
  if (spec.pcieHotplugPorts !== undefined) requireCount(spec.pcieHotplugPorts, "pcieHotplugPorts", 0, 32);
  if (spec.onPoweroff !== undefined && !LIFECYCLE.includes(spec.onPoweroff)) throw new SpecError("onPoweroff", `must be one of ${LIFECYCLE.join(", ")}`);
  if (spec.onReboot !== undefined && !LIFECYCLE.includes(spec.onReboot)) throw new SpecError("onReboot", `must be one of ${LIFECYCLE.join(", ")}`);
  if (spec.onCrash !== undefined && !CRASH.includes(spec.onCrash)) throw new SpecError("onCrash", `must be one of ${CRASH.join(", ")}`);

  const boot = spec.boot;
  if (boot !== undefined) {
    if ("kernel" in boot) {
      requireAbsolutePath(boot.kernel, "boot.kernel");
      if (boot.initrd !== undefined) requireAbsolutePath(boot.initrd, "boot.initrd");
    } else {
      if (boot.devices.length === 0) throw new SpecError("boot.devices", "must list at least one device");
      boot.devices.forEach((device, i) => {
        if (!BOOT_DEVICES.includes(device)) throw new SpecError(`boot.devices[${i}]`, `must be one of ${BOOT_DEVICES.join(", ")}`);
      });
      if (new Set(boot.devices).size !== boot.devices.length) throw new SpecError("boot.devices", "must not repeat a device");
      const ordered = (spec.disks ?? []).findIndex((disk) => disk.bootOrder !== undefined);
      if (ordered >= 0) throw new SpecError(`disks[${ordered}].bootOrder`, "libvirt refuses per-disk boot order together with boot.devices; use one or the other");
    }
  }

  const family = machineFamily(spec.machine ?? "pc");
  const seenTargets = new Set<string>();
  (spec.disks ?? []).forEach((disk, i) => {
    if (disk.target !== undefined) {
      if (seenTargets.has(disk.target)) throw new SpecError(`disks[${i}].target`, `${disk.target} is used by an earlier disk`);
      seenTargets.add(disk.target);
    }
    if (disk.bus === "ide" && family === "q35") throw new SpecError(`disks[${i}].bus`, "q35 has no IDE controller; use sata or scsi");
  });
  if (spec.graphics?.type === "vnc" && spec.graphics.listen !== undefined && !/^[A-Za-z0-9.:_-]+$/.test(spec.graphics.listen)) {
    throw new SpecError("graphics.listen", `is not an address: ${JSON.stringify(spec.graphics.listen)}`);
  }
  if (spec.serial?.type === "file") requireAbsolutePath(spec.serial.path, "serial.path");
  (spec.interfaces ?? []).forEach((nic, i) => {
    if (nic.model !== undefined && !NIC_MODELS.includes(nic.model)) throw new SpecError(`interfaces[${i}].model`, `must be one of ${NIC_MODELS.join(", ")}`);
    if (nic.mac !== undefined && !MAC.test(nic.mac)) throw new SpecError(`interfaces[${i}].mac`, `is not a MAC address: ${JSON.stringify(nic.mac)}`);
    if (nic.type === "network" && nic.network.length === 0) throw new SpecError(`interfaces[${i}].network`, "must not be empty");
    if (nic.type === "bridge" && nic.bridge.length === 0) throw new SpecError(`interfaces[${i}].bridge`, "must not be empty");
    if (nic.alias !== undefined && !/^ua-[A-Za-z0-9_-]+$/.test(nic.alias)) throw new SpecError(`interfaces[${i}].alias`, `must be "ua-" followed by letters, digits, _ or -`);
  });
}

// ---------------------------------------------------------------------------------------------
// Building

/**
 * Fills in missing targets and scsi/sata addresses. Disks that name a target keep it; the others
 * get the lowest free name of their family, in list order.
 */
export function placeDomainDisks(disks: readonly DomainDiskSpec[]): DiskSpec[] {
  const takenTargets = new Set(disks.flatMap((disk) => (disk.target === undefined ? [] : [disk.target])));
  const placed: PlacedDisk[] = disks.flatMap((disk) =>
    disk.address === undefined ? [] : [{ target: disk.target ?? "", bus: disk.bus, address: disk.address }],
  );
  return disks.map((disk) => {
    const target = disk.target ?? pickFreeTarget(disk.bus, takenTargets);
    takenTargets.add(target);
    if (disk.address !== undefined || (disk.bus !== "scsi" && disk.bus !== "sata")) return { ...disk, target };
    const address = pickFreeDriveUnit(disk.bus, placed);
    placed.push({ target, bus: disk.bus, address });
    return { ...disk, target, address };
  });
}

function osElement(spec: DomainSpec): XmlElement {
  const type = textElement("hvm", { arch: spec.arch ?? "x86_64", machine: spec.machine ?? "pc" });
  const boot = spec.boot;
  if (boot === undefined) return element({}, { type });
  if ("kernel" in boot) {
    return element(
      {},
      {
        type,
        kernel: textElement(boot.kernel),
        initrd: boot.initrd === undefined ? undefined : textElement(boot.initrd),
        cmdline: boot.cmdline === undefined ? undefined : textElement(boot.cmdline),
      },
    );
  }
  return element({}, { type, boot: boot.devices.map((dev) => element({ dev })) });
}

export function interfaceElement(nic: InterfaceSpec): XmlElement {
  const source =
    nic.type === "network" ? element({ network: nic.network }) : nic.type === "bridge" ? element({ bridge: nic.bridge }) : undefined;
  const ipv4 = nic.type === "user" ? nic.ipv4 : undefined;
  return element(
    { type: nic.type },
    {
      mac: nic.mac === undefined ? undefined : element({ address: nic.mac }),
      source,
      ip: ipv4 === undefined ? undefined : element({ family: "ipv4", address: ipv4.address, prefix: ipv4.prefixLength }),
      model: element({ type: nic.model ?? "virtio" }),
      boot: nic.bootOrder === undefined ? undefined : element({ order: nic.bootOrder }),
      link: nic.linkState === undefined ? undefined : element({ state: nic.linkState }),
      mtu: nic.mtu === undefined ? undefined : element({ size: nic.mtu }),
      alias: nic.alias === undefined ? undefined : element({ name: nic.alias }),
    },
  );
}

function serialElements(serial: SerialSpec): XmlElement[] {
  switch (serial.type) {
    case "none":
      return [];
    case "pty":
      return [element({ type: "pty" }, { target: element({ port: 0 }) })];
    case "file":
      return [element({ type: "file" }, { source: element({ path: serial.path }), target: element({ port: 0 }) })];
  }
}

/**
 * PCI endpoints we add that need a slot. On q35 each takes a pcie-root-port (libvirt fills free
 * ports we declared before adding its own), so we declare these plus `pcieHotplugPorts` spares.
 */
function pciEndpointCount(spec: DomainSpec, disks: readonly DiskSpec[]): number {
  const usb = spec.usbController !== false ? 1 : 0;
  const scsi = spec.scsiController !== false ? 1 : 0;
  const virtioSerial = 1;
  const balloon = 1;
  const virtioDisks = disks.filter((disk) => disk.bus === "virtio").length;
  const nics = spec.interfaces?.length ?? 0;
  return usb + scsi + virtioSerial + balloon + virtioDisks + nics;
}

function controllerElements(spec: DomainSpec, disks: readonly DiskSpec[]): XmlElement[] {
  const controllers: XmlElement[] = [];
  if (machineFamily(spec.machine ?? "pc") === "q35") {
    controllers.push(element({ type: "pci", index: 0, model: "pcie-root" }));
    const ports = pciEndpointCount(spec, disks) + (spec.pcieHotplugPorts ?? DEFAULT_HOTPLUG_SLOTS);
    for (let index = 1; index <= ports; index++) controllers.push(element({ type: "pci", index, model: "pcie-root-port" }));
  }
  // Without an explicit USB controller libvirt adds a legacy one; "none" keeps the domain clean.
  controllers.push(
    spec.usbController !== false
      ? element({ type: "usb", index: 0, model: "qemu-xhci", ports: spec.usbPorts ?? 8 })
      : element({ type: "usb", index: 0, model: "none" }),
  );
  if (spec.scsiController !== false) controllers.push(element({ type: "scsi", index: 0, model: "virtio-scsi" }));
  controllers.push(element({ type: "virtio-serial", index: 0 }));
  return controllers;
}

export function graphicsElements(graphics: GraphicsSpec): XmlElement[] {
  if (graphics.type === "none") return [];
  const listen = graphics.listen ?? "127.0.0.1";
  return [element({ type: "vnc", port: -1, autoport: "yes", listen }, { listen: element({ type: "address", address: listen }) })];
}

/** The virtio-serial channel qemu-ga talks over. */
export function guestAgentChannelElement(): XmlElement {
  return element({ type: "unix" }, { target: element({ type: "virtio", name: GUEST_AGENT_CHANNEL_NAME }) });
}

/** The domain XML for define. Validates the spec first (SpecError names the field). */
export function buildDomainXml(spec: DomainSpec): string {
  validateDomainSpec(spec);
  const disks = placeDomainDisks(spec.disks ?? []);
  const maxMemoryKiB = spec.maxMemoryKiB ?? spec.memoryKiB;
  const maxVcpus = spec.maxVcpus ?? spec.vcpus;
  const domain = element(
    { type: spec.type },
    {
      name: textElement(spec.name),
      uuid: spec.uuid === undefined ? undefined : textElement(spec.uuid),
      memory: textElement(maxMemoryKiB, { unit: "KiB" }),
      currentMemory: textElement(spec.memoryKiB, { unit: "KiB" }),
      vcpu: textElement(maxVcpus, { placement: "static", current: maxVcpus === spec.vcpus ? undefined : spec.vcpus }),
      os: osElement(spec),
      // ACPI is what makes PCI hotplug and graceful shutdown work on x86.
      features: element({}, { acpi: element(), apic: element() }),
      on_poweroff: textElement(spec.onPoweroff ?? "destroy"),
      on_reboot: textElement(spec.onReboot ?? "restart"),
      on_crash: textElement(spec.onCrash ?? "destroy"),
      devices: element(
        {},
        {
          disk: disks.map((disk, i) => diskElement(disk, `disks[${i}]`)),
          controller: controllerElements(spec, disks),
          interface: (spec.interfaces ?? []).map(interfaceElement),
          serial: serialElements(spec.serial ?? { type: "pty" }),
          channel: spec.guestAgent !== false ? [guestAgentChannelElement()] : undefined,
          graphics: graphicsElements(spec.graphics ?? { type: "vnc" }),
          memballoon: element({ model: "virtio" }),
        },
      ),
    },
  );
  return buildXmlDocument("domain", domain);
}

// ---------------------------------------------------------------------------------------------
// Parsing

export interface ParsedController {
  readonly type: string;
  readonly index: number;
  readonly model: string | null;
  readonly ports: number | null;
  readonly alias: string | null;
}

export interface ParsedGraphics {
  readonly type: string;
  readonly listen: string | null;
  /** The live port; null when not yet allocated (-1 in inactive XML). */
  readonly port: number | null;
  readonly autoport: boolean;
}

export interface ParsedInterface {
  readonly type: string;
  /** Network or bridge name. */
  readonly source: string | null;
  readonly model: string | null;
  readonly mac: string | null;
  readonly alias: string | null;
  /** The host tap device (<target dev>, live XML of tap-backed types); null otherwise. */
  readonly target: string | null;
  /** <link state>; libvirt leaves the element out while the link is up. */
  readonly linkState: "up" | "down";
  readonly mtu: number | null;
  readonly bootOrder: number | null;
  /** User-mode networking's subnet (<ip family='ipv4' address prefix>); null when QEMU's default. */
  readonly ipv4: { readonly address: string; readonly prefixLength: number } | null;
  readonly address: DeviceAddress | null;
}

export interface ParsedOs {
  readonly kernel: string | null;
  readonly initrd: string | null;
  readonly cmdline: string | null;
  readonly bootDevices: string[];
}

export interface ParsedDomain {
  readonly name: string;
  readonly uuid: string | null;
  readonly type: string;
  /** libvirt's runtime id; null when the domain is not running (inactive XML has none). */
  readonly id: number | null;
  /**
   * <currentMemory> (falls back to <memory>). In live XML this is the balloon's actual size, not
   * the target: read the target from the INACTIVE XML.
   */
  readonly memoryKiB: number | null;
  /** <memory>: the ceiling for live memory changes. */
  readonly maxMemoryKiB: number | null;
  readonly vcpus: { readonly current: number; readonly max: number } | null;
  readonly machine: string | null;
  readonly arch: string | null;
  readonly os: ParsedOs;
  readonly onPoweroff: string | null;
  readonly onReboot: string | null;
  readonly onCrash: string | null;
  readonly disks: ParsedDisk[];
  readonly controllers: ParsedController[];
  readonly interfaces: ParsedInterface[];
  readonly graphics: ParsedGraphics[];
  readonly hasGuestAgentChannel: boolean;
  /** Live XML reports whether qemu-ga is connected; null when unknown (inactive XML, no channel). */
  readonly guestAgentState: "connected" | "disconnected" | null;
  /** The usb address of every device (disks, inputs, hubs, …): what a new usb device must avoid. */
  readonly usbAddresses: UsbAddress[];
  /** The pci address of every device and controller. */
  readonly pciAddresses: PciAddress[];
  /** Who holds which device: this project's element in <metadata> (device-claims.ts). */
  readonly claims: DeviceClaim[];
}

function memoryKiBOf(node: XmlNode | undefined): number | null {
  if (node === undefined) return null;
  return toKiB(text(node), attr(node, "unit")) ?? null;
}

function parseVcpus(node: XmlNode | undefined): ParsedDomain["vcpus"] {
  const max = uintValue(text(node));
  if (max === undefined) return null;
  return { current: uintValue(attr(node, "current")) ?? max, max };
}

function parseController(node: XmlNode): ParsedController {
  return {
    type: attr(node, "type") ?? "",
    index: uintValue(attr(node, "index")) ?? 0,
    model: attr(node, "model") ?? null,
    ports: uintValue(attr(node, "ports")) ?? null,
    alias: attr(child(node, "alias"), "name") ?? null,
  };
}

function parseGraphics(node: XmlNode): ParsedGraphics {
  const port = Number(attr(node, "port"));
  return {
    type: attr(node, "type") ?? "",
    listen: attr(node, "listen") ?? attr(child(node, "listen"), "address") ?? null,
    port: Number.isSafeInteger(port) && port > 0 ? port : null,
    autoport: attr(node, "autoport") === "yes",
  };
}

export function parseInterface(node: XmlNode): ParsedInterface {
  const source = child(node, "source");
  const ip = children(node, "ip").find((i) => (attr(i, "family") ?? "ipv4") === "ipv4" && attr(i, "address") !== undefined);
  return {
    type: attr(node, "type") ?? "",
    source: attr(source, "network") ?? attr(source, "bridge") ?? null,
    model: attr(child(node, "model"), "type") ?? null,
    mac: attr(child(node, "mac"), "address") ?? null,
    alias: attr(child(node, "alias"), "name") ?? null,
    target: attr(child(node, "target"), "dev") ?? null,
    linkState: attr(child(node, "link"), "state") === "down" ? "down" : "up",
    mtu: uintValue(attr(child(node, "mtu"), "size")) ?? null,
    bootOrder: uintValue(attr(child(node, "boot"), "order")) ?? null,
    ipv4: ip === undefined ? null : { address: attr(ip, "address")!, prefixLength: uintValue(attr(ip, "prefix")) ?? 24 },
    address: parseDeviceAddress(child(node, "address")),
  };
}

/** Every element directly under <devices>, whatever its kind. */
function allDevices(devices: XmlNode | undefined): XmlNode[] {
  if (devices === undefined) return [];
  return Object.keys(devices)
    .filter((key) => !key.startsWith("@_") && key !== "#text")
    .flatMap((key) => children(devices, key));
}

/** Reads a domain's XML as the daemon formats it (GET_XML_DESC, live or with the INACTIVE flag). */
export function parseDomainXml(xml: string): ParsedDomain {
  const domain = parseXmlDocument(xml, "domain", { formattedByLibvirt: true });
  const os = child(domain, "os");
  const osType = child(os, "type");
  const devices = child(domain, "devices");
  const agentTarget = children(devices, "channel")
    .map((channel) => child(channel, "target"))
    .find((target) => attr(target, "type") === "virtio" && attr(target, "name") === GUEST_AGENT_CHANNEL_NAME);
  const agentState = attr(agentTarget, "state");
  const addresses = allDevices(devices)
    .map((device) => parseDeviceAddress(child(device, "address")))
    .filter((address): address is DeviceAddress => address !== null);
  const id = uintValue(attr(domain, "id"));
  return {
    name: childText(domain, "name") ?? "",
    uuid: childText(domain, "uuid") ?? null,
    type: attr(domain, "type") ?? "",
    id: id ?? null,
    memoryKiB: memoryKiBOf(child(domain, "currentMemory")) ?? memoryKiBOf(child(domain, "memory")),
    maxMemoryKiB: memoryKiBOf(child(domain, "memory")),
    vcpus: parseVcpus(child(domain, "vcpu")),
    machine: attr(osType, "machine") ?? null,
    arch: attr(osType, "arch") ?? null,
    os: {
      kernel: childText(os, "kernel") ?? null,
      initrd: childText(os, "initrd") ?? null,
      cmdline: childText(os, "cmdline") ?? null,
      bootDevices: children(os, "boot").flatMap((boot) => attr(boot, "dev") ?? []),
    },
    onPoweroff: childText(domain, "on_poweroff") ?? null,
    onReboot: childText(domain, "on_reboot") ?? null,
    onCrash: childText(domain, "on_crash") ?? null,
    disks: parseDisks(domain),
    controllers: children(devices, "controller").map(parseController),
    interfaces: children(devices, "interface").map(parseInterface),
    graphics: children(devices, "graphics").map(parseGraphics),
    hasGuestAgentChannel: agentTarget !== undefined,
    guestAgentState: agentState === "connected" || agentState === "disconnected" ? agentState : null,
    usbAddresses: addresses.filter((a): a is UsbAddress => a.type === "usb"),
    pciAddresses: addresses.filter((a): a is PciAddress => a.type === "pci"),
    claims: claimsInMetadata(child(domain, "metadata")),
  };
}

/**
 * Whether a disk with a boot order can be attached. False when the domain boots by
 * <os><boot dev=…>, which libvirt also adds by itself when no device had a boot order at define.
 */
export function acceptsDeviceBootOrder(domain: Pick<ParsedDomain, "os">): boolean {
  return domain.os.bootDevices.length === 0;
}

/**
 * q35 root ports with nothing plugged in: where a PCI device (virtio disk) can be hot-added.
 * Returns their controller indexes (the bus number a device in that port gets).
 */
export function freePcieRootPorts(domain: Pick<ParsedDomain, "controllers" | "pciAddresses">): number[] {
  const busy = new Set(domain.pciAddresses.map((address) => address.bus));
  return domain.controllers
    .filter((c) => c.type === "pci" && c.model === "pcie-root-port" && !busy.has(c.index))
    .map((c) => c.index);
}

/**
 * How many PCI devices can still be hot-plugged into a q35 domain: its free root ports. What a Disk preview
 * counts before it promises a live virtio attach. 0 on machines without root ports (i440fx hot-plugs into the
 * slots of its own root bus, which this does not count).
 */
export function freeHotplugSlots(domain: Pick<ParsedDomain, "controllers" | "pciAddresses">): number {
  return freePcieRootPorts(domain).length;
}
