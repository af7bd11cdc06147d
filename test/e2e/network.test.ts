// Networking end to end through the real Pulumi CLI: a Network with DHCP, a Domain whose `interfaces` output carries
// its leased address, an Interface hot-added live whose `addresses` fill in, its link set down live, a DHCP host
// entry added live; drift made with virsh seen by the drift job and repaired by `up --refresh`; destroy leaving no
// network, NIC or lease. All of it inside the network namespace of the libvirt daemon the setup script started, on
// 198.19.101.0/24 (reserved for benchmarking, and outside the range test/support/network.ts hands out).
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import { guestArtifacts, runInGuest } from "../support/guest";
import { virsh } from "../support/host";
import { libvirtdNetns } from "../support/libvirtd";
import { skipMissing } from "../support/skip";
import type { DomainOutputs } from "../../provider/src/resources/domain";
import { TestStack } from "./support/stack";

const SUBNET = "198.19.101";
const RESERVED = { mac: "52:54:00:19:01:42", ip: `${SUBNET}.42`, hostname: "reserved" };
const j = JSON.stringify;

interface Phase {
  nic?: boolean;
  linkState?: "up" | "down";
  reservedHost?: boolean;
}

function program(prefix: string, phase: Phase): string {
  const { kernel, initrd } = guestArtifacts();
  const hosts = phase.reservedHost ? `, hosts: [${j(RESERVED)}]` : "";
  const lines = [
    `const virt = require("pulumi-libvirt-live");`,
    `const net = new virt.Network("lan", { name: ${j(`${prefix}lan`)}, mode: "isolated", bridgeName: ${j(`lvtbr-e2e${process.pid % 1000}`)},`,
    `  ipv4: { address: "${SUBNET}.1", prefixLength: 24, dhcp: { start: "${SUBNET}.100", end: "${SUBNET}.199"${hosts} } } });`,
    `const vm = new virt.Domain("vm", { name: ${j(`${prefix}vm`)}, memoryMiB: 256, vcpus: 1, shutdownTimeoutSeconds: 5,`,
    `  boot: { kernel: ${j(kernel)}, initrd: ${j(initrd)}, cmdline: "console=ttyS0 quiet panic=-1" },`,
    `  networks: [{ network: net.name }], waitForAgentSeconds: 180, waitForAddressSeconds: 180 });`,
    `exports.vm = { uuid: vm.uuid, name: vm.name, domainId: vm.domainId, interfaces: vm.interfaces };`,
    `exports.bridge = net.bridgeName;`,
  ];
  if (phase.nic) {
    lines.push(
      `const nic = new virt.Interface("nic2", { domain: vm.name, network: net.name, model: "e1000", linkState: ${j(phase.linkState ?? "up")}, waitForAddressSeconds: 120 });`,
      `exports.nic = { mac: nic.mac, alias: nic.alias, addresses: nic.addresses, linkState: nic.linkState };`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The guest's own view of the NIC with this MAC: its name, carrier and IPv4 addresses, through the agent. */
async function guestNic(vm: DomainOutputs, mac: string): Promise<{ name: string; carrier: string; inet: string }> {
  const script =
    `for i in /sys/class/net/*; do if [ "$(cat $i/address)" = "${mac}" ]; then n=\${i##*/}; ` +
    `echo "name=$n carrier=$(cat $i/carrier 2>/dev/null)"; ip -4 -o addr show dev $n; fi; done`;
  const { stdout } = await runInGuest(vm, "/bin/sh", ["-c", script]);
  const head = /name=(\S+) carrier=(\S*)/.exec(stdout);
  return { name: head?.[1] ?? "", carrier: head?.[2] ?? "", inet: (/inet (\S+)/.exec(stdout)?.[1] ?? "").replace(/\/.*/, "") };
}

async function until<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!ok(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${j(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
    value = await probe();
  }
  return value;
}

describe("e2e: networking under the real pulumi CLI", function () {
  this.timeout(600_000);
  let s: TestStack;
  let vm: DomainOutputs;

  before(async function () {
    // Guest networking stays inside the daemon's own namespace (scripts/setup-host.sh): never on a shared host's.
    if (libvirtdNetns() === null) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    s = new TestStack(`lvt-e2e-net-${process.pid}-`, (prefix) => program(prefix, {}));
    await s.init();
  });

  after(async function () {
    this.timeout(300_000);
    const problems = await s?.cleanup(process.env.LVT_E2E_KEEP === "1");
    assert.deepEqual(problems ?? [], []);
  });

  it("up makes the network and a VM whose interfaces output carries its leased address", async () => {
    await s.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 400_000 });
    const outs = await s.outputs();
    vm = { ...outs.vm, uri: undefined } as DomainOutputs;
    const [nic] = outs.vm.interfaces;
    const lease = nic.addresses.find((a: any) => a.family === "ipv4");
    assert.match(lease?.address ?? "", new RegExp(`^${SUBNET.replace(/\./g, "\\.")}\\.1[0-9][0-9]$`), j(outs.vm.interfaces));
    assert.equal(nic.name, (await guestNic(vm, nic.mac)).name, "the guest's name for the NIC, from the agent");
    assert.match(virsh("net-dhcp-leases", `${s.prefix}lan`), new RegExp(`${nic.mac}.*${lease.address}`));
    // Addresses are outputs: a refresh that reads them again is no change.
    assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 0);
  });

  it("an Interface is hot-added live (same domain id): it appears in the guest, gets a lease, and its addresses fill in", async () => {
    s.write(program(s.prefix, { nic: true }));
    const preview = await s.ok(["preview"]);
    assert.match(preview.stdout, /Interface nic2[^\n]*live/, preview.stdout);
    await s.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 300_000 });
    const outs = await s.outputs();
    assert.equal(outs.vm.domainId, vm.domainId, "the domain was not restarted");
    const address = outs.nic.addresses.find((a: any) => a.family === "ipv4")?.address;
    assert.ok(address?.startsWith(`${SUBNET}.`), j(outs.nic));
    const inGuest = await guestNic(vm, outs.nic.mac);
    assert.ok(inGuest.name, "the new NIC is in the guest");
    assert.equal(inGuest.inet, address, "the guest holds the address the output reports");
    assert.equal(inGuest.carrier, "1");
  });

  it("linkState down lands live: the guest sees no carrier", async () => {
    s.write(program(s.prefix, { nic: true, linkState: "down" }));
    const preview = await s.ok(["preview"]);
    assert.match(preview.stdout, /linkState → live/, preview.stdout);
    await s.ok(["up", "--yes", "--skip-preview"]);
    const { nic } = await s.outputs();
    assert.equal(nic.linkState, "down");
    await until("carrier inside the guest", async () => (await guestNic(vm, nic.mac)).carrier, (c) => c === "0");
  });

  it("a DHCP host entry is added live, without restarting the network", async () => {
    const pidFile = `/run/libvirt/network/${s.prefix}lan.pid`;
    const dnsmasqBefore = fs.readFileSync(pidFile, "utf8").trim();
    s.write(program(s.prefix, { nic: true, linkState: "down", reservedHost: true }));
    const preview = await s.ok(["preview"]);
    assert.match(preview.stdout, /Network [^\n]*→ live/, preview.stdout);
    await s.ok(["up", "--yes", "--skip-preview"]);
    assert.match(virsh("net-dumpxml", `${s.prefix}lan`), new RegExp(`<host mac=.${RESERVED.mac}. name=.${RESERVED.hostname}. ip=.${RESERVED.ip.replace(/\./g, "\\.")}.`));
    assert.equal(fs.readFileSync(pidFile, "utf8").trim(), dnsmasqBefore, "the network's dnsmasq kept running");
  });

  it("drift made with virsh (a NIC detached, a host entry removed) fails the drift job; up --refresh repairs it", async () => {
    const { nic } = await s.outputs();
    virsh("detach-interface", vm.name, "network", "--mac", nic.mac, "--live", "--config");
    await until("the NIC gone from the live XML", async () => virsh("dumpxml", vm.name).includes(nic.mac), (present) => !present);
    virsh("net-update", `${s.prefix}lan`, "delete", "ip-dhcp-host", `<host mac='${RESERVED.mac}' name='${RESERVED.hostname}' ip='${RESERVED.ip}'/>`, "--live", "--config");
    assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 7, "the drift job sees it");
    await s.ok(["up", "--refresh", "--yes", "--skip-preview"], { timeoutMs: 300_000 });
    assert.match(virsh("dumpxml", vm.name), new RegExp(nic.mac));
    assert.match(virsh("net-dumpxml", `${s.prefix}lan`), new RegExp(RESERVED.mac));
    assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 0, "converged");
  });

  it("destroy leaves no network, NIC or lease behind", async () => {
    const bridge = (await s.outputs()).bridge;
    await s.ok(["destroy", "--yes", "--skip-preview"], { timeoutMs: 300_000 });
    assert.ok(!virsh("net-list", "--all", "--name").includes(`${s.prefix}lan`), "network gone");
    assert.ok(!virsh("list", "--all", "--name").includes(`${s.prefix}vm`), "domain gone");
    // libvirt's dnsmasq keeps its leases in <bridge>.status: gone (or empty) with the network.
    const status = `/var/lib/libvirt/dnsmasq/${bridge}.status`;
    assert.ok(!fs.existsSync(status) || JSON.parse(fs.readFileSync(status, "utf8") || "[]").length === 0, `leases left in ${status}`);
  });
});
