// A guest's IP addresses, by NIC: libvirt's DOMAIN_INTERFACE_ADDRESSES asked twice, once for what the guest agent
// reports (guest-network-get-interfaces) and once for the DHCP leases of the libvirt networks the NICs are on,
// matched by MAC. Addresses are outputs that change with the guest's life: never an input, never drift.
import { DomainRef, InterfaceAddressSource, IpAddrType, LibvirtClient, LibvirtError, uuidToString } from "../libvirt";
import type { DomainInterfaceAddresses } from "../libvirt";
import { pollUntil } from "./qemu";
import { shareForMoment } from "./shared-moment";

export interface InterfaceAddress {
  address: string;
  prefixLength: number;
  family: "ipv4" | "ipv6";
  source: "agent" | "lease";
}

/** Loopback and link-local addresses say nothing about how to reach the guest: left out. */
export function isReachableAddress(address: string, family: "ipv4" | "ipv6"): boolean {
  if (family === "ipv4") return !/^127\./.test(address) && !/^169\.254\./.test(address);
  const lower = address.toLowerCase();
  return lower !== "::1" && !/^fe[89ab][0-9a-f]:/.test(lower);
}

/** One source's answer, or nothing when that source has nothing to say (no agent, not running, no lease). */
async function fromSource(client: LibvirtClient, dom: DomainRef, source: number): Promise<DomainInterfaceAddresses[]> {
  try {
    return await client.domainInterfaceAddresses(dom, source);
  } catch (error) {
    // No agent configured or answering, a stopped domain, a NIC on no libvirt network: no addresses, not a failure.
    if (error instanceof LibvirtError) return [];
    throw error;
  }
}

function family(type: number): "ipv4" | "ipv6" {
  return type === IpAddrType.Ipv6 ? "ipv6" : "ipv4";
}

/**
 * Merges the two sources per MAC (lowercase): an address both report counts once, as the agent's (the guest's own
 * word); IPv4 first, then by address, so the output stays stable from one read to the next.
 */
export function mergeAddresses(agent: readonly DomainInterfaceAddresses[], lease: readonly DomainInterfaceAddresses[]): Map<string, InterfaceAddress[]> {
  const byMac = new Map<string, InterfaceAddress[]>();
  const add = (ifaces: readonly DomainInterfaceAddresses[], source: InterfaceAddress["source"]) => {
    for (const iface of ifaces) {
      if (!iface.mac) continue;
      const list = byMac.get(iface.mac) ?? [];
      for (const a of iface.addrs) {
        const f = family(a.type);
        if (!isReachableAddress(a.addr, f) || list.some((x) => x.address === a.addr)) continue;
        list.push({ address: a.addr, prefixLength: a.prefix, family: f, source });
      }
      byMac.set(iface.mac, list);
    }
  };
  add(agent, "agent");
  add(lease, "lease");
  for (const list of byMac.values()) {
    list.sort((a, b) => (a.family === b.family ? a.address.localeCompare(b.address, "en", { numeric: true }) : a.family === "ipv4" ? -1 : 1));
  }
  return byMac;
}

/** The guest's names for its NICs (eth0 …), by lowercase MAC, as the agent reports them. */
export interface GuestNetworkView {
  addresses: Map<string, InterfaceAddress[]>;
  guestNames: Map<string, string>;
}

/** Both sources at once; a domain that is not running has no addresses. */
export async function guestNetworkView(client: LibvirtClient, dom: DomainRef): Promise<GuestNetworkView> {
  const [agent, lease] = await Promise.all([
    fromSource(client, dom, InterfaceAddressSource.Agent),
    fromSource(client, dom, InterfaceAddressSource.Lease),
  ]);
  const guestNames = new Map<string, string>();
  for (const iface of agent) if (iface.mac) guestNames.set(iface.mac, iface.name);
  return { addresses: mergeAddresses(agent, lease), guestNames };
}

/** A refresh reads a domain and each of its NICs at once: they share one pair of queries for half a second. */
const shared = shareForMoment<GuestNetworkView>(500);

/** guestNetworkView, shared by the reads of one domain that come within a moment of each other. */
export function sharedGuestNetworkView(client: LibvirtClient, dom: DomainRef): Promise<GuestNetworkView> {
  return shared.get(`${client.uri.uri}\0${uuidToString(dom.uuid)}`, () => guestNetworkView(client, dom));
}

/**
 * Waits until every NIC in `macs` has an address (from either source), up to `timeoutSeconds`; then fails naming
 * the NICs without one. Returns the last view.
 */
export async function waitForAddresses(client: LibvirtClient, dom: DomainRef, macs: readonly string[], timeoutSeconds: number): Promise<Map<string, InterfaceAddress[]>> {
  const wanted = macs.map((m) => m.toLowerCase());
  let last = new Map<string, InterfaceAddress[]>();
  const missing = () => wanted.filter((m) => (last.get(m) ?? []).length === 0);
  const done = await pollUntil(
    async () => {
      last = (await guestNetworkView(client, dom)).addresses;
      return missing().length === 0;
    },
    { timeoutMs: timeoutSeconds * 1000, firstIntervalMs: 250, maxIntervalMs: 1_000 },
  );
  if (!done) {
    throw new Error(
      `no IP address for NIC ${missing().join(", ")} within ${timeoutSeconds} s (neither the guest agent nor a DHCP lease of its network reports one): ` +
        `check that the guest runs a DHCP client and the network serves DHCP, or raise waitForAddressSeconds`,
    );
  }
  return last;
}
