// Boot by per-device order instead of <os><boot dev>. libvirt refuses a device carrying <boot order> on a domain
// whose <os> lists boot devices, and it adds <os><boot dev='hd'/> by itself at define time whenever no device has
// an order (even for a domain that boots a kernel directly). To attach such a device to the persistent config, the
// config is rewritten so every listed boot device becomes an equivalent per-device order: 'hd' the first disk,
// 'cdrom' the first cdrom, 'network' the first interface, in the listed sequence.

import { diskElement, type DiskSpec } from "./disk-xml";
import { interfaceElement, type InterfaceSpec } from "./domain-xml";
import { attr, buildXmlDocument, children, parseXmlDocument, type XmlElement, type XmlNode } from "./xml";

type Mutable = Record<string, unknown>;

/** Whether a boot device list is what libvirt writes by itself (none, or just 'hd'): no one chose it. */
export function isLibvirtDefaultBoot(bootDevices: readonly string[]): boolean {
  return bootDevices.length === 0 || (bootDevices.length === 1 && bootDevices[0] === "hd");
}

/** Whether <os><boot dev> is only libvirt's own default (or meaningless beside a kernel), so converting it changes nothing. */
export function bootDevicesAreDefault(os: { kernel: string | null; bootDevices: readonly string[] }): boolean {
  return os.kernel !== null || isLibvirtDefaultBoot(os.bootDevices);
}

function asList(value: unknown): Mutable[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map((v) => (typeof v === "string" ? { "#text": v } : (v as Mutable)));
}

/**
 * The indentation libvirt formats its XML with parses as text between elements; written back it would come out
 * as character references. Only element text that is not blank is kept.
 */
function withoutBlankText(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutBlankText);
  if (node === null || typeof node !== "object") return node;
  const out: Mutable = {};
  for (const [key, value] of Object.entries(node as Mutable)) {
    if (key === "#text" && typeof value === "string" && value.trim() === "" && Object.keys(node as Mutable).length > 1) continue;
    out[key] = withoutBlankText(value);
  }
  return out;
}

function hasBootOrder(device: XmlNode): boolean {
  return children(device, "boot").some((b) => attr(b, "order") !== undefined);
}

/** The devices the listed boot devices stand for, in boot sequence. */
function bootTargets(devices: Mutable, bootDevices: readonly string[]): Mutable[] {
  const disks = asList(devices["disk"]);
  const nics = asList(devices["interface"]);
  const pick: Record<string, () => Mutable | undefined> = {
    hd: () => disks.find((d) => (attr(d, "device") ?? "disk") === "disk"),
    cdrom: () => disks.find((d) => attr(d, "device") === "cdrom"),
    network: () => nics[0],
  };
  return bootDevices.flatMap((dev) => {
    const device = pick[dev]?.();
    return device && !hasBootOrder(device) ? [device] : [];
  });
}

/**
 * The persistent domain XML rewritten to boot by per-device order, optionally with `add` (a disk or cdrom, or
 * `{ interface }` a NIC, carrying its own order) among its devices: added in the same define, since a define that
 * leaves no device with an order gets libvirt's <boot dev='hd'/> back. Orders given to converted devices skip every
 * order already in use.
 */
export function bootByDeviceOrder(domainXml: string, add?: DiskSpec | { readonly interface: InterfaceSpec }): string {
  const domain = withoutBlankText(parseXmlDocument(domainXml, "domain", { formattedByLibvirt: true })) as Mutable;
  const os = (domain["os"] ?? {}) as Mutable;
  const devices = (domain["devices"] ?? {}) as Mutable;
  const bootDevices = asList(os["boot"]).flatMap((b) => attr(b, "dev") ?? []);

  const used = new Set<number>();
  for (const list of Object.values(devices)) {
    for (const device of asList(list)) for (const boot of children(device, "boot")) used.add(Number(attr(boot, "order")));
  }
  const addedOrder = add === undefined ? undefined : "interface" in add ? add.interface.bootOrder : add.bootOrder;
  if (addedOrder !== undefined) used.add(addedOrder);
  let next = 1;
  for (const device of bootTargets(devices, bootDevices)) {
    while (used.has(next)) next++;
    device["boot"] = { "@_order": String(next) };
    used.add(next);
  }
  delete os["boot"];
  if (add && "interface" in add) devices["interface"] = [...asList(devices["interface"]), interfaceElement(add.interface) as unknown as Mutable];
  else if (add) devices["disk"] = [...asList(devices["disk"]), diskElement(add, "disk") as unknown as Mutable];
  return buildXmlDocument("domain", domain as unknown as XmlElement);
}
