// The test guest on a libvirt network, against the real daemon, QEMU and libvirt's own dnsmasq: every NIC that
// appears in the guest, hot-plugged ones included, is brought up and gets a DHCP lease (scripts/guest/init runs
// udhcpc on it), a link set down from the host shows as no carrier inside the guest, and with the daemon that
// scripts/setup-host.sh starts, the network's bridge and the guest's taps stay out of the host's namespace.
// What the guest sees is read inside it through the agent; what libvirt sees, with virsh.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { XMLBuilder } from "fast-xml-parser";
import { agentCall } from "../../provider/src/resources/agent";
import { clientFor } from "../../provider/src/resources/handler";
import type { DomainOutputs } from "../../provider/src/resources/domain";
import { BootedGuest, bootGuest, destroyGuest, runInGuest } from "../support/guest";
import { uniqueName, virsh } from "../support/host";
import { libvirtdNetns } from "../support/libvirtd";
import { bridgeInHostNamespace, createIsolatedNetwork, removeNetwork, TestNetwork } from "../support/network";
import { skipMissing } from "../support/skip";

interface GuestNic {
  name: string;
  mac: string;
  ipv4: string[];
}

/** The guest's interfaces as its agent reports them (guest-network-get-interfaces), IPv4 addresses as a.b.c.d/len. */
async function guestNics(guest: DomainOutputs): Promise<GuestNic[]> {
  const client = await clientFor(guest.uri);
  const reply = (await agentCall(client, await client.lookupDomainByUuid(guest.uuid), { execute: "guest-network-get-interfaces" }, 10)) as {
    name: string;
    "hardware-address"?: string;
    "ip-addresses"?: { "ip-address-type": string; "ip-address": string; prefix: number }[];
  }[];
  return reply.map((nic) => ({
    name: nic.name,
    mac: (nic["hardware-address"] ?? "").toLowerCase(),
    ipv4: (nic["ip-addresses"] ?? []).filter((a) => a["ip-address-type"] === "ipv4").map((a) => `${a["ip-address"]}/${a.prefix}`),
  }));
}

/** The active DHCP leases of a network, as virsh lists them: MAC → address/len. */
function leases(network: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of virsh("net-dhcp-leases", network).split("\n")) {
    const m = line.match(/\s([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+ipv4\s+(\S+)/i);
    if (m) out.set(m[1].toLowerCase(), m[2]);
  }
  return out;
}

/** Polls `probe` every 250 ms until it returns a value, for at most `seconds`; the last failure is in the error. */
async function eventually<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s${last ? ` (last error: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The address the guest holds on the NIC with `mac` once it also shows in the network's leases (the same one). */
async function leasedAddress(guest: DomainOutputs, network: TestNetwork, mac: string): Promise<{ nic: GuestNic; address: string }> {
  return eventually(`a lease for ${mac} seen in the guest and in virsh net-dhcp-leases ${network.name}`, 90, async () => {
    const nic = (await guestNics(guest)).find((n) => n.mac === mac);
    const inGuest = nic?.ipv4.find((a) => a.startsWith(network.address.replace(/\.1$/, ".")));
    if (!nic || !inGuest) return undefined;
    return leases(network.name).get(mac) === inGuest ? { nic, address: inGuest } : undefined;
  });
}

function inDhcpRange(network: TestNetwork, cidr: string): boolean {
  const last = (ip: string) => Number(ip.split(".")[3]);
  const [ip, len] = cidr.split("/");
  return ip.split(".").slice(0, 3).join(".") === network.address.split(".").slice(0, 3).join(".") && Number(len) === network.prefixLength && last(ip) >= last(network.dhcpStart) && last(ip) <= last(network.dhcpEnd);
}

/** One <interface> on `network`, for virsh attach-device. */
function interfaceXml(network: string, mac: string, model: string): string {
  return new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true }).build({
    interface: { "@type": "network", source: { "@network": network }, mac: { "@address": mac }, model: { "@type": model } },
  });
}

/** The domain's NICs as virsh lists them: MAC → host tap device (the Interface column). */
function domainTaps(name: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of virsh("domiflist", name).split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 5) out.set(cols[4].toLowerCase(), cols[0]);
  }
  return out;
}

describe("the test guest on an isolated libvirt network (DHCP from libvirt's dnsmasq, NIC hotplug, link state)", function () {
  this.timeout(300_000);
  let network: TestNetwork;
  let guest: BootedGuest | undefined;
  let firstMac: string;
  const name = uniqueName("gnet");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-gnet-"));
  // A locally administered unicast MAC of our own for the hot-plugged NIC.
  const hotMac = `52:54:00:${[0, 0, 0].map(() => Math.floor(Math.random() * 256).toString(16).padStart(2, "0")).join(":")}`;

  before(async function () {
    // Guest networking stays inside the daemon's own namespace (scripts/setup-host.sh): never on a shared host's.
    if (libvirtdNetns() === null) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    network = createIsolatedNetwork("gnet");
    guest = await bootGuest(name, { networks: [{ network: network.name, model: "virtio" }] });
    const macs = [...domainTaps(name).keys()];
    assert.equal(macs.length, 1, `one NIC: ${virsh("domiflist", name)}`);
    firstMac = macs[0];
  });

  after(async () => {
    if (guest) await destroyGuest(guest);
    if (network) removeNetwork(network.name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a virtio NIC gets a lease from the network's DHCP range: the guest holds it and libvirt lists it", async () => {
    const { nic, address } = await leasedAddress(guest!, network, firstMac);
    assert.ok(inDhcpRange(network, address), `${address} is not in ${network.dhcpStart}-${network.dhcpEnd}/${network.prefixLength}`);
    assert.match(nic.name, /^eth\d+$/);
  });

  it("a second NIC (e1000) plugged in live appears in the guest and gets a lease of its own", async () => {
    const file = path.join(dir, "hot.xml");
    fs.writeFileSync(file, interfaceXml(network.name, hotMac, "e1000"));
    virsh("attach-device", name, file, "--live");
    const { nic, address } = await leasedAddress(guest!, network, hotMac);
    const first = await leasedAddress(guest!, network, firstMac);
    assert.notEqual(nic.name, first.nic.name, "a new interface in the guest");
    assert.notEqual(address, first.address, "its own lease");
    assert.ok(inDhcpRange(network, address), address);
    const driver = await runInGuest(guest!, "/bin/readlink", [`/sys/class/net/${nic.name}/device/driver`]);
    assert.match(driver.stdout.trim(), /\/e1000$/, "the guest drives it with e1000");
  });

  it("a link set down from the host (domif-setlink) shows as no carrier inside the guest, and up again as carrier", async () => {
    const { nic } = await leasedAddress(guest!, network, firstMac);
    const carrier = async () => (await runInGuest(guest!, "/bin/cat", [`/sys/class/net/${nic.name}/carrier`])).stdout.trim();
    assert.equal(await carrier(), "1");
    virsh("domif-setlink", name, firstMac, "down");
    await eventually(`carrier 0 on ${nic.name}`, 30, async () => ((await carrier()) === "0" ? true : undefined));
    virsh("domif-setlink", name, firstMac, "up");
    await eventually(`carrier 1 on ${nic.name}`, 30, async () => ((await carrier()) === "1" ? true : undefined));
  });

  it("the network's bridge and the guest's taps live in the daemon's namespace, not in the host's", function () {
    const netns = libvirtdNetns();
    if (netns === null) skipMissing(this, "a libvirtd started by scripts/setup-host.sh (someone else's daemon puts bridges where it does)");
    const inDaemonNs = (link: string) => spawnSync("ip", ["-n", netns, "link", "show", "dev", link], { stdio: "ignore" }).status === 0;
    assert.ok(inDaemonNs(network.bridge), `${network.bridge} is not in ${netns}: the check below would prove nothing`);
    assert.equal(bridgeInHostNamespace(network.bridge), false, `${network.bridge} is in the host's namespace`);
    const taps = [...domainTaps(name).values()];
    assert.ok(taps.length >= 1);
    for (const tap of taps) {
      assert.ok(inDaemonNs(tap), `tap ${tap} is not in ${netns}`);
      assert.equal(bridgeInHostNamespace(tap), false, `tap ${tap} is in the host's namespace`);
    }
  });
});
