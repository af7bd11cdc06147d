// NICs hot-added and removed over QMP (netdev_add + device_add, device_del + netdev_del, set_link), as Ganeti does
// (seed 003): on a QEMU the test starts itself (its own QMP socket; user-mode networking only, restrict=on, on
// 198.18.250.0/24), and through a libvirt domain's monitor passthrough. What the guest sees is checked inside it
// through the agent: a new interface, its DHCP lease from QEMU's slirp, and no carrier after set_link down.
import { strict as assert } from "node:assert";
import { AgentClient, QmpClient } from "../../provider/src/qemu";
import { clientFor } from "../../provider/src/resources/handler";
import { withDomainLock } from "../../provider/src/resources/locks";
import { directMonitor, libvirtMonitor, type QemuMonitor } from "../../provider/src/resources/monitor";
import { attachNic, detachNic, listNics, setNicLink, type QmpNic } from "../../provider/src/resources/qmp-nics";
import { guestExec, guestExecStatus, parseAgentReply, parseGuestExecStarted, parseGuestExecStatus } from "../../provider/src/vocab/qga";
import { parseQmpReply } from "../../provider/src/vocab/qmp";
import { deriveNicMac, guestLinksCommand, parseGuestLinks, type GuestLink } from "../../provider/src/vocab/qmp-net";
import { startBareQemu, type BareQemu } from "../support/bare-qemu";
import { bootGuest, destroyGuest, runInGuest, type BootedGuest } from "../support/guest";
import { uniqueName } from "../support/host";
import { libvirtdNetns } from "../support/libvirtd";
import { createIsolatedNetwork, removeNetwork, type TestNetwork } from "../support/network";
import { skipMissing } from "../support/skip";
import { eventually } from "../support/wait";

/** The user-mode subnet every NIC here gets: QEMU's slirp leases from .15 (never its default 10.0.2.0/24). */
const SUBNET = { address: "198.18.250.0", prefixLength: 24 };

function nic(name: string, extra: Partial<QmpNic> = {}): QmpNic {
  return {
    id: `lvn-${name}`,
    netdevId: `lvnd-${name}`,
    model: "virtio",
    mac: deriveNicMac(`qmp-nics-test/${name}`),
    backend: { type: "user", ipv4: SUBNET, restrict: true },
    linkUp: true,
    ...extra,
  };
}

/** What the tests run in a guest, over whichever agent path it has. */
type GuestShell = (script: string) => Promise<string>;

function attachLocked(monitor: QemuMonitor, wanted: QmpNic) {
  return withDomainLock(monitor.key, () => attachNic(monitor, wanted));
}

function detachLocked(monitor: QemuMonitor, wanted: QmpNic, timeoutSeconds = 60) {
  return withDomainLock(monitor.key, () => detachNic(monitor, wanted.id, wanted.netdevId, timeoutSeconds));
}

async function guestLinks(shell: GuestShell): Promise<GuestLink[]> {
  const { args } = guestLinksCommand();
  return parseGuestLinks(await shell(args[1]!));
}

/** Whether the guest has a driver for virtio-net at all (the test guest gains it with NIC support). */
async function guestHasVirtioNet(shell: GuestShell): Promise<boolean> {
  return (await shell("find /lib/modules -name 'virtio_net.ko*' | head -1; [ -d /sys/module/virtio_net ] && echo loaded")).trim() !== "";
}

/** The guest's interface with this MAC, once it has one. */
async function guestInterface(shell: GuestShell, mac: string): Promise<GuestLink> {
  let found: GuestLink | undefined;
  await eventually(`the guest has an interface with MAC ${mac}`, async () => {
    found = (await guestLinks(shell)).find((l) => l.mac === mac);
    return found !== undefined;
  }, 60_000, 250);
  return found!;
}

async function guestIpv4(shell: GuestShell, ifname: string): Promise<string | null> {
  const out = await shell(`ip -4 -o addr show dev ${ifname} scope global`);
  return /inet (\d+\.\d+\.\d+\.\d+)\/\d+/.exec(out)?.[1] ?? null;
}

/** The checks inside the guest shared by both paths: a new interface, a lease from 198.18.250.0/24, carrier follows set_link. */
function guestChecks(ctx: () => { monitor: QemuMonitor; shell: GuestShell; hasDriver: boolean }) {
  it("the guest sees the hot-added NIC as a new interface and gets its DHCP lease 198.18.250.x from QEMU's slirp", async function () {
    const { monitor, shell, hasDriver } = ctx();
    if (!hasDriver) skipMissing(this, "a virtio_net driver in the test guest (scripts/build-guest.sh with NIC drivers)");
    const wanted = nic("guest");
    const before = new Set((await guestLinks(shell)).map((l) => l.name));
    await attachLocked(monitor, wanted);
    try {
      const link = await guestInterface(shell, wanted.mac);
      assert.ok(!before.has(link.name), `${link.name} is new in the guest`);
      let address: string | null = null;
      await eventually(`a lease on ${link.name}`, async () => (address = await guestIpv4(shell, link.name)) !== null, 90_000, 500);
      assert.match(address!, /^198\.18\.250\.\d+$/);

      // set_link down: the guest's driver reports no carrier; up again: carrier back.
      await withDomainLock(monitor.key, () => setNicLink(monitor, wanted.id, false));
      await eventually("carrier 0 in the guest", async () => (await guestLinks(shell)).find((l) => l.mac === wanted.mac)?.carrier === false, 30_000, 250);
      await withDomainLock(monitor.key, () => setNicLink(monitor, wanted.id, true));
      await eventually("carrier 1 in the guest", async () => (await guestLinks(shell)).find((l) => l.mac === wanted.mac)?.carrier === true, 30_000, 250);
    } finally {
      await detachLocked(monitor, wanted);
    }
    await eventually("the interface gone from the guest", async () => !(await guestLinks(shell)).some((l) => l.mac === wanted.mac), 30_000, 250);
  });

  it("a NIC created with linkUp false starts without carrier in the guest", async function () {
    const { monitor, shell, hasDriver } = ctx();
    if (!hasDriver) skipMissing(this, "a virtio_net driver in the test guest (scripts/build-guest.sh with NIC drivers)");
    const wanted = nic("down", { linkUp: false });
    await attachLocked(monitor, wanted);
    try {
      const link = await guestInterface(shell, wanted.mac);
      // The guest's netwatch brings every interface up; carrier stays 0 while the cable is "pulled".
      await eventually(`${link.name} up without carrier`, async () => (await guestLinks(shell)).find((l) => l.mac === wanted.mac)?.carrier === false, 30_000, 250);
      assert.equal(await guestIpv4(shell, link.name), null, "no lease without carrier");
    } finally {
      await detachLocked(monitor, wanted);
    }
  });
}

describe("NICs over QMP on a QEMU run without libvirt (user-mode networking)", function () {
  this.timeout(240_000);
  let qemu: BareQemu;
  let qmp: QmpClient;
  let probe: QmpClient;
  let agent: AgentClient;
  let monitor: QemuMonitor;
  let hasDriver = false;
  const ask = async (execute: string, args?: object): Promise<any> => parseQmpReply(await probe.execute({ execute, ...(args ? { arguments: args } : {}) }), execute);
  const infoNetwork = async (): Promise<string> => ask("human-monitor-command", { "command-line": "info network" });
  const shell: GuestShell = async (script) => {
    const { pid } = parseGuestExecStarted(parseAgentReply(await agent.execute(guestExec({ path: "/bin/sh", args: ["-c", script], captureOutput: true }), 10_000), "guest-exec"));
    for (;;) {
      const status = parseGuestExecStatus(parseAgentReply(await agent.execute(guestExecStatus(pid), 10_000), "guest-exec-status"));
      if (status.exited) return status.stdout;
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  before(async function () {
    // A guest with a NIC runs only inside the network namespace of scripts/setup-host.sh's daemon.
    const netns = libvirtdNetns();
    if (!netns) skipMissing(this, "the network namespace of scripts/setup-host.sh's libvirt daemon (guests with NICs run only there)");
    qemu = await startBareQemu({ probeQmp: true, netns: netns! });
    qmp = new QmpClient(qemu.qmp);
    monitor = directMonitor(qmp);
    // The test's own eyes on QEMU: a second monitor (events on every monitor), and the guest's agent.
    probe = new QmpClient(qemu.qmpProbe!);
    agent = new AgentClient(qemu.agent, { syncTimeoutMs: 2_000 });
    await eventually("qemu-ga answers", () => agent.execute({ execute: "guest-ping" }, 5_000).then(() => true, () => false), 150_000, 250);
    hasDriver = await guestHasVirtioNet(shell);
  });
  after(async () => {
    await agent?.close();
    await qmp?.close();
    await probe?.close();
    await qemu?.stop();
  });

  it("a NIC hot-added with a user-mode backend: QEMU lists it with its MAC at the far end of pci.0, with the subnet and restrict asked", async () => {
    const wanted = nic("first");
    assert.deepEqual(await attachLocked(monitor, wanted), { attached: true });
    try {
      const live = (await listNics(monitor)).find((n) => n.id === wanted.id);
      assert.deepEqual(live, { id: wanted.id, mac: wanted.mac, linkUp: null, driver: "virtio-net-pci" });
      const rx = await ask("query-rx-filter", { name: wanted.id });
      assert.equal(rx[0]["main-mac"], wanted.mac);
      const network = await infoNetwork();
      assert.match(network, new RegExp(`${wanted.netdevId}: index=0,type=user,net=198\\.18\\.250\\.0,restrict=on`));
      const pci = await ask("query-pci");
      const slot = pci[0].devices.find((d: any) => d.qdev_id === wanted.id)?.slot;
      assert.equal(slot, 0x1f, "the highest slot: libvirt and QEMU fill from the low end");
    } finally {
      await detachLocked(monitor, wanted);
    }
  });

  it("detach ends with DEVICE_DELETED and frees the netdev, so a second attach under the same ids works", async () => {
    const wanted = nic("again");
    const deleted: string[] = [];
    const stop = probe.onEvent("DEVICE_DELETED", (e) => {
      if (typeof e.data?.["device"] === "string") deleted.push(e.data["device"] as string);
    });
    try {
      for (let round = 1; round <= 2; round++) {
        assert.deepEqual(await attachLocked(monitor, wanted), { attached: true }, `round ${round}`);
        assert.ok((await listNics(monitor)).some((n) => n.id === wanted.id));
        await detachLocked(monitor, wanted);
        assert.equal(deleted.filter((d) => d === wanted.id).length, round, "QEMU said DEVICE_DELETED");
        assert.ok(!(await listNics(monitor)).some((n) => n.id === wanted.id), "gone from QEMU's NICs");
        assert.doesNotMatch(await infoNetwork(), new RegExp(wanted.netdevId), "the netdev is freed");
      }
    } finally {
      stop();
    }
  });

  it("a NIC removed behind the provider's back is seen gone by listNics; the attach again frees the netdev left behind", async () => {
    const wanted = nic("oob");
    await attachLocked(monitor, wanted);
    await ask("device_del", { id: wanted.id });
    await eventually("listNics without the NIC", async () => !(await listNics(monitor)).some((n) => n.id === wanted.id), 60_000, 200);
    assert.match(await infoNetwork(), new RegExp(wanted.netdevId), "device_del alone leaves the netdev");
    assert.deepEqual(await attachLocked(monitor, wanted), { attached: true });
    assert.equal((await listNics(monitor)).find((n) => n.id === wanted.id)?.mac, wanted.mac);
    await detachLocked(monitor, wanted);
    assert.doesNotMatch(await infoNetwork(), new RegExp(wanted.netdevId));
  });

  it("an interrupted create is adopted, never duplicated; another MAC under our id, or our MAC on another NIC, is refused untouched", async () => {
    const wanted = nic("adopt");
    await attachLocked(monitor, wanted);
    try {
      assert.deepEqual(await attachLocked(monitor, wanted), { attached: false });
      assert.equal((await listNics(monitor)).filter((n) => n.id === wanted.id).length, 1);
      await assert.rejects(attachLocked(monitor, { ...wanted, mac: deriveNicMac("someone-else") }), /has MAC .* not provably this resource's; nothing was changed/);
      await assert.rejects(attachLocked(monitor, nic("thief", { mac: wanted.mac })), new RegExp(`MAC ${wanted.mac} is already used by NIC ${wanted.id}`));
      assert.ok(!(await listNics(monitor)).some((n) => n.id === "lvn-thief"));
      assert.doesNotMatch(await infoNetwork(), /lvnd-thief/, "nothing was added for the refused NIC");
    } finally {
      await detachLocked(monitor, wanted);
    }
  });

  it("e1000, e1000e and rtl8139 NICs (which query-rx-filter does not list) are found by listNics too", async () => {
    const models = ["e1000", "e1000e", "rtl8139"] as const;
    const nics = models.map((model) => nic(`m-${model}`, { model }));
    for (const n of nics) await attachLocked(monitor, n);
    try {
      const live = await listNics(monitor);
      for (const n of nics) assert.deepEqual(live.find((l) => l.id === n.id), { id: n.id, mac: n.mac, linkUp: null, driver: n.model });
      await assert.rejects(ask("query-rx-filter", { name: nics[0]!.id }), /doesn't support rx-filter querying/);
    } finally {
      for (const n of nics) await detachLocked(monitor, n);
    }
  });

  it("ten NICs attached in parallel under the machine's lock get distinct slots and MACs; all detach in parallel", async () => {
    const many = Array.from({ length: 10 }, (_, i) => nic(`par${i}`));
    await Promise.all(many.map((n) => attachLocked(monitor, n)));
    try {
      const pci = await ask("query-pci");
      const slots = many.map((n) => pci[0].devices.find((d: any) => d.qdev_id === n.id)?.slot);
      assert.ok(slots.every((s) => typeof s === "number"), JSON.stringify(slots));
      assert.equal(new Set(slots).size, 10, `distinct slots: ${slots}`);
      const live = await listNics(monitor);
      const macs = many.map((n) => live.find((l) => l.id === n.id)?.mac);
      assert.deepEqual(macs, many.map((n) => n.mac));
      assert.equal(new Set(macs).size, 10);
    } finally {
      await Promise.all(many.map((n) => detachLocked(monitor, n)));
    }
    const left = await listNics(monitor);
    assert.ok(!many.some((n) => left.some((l) => l.id === n.id)), "all gone");
    assert.doesNotMatch(await infoNetwork(), /lvnd-par/);
  });

  it("QEMU's bridge helper refusing a bridge becomes an error naming /etc/qemu/bridge.conf and the line to add", async function () {
    // Only where the helper refuses before it makes anything: with no ACL file it stops at reading it, so no tap or
    // bridge ever appears in the host's namespace.
    if (require("node:fs").existsSync("/etc/qemu/bridge.conf")) skipMissing(this, "a host without /etc/qemu/bridge.conf (the helper would make a tap in the host's namespace)");
    const wanted = nic("br", { backend: { type: "bridge", bridge: "lvtnobr0" } });
    await assert.rejects(attachLocked(monitor, wanted), /add the line "allow lvtnobr0" to \/etc\/qemu\/bridge\.conf/);
    assert.doesNotMatch(await infoNetwork(), /lvnd-br/);
    assert.ok(!(await listNics(monitor)).some((n) => n.id === wanted.id));
  });

  describe("inside the guest", () => {
    guestChecks(() => ({ monitor, shell, hasDriver }));
  });
});

describe("NICs over QMP on a q35 QEMU run without libvirt", function () {
  this.timeout(120_000);
  let qemu: BareQemu;
  let qmp: QmpClient;
  let monitor: QemuMonitor;
  before(async function () {
    const netns = libvirtdNetns();
    if (!netns) skipMissing(this, "the network namespace of scripts/setup-host.sh's libvirt daemon (guests with NICs run only there)");
    // Two empty root ports to hot-plug into (q35's root bus itself does not hot-plug).
    qemu = await startBareQemu({
      netns: netns!,
      machine: "q35",
      extraArgs: ["-device", "pcie-root-port,id=hp1,chassis=1,bus=pcie.0,addr=0x10", "-device", "pcie-root-port,id=hp2,chassis=2,bus=pcie.0,addr=0x11"],
    });
    qmp = new QmpClient(qemu.qmp);
    monitor = directMonitor(qmp);
    // A device is released only by a guest that runs (ACPI eject): wait until it does.
    const agent = new AgentClient(qemu.agent, { syncTimeoutMs: 2_000 });
    try {
      await eventually("qemu-ga answers", () => agent.execute({ execute: "guest-ping" }, 5_000).then(() => true, () => false), 150_000, 250);
    } finally {
      await agent.close();
    }
  });
  after(async () => {
    await qmp?.close();
    await qemu?.stop();
  });

  it("each NIC takes an empty root port from the far end; with none left the refusal names the QEMU option to add", async () => {
    const first = nic("q1");
    const second = nic("q2", { model: "e1000e" });
    await attachLocked(monitor, first);
    await attachLocked(monitor, second);
    try {
      const pci = parseQmpReply(await qmp.execute({ execute: "query-pci" }), "query-pci") as any[];
      const portOf = (id: string) => pci[0].devices.find((d: any) => (d.pci_bridge?.devices ?? []).some((c: any) => c.qdev_id === id))?.qdev_id;
      assert.equal(portOf(first.id), "hp2");
      assert.equal(portOf(second.id), "hp1");
      await assert.rejects(attachLocked(monitor, nic("q3")), /no empty PCIe root port on QEMU at unix:.*start QEMU with one per device to hot-plug, e\.g\. -device pcie-root-port/);
      assert.deepEqual((await listNics(monitor)).map((n) => n.id).sort(), [first.id, second.id]);
    } finally {
      await detachLocked(monitor, first);
      await detachLocked(monitor, second);
    }
  });
});

describe("NICs over QMP through a libvirt domain's monitor passthrough", function () {
  this.timeout(300_000);
  let guest: BootedGuest;
  let monitor: QemuMonitor;
  let hasDriver = false;
  let network: TestNetwork | undefined;
  const shell: GuestShell = async (script) => (await runInGuest(guest, "/bin/sh", ["-c", script], 30)).stdout;
  const running = async () => ((await monitor.command({ execute: "query-status" })) as { status: string }).status;

  before(async function () {
    // Guest networking stays inside the daemon's own namespace (scripts/setup-host.sh): never on a shared host's.
    if (libvirtdNetns() === null) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    guest = await bootGuest(uniqueName("qmpnic"));
    const client = await clientFor(guest.uri);
    monitor = libvirtMonitor(client, await client.lookupDomainByUuid(guest.uuid));
    hasDriver = await guestHasVirtioNet(shell);
  });
  after(async () => {
    if (guest) await destroyGuest(guest);
    if (network) removeNetwork(network.name);
  });

  it("a bridge backend is refused before QEMU is asked (libvirt's sandbox would kill the guest at the helper's fork); the guest runs on", async () => {
    network = createIsolatedNetwork("qmpnic");
    const wanted = nic("lvbr", { backend: { type: "bridge", bridge: network.bridge } });
    await assert.rejects(attachLocked(monitor, wanted), new RegExp(`-sandbox spawn=deny.*bridge ${network.bridge} through libvirt \\(via: "libvirt"\\)`));
    assert.equal(await running(), "running");
    assert.ok(!(await listNics(monitor)).some((n) => n.id === wanted.id));
  });

  it("a tap backend is refused by libvirt's QEMU (no /dev/net/tun in its /dev), explained, and leaves nothing behind", async () => {
    const wanted = nic("lvtap", { backend: { type: "tap", ifname: "lvtqmptap0" } });
    await assert.rejects(attachLocked(monitor, wanted), /could not open \/dev\/net\/tun.*through libvirt \(via: "libvirt"\)/);
    assert.equal(await running(), "running");
    const network = (await monitor.command({ execute: "human-monitor-command", arguments: { "command-line": "info network" } })) as string;
    assert.doesNotMatch(network, /lvnd-lvtap/);
  });

  it("a user-mode NIC attaches at a slot libvirt's devices leave free and detaches on DEVICE_DELETED through libvirt's events", async () => {
    const wanted = nic("lvuser");
    const deleted: string[] = [];
    const stop = await monitor.onEvent("DEVICE_DELETED", (data) => {
      if (typeof data?.["device"] === "string") deleted.push(data["device"] as string);
    });
    await attachLocked(monitor, wanted);
    let detached = false;
    try {
      assert.equal((await listNics(monitor)).find((n) => n.id === wanted.id)?.mac, wanted.mac);
      const pci = (await monitor.command({ execute: "query-pci" })) as any[];
      const slots = pci[0].devices.map((d: any) => d.slot);
      assert.equal(pci[0].devices.find((d: any) => d.qdev_id === wanted.id)?.slot, Math.max(...slots));
      await detachLocked(monitor, wanted);
      detached = true;
      assert.deepEqual(deleted, [wanted.id], "libvirt relayed QEMU's DEVICE_DELETED");
      assert.ok(!(await listNics(monitor)).some((n) => n.id === wanted.id));
    } finally {
      stop?.();
      if (!detached) await detachLocked(monitor, wanted).catch(() => undefined);
    }
  });

  it("ten NICs attached in parallel under the domain's lock get distinct slots and MACs", async () => {
    const many = Array.from({ length: 10 }, (_, i) => nic(`lvpar${i}`));
    await Promise.all(many.map((n) => attachLocked(monitor, n)));
    try {
      const pci = (await monitor.command({ execute: "query-pci" })) as any[];
      const slots = many.map((n) => pci[0].devices.find((d: any) => d.qdev_id === n.id)?.slot);
      assert.equal(new Set(slots).size, 10, `distinct slots: ${slots}`);
      const live = await listNics(monitor);
      assert.deepEqual(many.map((n) => live.find((l) => l.id === n.id)?.mac), many.map((n) => n.mac));
    } finally {
      await Promise.all(many.map((n) => detachLocked(monitor, n)));
    }
    const left = await listNics(monitor);
    assert.ok(!many.some((n) => left.some((l) => l.id === n.id)));
  });

  describe("inside the guest", () => {
    guestChecks(() => ({ monitor, shell, hasDriver }));
  });
});

describe("NICs over QMP through a libvirt q35 domain", function () {
  this.timeout(300_000);
  let guest: BootedGuest;
  let monitor: QemuMonitor;
  before(async function () {
    if (libvirtdNetns() === null) skipMissing(this, "the libvirt daemon of scripts/setup-host.sh in its own network namespace");
    guest = await bootGuest(uniqueName("qmpnic-q35"), { machine: "q35", hotplugSlots: 1 });
    const client = await clientFor(guest.uri);
    monitor = libvirtMonitor(client, await client.lookupDomainByUuid(guest.uuid));
  });
  after(async () => {
    if (guest) await destroyGuest(guest);
  });

  it("a NIC takes the free root port; with none left the refusal names the Domain's hotplugSlots", async () => {
    const first = nic("lvq1");
    await attachLocked(monitor, first);
    try {
      assert.ok((await listNics(monitor)).some((n) => n.id === first.id));
      const pci = (await monitor.command({ execute: "query-pci" })) as any[];
      const port = pci[0].devices.find((d: any) => (d.pci_bridge?.devices ?? []).some((c: any) => c.qdev_id === first.id));
      assert.deepEqual([port?.id?.vendor, port?.id?.device], [0x1b36, 0x000c], "behind a pcie-root-port");
      await assert.rejects(attachLocked(monitor, nic("lvq2")), /no empty PCIe root port on domain .*raise the Domain's hotplugSlots \(applies at its next boot\)/);
    } finally {
      await detachLocked(monitor, first);
    }
  });
});
