// Drift a refresh used to miss, against the real daemon and QEMU: a device removed from the persistent config only
// (still attached live, gone at the next boot), a Domain whose recorded pendingRestart went stale once `up` repaired
// a device, and a ceiling (maxMemoryMiB, maxVcpus) declared equal to the one the domain has.
import { strict as assert } from "node:assert";
import { removeDomain, uniqueName, virsh } from "../support/host";
import { create, diff, fileDomain, read, remove, update } from "../support/provider";

type Props = Record<string, any>;

const inConfig = (domain: string, alias: string) => virsh("dumpxml", "--inactive", domain).includes(`<alias name='${alias}'/>`);
const inLive = (domain: string, alias: string) => virsh("dumpxml", domain).includes(`<alias name='${alias}'/>`);

describe("drift refresh used to miss", function () {
  this.timeout(120_000);
  const file = fileDomain("drift");
  const vmName = file.name;
  const image = file.image;
  const vmInputs = file.inputs;

  before(() => assert.equal(file.vm.outs.state, "running"));

  it("a Disk removed from the persistent config only reads persistent: false; up puts the config entry back, the running disk untouched", async () => {
    const inputs = { resourceName: "cfg-gone", domain: vmName, source: image("cfg-gone.img"), bus: "scsi" };
    const disk = await create("Disk", inputs);
    assert.equal(disk.outs.persistent, true);
    const { alias, target } = disk.outs;
    virsh("detach-disk", vmName, target, "--config");
    assert.ok(!inConfig(vmName, alias) && inLive(vmName, alias), "virsh took it out of the config only");

    const refreshed = await read("Disk", disk.id, disk.outs);
    assert.equal(refreshed.id, disk.id, "still attached live: not gone");
    assert.equal(refreshed.props.persistent, false);
    assert.deepEqual(await diff("Disk", disk.id, refreshed.props, inputs), { changes: true, replaces: [] });

    const liveBefore = JSON.parse(virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "query-block" }))).return.filter((b: any) => String(b.qdev).includes(alias));
    const outs = await update("Disk", disk.id, refreshed.props, inputs);
    assert.equal(outs.persistent, true);
    assert.ok(inConfig(vmName, alias), "the config has the disk again");
    const liveAfter = JSON.parse(virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "query-block" }))).return.filter((b: any) => String(b.qdev).includes(alias));
    assert.deepEqual(liveAfter, liveBefore, "the running device was not touched");

    const again = await read("Disk", disk.id, outs);
    assert.deepEqual(await diff("Disk", disk.id, again.props, inputs), { changes: false, replaces: [] });
    await remove("Disk", disk.id, outs);
  });

  it("a Cdrom removed from the persistent config only is drift (persistent: false); up puts it back", async () => {
    const media = image("cfg-gone.iso", 1);
    const inputs = { resourceName: "cfg-gone-cd", domain: vmName, bus: "scsi", media };
    const cd = await create("Cdrom", inputs);
    assert.equal(cd.outs.persistent, true);
    virsh("detach-disk", vmName, cd.outs.target, "--config");
    assert.ok(!inConfig(vmName, cd.outs.alias) && inLive(vmName, cd.outs.alias));

    const refreshed = await read("Cdrom", cd.id, cd.outs);
    assert.equal(refreshed.id, cd.id);
    assert.equal(refreshed.props.persistent, false);
    assert.equal(refreshed.props.media, media, "the running drive still has its medium");
    assert.deepEqual(await diff("Cdrom", cd.id, refreshed.props, inputs), { changes: true, replaces: [] });

    const outs = await update("Cdrom", cd.id, refreshed.props, inputs);
    assert.equal(outs.persistent, true);
    assert.equal(outs.inserted, media);
    assert.ok(inConfig(vmName, cd.outs.alias), "the config has the drive again");
    assert.deepEqual(await diff("Cdrom", cd.id, (await read("Cdrom", cd.id, outs)).props, inputs), { changes: false, replaces: [] });
    await remove("Cdrom", cd.id, outs);
  });

  it("after up --refresh repaired a device, the Domain's recorded outputs equal its next refresh (no stale pendingRestart)", async () => {
    const media = image("stale.iso", 1);
    const inputs = { resourceName: "stale-pending", domain: vmName, bus: "scsi", media };
    const cd = await create("Cdrom", inputs);
    // Behind Pulumi's back: another medium in the running drive only (the config keeps the declared one).
    // (A hot-plugged scsi cdrom keeps its tray shut until QMP opens it: DESIGN §6.)
    virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "blockdev-open-tray", arguments: { id: cd.outs.alias, force: true } }));
    virsh("change-media", vmName, cd.outs.target, image("other.iso", 1), "--live");
    // up --refresh, as the engine runs it: refresh reads every resource, then the diffs; only the Cdrom changes.
    const domainRefreshed = await read("Domain", file.vm.id, file.vm.outs);
    const cdRefreshed = await read("Cdrom", cd.id, cd.outs);
    assert.deepEqual(await diff("Domain", file.vm.id, domainRefreshed.props, vmInputs()), { changes: false, replaces: [] });
    assert.deepEqual(await diff("Cdrom", cd.id, cdRefreshed.props, inputs), { changes: true, replaces: [] });
    const outs = await update("Cdrom", cd.id, cdRefreshed.props, inputs);
    assert.equal(outs.inserted, media);
    // The state now holds domainRefreshed.props for the Domain (a same step); the next preview --refresh reads it
    // again and must find what the state holds.
    const next = await read("Domain", file.vm.id, domainRefreshed.props);
    assert.equal(next.props.pendingRestart, domainRefreshed.props.pendingRestart, "the pendingRestart the refresh recorded went stale when up repaired the Cdrom");
    assert.equal(next.props.pendingRestart, false);
    await remove("Cdrom", cd.id, outs);
  });

  describe("a ceiling declared equal to the domain's own", () => {
    const name = uniqueName("drift-max");
    let dom: { id: string; outs: Props };
    const base = (): Props => ({ name, memoryMiB: 64, vcpus: 1, guestAgent: false, shutdownTimeoutSeconds: 1 });

    before(async () => {
      dom = await create("Domain", base());
      assert.equal(dom.outs.state, "running");
      assert.equal(dom.outs.maxMemoryMiB, undefined, "the program gave no ceiling");
    });

    after(async () => {
      await remove("Domain", dom.id, dom.outs).catch(() => removeDomain(name));
    });

    it("maxMemoryMiB / maxVcpus equal to the real maximum are no change; another value is", async () => {
      const same = { ...base(), maxMemoryMiB: 64, maxVcpus: 1 };
      assert.deepEqual(await diff("Domain", dom.id, dom.outs, same), { changes: false, replaces: [] });
      const refreshed = await read("Domain", dom.id, dom.outs);
      assert.deepEqual(await diff("Domain", dom.id, refreshed.props, same), { changes: false, replaces: [] });
      assert.deepEqual(await diff("Domain", dom.id, refreshed.props, { ...base(), maxMemoryMiB: 128 }), { changes: true, replaces: [] });
      assert.deepEqual(await diff("Domain", dom.id, refreshed.props, { ...base(), maxVcpus: 2 }), { changes: true, replaces: [] });

      // An up with the declaration recorded changes nothing on the domain: no redefine, nothing pending.
      const xmlBefore = virsh("dumpxml", "--inactive", name);
      const outs = await update("Domain", dom.id, refreshed.props, same);
      assert.equal(outs.pendingRestart, false);
      assert.equal(outs.maxMemoryMiB, 64);
      assert.equal(outs.domainId, dom.outs.domainId);
      assert.equal(virsh("dumpxml", "--inactive", name), xmlBefore);
      dom = { id: dom.id, outs };
    });
  });
});
