// libvirt's <network> XML, built and read through the shared XML configuration, and the DHCP host entries
// NETWORK_UPDATE adds, changes and removes on a running network: the <host> element and the order of changes.
import { prefixFromNetmask } from "./ipv4";
import { attr, buildXmlDocument, child, children, childText, element, parseXmlDocument, textElement, uintValue, XmlElement, XmlNode } from "./xml";

/**
 * isolated: no <forward> (guests reach each other and the host only); nat, route, open: libvirt's forward modes
 * over a bridge it creates; bridge: an existing host bridge, libvirt creates nothing.
 */
export type NetworkMode = "nat" | "isolated" | "route" | "open" | "bridge";

export interface DhcpHost {
  /** Lowercase is what libvirt writes back; compare MACs case-insensitively. */
  mac: string;
  ip: string;
  hostname?: string;
}

export interface DhcpSpec {
  start: string;
  end: string;
  hosts: DhcpHost[];
}

export interface Ipv4Spec {
  /** The bridge's own address: the guests' gateway and DHCP server. */
  address: string;
  prefixLength: number;
  dhcp?: DhcpSpec;
}

export interface NetworkSpec {
  name: string;
  /** Kept across redefines: libvirt matches a definition to an existing network by name and uuid. */
  uuid?: string;
  mode: NetworkMode;
  /** The bridge libvirt creates (or, with mode bridge, the existing one); absent: libvirt picks virbrN. */
  bridgeName?: string;
  /** The bridge's MAC address, kept across redefines so a restart does not change it. */
  bridgeMac?: string;
  mtu?: number;
  ipv4?: Ipv4Spec;
}

export interface ParsedNetwork {
  name: string;
  uuid: string | null;
  /** A forward mode we do not manage (passthrough, hostdev, …) is read as it is. */
  mode: string;
  bridgeName: string | null;
  bridgeMac: string | null;
  mtu: number | null;
  /** The first IPv4 <ip>; null when there is none. */
  ipv4: { address: string; prefixLength: number; dhcp: DhcpSpec | null } | null;
}

const FORWARD_MODES: Record<NetworkMode, string | undefined> = { nat: "nat", route: "route", open: "open", bridge: "bridge", isolated: undefined };

/** One <host> entry, as the network XML and NETWORK_UPDATE's `xml` argument both carry it. */
export function dhcpHostElement(host: DhcpHost): XmlElement {
  return element({ mac: host.mac, name: host.hostname, ip: host.ip });
}

/** The `xml` argument of NETWORK_UPDATE for a DHCP host entry. */
export function dhcpHostXml(host: DhcpHost): string {
  return buildXmlDocument("host", dhcpHostElement(host));
}

function ipElement(ipv4: Ipv4Spec): XmlElement {
  const dhcp = ipv4.dhcp;
  return element(
    { address: ipv4.address, prefix: ipv4.prefixLength },
    {
      dhcp: dhcp
        ? element({}, { range: element({ start: dhcp.start, end: dhcp.end }), host: dhcp.hosts.map(dhcpHostElement) })
        : undefined,
    },
  );
}

export function buildNetworkXml(spec: NetworkSpec): string {
  const forwardMode = FORWARD_MODES[spec.mode];
  return buildXmlDocument(
    "network",
    element(
      {},
      {
        name: textElement(spec.name),
        uuid: spec.uuid !== undefined ? textElement(spec.uuid) : undefined,
        forward: forwardMode !== undefined ? element({ mode: forwardMode }) : undefined,
        bridge: spec.bridgeName !== undefined ? element({ name: spec.bridgeName }) : undefined,
        mtu: spec.mtu !== undefined ? element({ size: spec.mtu }) : undefined,
        // libvirt refuses a <mac> on a network that uses someone else's bridge.
        mac: spec.bridgeMac !== undefined && spec.mode !== "bridge" ? element({ address: spec.bridgeMac }) : undefined,
        ip: spec.ipv4 ? ipElement(spec.ipv4) : undefined,
      },
    ),
  );
}

function parseHost(node: XmlNode): DhcpHost | null {
  const mac = attr(node, "mac");
  const ip = attr(node, "ip");
  if (mac === undefined || ip === undefined) return null;
  const hostname = attr(node, "name");
  return hostname === undefined ? { mac: mac.toLowerCase(), ip } : { mac: mac.toLowerCase(), ip, hostname };
}

function parseIpv4(ip: XmlNode): ParsedNetwork["ipv4"] {
  const address = attr(ip, "address") ?? "";
  const netmask = attr(ip, "netmask");
  const prefixLength = uintValue(attr(ip, "prefix")) ?? (netmask !== undefined ? prefixFromNetmask(netmask) : null) ?? 24;
  const dhcp = child(ip, "dhcp");
  const range = child(dhcp, "range");
  return {
    address,
    prefixLength,
    dhcp:
      dhcp === undefined
        ? null
        : {
            start: attr(range, "start") ?? "",
            end: attr(range, "end") ?? "",
            hosts: children(dhcp, "host").flatMap((h) => parseHost(h) ?? []),
          },
  };
}

/** Reads a network's XML as the daemon formats it (NETWORK_GET_XML_DESC, live or with the INACTIVE flag). */
export function parseNetworkXml(xml: string): ParsedNetwork {
  const root = parseXmlDocument(xml, "network", { formattedByLibvirt: true });
  const forward = child(root, "forward");
  const ip = children(root, "ip").find((i) => (attr(i, "family") ?? "ipv4") === "ipv4" && (attr(i, "address") ?? "").includes("."));
  return {
    name: childText(root, "name") ?? "",
    uuid: childText(root, "uuid") ?? null,
    // A <forward> without a mode is NAT, libvirt's default.
    mode: forward === undefined ? "isolated" : attr(forward, "mode") ?? "nat",
    bridgeName: attr(child(root, "bridge"), "name") ?? null,
    bridgeMac: attr(child(root, "mac"), "address") ?? null,
    mtu: uintValue(attr(child(root, "mtu"), "size")) ?? null,
    ipv4: ip === undefined ? null : parseIpv4(ip),
  };
}

// ---------------------------------------------------------------------------------------------------------
// DHCP host entries changed in place

export type DhcpHostCommand = "delete" | "modify" | "add";

export interface DhcpHostChange {
  command: DhcpHostCommand;
  /** For delete: the entry exactly as the network has it (libvirt deletes only an entry whose every given attribute matches). */
  host: DhcpHost;
}

const sameMac = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
const sameEntry = (a: DhcpHost, b: DhcpHost): boolean => sameMac(a.mac, b.mac) && a.ip === b.ip && (a.hostname ?? "") === (b.hostname ?? "");

/**
 * The NETWORK_UPDATE calls that turn the `current` host entries into the `wanted` ones, in an order libvirt
 * accepts: it refuses an entry whose MAC, IP or name another entry still holds, so deletes go first, then
 * in-place changes of an entry (same MAC: MODIFY), then additions. An entry whose new IP or name another
 * current entry holds is deleted and added again, so that no step ever meets a duplicate.
 */
export function planDhcpHostChanges(current: readonly DhcpHost[], wanted: readonly DhcpHost[]): DhcpHostChange[] {
  const deletes: DhcpHostChange[] = [];
  const modifies: DhcpHostChange[] = [];
  const adds: DhcpHostChange[] = [];
  for (const host of current) {
    if (!wanted.some((w) => sameMac(w.mac, host.mac))) deletes.push({ command: "delete", host });
  }
  for (const want of wanted) {
    const had = current.find((c) => sameMac(c.mac, want.mac));
    if (had === undefined) {
      adds.push({ command: "add", host: want });
      continue;
    }
    if (sameEntry(had, want)) continue;
    const clashes = current.some(
      (c) => !sameMac(c.mac, want.mac) && (c.ip === want.ip || (want.hostname !== undefined && c.hostname === want.hostname)),
    );
    if (clashes) {
      deletes.push({ command: "delete", host: had });
      adds.push({ command: "add", host: want });
    } else {
      modifies.push({ command: "modify", host: want });
    }
  }
  return [...deletes, ...modifies, ...adds];
}
