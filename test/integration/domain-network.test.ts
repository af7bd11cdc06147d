// A Domain's own NICs against the real daemon, QEMU and guest: create waits for the guest's DHCP lease
// (waitForAddressSeconds), the `interfaces` output carries MAC, guest name and address from the agent and the
// network's leases, a refresh that reads the addresses again is no drift, and the MAC libvirt gave a NIC is kept when
// the domain is redefined and restarted. The network is isolated, on 198.18.0.0/15, in the daemon's own namespace.
import { strict as assert } from "node:assert";
import { domainInputs, runInGuest } from "../support/guest";
import { uniqueName, virsh } from "../support/host";
import { createIsolatedNetwork, removeNetwork, type TestNetwork } from "../support/network";
import { create, diff, read, remove, update } from "../support/provider";
import { libvirtdNetns } from "../support/libvirtd";
import { skipMissing } from "../support/skip";
import type { DomainOutputs } from "../../provider/src/resources/domain";

describe("Domain networks: addresses as outputs, MACs kept", function () {
  this.timeout(300_000);
  let net: TestNetwork;
  const name = uniqueName("dnet");
  let vm: { id: string; outs: Record<string, any> } | undefined;
  const inputs = (extra: Record<string, unknown> = {}) => ({
    ...domainInputs(name),
    networks: [{ network: net.name }],
    waitForAddressSeconds: 120,
    ...extra,
  });

  before(function () {
    // Guest networking stays inside the daemon's own namespace (scripts/setup-host.sh): never on a shared host's.
    if (libvirtdNetns() === null) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    net = createIsolatedNetwork("dnet");
  });
  after(async () => {
    if (vm) await remove("Domain", vm.id, vm.outs).catch(() => undefined);
    if (net) removeNetwork(net.name);
  });

  it("create returns once the guest holds its lease; interfaces carries MAC, guest name and address", async () => {
    vm = await create("Domain", inputs());
    const [nic] = vm.outs.interfaces;
    const v4 = nic.addresses.find((a: any) => a.family === "ipv4");
    assert.ok(v4, `an IPv4 address right after create: ${JSON.stringify(vm.outs.interfaces)}`);
    assert.equal(v4.address.split(".").slice(0, 3).join("."), net.address.split(".").slice(0, 3).join("."));
    assert.equal(v4.prefixLength, 24);
    // The guest's own view, through the agent: the same name and address.
    const { stdout } = await runInGuest(vm.outs as DomainOutputs, "/bin/sh", ["-c", `ip -4 -o addr show dev ${nic.name}`]);
    assert.match(stdout, new RegExp(`inet ${v4.address.replace(/\./g, "\\.")}/24`));
    // And libvirt's dnsmasq handed it out.
    assert.match(virsh("net-dhcp-leases", net.name), new RegExp(`${nic.mac}\\s+ipv4\\s+${v4.address.replace(/\./g, "\\.")}/24`));
  });

  it("a refresh reads the addresses again and finds no change (addresses are outputs, never drift)", async () => {
    const refreshed = await read("Domain", vm!.id, vm!.outs);
    assert.deepEqual(refreshed.props.interfaces.map((n: any) => n.mac), vm!.outs.interfaces.map((n: any) => n.mac));
    const changes = await diff("Domain", vm!.id, { ...refreshed.props, interfaces: [] }, inputs());
    assert.equal(changes.changes, false, JSON.stringify(changes));
  });

  it("the MAC libvirt assigned is kept through a redefine and restart", async () => {
    const mac = vm!.outs.interfaces[0].mac;
    // Above the running maximum: a config change that needs a restart, which `restart: "allow"` does now.
    const outs = await update("Domain", vm!.id, vm!.outs, inputs({ memoryMiB: 320, maxMemoryMiB: 320, restart: "allow" }));
    vm = { id: vm!.id, outs };
    assert.notEqual(outs.domainId, -1);
    assert.equal(outs.interfaces[0].mac, mac);
    assert.ok(outs.interfaces[0].addresses.length > 0, "the restarted guest got its address again before update returned");
  });

  it("a NIC that gets no address makes create fail after waitForAddressSeconds, naming it, and leaves nothing", async () => {
    const other = uniqueName("dnet-noaddr");
    // A network without DHCP: the guest's DHCP client never gets an answer.
    const quiet = createIsolatedNetwork("dnet-nodhcp");
    virsh("net-update", quiet.name, "delete", "ip-dhcp-range", `<range start='${quiet.dhcpStart}' end='${quiet.dhcpEnd}'/>`, "--live", "--config");
    try {
      await assert.rejects(
        create("Domain", { ...domainInputs(other), networks: [{ network: quiet.name }], waitForAddressSeconds: 5 }),
        /no IP address for NIC [0-9a-f:]{17} within 5 s/,
      );
      assert.ok(!virsh("list", "--all", "--name").includes(other), "the failed create left no domain");
    } finally {
      removeNetwork(quiet.name);
    }
  });
});
