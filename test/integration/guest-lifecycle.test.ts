// The Domain resource's lifecycle on the real test guest (busybox + qemu-ga, TCG here), through the dynamic
// providers as the engine calls them: create returns only once the agent answers, autostart, stop (running:
// false) as the guest's own graceful shutdown, start again, and QMP hotplug of a virtio disk on a pc machine
// that the guest sees come and go.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { agentCall } from "../../provider/src/resources/agent";
import { clientFor } from "../../provider/src/resources/handler";
import { guestPing } from "../../provider/src/vocab/qga";
import { guestArtifacts, guestBlockDevices, GUEST_CMDLINE } from "../support/guest";
import { domainType, makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { create, diff, read, remove, update } from "../support/provider";

type Props = Record<string, any>;

/** One guest-ping, no retry: libvirt answers "agent not connected" at once when qemu-ga is not there yet. */
async function pingOnce(outs: Props): Promise<void> {
  const client = await clientFor(outs.uri);
  const dom = await client.lookupDomainByUuid(outs.uuid);
  assert.deepEqual(await agentCall(client, dom, guestPing(), 30), {});
}

async function eventually(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const queryBlock = (dom: string): any[] => JSON.parse(virsh("qemu-monitor-command", dom, JSON.stringify({ execute: "query-block" }))).return;
const blockOf = (dom: string, alias: string) => queryBlock(dom).find((b) => b.qdev === alias || String(b.qdev).startsWith(`/machine/peripheral/${alias}/`));
const namedNodes = (dom: string): string[] =>
  JSON.parse(virsh("qemu-monitor-command", dom, JSON.stringify({ execute: "query-named-block-nodes", arguments: { flat: true } }))).return.map((n: any) => n["node-name"]);

describe("a real guest through the Domain resource: agent wait, autostart, stop/start, virtio QMP hotplug", function () {
  // Boots under TCG on a loaded 2-core machine: each boot to the agent is seconds to a minute or more.
  this.timeout(400_000);
  const name = uniqueName("life");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-life-"));
  let vm: { id: string; outs: Props };
  const inputs = (extra: Props = {}): Props => {
    const { kernel, initrd } = guestArtifacts();
    return {
      name, type: domainType(), machine: "pc", memoryMiB: 256, vcpus: 1,
      boot: { kernel, initrd, cmdline: GUEST_CMDLINE }, guestAgent: true,
      waitForAgentSeconds: 300, shutdownTimeoutSeconds: 240, ...extra,
    };
  };

  after(async function () {
    this.timeout(300_000);
    if (vm) await remove("Domain", vm.id, vm.outs).catch(() => undefined);
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("create returns only once qemu-ga answers: one guest-ping right after it succeeds, with no retry", async () => {
    vm = await create("Domain", inputs());
    await pingOnce(vm.outs);
    assert.equal(vm.outs.state, "running");
  });

  it("autostart: true and back to false change libvirt's autostart flag, with no restart", async () => {
    const domid = vm.outs.domainId;
    const d = await diff("Domain", vm.id, vm.outs, inputs({ autostart: true }));
    assert.deepEqual(d.replaces, []);
    let outs = await update("Domain", vm.id, vm.outs, inputs({ autostart: true }));
    assert.match(virsh("dominfo", name), /^Autostart:\s+enable$/m);
    assert.equal((await read("Domain", vm.id, outs)).props.autostart, true);
    outs = await update("Domain", vm.id, outs, inputs({ autostart: false }));
    assert.match(virsh("dominfo", name), /^Autostart:\s+disable$/m);
    assert.equal(outs.domainId, domid, "not restarted");
    vm.outs = outs;
  });

  it("running: false shuts the guest down gracefully (its own shutdown, not a destroy)", async () => {
    const outs = await update("Domain", vm.id, vm.outs, inputs({ running: false }));
    // libvirt's shutoff reason: "shutdown" when the guest powered itself off (ACPI or the agent's guest-shutdown
    // through the guest's /sbin/shutdown wrapper), "destroyed" when the deadline fell back to destroy.
    assert.equal(virsh("domstate", "--reason", name).trim(), "shut off (shutdown)");
    assert.equal(outs.state, "shutoff");
    assert.equal(outs.domainId, -1);
    const refreshed = await read("Domain", vm.id, outs);
    assert.equal(refreshed.props.running, false);
    assert.equal((await diff("Domain", vm.id, refreshed.props, inputs({ running: false }))).changes, false);
    vm.outs = outs;
  });

  it("running: true starts it again, and the update returns once the agent answers", async () => {
    const outs = await update("Domain", vm.id, vm.outs, inputs());
    assert.equal(outs.state, "running");
    assert.equal(String(outs.domainId), virsh("domid", name).trim());
    await pingOnce(outs);
    vm.outs = outs;
  });

  it("QMP hotplug on virtio (pc): blockdev-add + device_add, seen by the guest, unplugged by it, no node left", async () => {
    const source = path.join(tmp, "qv.img");
    makeImage(source, 8);
    const before = await guestBlockDevices(vm.outs as any);
    const disk = await create("Disk", { resourceName: "qmp-virtio", domain: name, source, bus: "virtio", via: "qmp" });
    try {
      assert.equal(blockOf(name, disk.outs.alias)?.inserted?.file, source);
      assert.equal(disk.outs.live?.file, source);
      assert.doesNotMatch(virsh("dumpxml", name), new RegExp(`<alias name='${disk.outs.alias}'/>`), "libvirt does not know a QMP device");
      let seen: string[] = [];
      await eventually("the guest to see the virtio disk", async () => (seen = (await guestBlockDevices(vm.outs as any)).filter((d) => !before.includes(d))).length === 1);
      assert.match(seen[0], /^vd[a-z]$/);
      await remove("Disk", disk.id, disk.outs);
      assert.equal(blockOf(name, disk.outs.alias), undefined, "still in query-block after the delete returned");
      assert.ok(!namedNodes(name).some((n) => n.startsWith(disk.outs.alias)), "a block node was left behind");
      await eventually("the disk to leave the guest", async () => !(await guestBlockDevices(vm.outs as any)).includes(seen[0]));
    } catch (error) {
      await remove("Disk", disk.id, disk.outs).catch(() => undefined);
      throw error;
    }
  });
});
