// Redefining a domain: start from its current persistent XML and change only what the Domain resource owns
// (memory, vcpus, machine, <os> boot, inline disks, its own NICs, the agent channel, graphics, spare q35 root
// ports). Everything else stays as libvirt has it: MACs and PCI addresses, disks that Disk/Cdrom resources
// attached, and any device added beside Pulumi. Rebuilding the whole XML from inputs lost all of those.
// Pure: XML in, XML out.

import { diskElement, parseDiskElement, type DeviceAddress, type DiskBus, type ParsedDisk } from "./disk-xml";
import { pickFreeDriveUnit, pickFreeTarget, type PlacedDisk } from "./disk-placement";
import {
  freeHotplugSlots,
  GUEST_AGENT_CHANNEL_NAME,
  graphicsElements,
  guestAgentChannelElement,
  interfaceElement,
  machineFamily,
  parseDomainXml,
  type DomainBoot,
  type DomainDiskSpec,
  type GraphicsSpec,
  type InterfaceSpec,
  type MachineFamily,
} from "./domain-xml";
import { SpecError } from "./errors";
import { ATTR_PREFIX, buildXmlDocument, parseXmlDocument, TEXT_KEY, type XmlElement } from "./xml";
import { isLibvirtDefaultBoot } from "./boot-order";

/** Inline disks carry these aliases, so a redefine can tell them from disks that Disk/Cdrom resources attached. */
export const INLINE_DISK_ALIAS_PREFIX = "ua-inline-";
/** NICs the Domain made carry these (older domains' NICs have no alias at all, which counts as ours too). */
export const INLINE_NIC_ALIAS_PREFIX = "ua-inline-nic-";

export function inlineDiskAlias(index: number): string {
  return `${INLINE_DISK_ALIAS_PREFIX}${index}`;
}

export function inlineNicAlias(index: number): string {
  return `${INLINE_NIC_ALIAS_PREFIX}${index}`;
}

/** Whether a disk alias marks a Domain's inline disk (ua-inline-0, ua-inline-1, …). */
export function isInlineDiskAlias(alias: string | null | undefined): boolean {
  return alias !== null && alias !== undefined && /^ua-inline-[0-9]+$/.test(alias);
}

/**
 * Whether a NIC belongs to the Domain's `networks`: ours by alias, or without a user alias (what the Domain
 * wrote before NICs carried one, or what an adopted domain brought). A NIC with any other "ua-" alias was
 * added by something else and is left alone.
 */
export function isDomainNic(alias: string | null | undefined): boolean {
  return alias === null || alias === undefined || !alias.startsWith("ua-") || alias.startsWith(INLINE_NIC_ALIAS_PREFIX);
}

/** What the Domain owns in its config. Undefined parts are left as they are. */
export interface DomainEdit {
  /** <currentMemory>. */
  readonly memoryKiB: number;
  /** <memory>. */
  readonly maxMemoryKiB: number;
  readonly vcpus: number;
  readonly maxVcpus: number;
  /** Set unless the config holds the same machine under its versioned name ("pc" = pc-i440fx-7.2). */
  readonly machine?: string;
  /** null: no boot input (device boot orders decide, libvirt's own default otherwise). */
  readonly boot?: DomainBoot | null;
  /** The inline disks in input order; they get aliases ua-inline-<i>. */
  readonly inlineDisks?: readonly DomainDiskSpec[];
  /** The first inline disk boots first (order 1) unless a boot order is already there. */
  readonly firstDiskBoots?: boolean;
  /** The Domain's NICs in input order, matched by position among the NICs it owns. */
  readonly interfaces?: readonly InterfaceSpec[];
  readonly guestAgent?: boolean;
  readonly graphics?: GraphicsSpec;
  /** q35 only: free root ports to keep for hot-plugged PCI devices; ports are added, never removed. */
  readonly hotplugSlots?: number;
}

// ---------------------------------------------------------------------------------------------
// A mutable copy of the parsed tree (the shapes xml.ts parses: "@_attr", "#text", children by tag)

type Node = Record<string, unknown>;

/** Deep copy; drops the whitespace between child elements (the builder indents by itself). */
function mutable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mutable);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const hasChildren = entries.some(([key]) => !key.startsWith(ATTR_PREFIX) && key !== TEXT_KEY);
  const out: Node = {};
  for (const [key, inner] of entries) {
    if (key === TEXT_KEY && hasChildren && typeof inner === "string" && inner.trim() === "") continue;
    out[key] = mutable(inner);
  }
  return out;
}

/** A text-only or empty element parses as a string: give it an object shape to edit. */
function asNode(value: unknown): Node {
  if (typeof value === "string") return value === "" ? {} : { [TEXT_KEY]: value };
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Node) : {};
}

/** The child `key`, made an editable object in place (created when absent). */
function childNode(parent: Node, key: string): Node {
  const node = asNode(Array.isArray(parent[key]) ? (parent[key] as unknown[])[0] : parent[key]);
  parent[key] = node;
  return node;
}

function kids(parent: Node, key: string): Node[] {
  const value = parent[key];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(asNode);
}

function setKids(parent: Node, key: string, list: readonly Node[]): void {
  if (list.length === 0) delete parent[key];
  else parent[key] = [...list];
}

function attrOf(node: Node | undefined, name: string): string | undefined {
  const value = node?.[ATTR_PREFIX + name];
  return typeof value === "string" ? value : undefined;
}

function firstKid(node: Node | undefined, key: string): Node | undefined {
  return node === undefined ? undefined : kids(node, key)[0];
}

function aliasOf(device: Node): string | undefined {
  return attrOf(firstKid(device, "alias"), "name");
}

/** Our builders' elements are plain objects of the same shape. */
function fromElement(element: XmlElement): Node {
  return mutable(element) as Node;
}

/** Every device element under <devices>, with its tag. */
function allDevices(devices: Node): { tag: string; node: Node }[] {
  return Object.keys(devices)
    .filter((key) => !key.startsWith(ATTR_PREFIX) && key !== TEXT_KEY)
    .flatMap((tag) => kids(devices, tag).map((node) => ({ tag, node })));
}

// ---------------------------------------------------------------------------------------------
// Boot orders

export interface DeviceBootOrder {
  readonly device: string;
  readonly order: number;
  readonly alias: string | null;
  /** A disk's target, when the device is a disk. */
  readonly target: string | null;
}

function bootOrdersOf(devices: Node): DeviceBootOrder[] {
  return allDevices(devices).flatMap(({ tag, node }) => {
    const order = Number(attrOf(firstKid(node, "boot"), "order"));
    if (!Number.isSafeInteger(order) || order < 1) return [];
    return [{ device: tag, order, alias: aliasOf(node) ?? null, target: attrOf(firstKid(node, "target"), "dev") ?? null }];
  });
}

/**
 * Every per-device <boot order> in a domain XML. A new device's order must not repeat one of these, and a
 * domain whose devices carry any cannot boot by <os><boot dev> (libvirt refuses the mix).
 */
export function deviceBootOrders(xml: string): DeviceBootOrder[] {
  const root = mutable(parseXmlDocument(xml, "domain", { formattedByLibvirt: true })) as Node;
  return bootOrdersOf(childNode(root, "devices"));
}

// ---------------------------------------------------------------------------------------------
// The edits

function setCounts(root: Node, edit: DomainEdit): void {
  childNode(root, "memory")[TEXT_KEY] = String(edit.maxMemoryKiB);
  childNode(root, "memory")[`${ATTR_PREFIX}unit`] = "KiB";
  childNode(root, "currentMemory")[TEXT_KEY] = String(edit.memoryKiB);
  childNode(root, "currentMemory")[`${ATTR_PREFIX}unit`] = "KiB";
  const vcpu = childNode(root, "vcpu");
  vcpu[TEXT_KEY] = String(edit.maxVcpus);
  if (edit.vcpus < edit.maxVcpus) vcpu[`${ATTR_PREFIX}current`] = String(edit.vcpus);
  else delete vcpu[`${ATTR_PREFIX}current`];
}

/** "pc" and "q35" are aliases libvirt expands to the newest versioned machine when it stores the config. */
export function sameMachine(configured: string | undefined, wanted: string): boolean {
  if (configured === undefined) return false;
  if (configured === wanted) return true;
  if (wanted === "pc") return configured.startsWith("pc-i440fx-");
  if (wanted === "q35") return configured.startsWith("pc-q35-");
  return false;
}

/** A machine of another family has another PCI topology: drop the old one and let libvirt lay it out again. */
function resetPciLayout(devices: Node, family: MachineFamily): void {
  for (const { node } of allDevices(devices)) {
    if (attrOf(firstKid(node, "address"), "type") === "pci") delete node.address;
  }
  const controllers = kids(devices, "controller").filter((c) => attrOf(c, "type") !== "pci" && !(family === "q35" && attrOf(c, "type") === "ide"));
  if (family === "q35") controllers.unshift({ [`${ATTR_PREFIX}type`]: "pci", [`${ATTR_PREFIX}index`]: "0", [`${ATTR_PREFIX}model`]: "pcie-root" });
  setKids(devices, "controller", controllers);
}

/**
 * Which existing disk each inline disk is (an index into `disks`, or null for a new one): the one with its
 * alias ua-inline-<i>, else (a domain taken over with adopt) a disk without a user alias and the same source.
 */
export function matchInlineDisks(disks: readonly ParsedDisk[], sources: readonly (string | null | undefined)[]): (number | null)[] {
  const claimed = new Set<number>();
  return sources.map((source, i) => {
    let found = disks.findIndex((d, j) => !claimed.has(j) && d.alias === inlineDiskAlias(i));
    if (found < 0 && source) found = disks.findIndex((d, j) => !claimed.has(j) && !d.alias?.startsWith("ua-") && d.source === source);
    if (found < 0) return null;
    claimed.add(found);
    return found;
  });
}

function editInlineDisks(devices: Node, specs: readonly DomainDiskSpec[], deviceBoot: boolean, firstDiskBoots: boolean): void {
  const disks = kids(devices, "disk");
  const parsed = disks.map((d) => parseDiskElement(d));
  const found = matchInlineDisks(parsed, specs.map((s) => s.source));
  const matches = found.map((j) => (j === null ? null : parsed[j]!));
  const claimed = new Set(found.filter((j): j is number => j !== null));
  // Every other ua-inline-N disk was an inline disk the inputs no longer have.
  const keptIndexes = disks.flatMap((d, j) => (!claimed.has(j) && !isInlineDiskAlias(aliasOf(d)) ? [j] : []));
  const kept = keptIndexes.map((j) => disks[j]!);
  const keptParsed = keptIndexes.map((j) => parsed[j]!);

  const keepsPlace = (i: number) => {
    const old = matches[i];
    const spec = specs[i]!;
    return old !== null && old.bus === spec.bus && (spec.target === undefined || spec.target === old.target) ? old : null;
  };
  const takenTargets = new Set<string>([...keptParsed.map((d) => d.target), ...specs.flatMap((s) => (s.target === undefined ? [] : [s.target]))]);
  // Targets and addresses that stay are reserved before any new one is picked.
  const oldTargets = new Set<string>();
  specs.forEach((_, i) => {
    const old = keepsPlace(i);
    if (old !== null && !takenTargets.has(old.target)) oldTargets.add(old.target);
  });
  oldTargets.forEach((t) => takenTargets.add(t));
  const placed: PlacedDisk[] = [...keptParsed, ...specs.flatMap((_, i) => keepsPlace(i) ?? [])];
  const otherOrders = new Set(bootOrdersOf({ ...devices, disk: kept }).map((b) => b.order));

  const built = specs.map((spec, i) => {
    const old = keepsPlace(i);
    let target = spec.target;
    if (target === undefined) {
      target = old !== null && oldTargets.delete(old.target) ? old.target : pickFreeTarget(spec.bus as DiskBus, takenTargets);
      takenTargets.add(target);
    }
    let address: DeviceAddress | undefined = spec.address ?? old?.address ?? undefined;
    if (address === undefined && (spec.bus === "scsi" || spec.bus === "sata")) {
      address = pickFreeDriveUnit(spec.bus, placed);
      placed.push({ target, bus: spec.bus, address });
    }
    if (deviceBoot && spec.bootOrder !== undefined) {
      throw new SpecError(`disks[${i}].bootOrder`, "libvirt refuses per-disk boot order together with boot.devices; use one or the other");
    }
    // Orders the inputs give win. Without any, an order already there stays (it may be what the guest boots
    // from), and the first disk boots first, as at create.
    const standing = firstDiskBoots ? (matches[i]?.bootOrder ?? (i === 0 && !otherOrders.has(1) ? 1 : undefined)) : undefined;
    const bootOrder = deviceBoot ? undefined : (spec.bootOrder ?? standing);
    return fromElement(diskElement({ ...spec, target, address, bootOrder, alias: inlineDiskAlias(i) }, `disks[${i}]`));
  });
  setKids(devices, "disk", [...built, ...kept]);
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Changes a NIC the Domain owns in place: its <mac> (unless the input names one) and <address> stay. */
function editNic(node: Node, spec: InterfaceSpec, field: string): Node {
  if (spec.mac !== undefined && !MAC.test(spec.mac)) throw new SpecError(`${field}.mac`, `is not a MAC address: ${JSON.stringify(spec.mac)}`);
  const wantedSource = spec.type === "network" ? { network: spec.network } : spec.type === "bridge" ? { bridge: spec.bridge } : null;
  const source = firstKid(node, "source");
  const sameSource =
    attrOf(node, "type") === spec.type &&
    (wantedSource === null || Object.entries(wantedSource).every(([name, value]) => attrOf(source, name) === value));
  node[`${ATTR_PREFIX}type`] = spec.type;
  if (!sameSource) {
    if (wantedSource === null) delete node.source;
    else node.source = Object.fromEntries(Object.entries(wantedSource).map(([name, value]) => [ATTR_PREFIX + name, value]));
  }
  childNode(node, "model")[`${ATTR_PREFIX}type`] = spec.model ?? "virtio";
  if (spec.mac !== undefined) node.mac = { [`${ATTR_PREFIX}address`]: spec.mac };
  return node;
}

function editInterfaces(devices: Node, specs: readonly InterfaceSpec[]): void {
  const nics = kids(devices, "interface");
  const owned = nics.filter((n) => isDomainNic(aliasOf(n)));
  const others = nics.filter((n) => !isDomainNic(aliasOf(n)));
  const edited = specs.map((spec, i) => {
    const existing = owned[i];
    if (existing !== undefined) return editNic(existing, spec, `interfaces[${i}]`);
    if (spec.mac !== undefined && !MAC.test(spec.mac)) throw new SpecError(`interfaces[${i}].mac`, `is not a MAC address: ${JSON.stringify(spec.mac)}`);
    return fromElement(interfaceElement({ ...spec, alias: inlineNicAlias(i) }));
  });
  setKids(devices, "interface", [...edited, ...others]);
}

function editAgentChannel(devices: Node, wanted: boolean): void {
  const isAgent = (channel: Node) => {
    const target = firstKid(channel, "target");
    return attrOf(target, "type") === "virtio" && attrOf(target, "name") === GUEST_AGENT_CHANNEL_NAME;
  };
  const channels = kids(devices, "channel");
  if (wanted && !channels.some(isAgent)) setKids(devices, "channel", [...channels, fromElement(guestAgentChannelElement())]);
  if (!wanted) setKids(devices, "channel", channels.filter((c) => !isAgent(c)));
}

function editGraphics(devices: Node, graphics: GraphicsSpec): void {
  const existing = kids(devices, "graphics");
  if (graphics.type === "vnc") {
    const listen = graphics.listen ?? "127.0.0.1";
    const only = existing.length === 1 ? existing[0] : undefined;
    // The same console stays as it is (its port choice included).
    if (only && attrOf(only, "type") === "vnc" && (attrOf(only, "listen") ?? attrOf(firstKid(only, "listen"), "address")) === listen) return;
  }
  setKids(devices, "graphics", graphicsElements(graphics).map(fromElement));
}

function editBoot(os: Node, devices: Node, boot: DomainBoot | null): void {
  for (const key of ["kernel", "initrd", "cmdline", "boot"]) delete os[key];
  if (boot === null) return; // device orders decide; with none, libvirt adds <boot dev='hd'/> by itself
  if ("kernel" in boot) {
    os.kernel = { [TEXT_KEY]: boot.kernel };
    if (boot.initrd !== undefined) os.initrd = { [TEXT_KEY]: boot.initrd };
    if (boot.cmdline !== undefined) os.cmdline = { [TEXT_KEY]: boot.cmdline };
    return;
  }
  const ordered = bootOrdersOf(devices);
  // ["hd"] is what libvirt writes by itself; a Disk or Cdrom with a boot order turned it into the equivalent
  // per-device orders (boot-order.ts), which stay.
  if (ordered.length > 0 && isLibvirtDefaultBoot(boot.devices)) return;
  if (ordered.length > 0) {
    const which = ordered.map((b) => b.alias ?? b.target ?? b.device).join(", ");
    throw new SpecError("boot.devices", `libvirt refuses <os><boot dev> while devices carry a boot order (${which}); drop their bootOrder or boot.devices`);
  }
  os.boot = boot.devices.map((dev) => ({ [`${ATTR_PREFIX}dev`]: dev }));
}

/** Devices without an address yet that libvirt will put on a PCI slot (on q35: into a root port). */
function pendingPciEndpoints(devices: Node): number {
  return allDevices(devices).filter(({ tag, node }) => {
    if (firstKid(node, "address") !== undefined) return false;
    const type = attrOf(node, "type");
    const model = attrOf(node, "model");
    switch (tag) {
      case "disk":
        return attrOf(firstKid(node, "target"), "bus") === "virtio";
      case "interface":
        return true;
      case "controller":
        return (type === "usb" && (model === "qemu-xhci" || model === "nec-xhci")) || type === "scsi" || type === "virtio-serial";
      case "memballoon":
      case "rng":
        return model === "virtio";
      default:
        return false;
    }
  }).length;
}

/** Adds root ports until `slots` stay free once libvirt has placed the devices that have no address yet. */
function addHotplugPorts(root: Node, devices: Node, slots: number): void {
  const free = freeHotplugSlots(parseDomainXml(buildXmlDocument("domain", root as XmlElement)));
  const missing = slots + pendingPciEndpoints(devices) - free;
  if (missing <= 0) return;
  const controllers = kids(devices, "controller");
  const pciIndexes = controllers.filter((c) => attrOf(c, "type") === "pci").map((c) => Number(attrOf(c, "index") ?? 0));
  const next = Math.max(0, ...pciIndexes) + 1;
  for (let i = 0; i < missing; i++) {
    controllers.push({ [`${ATTR_PREFIX}type`]: "pci", [`${ATTR_PREFIX}index`]: String(next + i), [`${ATTR_PREFIX}model`]: "pcie-root-port" });
  }
  setKids(devices, "controller", controllers);
}

/**
 * The persistent XML to define: `currentXml` (the domain's INACTIVE XML) with the Domain's own parts set as
 * `edit` says. name, uuid and everything else stay. Throws SpecError for an edit libvirt would refuse.
 */
export function editDomainXml(currentXml: string, edit: DomainEdit): string {
  const root = mutable(parseXmlDocument(currentXml, "domain", { formattedByLibvirt: true })) as Node;
  setCounts(root, edit);
  const os = childNode(root, "os");
  const osType = childNode(os, "type");
  const familyBefore = machineFamily(attrOf(osType, "machine") ?? "pc");
  if (edit.machine !== undefined && !sameMachine(attrOf(osType, "machine"), edit.machine)) osType[`${ATTR_PREFIX}machine`] = edit.machine;
  const family = machineFamily(attrOf(osType, "machine") ?? "pc");
  const devices = childNode(root, "devices");
  if (family !== familyBefore) resetPciLayout(devices, family);

  const deviceBoot = edit.boot === undefined ? kids(os, "boot").length > 0 : edit.boot !== null && "devices" in edit.boot;
  if (edit.inlineDisks !== undefined) editInlineDisks(devices, edit.inlineDisks, deviceBoot, edit.firstDiskBoots ?? false);
  if (edit.interfaces !== undefined) editInterfaces(devices, edit.interfaces);
  if (edit.guestAgent !== undefined) editAgentChannel(devices, edit.guestAgent);
  if (edit.graphics !== undefined) editGraphics(devices, edit.graphics);
  // Last: whether devices carry orders (which rules out <os><boot dev>) is known only now.
  if (edit.boot !== undefined) editBoot(os, devices, edit.boot);
  if (family === "q35" && edit.hotplugSlots !== undefined) addHotplugPorts(root, devices, edit.hotplugSlots);
  return buildXmlDocument("domain", root as XmlElement);
}
