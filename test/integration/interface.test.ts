// Interface against the real daemon, QEMU and guest: NICs hot-plugged into a running guest (which sees them, brings
// them up and gets a lease from libvirt's own dnsmasq), link state and network changed live, drift read back (a NIC
// unplugged or its link set down with virsh, a config entry removed), detach ended by the device-removed event,
// parallel creates, adoption, a replace that keeps the MAC, and a stopped domain's config-only NIC.
// Networks are isolated, on 198.18.0.0/15, in the daemon's own network namespace (test/support/network.ts).
import { strict as assert } from "node:assert";
import { bootGuest, destroyGuest, domainInputs, runInGuest, type BootedGuest } from "../support/guest";
import { uniqueName, virsh } from "../support/host";
import { libvirtdNetns } from "../support/libvirtd";
import { createIsolatedNetwork, removeNetwork, type TestNetwork } from "../support/network";
import { create, diff, providers, read, remove, update } from "../support/provider";
import { skipMissing } from "../support/skip";
import { eventually, notesOf } from "../support/wait";
import type { DomainOutputs } from "../../provider/src/resources/domain";
import { deriveNicMac } from "../../provider/src/vocab/qmp-net";

type Props = Record<string, any>;
const urn = (name: string) => `urn:pulumi:nics::interface-test::pulumi-nodejs:dynamic/libvirt:Interface::${name}`;

interface GuestNic {
  name: string;
  mac: string;
  /** "1" carrier, "0" none, "-" unreadable (link down). */
  carrier: string;
  ipv4: string[];
}

/** The guest's ethernet interfaces as it sees them (sysfs and ip, through the agent). */
async function guestNics(guest: DomainOutputs): Promise<GuestNic[]> {
  const script =
    'for d in /sys/class/net/*; do n=${d##*/}; [ "$(cat $d/type)" = 1 ] || continue; ' +
    'c=$(cat $d/carrier 2>/dev/null || echo -); a=$(ip -4 -o addr show dev $n | awk \'{print $4}\' | tr "\\n" ","); ' +
    'echo "$n $(cat $d/address) $c $a"; done';
  const { stdout, exitCode } = await runInGuest(guest, "/bin/sh", ["-c", script]);
  assert.equal(exitCode, 0, stdout);
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((line) => {
      const [name, mac, carrier, ipv4] = line.trim().split(" ");
      return { name: name!, mac: mac!, carrier: carrier!, ipv4: (ipv4 ?? "").split(",").filter((a) => a !== "") };
    });
}

async function guestNic(guest: DomainOutputs, mac: string): Promise<GuestNic | undefined> {
  return (await guestNics(guest)).find((n) => n.mac === mac.toLowerCase());
}

const inSubnet = (address: string, net: TestNetwork) => address.split(".").slice(0, 3).join(".") === net.address.split(".").slice(0, 3).join(".");
const aliasCount = (xml: string, alias: string) => xml.split(`<alias name='${alias}'/>`).length - 1;
const liveXml = (name: string) => virsh("dumpxml", name);
const configXml = (name: string) => virsh("dumpxml", "--inactive", name);

describe("Interface: NICs on a running guest", function () {
  this.timeout(300_000);
  let lan: TestNetwork;
  let lan2: TestNetwork;
  let guest: BootedGuest;
  const nic = (name: string, extra: Props = {}): Props => ({ resourceName: name, owner: urn(name), domain: guest.name, network: lan.name, ...extra });

  before(async function () {
    // Guests with NICs run only beside the daemon setup-host.sh keeps in its own network namespace.
    if (!libvirtdNetns()) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    lan = createIsolatedNetwork("nic");
    lan2 = createIsolatedNetwork("nic2");
    guest = await bootGuest(uniqueName("nic"));
  });
  after(async () => {
    if (guest) await destroyGuest(guest).catch(() => undefined);
    for (const net of [lan, lan2]) if (net) removeNetwork(net.name);
  });

  describe("one NIC through its life", () => {
    let created: { id: string; outs: Props };
    const inputs = (extra: Props = {}) => nic("web", { waitForAddressSeconds: 120, ...extra });

    it("hot-plugs into the running guest (same QEMU): the guest sees it, gets a lease, and addresses carry it", async () => {
      const domid = virsh("domid", guest.name).trim();
      created = await create("Interface", inputs());
      assert.equal(virsh("domid", guest.name).trim(), domid, "no restart");
      const { mac, alias, target } = created.outs;
      assert.equal(mac, deriveNicMac(`Interface\0${urn("web")}`), "the MAC derived from the owner, kept for good");
      assert.match(alias, /^ua-nic-web-[0-9a-f]{12}$/);
      assert.match(target, /^vnet[0-9]+$/, "the host tap");
      assert.equal(aliasCount(liveXml(guest.name), alias), 1);
      assert.equal(aliasCount(configXml(guest.name), alias), 1, "kept in the persistent config");
      assert.match(configXml(guest.name), new RegExp(`<mac address='${mac}'/>`), "the config copy has the same MAC");
      const v4 = created.outs.addresses.find((a: Props) => a.family === "ipv4");
      assert.ok(v4 && inSubnet(v4.address, lan), `an address of ${lan.subnet}: ${JSON.stringify(created.outs.addresses)}`);
      // The guest's own view, through the agent: a new interface with that MAC and address.
      const seen = await guestNic(guest, mac);
      assert.ok(seen, `the guest has an interface with ${mac}`);
      assert.ok(seen.ipv4.includes(`${v4.address}/24`), JSON.stringify(seen));
      assert.match(virsh("net-dhcp-leases", lan.name), new RegExp(`${mac}\\s+ipv4\\s+${v4.address.replace(/\./g, "\\.")}/24`), "leased by the network's dnsmasq");
    });

    it("a refresh finds no change: addresses are outputs, and the MAC the program never set is no diff", async () => {
      const refreshed = await read("Interface", created.id, created.outs);
      assert.equal(refreshed.id, created.id);
      assert.equal(refreshed.props.mac, created.outs.mac);
      assert.deepEqual(await diff("Interface", created.id, { ...refreshed.props, addresses: [] }, inputs()), { changes: false, replaces: [] });
    });

    it("linkState down is live: the guest loses its carrier; up brings it back", async () => {
      const d = await diff("Interface", created.id, created.outs, inputs({ linkState: "down" }));
      assert.deepEqual(d, { changes: true, replaces: [] });
      const down = await update("Interface", created.id, created.outs, inputs({ linkState: "down" }));
      assert.equal(down.linkState, "down");
      assert.match(liveXml(guest.name), /<link state='down'\/>/);
      await eventually("the guest sees no carrier", async () => (await guestNic(guest, down.mac))?.carrier === "0", 30_000);
      const up = await update("Interface", created.id, down, inputs());
      assert.equal(up.linkState, "up");
      await eventually("the guest sees its carrier again", async () => (await guestNic(guest, up.mac))?.carrier === "1", 30_000);
      created = { id: created.id, outs: up };
    });

    it("a link set down by hand (virsh domif-setlink) reads back down as drift; up sets it up again", async () => {
      virsh("domif-setlink", guest.name, created.outs.target, "down");
      const refreshed = await read("Interface", created.id, created.outs);
      assert.equal(refreshed.props.linkState, "down");
      assert.deepEqual(await diff("Interface", created.id, refreshed.props, inputs()), { changes: true, replaces: [] });
      const outs = await update("Interface", created.id, refreshed.props, inputs());
      assert.equal(outs.linkState, "up");
      assert.doesNotMatch(liveXml(guest.name).split(`<alias name='${outs.alias}'/>`)[0]!.split("<interface").pop()!, /state='down'/);
      created = { id: created.id, outs };
    });

    it("another network is live: the same tap and MAC move over, in both copies, and the guest gets a lease there", async () => {
      const d = await diff("Interface", created.id, created.outs, inputs({ network: lan2.name }));
      assert.deepEqual(d, { changes: true, replaces: [] });
      const outs = await update("Interface", created.id, created.outs, inputs({ network: lan2.name }));
      assert.equal(outs.mac, created.outs.mac);
      assert.equal(outs.target, created.outs.target, "the same tap");
      assert.equal(outs.network, lan2.name);
      assert.match(configXml(guest.name), new RegExp(`<source network='${lan2.name}'/>`), "the config follows");
      const before = await guestNic(guest, outs.mac);
      // The guest's DHCP client would ask the new network only at its renewal, minutes away: have it ask now (release,
      // then renew), as a guest's network manager does when its network changes.
      const renew = `read pid idx < /run/udhcpc.${before!.name}.pid && kill -USR2 $pid && sleep 0.3 && kill -USR1 $pid`;
      assert.equal((await runInGuest(guest, "/bin/sh", ["-c", renew])).exitCode, 0);
      await eventually(`the guest holds an address of ${lan2.subnet}`, async () => ((await guestNic(guest, outs.mac))?.ipv4 ?? []).some((a) => inSubnet(a, lan2)), 60_000, 500);
      assert.equal((await guestNic(guest, outs.mac))!.name, before!.name, "the same interface in the guest: never unplugged");
      created = { id: created.id, outs };
    });

    it("removed from the config only reads persistent: false; up puts it back, the running NIC untouched", async () => {
      const args = inputs({ network: lan2.name });
      virsh("detach-device-alias", guest.name, created.outs.alias, "--config");
      const refreshed = await read("Interface", created.id, created.outs);
      assert.equal(refreshed.id, created.id, "still plugged in: not gone");
      assert.equal(refreshed.props.persistent, false);
      assert.deepEqual(await diff("Interface", created.id, refreshed.props, args), { changes: true, replaces: [] });
      const outs = await update("Interface", created.id, refreshed.props, args);
      assert.equal(outs.persistent, true);
      assert.equal(outs.target, created.outs.target, "the running NIC was not re-plugged");
      assert.match(configXml(guest.name), new RegExp(`<mac address='${created.outs.mac}'/>`), "the config copy has the running NIC's MAC");
      created = { id: created.id, outs };
    });

    it("unplugged with virsh (live only) reads as gone; the next create plugs it in again with the MAC its config copy kept", async () => {
      const args = inputs({ network: lan2.name });
      virsh("detach-device-alias", guest.name, created.outs.alias, "--live");
      await eventually("the NIC is gone from the running domain", () => aliasCount(liveXml(guest.name), created.outs.alias) === 0, 30_000);
      assert.equal((await read("Interface", created.id, created.outs)).id, "", "drift: gone");
      const again = await create("Interface", args);
      assert.equal(again.outs.mac, created.outs.mac, "the config copy's MAC");
      assert.equal(aliasCount(liveXml(guest.name), again.outs.alias), 1);
      assert.equal(aliasCount(configXml(guest.name), again.outs.alias), 1, "the config copy was adopted, not doubled");
      created = again;
    });

    it("a model change replaces the NIC and keeps its MAC (the program never set one)", async () => {
      const args = inputs({ network: lan2.name, model: "e1000" });
      const d = await diff("Interface", created.id, created.outs, args);
      assert.deepEqual(d, { changes: true, replaces: ["model"], deleteBeforeReplace: true });
      // The engine deletes first, then creates, in the same provider process.
      await remove("Interface", created.id, created.outs);
      const replaced = await create("Interface", args);
      assert.equal(replaced.outs.mac, created.outs.mac);
      assert.equal(replaced.outs.model, "e1000");
      assert.match(liveXml(guest.name), new RegExp(`<mac address='${created.outs.mac}'/>\\s*<source network='${lan2.name}'`));
      created = replaced;
    });

    it("delete waits for the guest to let go: gone from the guest and from both XMLs", async () => {
      const { alias, mac } = created.outs;
      await remove("Interface", created.id, created.outs);
      assert.equal(aliasCount(liveXml(guest.name), alias), 0);
      assert.equal(aliasCount(configXml(guest.name), alias), 0);
      assert.equal(await guestNic(guest, mac), undefined, "the guest no longer has it");
      assert.doesNotMatch(virsh("dumpxml", guest.name), /<plv:device name='ua-nic-web/, "the claim went with it");
    });
  });

  it("ten NICs created in parallel on one domain get distinct MACs, aliases and PCI slots", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `par${i}`);
    const made = await Promise.all(names.map((n) => create("Interface", nic(n))));
    try {
      const macs = new Set(made.map((m) => m.outs.mac));
      const aliases = new Set(made.map((m) => m.outs.alias));
      assert.equal(macs.size, 10);
      assert.equal(aliases.size, 10);
      const xml = liveXml(guest.name);
      const slots = made.map((m) => {
        const element = xml.split(`<alias name='${m.outs.alias}'/>`)[1]!.split("</interface>")[0]!;
        return /slot='(0x[0-9a-f]+)'/.exec(element)![1];
      });
      assert.equal(new Set(slots).size, 10, `PCI slots ${slots.join(" ")}`);
      await eventually("the guest sees all ten", async () => {
        const seen = new Set((await guestNics(guest)).map((n) => n.mac));
        return made.every((m) => seen.has(m.outs.mac));
      });
    } finally {
      await Promise.all(made.map((m) => remove("Interface", m.id, m.outs)));
    }
    assert.equal((await guestNics(guest)).filter((n) => [...made].some((m) => m.outs.mac === n.mac)).length, 0);
  });

  it("a create interrupted after its attach is adopted on retry, never duplicated", async () => {
    const args = nic("adopt");
    const first = await create("Interface", args); // the run "dies" before Pulumi records it
    virsh("domif-setlink", guest.name, first.outs.target, "down"); // and meanwhile someone pulls its cable
    const second = await create("Interface", args);
    assert.equal(second.id, first.id);
    assert.equal(second.outs.mac, first.outs.mac);
    assert.equal(second.outs.linkState, "up", "the adopted NIC gets the link state asked for");
    assert.equal(aliasCount(liveXml(guest.name), first.outs.alias), 1);
    assert.equal(aliasCount(configXml(guest.name), first.outs.alias), 1);
    // A NIC under this name on another network is not provably this resource's: refused, nothing changed.
    await assert.rejects(create("Interface", { ...args, network: lan2.name }), /not provably this resource's/);
    await remove("Interface", second.id, second.outs);
  });

  it("preview says what up would do, and what it would refuse naming the fix", async () => {
    const check = (inputs: Props) => notesOf(() => providers.Interface.check({}, inputs));
    assert.match(await check(nic("note")), /live hot-plug of a virtio NIC \(no restart\)/);
    assert.match(await check(nic("note", { network: "no-such-net" })), /up would refuse network: there is no libvirt network no-such-net: create it/);
    const held = await create("Interface", nic("held", { mac: "52:54:00:c1:aa:01" }));
    try {
      assert.match(await check(nic("other", { mac: "52:54:00:C1:AA:01" })), /up would refuse mac: MAC 52:54:00:c1:aa:01 is already used on domain .* by ua-nic-held/);
      await assert.rejects(create("Interface", nic("other", { mac: "52:54:00:c1:aa:01" })), /MAC 52:54:00:c1:aa:01 is already used/);
    } finally {
      await remove("Interface", held.id, held.outs);
    }
  });

  it("a boot order: live without one (the guest booted already), in the config by per-device order; a second NIC may not take it", async () => {
    const args = nic("pxe", { bootOrder: 5 });
    assert.match(await notesOf(() => providers.Interface.check({}, args)), /bootOrder → next-boot \(the domain boots by libvirt's default <os><boot dev='hd'>/);
    const made = await create("Interface", args);
    try {
      const inConfig = configXml(guest.name).split(`<alias name='${made.outs.alias}'/>`)[0]!.split("<interface").pop()!;
      assert.match(inConfig, /<boot order='5'\/>/);
      assert.doesNotMatch(configXml(guest.name), /<boot dev=/, "the config boots by per-device order now");
      assert.equal(made.outs.bootOrder, 5);
      assert.match(await notesOf(() => providers.Interface.check({}, nic("pxe2", { bootOrder: 5 }))), /up would refuse bootOrder: boot order 5 is already used on domain .* by ua-nic-pxe-/);
      assert.deepEqual(await diff("Interface", made.id, (await read("Interface", made.id, made.outs)).props, args), { changes: false, replaces: [] });
    } finally {
      await remove("Interface", made.id, made.outs);
    }
  });

  describe("via qmp on the libvirt domain (netdev_add + device_add through the passthrough)", () => {
    it("user-mode networking on a 198.18 subnet: the guest gets its lease from QEMU, the link goes down live, delete removes it", async () => {
      const args = nic("slirp", { network: undefined, user: true, ipv4: { address: "198.18.250.0", prefixLength: 24 }, via: "qmp" });
      const made = await create("Interface", args);
      assert.match(made.outs.alias, /^lvn-slirp-[0-9a-f]{12}$/);
      assert.equal(aliasCount(liveXml(guest.name), made.outs.alias), 0, "libvirt does not know it");
      await eventually("the guest holds a 198.18.250.x address", async () => ((await guestNic(guest, made.outs.mac))?.ipv4 ?? []).some((a) => a.startsWith("198.18.250.")), 60_000, 500);
      const down = await update("Interface", made.id, made.outs, { ...args, linkState: "down" });
      assert.equal(down.linkState, "down");
      await eventually("the guest sees no carrier", async () => (await guestNic(guest, made.outs.mac))?.carrier === "0", 30_000);
      assert.equal((await read("Interface", made.id, down)).id, made.id);
      await remove("Interface", made.id, down);
      assert.equal(await guestNic(guest, made.outs.mac), undefined);
      assert.equal((await read("Interface", made.id, down)).id, "", "gone");
    });
  });
});

describe("Interface: a stopped domain", function () {
  this.timeout(300_000);
  let lan: TestNetwork;
  const name = uniqueName("nic-off");
  let vm: { id: string; outs: Props } | undefined;

  before(async function () {
    if (!libvirtdNetns()) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    lan = createIsolatedNetwork("nicoff");
    vm = await create("Domain", { ...domainInputs(name), running: false });
  });
  after(async () => {
    if (vm) await remove("Domain", vm.id, vm.outs).catch(() => undefined);
    if (lan) removeNetwork(lan.name);
  });

  it("gets the NIC in its config only (preview says so); at the next start it appears with the MAC it was given", async () => {
    const args = { resourceName: "cold", owner: urn("cold"), domain: name, network: lan.name };
    assert.match(await notesOf(() => providers.Interface.check({}, args)), /the domain is stopped: the NIC is added to its config/);
    const overQmp = { ...args, network: undefined, user: true, via: "qmp" };
    assert.match(await notesOf(() => providers.Interface.check({}, overQmp)), /up would refuse via: via: "qmp" needs a running domain/);
    await assert.rejects(create("Interface", overQmp), /via: "qmp" needs a running domain/);
    const made = await create("Interface", args);
    assert.equal(made.outs.target, null, "no tap while stopped");
    assert.deepEqual(made.outs.addresses, []);
    assert.match(configXml(name), new RegExp(`<mac address='${made.outs.mac}'/>`));
    assert.deepEqual(await diff("Interface", made.id, (await read("Interface", made.id, made.outs)).props, args), { changes: false, replaces: [] });
    vm = { id: vm!.id, outs: await update("Domain", vm!.id, vm!.outs, { ...domainInputs(name), running: true }) };
    const running = await read("Interface", made.id, made.outs);
    assert.equal(running.id, made.id);
    assert.equal(running.props.mac, made.outs.mac);
    assert.match(running.props.target, /^vnet[0-9]+$/);
    await eventually("the guest has the NIC", async () => (await guestNic(vm!.outs as DomainOutputs, made.outs.mac)) !== undefined, 60_000, 500);
    await remove("Interface", made.id, running.props);
    assert.equal(aliasCount(configXml(name), made.outs.alias), 0);
  });
});

describe("Interface: a q35 domain's hot-plug slots", function () {
  this.timeout(300_000);
  let lan: TestNetwork;
  let guest: BootedGuest;

  before(async function () {
    if (!libvirtdNetns()) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    lan = createIsolatedNetwork("nicq35");
    // One spare PCIe root port: room for exactly one hot-plugged NIC.
    guest = await bootGuest(uniqueName("nic-q35"), { machine: "q35", hotplugSlots: 1 });
  });
  after(async () => {
    if (guest) await destroyGuest(guest).catch(() => undefined);
    if (lan) removeNetwork(lan.name);
  });

  it("preview counts the free root ports across the run's NICs, refuses conventional PCI models, and create then changes nothing", async () => {
    const nic = (name: string, extra: Props = {}): Props => ({ resourceName: name, owner: urn(name), domain: guest.name, network: lan.name, ...extra });
    const check = (inputs: Props) => notesOf(() => providers.Interface.check({}, inputs));
    assert.match(await check(nic("old", { model: "e1000" })), /up would refuse model: a e1000 NIC is a conventional PCI device and domain .* \(q35\) has no slot to hot-plug one into: use model "virtio" or "e1000e"/);
    assert.match(await check(nic("one")), /live hot-plug of a virtio NIC/);
    assert.match(await check(nic("two", { model: "e1000e" })), /up would refuse model: domain .* \(q35\) has 1 free PCIe slot for hot-plugged PCI devices and this is PCI attach 2 of this run: raise the Domain's hotplugSlots/);
    const one = await create("Interface", nic("one"));
    try {
      const before = liveXml(guest.name);
      await assert.rejects(create("Interface", nic("two", { model: "e1000e" })), /has 0 free PCIe slots/);
      assert.equal(liveXml(guest.name).split("<interface").length, before.split("<interface").length, "nothing was plugged in");
    } finally {
      await remove("Interface", one.id, one.outs);
    }
  });
});
