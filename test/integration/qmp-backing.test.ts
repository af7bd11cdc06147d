// A qcow2 hot-plugged over QMP opens only itself: a backing file named inside the image header (written by
// whoever wrote the image, perhaps a guest) is never followed, since the Disk declares no backing store.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { create, remove } from "../support/provider";
import { plainFilename } from "../../provider/src/vocab/query-block";

describe("QMP blockdev-add of a qcow2 whose header names a backing file", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-backing-"));
  const vmName = uniqueName("backing");
  const base = path.join(tmp, "secret-base.raw");
  const child = path.join(tmp, "child.qcow2");

  before(() => {
    makeImage(base, 8, "raw");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", child, "8M"]);
    fs.writeFileSync(path.join(tmp, "domain.xml"), bareDomainXml(vmName));
    virsh("define", path.join(tmp, "domain.xml"));
    virsh("start", vmName);
  });

  after(() => {
    removeDomain(vmName);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("shows no backing image in query-block and opens no node on the base file", async () => {
    assert.match(execFileSync("qemu-img", ["info", child], { encoding: "utf8" }), /backing file: .*secret-base\.raw/);
    const disk = await create("Disk", { resourceName: "hdr", domain: vmName, source: child, format: "qcow2", bus: "scsi", via: "qmp" });
    try {
      const blocks = JSON.parse(virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "query-block" }))).return as any[];
      // With backing: null QEMU names the node json:{"backing": null, …}; the file underneath is ours.
      const ours = blocks.find((b) => typeof b.inserted?.file === "string" && plainFilename(b.inserted.file) === child);
      assert.ok(ours, `query-block lists ${child}: ${JSON.stringify(blocks.map((b) => b.inserted?.file))}`);
      assert.equal(ours.inserted.backing_file_depth, 0, JSON.stringify(ours.inserted));
      assert.equal(ours.inserted.image["backing-image"], undefined, "no backing image opened");
      const nodes = JSON.parse(
        virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "query-named-block-nodes", arguments: { flat: true } })),
      ).return as any[];
      assert.deepEqual(nodes.filter((n) => n.file === base), [], "no node opens the base file");
    } finally {
      await remove("Disk", disk.id, disk.outs);
    }
  });
});
