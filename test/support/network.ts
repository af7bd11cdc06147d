// Libvirt networks for tests that need one: isolated (no <forward>: no NAT, no routing, nothing leaves the bridge),
// addressed from 198.18.0.0/15 (reserved for benchmarking), with DHCP from libvirt's own dnsmasq. With the daemon
// that scripts/setup-host.sh starts, the bridge and dnsmasq live in that daemon's network namespace.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { XMLBuilder } from "fast-xml-parser";
import { ipv4ToNumber, numberToIpv4, subnetOf, type Subnet } from "../../provider/src/vocab/ipv4";
import { parseNetworkXml } from "../../provider/src/vocab/network-xml";
import { uniqueName, virsh } from "./host";
import { libvirtdNetns } from "./libvirtd";

export interface TestNetwork {
  name: string;
  /** The bridge libvirt creates, lvtbr<N>. */
  bridge: string;
  /** The host's address on the bridge, 198.18.N.1 (or 198.19.N-256.1). */
  address: string;
  prefixLength: number;
  /** The network address in CIDR form, e.g. 198.18.7.0/24. */
  subnet: string;
  dhcpStart: string;
  dhcpEnd: string;
  uuid: string;
}

// Slot N (1..510) is the /24 198.18.N.0 for N <= 255, else 198.19.(N-256).0: 198.18.1.0 to 198.19.254.0.
const FIRST_SLOT = 1;
const LAST_SLOT = 510;
// 198.19.100.0-198.19.127.0 are left to stacks whose program names its subnet (the quickstart's test, the network
// e2e stack): a network this file makes could otherwise take one just before they do.
const FIXED_SUBNET_SLOTS = { first: 256 + 100, last: 256 + 127 };
const ATTEMPTS = 12;

function slotBase(slot: number): number {
  return ipv4ToNumber("198.18.0.0")! + slot * 256;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true, suppressEmptyNode: true });

/** IPv4 subnets in use: every libvirt network's (read with the provider's own parser), and every address in the daemon's namespace. */
function subnetsInUse(): Subnet[] {
  const used: Subnet[] = [];
  for (const name of virsh("net-list", "--all", "--name").split("\n").filter((n) => n.trim() !== "")) {
    let xml: string;
    try {
      xml = virsh("net-dumpxml", name.trim());
    } catch {
      continue; // removed meanwhile
    }
    const ipv4 = parseNetworkXml(xml).ipv4;
    const address = ipv4 ? ipv4ToNumber(ipv4.address) : null;
    if (ipv4 && address !== null) used.push(subnetOf(address, ipv4.prefixLength));
  }
  const netns = libvirtdNetns();
  const addrs = spawnSync("ip", [...(netns ? ["-n", netns] : []), "-4", "-o", "addr", "show"], { encoding: "utf8" }).stdout ?? "";
  for (const [, ip, prefix] of addrs.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/g)) used.push(subnetOf(ipv4ToNumber(ip)!, Number(prefix)));
  return used;
}

function freeSlots(): number[] {
  const used = subnetsInUse();
  const free: number[] = [];
  for (let slot = FIRST_SLOT; slot <= LAST_SLOT; slot++) {
    if (slot >= FIXED_SUBNET_SLOTS.first && slot <= FIXED_SUBNET_SLOTS.last) continue;
    const [first, last] = [slotBase(slot), slotBase(slot) + 255];
    if (!used.some((u) => u.network <= last && first <= u.broadcast)) free.push(slot);
  }
  return free;
}

/**
 * The first three octets of free /24s ("198.18.7"), in random order, for a test whose resource makes the network
 * itself (so parallel test processes rarely pick the same one; libvirt refuses a taken one, and the next is tried).
 */
export function freeSubnets(): string[] {
  return freeSlots()
    .map((slot) => numberToIpv4(slotBase(slot)).split(".").slice(0, 3).join("."))
    .sort(() => Math.random() - 0.5);
}

function networkXml(name: string, slot: number): string {
  const base = slotBase(slot);
  return builder.build({
    network: {
      name,
      bridge: { "@name": `lvtbr${slot}`, "@stp": "off" },
      ip: { "@address": numberToIpv4(base + 1), "@prefix": "24", dhcp: { range: { "@start": numberToIpv4(base + 100), "@end": numberToIpv4(base + 199) } } },
    },
  });
}

/**
 * Defines and starts an isolated network in a free /24 of 198.18.0.0/15. Test files running in parallel processes
 * may pick the same slot: libvirt then refuses the second define (bridge name in use) or start (address in use),
 * and another free slot is tried.
 */
export function createIsolatedNetwork(prefix = "net"): TestNetwork {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-net-"));
  const failures: string[] = [];
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const free = freeSlots();
      if (free.length === 0) throw new Error("no free /24 left in 198.18.1.0-198.19.254.0 among libvirt's networks");
      // A random free slot, so parallel processes rarely pick the same one.
      const slot = free[Math.floor(Math.random() * free.length)];
      const name = uniqueName(prefix);
      const file = path.join(dir, `${name}.xml`);
      fs.writeFileSync(file, networkXml(name, slot));
      const refusal = virshRefusal("net-define", file) ?? virshRefusal("net-start", name);
      if (refusal !== null) {
        failures.push(`slot ${slot}: ${refusal}`);
        removeNetwork(name);
        continue;
      }
      const base = slotBase(slot);
      return {
        name,
        bridge: `lvtbr${slot}`,
        address: numberToIpv4(base + 1),
        prefixLength: 24,
        subnet: `${numberToIpv4(base)}/24`,
        dhcpStart: numberToIpv4(base + 100),
        dhcpEnd: numberToIpv4(base + 199),
        uuid: virsh("net-uuid", name).trim(),
      };
    }
    throw new Error(`could not create an isolated network in ${ATTEMPTS} attempts:\n${failures.join("\n")}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs virsh with its messages captured: null on success, else what it said. */
function virshRefusal(...args: string[]): string | null {
  const r = spawnSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8" });
  return r.status === 0 ? null : `${args[0]}: ${r.stderr.trim()}`;
}

/** Stops and undefines a network; one that is not there (or not running) is fine. */
export function removeNetwork(name: string): void {
  for (const command of ["net-destroy", "net-undefine"]) {
    const refusal = virshRefusal(command, name);
    if (refusal !== null && !/not found|not active|no network with matching name/i.test(refusal)) throw new Error(`virsh ${refusal}`);
  }
}

/** True when a link of that name exists in this process's (the host's) network namespace. */
export function bridgeInHostNamespace(name: string): boolean {
  return spawnSync("ip", ["link", "show", "dev", name], { stdio: "ignore" }).status === 0;
}
