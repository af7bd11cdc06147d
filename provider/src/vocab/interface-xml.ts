// libvirt <interface> elements of an Interface resource: what an XML attach, an update-device and a config copy
// send, and the NIC found again in a parsed domain. The element itself is the one the Domain's inline NICs use
// (domain-xml.ts interfaceElement / parseInterface), so a NIC reads the same whichever resource made it.
//
// Measured on libvirt 9.0 / QEMU 7.2 (update-device with LIVE on a running domain):
//   - <link state> changes live on every type (network, bridge, user);
//   - the source changes live between networks, between bridges and between a network and a bridge (the same
//     tap moves to the other bridge); from or to type user it is refused ("unable to change config on 'user'
//     network type" / "… on 'network' network type");
//   - <mtu> is refused live ("cannot modify MTU"), and on type user at all ("setting MTU on interface type user
//     is not supported yet"); the model is refused live ("cannot modify network device model");
//   - with LIVE|CONFIG in one attach, libvirt gives the live and the config copy the same generated MAC;
//   - an update-device without <link> sets the link up: every update sends the link state it wants.

import { SpecError, XmlParseError } from "./errors";
import { interfaceElement, parseInterface, type InterfaceSpec, type NicModel, type ParsedDomain, type ParsedInterface } from "./domain-xml";
import { buildXmlDocument, parseXmlDocument } from "./xml";

export const NIC_MODELS: readonly NicModel[] = ["virtio", "e1000", "e1000e", "rtl8139"];
/**
 * Conventional PCI NICs: a q35 machine has no slot to hot-plug them into (libvirt 9.0: "No more available PCI
 * slots"); virtio and e1000e are PCI Express and take a free root port.
 */
export const CONVENTIONAL_PCI_MODELS: readonly NicModel[] = ["e1000", "rtl8139"];
/** The MTU range libvirt passes to the tap (Linux takes 68 up to 65535). */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
/** Linux interface names (bridges) are at most 15 characters (IFNAMSIZ - 1). */
export const MAX_BRIDGE_NAME_LENGTH = 15;

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const USER_ALIAS = /^ua-[A-Za-z0-9_-]+$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

/** A MAC a NIC may carry: six hex pairs, the group bit clear (not multicast or broadcast), not all zeros. */
export function isUnicastMac(mac: string): boolean {
  return MAC.test(mac) && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0 && !/^(00:){5}00$/.test(mac);
}

/** MACs compare lowercase: libvirt writes them so, a user may not. */
export function normalizeMac(mac: string): string {
  return mac.toLowerCase();
}

/** Checks what libvirt would refuse, or worse take, before it is sent; `field` prefixes the error paths. */
export function validateNicSpec(spec: InterfaceSpec, field = "interface"): void {
  if (spec.type !== "network" && spec.type !== "bridge" && spec.type !== "user") throw new SpecError(`${field}.type`, "must be network, bridge or user");
  if (spec.type === "network" && !NAME.test(spec.network)) throw new SpecError(`${field}.network`, `is not a network name: ${JSON.stringify(spec.network)}`);
  if (spec.type === "bridge" && (!NAME.test(spec.bridge) || spec.bridge.length > MAX_BRIDGE_NAME_LENGTH)) {
    throw new SpecError(`${field}.bridge`, `is not a bridge name (1-${MAX_BRIDGE_NAME_LENGTH} letters, digits, '.', '_', '-'): ${JSON.stringify(spec.bridge)}`);
  }
  if (spec.model !== undefined && !NIC_MODELS.includes(spec.model)) throw new SpecError(`${field}.model`, `must be one of ${NIC_MODELS.join(", ")}`);
  if (spec.mac !== undefined && !isUnicastMac(spec.mac)) throw new SpecError(`${field}.mac`, `is not a unicast MAC address: ${JSON.stringify(spec.mac)}`);
  if (spec.alias !== undefined && !USER_ALIAS.test(spec.alias)) throw new SpecError(`${field}.alias`, 'must be "ua-" followed by letters, digits, _ or -');
  if (spec.linkState !== undefined && spec.linkState !== "up" && spec.linkState !== "down") throw new SpecError(`${field}.linkState`, "must be up or down");
  if (spec.mtu !== undefined) {
    if (!Number.isSafeInteger(spec.mtu) || spec.mtu < MIN_MTU || spec.mtu > MAX_MTU) throw new SpecError(`${field}.mtu`, `must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${spec.mtu}`);
    if (spec.type === "user") throw new SpecError(`${field}.mtu`, "libvirt cannot set the MTU of a user-mode interface");
  }
  if (spec.bootOrder !== undefined && (!Number.isSafeInteger(spec.bootOrder) || spec.bootOrder < 1)) throw new SpecError(`${field}.bootOrder`, `must be a positive integer, got ${spec.bootOrder}`);
  if (spec.type === "user" && spec.ipv4 !== undefined) {
    if (!IPV4.test(spec.ipv4.address)) throw new SpecError(`${field}.ipv4.address`, `is not an IPv4 address: ${JSON.stringify(spec.ipv4.address)}`);
    const prefix = spec.ipv4.prefixLength;
    // slirp needs room for its gateway, DNS and DHCP range: a /30 or longer leaves none.
    if (!Number.isSafeInteger(prefix) || prefix < 8 || prefix > 29) throw new SpecError(`${field}.ipv4.prefixLength`, `must be an integer from 8 to 29, got ${prefix}`);
  }
}

/** The <interface> document for attach-device, update-device or a config copy. Validates first (SpecError names the field). */
export function buildInterfaceXml(spec: InterfaceSpec): string {
  validateNicSpec(spec);
  return buildXmlDocument("interface", interfaceElement(spec));
}

/** A standalone <interface> document (what buildInterfaceXml makes, or a device libvirt formatted). */
export function parseInterfaceXml(xml: string): ParsedInterface {
  return parseInterface(parseXmlDocument(xml, "interface"));
}

export function interfaceByAlias(domain: Pick<ParsedDomain, "interfaces"> | null | undefined, alias: string): ParsedInterface | undefined {
  return domain?.interfaces.find((nic) => nic.alias === alias);
}

/** The NIC of a domain with this MAC (any case), whoever made it. */
export function interfaceByMac(domain: Pick<ParsedDomain, "interfaces"> | null | undefined, mac: string): ParsedInterface | undefined {
  const wanted = normalizeMac(mac);
  return domain?.interfaces.find((nic) => nic.mac !== null && normalizeMac(nic.mac) === wanted);
}

/**
 * The spec of a NIC as libvirt reports it, for an update-device (libvirt finds the device by its MAC and alias and
 * compares the rest: what is not to change must be sent as it is) or for copying the running NIC into the config.
 * libvirt's own parts (the tap, the PCI address, the network port) are left for libvirt to keep.
 */
export function nicSpecFromParsed(nic: ParsedInterface): InterfaceSpec {
  const common = {
    model: (nic.model ?? "virtio") as NicModel,
    mac: nic.mac ?? undefined,
    alias: nic.alias ?? undefined,
    linkState: nic.linkState,
    mtu: nic.mtu ?? undefined,
    bootOrder: nic.bootOrder ?? undefined,
  };
  switch (nic.type) {
    case "network":
      return { type: "network", network: nic.source ?? "", ...common };
    case "bridge":
      return { type: "bridge", bridge: nic.source ?? "", ...common };
    case "user":
      return { type: "user", ipv4: nic.ipv4 ?? undefined, ...common };
    default:
      throw new XmlParseError(`interface ${nic.alias ?? nic.mac ?? ""} is of type ${JSON.stringify(nic.type)}, which an Interface cannot describe`);
  }
}
