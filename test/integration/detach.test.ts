// A detach is finished only when QEMU says so. A guest that never lets go (here: no OS to answer the PCI unplug of
// a virtio disk) gives a clear error within detachTimeoutSeconds, and the device stays attached and in the stack.
import { strict as assert } from "node:assert";
import { virsh } from "../support/host";
import { create, fileDomain, remove } from "../support/provider";

const aliasesIn = (xml: string) => [...xml.matchAll(/<alias name='([^']+)'\/>/g)].map((m) => m[1]);

describe("a detach the guest never completes", function () {
  this.timeout(120_000);
  const file = fileDomain("detach");

  it("fails after detachTimeoutSeconds naming the device and the way out; the disk stays attached", async () => {
    const inputs = { resourceName: "stuck", owner: "urn:pulumi:t::detach::pulumi-nodejs:dynamic/libvirt:Disk::stuck", domain: file.name, source: file.image("stuck.raw", 2), bus: "virtio", detachTimeoutSeconds: 2 };
    const disk = await create("Disk", inputs);
    assert.ok(aliasesIn(virsh("dumpxml", file.name)).includes(disk.outs.alias));
    const started = Date.now();
    await assert.rejects(remove("Disk", disk.id, disk.outs), new RegExp(`the guest did not release ${disk.outs.alias} within 2 s .*retry the delete when the guest responds, or raise detachTimeoutSeconds`));
    assert.ok(Date.now() - started >= 2_000, "it waited the whole timeout");
    // Nothing is forgotten: the device is still there (Pulumi keeps the resource, as the delete failed).
    assert.ok(aliasesIn(virsh("dumpxml", file.name)).includes(disk.outs.alias), "still attached to the running guest");
  });
});
