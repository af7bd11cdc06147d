// Cdroms on the buses QEMU cannot hot-plug (sata and ide on a pc machine), through the dynamic providers against
// the real daemon: the attach on a running domain is next-boot (config only, pendingRestart), the device is there
// after the domain stops and starts (the Domain's running: false/true), and then the media changes live in the
// tray (the same QEMU process), checked with query-block.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { create, diff, read, remove, update } from "../support/provider";

type Props = Record<string, any>;

const queryBlock = (dom: string): any[] => JSON.parse(virsh("qemu-monitor-command", dom, JSON.stringify({ execute: "query-block" }))).return;
const blockOf = (dom: string, alias: string) => queryBlock(dom).find((b) => b.qdev === alias || String(b.qdev).startsWith(`/machine/peripheral/${alias}/`));
const aliasesIn = (xml: string) => [...xml.matchAll(/<alias name='([^']+)'\/>/g)].map((m) => m[1]);

describe("sata and ide cdroms on a running pc domain: next-boot attach, then live media change", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-cdbus-"));
  const vmName = uniqueName("cdbus");
  const file = (name: string) => {
    const f = path.join(tmp, name);
    makeImage(f, 1);
    return f;
  };
  let vm: { id: string; outs: Props };
  let boot = "";
  const vmInputs = (extra: Props = {}): Props => ({
    name: vmName, machine: "pc", memoryMiB: 64, vcpus: 1, guestAgent: false, shutdownTimeoutSeconds: 1,
    disks: [{ source: boot, bus: "scsi" }], ...extra,
  });
  const cds: Record<string, { id: string; outs: Props }> = {};
  let isoA = "";
  let isoB = "";

  before(async () => {
    boot = file("boot.img");
    isoA = file("a.iso");
    isoB = file("b.iso");
    vm = await create("Domain", vmInputs());
  });

  after(async () => {
    for (const cd of Object.values(cds)) await remove("Cdrom", cd.id, cd.outs).catch(() => undefined);
    if (vm) await remove("Domain", vm.id, vm.outs).catch(() => undefined);
    removeDomain(vmName);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const bus of ["sata", "ide"]) {
    it(`a ${bus} cdrom attach on the running domain goes to the config only and the domain reports pendingRestart`, async () => {
      const cd = await create("Cdrom", { resourceName: `cd-${bus}`, domain: vmName, bus, media: isoA });
      cds[bus] = cd;
      assert.ok(aliasesIn(virsh("dumpxml", "--inactive", vmName)).includes(cd.outs.alias), "in the persistent config");
      assert.ok(!aliasesIn(virsh("dumpxml", vmName)).includes(cd.outs.alias), "not in the running domain");
      assert.equal(blockOf(vmName, cd.outs.alias), undefined, "QEMU has no such device yet");
      assert.equal((await read("Domain", vm.id, vm.outs)).props.pendingRestart, true);
    });
  }

  it("after running: false and running: true (a stop and a start) both cdroms hold their media, pendingRestart clears", async () => {
    const stopped = await update("Domain", vm.id, vm.outs, vmInputs({ running: false }));
    assert.equal(stopped.state, "shutoff");
    vm.outs = await update("Domain", vm.id, stopped, vmInputs());
    assert.equal(vm.outs.state, "running");
    assert.equal(vm.outs.pendingRestart, false);
    for (const bus of ["sata", "ide"]) {
      assert.equal(blockOf(vmName, cds[bus].outs.alias)?.inserted?.file, isoA, bus);
      assert.equal((await read("Cdrom", cds[bus].id, cds[bus].outs)).props.inserted, isoA, bus);
    }
  });

  for (const bus of ["sata", "ide"]) {
    it(`a ${bus} cdrom's media change is live (tray), with the same QEMU, no pendingRestart`, async () => {
      const domid = virsh("domid", vmName).trim();
      const cd = cds[bus];
      const base = { resourceName: `cd-${bus}`, domain: vmName, bus };
      const d = await diff("Cdrom", cd.id, cd.outs, { ...base, media: isoB });
      assert.equal(d.changes, true);
      assert.deepEqual(d.replaces, [], "a tray device changes media in place");
      cd.outs = await update("Cdrom", cd.id, cd.outs, { ...base, media: isoB });
      assert.equal(cd.outs.inserted, isoB);
      assert.equal(blockOf(vmName, cd.outs.alias)?.inserted?.file, isoB, "QEMU holds the new medium");
      assert.equal(virsh("domid", vmName).trim(), domid, "not restarted");
      assert.equal((await read("Domain", vm.id, vm.outs)).props.pendingRestart, false);
    });
  }
});
