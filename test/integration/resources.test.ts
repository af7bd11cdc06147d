// Volume, Domain, Disk and Cdrom through the dynamic-provider path against the real daemon and QEMU,
// cross-checked with virsh (libvirt's XML) and query-block (what QEMU really has open).
import { strict as assert } from "node:assert";
import { uniqueName, virsh } from "../support/host";
import { create, diff, fileDomain, read, remove, update } from "../support/provider";


function queryBlock(domain: string): any[] {
  return JSON.parse(virsh("qemu-monitor-command", domain, JSON.stringify({ execute: "query-block" }))).return;
}

function blockById(domain: string, id: string): any | undefined {
  return queryBlock(domain).find((b) => b.qdev === id || String(b.qdev).startsWith(`/machine/peripheral/${id}/`));
}

function namedNodes(domain: string): string[] {
  return JSON.parse(virsh("qemu-monitor-command", domain, JSON.stringify({ execute: "query-named-block-nodes", arguments: { flat: true } }))).return.map(
    (n: any) => n["node-name"],
  );
}

/** Polls an observation of the daemon's state (an unplug is asynchronous) instead of sleeping a fixed time. */
async function until(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const aliasesIn = (xml: string) => [...xml.matchAll(/<alias name='([^']+)'\/>/g)].map((m) => m[1]);

describe("resources against the real daemon", function () {
  this.timeout(120_000);
  // maxMemoryMiB/maxVcpus above the current values, so memory and vcpus can change live.
  const file = fileDomain("res", { maxMemoryMiB: 128, maxVcpus: 2 });
  const vmName = file.name;
  const image = file.image;
  const vmInputs = file.inputs;


  describe("Domain", () => {
    it("defines and starts the domain and reports what libvirt says", () => {
      assert.equal(file.vm.outs.state, "running");
      assert.equal(file.vm.outs.uuid, virsh("domuuid", vmName).trim());
      assert.equal(String(file.vm.outs.domainId), virsh("domid", vmName).trim());
      assert.equal(file.vm.outs.pendingRestart, false);
      assert.match(virsh("dumpxml", vmName), /<boot order='1'\/>/);
    });

    it("an unchanged domain has no diff", async () => {
      const refreshed = await read("Domain", file.vm.id, file.vm.outs);
      assert.deepEqual(await diff("Domain", file.vm.id, refreshed.props, vmInputs()), { changes: false, replaces: [] });
    });

    it("memory and vcpus within their maximums change live, with the same running QEMU", async () => {
      const inputs = { ...vmInputs(), memoryMiB: 96, vcpus: 2 };
      assert.deepEqual((await diff("Domain", file.vm.id, file.vm.outs, inputs)).replaces, []);
      const outs = await update("Domain", file.vm.id, file.vm.outs, inputs);
      assert.equal(outs.domainId, file.vm.outs.domainId, "not restarted");
      assert.equal(outs.vcpus, 2);
      assert.match(virsh("vcpucount", vmName, "--live", "--active"), /^2\s*$/m);
      assert.match(virsh("dumpxml", "--inactive", vmName), /<currentMemory unit='KiB'>98304<\/currentMemory>/);
      assert.equal(outs.pendingRestart, false);
      file.vm.outs = outs;
    });

    it("memory beyond maxMemoryMiB with restart never goes to the config and reports pendingRestart", async () => {
      const inputs = { ...vmInputs(), memoryMiB: 160, maxMemoryMiB: 192, vcpus: 2 };
      const outs = await update("Domain", file.vm.id, file.vm.outs, inputs);
      assert.equal(outs.domainId, file.vm.outs.domainId, "still the same QEMU");
      assert.equal(outs.pendingRestart, true);
      assert.match(virsh("dumpxml", "--inactive", vmName), /<memory unit='KiB'>196608<\/memory>/);
      file.vm.outs = outs;
    });

    it("with restart allow, the same kind of change restarts the domain and clears pendingRestart", async () => {
      const inputs = { ...vmInputs(), memoryMiB: 160, maxMemoryMiB: 224, vcpus: 2, restart: "allow" };
      const outs = await update("Domain", file.vm.id, file.vm.outs, inputs);
      assert.notEqual(outs.domainId, file.vm.outs.domainId, "restarted: new runtime id");
      assert.equal(outs.state, "running");
      assert.equal(outs.pendingRestart, false);
      assert.match(virsh("dumpxml", vmName), /<memory unit='KiB'>229376<\/memory>/);
      file.vm.outs = outs;
    });

    it("a new name is a replace; a domain stopped behind Pulumi's back shows as drift", async () => {
      assert.deepEqual((await diff("Domain", file.vm.id, file.vm.outs, { ...vmInputs(), name: `${vmName}-x` })).replaces, ["name"]);
      virsh("destroy", vmName);
      const refreshed = await read("Domain", file.vm.id, file.vm.outs);
      assert.equal(refreshed.props.running, false);
      const d = await diff("Domain", file.vm.id, refreshed.props, { ...vmInputs(), memoryMiB: 160, maxMemoryMiB: 224, vcpus: 2, restart: "allow" });
      assert.equal(d.changes, true);
      file.vm.outs = await update("Domain", file.vm.id, refreshed.props, { ...vmInputs(), memoryMiB: 160, maxMemoryMiB: 224, vcpus: 2, restart: "allow" });
      assert.equal(file.vm.outs.state, "running");
    });
  });

  describe("Disk", () => {
    it("attaches a scsi disk live and persistently, verified with query-block; detach removes it from both", async () => {
      const source = image("data1.img");
      const disk = await create("Disk", { resourceName: "data1", domain: vmName, source, bus: "scsi" });
      assert.equal(disk.outs.live.file, source);
      assert.equal(blockById(vmName, disk.outs.alias).inserted.file, source);
      assert.ok(aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(disk.outs.alias), "in the persistent config");
      await remove("Disk", disk.id, disk.outs);
      assert.ok(!aliasesIn(virsh("dumpxml", vmName)).includes(disk.outs.alias));
      assert.ok(!aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(disk.outs.alias));
    });

    it("reads a disk detached behind Pulumi's back as gone, and a new create adopts the config copy", async () => {
      const source = image("data2.img");
      const disk = await create("Disk", { resourceName: "data2", domain: vmName, source, bus: "usb" });
      const target = disk.outs.target;
      virsh("detach-disk", vmName, target, "--live");
      assert.equal((await read("Disk", disk.id, disk.outs)).id, "", "drift: gone from the running domain");
      const again = await create("Disk", { resourceName: "data2", domain: vmName, source, bus: "usb" });
      assert.equal(again.outs.alias, disk.outs.alias);
      const copies = (xml: string) => aliasesIn(xml).filter((a) => a === disk.outs.alias).length;
      assert.equal(copies(virsh("dumpxml", vmName)), 1);
      assert.equal(copies(virsh("dumpxml", "--inactive", vmName)), 1);
      await remove("Disk", again.id, again.outs);
    });

    it("a create interrupted after the attach is adopted on retry, never duplicated", async () => {
      const source = image("data3.img");
      const inputs = { resourceName: "data3", domain: vmName, source, bus: "scsi" };
      const first = await create("Disk", inputs); // the run "dies" before Pulumi records it
      const second = await create("Disk", inputs);
      assert.equal(second.id, first.id);
      assert.equal(queryBlock(vmName).filter((b) => b.inserted?.file === source).length, 1);
      await remove("Disk", second.id, second.outs);
    });

    it("via qmp: blockdev-add + device_add on scsi and usb, read back by query-block, and removed without a stray node", async () => {
      for (const bus of ["scsi", "usb"]) {
        const source = image(`q-${bus}.img`);
        const disk = await create("Disk", { resourceName: `q${bus}`, domain: vmName, source, bus, via: "qmp", readonly: bus === "usb" });
        const block = blockById(vmName, disk.outs.alias);
        assert.equal(block.inserted.file, source, bus);
        assert.equal(block.inserted.ro, bus === "usb");
        assert.ok(!aliasesIn(virsh("dumpxml", vmName)).includes(disk.outs.alias), "libvirt does not know it");
        assert.equal((await read("Disk", disk.id, disk.outs)).props.live.file, source);
        await remove("Disk", disk.id, disk.outs);
        assert.equal(blockById(vmName, disk.outs.alias), undefined);
        assert.ok(!namedNodes(vmName).some((n) => n.startsWith(disk.outs.alias)), "no block node left behind");
      }
    });

    it("a QMP-attached disk removed behind Pulumi's back reads as gone, and attaches again over the nodes it left", async () => {
      const inputs = { resourceName: "qgone", domain: vmName, source: image("qgone.img"), bus: "scsi", via: "qmp" };
      const disk = await create("Disk", inputs);
      virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "device_del", arguments: { id: disk.outs.alias } }));
      await until("the device_del to finish (gone from query-block)", () => blockById(vmName, disk.outs.alias) === undefined);
      assert.equal((await read("Disk", disk.id, disk.outs)).id, "");
      const again = await create("Disk", inputs);
      assert.equal(blockById(vmName, again.outs.alias).inserted.file, inputs.source);
      const adopted = await create("Disk", inputs);
      assert.equal(adopted.id, again.id, "an interrupted create is adopted over QMP too");
      assert.equal(queryBlock(vmName).filter((b) => b.inserted?.file === inputs.source).length, 1);
      await remove("Disk", again.id, again.outs);
    });

    it("deleting a QMP disk someone already device_del'ed succeeds and frees the block node it left", async () => {
      // The delete of a disk asks QEMU nothing before device_del (a disk has no tray): QEMU's "not found" is gone.
      const disk = await create("Disk", { resourceName: "qdel", domain: vmName, source: image("qdel.img"), bus: "scsi", via: "qmp" });
      virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "device_del", arguments: { id: disk.outs.alias } }));
      await until("the device_del to finish (gone from query-block)", () => blockById(vmName, disk.outs.alias) === undefined);
      assert.ok(namedNodes(vmName).some((n) => n.startsWith(disk.outs.alias)), "device_del leaves the node behind");
      await remove("Disk", disk.id, disk.outs);
      assert.ok(!namedNodes(vmName).some((n) => n.startsWith(disk.outs.alias)), "no block node left behind");
    });

    it("ten Disks created at once on one domain all attach, with distinct targets", async () => {
      const disks = await Promise.all(
        Array.from({ length: 10 }, (_, i) => create("Disk", { resourceName: `par${i}`, domain: vmName, source: image(`par${i}.img`, 1), bus: i % 2 ? "scsi" : "usb" })),
      );
      const targets = disks.map((d) => d.outs.target);
      assert.equal(new Set(targets).size, 10, `targets: ${targets}`);
      for (const d of disks) assert.equal(blockById(vmName, d.outs.alias).inserted.file, d.outs.source);
      await Promise.all(disks.map((d) => remove("Disk", d.id, d.outs)));
      const left = aliasesIn(virsh("dumpxml", vmName)).filter((a) => a.includes("par"));
      assert.deepEqual(left, []);
    });

    it("the seed's usb disk: read-only, boot order 4", async () => {
      const disk = await create("Disk", { resourceName: "seed-usb-disk", domain: vmName, source: image("seed-disk.img"), bus: "usb", readonly: true, bootOrder: 4, target: "sdzx" });
      const xml = virsh("dumpxml", vmName);
      assert.match(xml, /<target dev='sdzx' bus='usb'\/>[\s\S]*?<readonly\/>/);
      assert.match(xml, /<boot order='4'\/>/);
      assert.equal(blockById(vmName, disk.outs.alias).inserted.ro, true);
      await remove("Disk", disk.id, disk.outs);
    });

    it("a sata disk on a running pc domain goes to the config for the next boot (pendingRestart)", async () => {
      const disk = await create("Disk", { resourceName: "sata1", domain: vmName, source: image("sata.img"), bus: "sata" });
      assert.equal(disk.outs.live, null);
      assert.ok(aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(disk.outs.alias));
      assert.equal((await read("Domain", file.vm.id, file.vm.outs)).props.pendingRestart, true);
      await remove("Disk", disk.id, disk.outs);
      assert.equal((await read("Domain", file.vm.id, file.vm.outs)).props.pendingRestart, false);
    });

    it("changing a disk's source is a replace, its detach timeout only an update", async () => {
      const olds = { domain: vmName, source: "/a.img", bus: "scsi", format: "raw", readonly: false, via: "libvirt", persistent: true, detachTimeoutSeconds: 30, target: "sdb" };
      assert.deepEqual((await diff("Disk", "x", olds, { ...olds, target: undefined, source: "/b.img" })).replaces, ["source"]);
      assert.deepEqual(await diff("Disk", "x", olds, { ...olds, target: undefined, detachTimeoutSeconds: 5 }), { changes: true, replaces: [] });
    });
  });

  describe("Cdrom", () => {
    it("the seed's usb cdrom (target sdzy, boot order 999): attached live; a media change is a replace", async () => {
      const media = image("seed.iso", 1);
      const cd = await create("Cdrom", { resourceName: "seed-usb-cd", domain: vmName, bus: "usb", target: "sdzy", media, bootOrder: 999 });
      assert.equal(cd.outs.target, "sdzy");
      assert.equal(cd.outs.inserted, media);
      assert.match(virsh("dumpxml", vmName), /<boot order='999'\/>/);
      const d = await diff("Cdrom", cd.id, cd.outs, { resourceName: "seed-usb-cd", domain: vmName, bus: "usb", target: "sdzy", media: image("other.iso", 1), bootOrder: 999 });
      assert.deepEqual(d.replaces, ["media"]);
      await remove("Cdrom", cd.id, cd.outs);
      assert.ok(!/sdzy/.test(virsh("dumpxml", vmName)));
    });

    it("a scsi cdrom changes media live, ejects, and a swap or eject behind Pulumi's back shows as drift", async () => {
      const first = image("first.iso", 1);
      const second = image("second.iso", 1);
      const base = { resourceName: "scsi-cd", domain: vmName, bus: "scsi" };
      const cd = await create("Cdrom", { ...base, media: first });
      assert.equal(blockById(vmName, cd.outs.alias).inserted.file, first);
      assert.deepEqual((await diff("Cdrom", cd.id, cd.outs, { ...base, media: second })).replaces, []);
      let outs = await update("Cdrom", cd.id, cd.outs, { ...base, media: second });
      assert.equal(outs.inserted, second);
      assert.equal(blockById(vmName, cd.outs.alias).inserted.file, second);
      outs = await update("Cdrom", cd.id, outs, { ...base, media: null });
      assert.equal(outs.inserted, null);
      assert.equal(blockById(vmName, cd.outs.alias).inserted, undefined);
      outs = await update("Cdrom", cd.id, outs, { ...base, media: first });
      // Behind Pulumi's back: QMP ejects the media, as a guest or an operator might.
      virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "eject", arguments: { id: cd.outs.alias, force: true } }));
      const refreshed = await read("Cdrom", cd.id, outs);
      assert.equal(refreshed.props.inserted, null);
      assert.equal((await diff("Cdrom", cd.id, refreshed.props, { ...base, media: first })).changes, true);
      outs = await update("Cdrom", cd.id, refreshed.props, { ...base, media: first });
      assert.equal(blockById(vmName, cd.outs.alias).inserted.file, first);
      // Ejected again, and then an update of another field without a refresh first: it succeeds, changes no
      // medium, and reports what QEMU has.
      virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "eject", arguments: { id: cd.outs.alias, force: true } }));
      outs = await update("Cdrom", cd.id, outs, { ...base, media: first, detachTimeoutSeconds: 7 });
      assert.equal(outs.detachTimeoutSeconds, 7);
      assert.equal(outs.inserted, null);
      await remove("Cdrom", cd.id, outs);
    });

    it("an empty cdrom through libvirt waits in the config (libvirt cannot hot-plug one) and is not mistaken for drift", async () => {
      const cd = await create("Cdrom", { resourceName: "cd-empty", domain: vmName, bus: "scsi", media: null });
      assert.ok(aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(cd.outs.alias), "in the config");
      assert.ok(!aliasesIn(virsh("dumpxml", vmName)).includes(cd.outs.alias), "not in the running domain");
      assert.equal(cd.outs.inserted, null);
      const refreshed = await read("Cdrom", cd.id, cd.outs);
      assert.equal(refreshed.id, cd.id);
      assert.equal((await diff("Cdrom", cd.id, refreshed.props, { resourceName: "cd-empty", domain: vmName, bus: "scsi", media: null })).changes, false);
      await remove("Cdrom", cd.id, cd.outs);
      assert.ok(!aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(cd.outs.alias));
    });

    it("a cdrom with a long Pulumi name attaches and changes media (its alias is no QMP node name)", async () => {
      const base = { resourceName: "a-rather-long-cdrom-resource-name", domain: vmName, bus: "scsi" };
      const cd = await create("Cdrom", { ...base, media: image("long1.iso", 1) });
      const outs = await update("Cdrom", cd.id, cd.outs, { ...base, media: image("long2.iso", 1) });
      assert.equal(blockById(vmName, cd.outs.alias).inserted.file, outs.media);
      await remove("Cdrom", cd.id, outs);
    });

    it("a cdrom detached with virsh behind Pulumi's back reads as gone", async () => {
      const cd = await create("Cdrom", { resourceName: "cd-gone", domain: vmName, bus: "scsi", media: image("gone.iso", 1) });
      virsh("detach-device-alias", vmName, cd.outs.alias, "--live");
      await until("the unplug to finish (gone from the live XML)", () => !aliasesIn(virsh("dumpxml", vmName)).includes(cd.outs.alias));
      assert.equal((await read("Cdrom", cd.id, cd.outs)).id, "");
      await remove("Cdrom", cd.id, cd.outs);
      assert.ok(!aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(cd.outs.alias), "the config copy went too");
    });

    it("via qmp: an empty scsi-cd, media inserted and swapped live, no stray node on removal", async () => {
      const base = { resourceName: "qcd", domain: vmName, bus: "scsi", via: "qmp" };
      const cd = await create("Cdrom", { ...base, media: null });
      assert.equal(cd.outs.inserted, null);
      const iso = image("q1.iso", 1);
      const outs = await update("Cdrom", cd.id, cd.outs, { ...base, media: iso });
      assert.equal(outs.inserted, iso);
      assert.equal(blockById(vmName, cd.outs.alias).inserted.file, iso);
      await remove("Cdrom", cd.id, outs);
      assert.ok(!namedNodes(vmName).some((n) => n.startsWith(cd.outs.alias)));
    });
  });

  describe("Volume", () => {
    it("creates a qcow2 volume, grows it in place, treats shrinking as a replace, and sees a resize made by hand", async () => {
      const name = `${uniqueName("vol")}.qcow2`;
      const inputs = { name, capacityBytes: 16 * 1024 * 1024 };
      const vol = await create("Volume", inputs);
      assert.equal(vol.outs.path, virsh("vol-path", "--pool", "default", name).trim());
      assert.equal(vol.outs.capacityBytes, 16 * 1024 * 1024);
      try {
        const grown = await update("Volume", vol.id, vol.outs, { ...inputs, capacityBytes: 32 * 1024 * 1024 });
        assert.equal(grown.capacityBytes, 32 * 1024 * 1024);
        assert.deepEqual((await diff("Volume", vol.id, grown, inputs)).replaces, ["capacityBytes"]);
        virsh("vol-resize", "--pool", "default", name, "48M");
        const refreshed = await read("Volume", vol.id, grown);
        assert.equal(refreshed.props.capacityBytes, 48 * 1024 * 1024);
        assert.equal((await diff("Volume", vol.id, refreshed.props, { ...inputs, capacityBytes: 32 * 1024 * 1024 })).changes, true);
      } finally {
        await remove("Volume", vol.id, vol.outs);
      }
      assert.throws(() => virsh("vol-info", "--pool", "default", name));
      assert.equal((await read("Volume", vol.id, vol.outs)).id, "");
    });

    it("grows a volume a running domain has open through QEMU, so the guest sees the new size", async () => {
      const name = `${uniqueName("vol")}.qcow2`;
      const vol = await create("Volume", { name, capacityBytes: 8 * 1024 * 1024 });
      const disk = await create("Disk", { resourceName: "growme", domain: vmName, source: vol.outs.path, format: "qcow2", bus: "scsi" });
      try {
        await assert.rejects(remove("Volume", vol.id, vol.outs), /still used by domain/);
        await update("Volume", vol.id, vol.outs, { name, capacityBytes: 24 * 1024 * 1024 });
        assert.equal(blockById(vmName, disk.outs.alias).inserted.image["virtual-size"], 24 * 1024 * 1024);
      } finally {
        await remove("Disk", disk.id, disk.outs);
        await remove("Volume", vol.id, vol.outs);
      }
    });
  });
});
