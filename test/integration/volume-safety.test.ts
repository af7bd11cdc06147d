// A Volume some domain uses is never deleted or recreated under it, however the domain uses it: a disk of a
// stopped domain's config, a running domain's config-only disk, an image hot-plugged over QMP that libvirt's
// XML does not show, the backing file of a live overlay. Against the real daemon and QEMU, on no-OS domains.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, removeDomain, uniqueName, virsh } from "../support/host";
import { create, diff, remove, update } from "../support/provider";

type Props = Record<string, any>;
const MiB = 1024 * 1024;

function qmp(domain: string, execute: string, args?: object): any {
  return JSON.parse(virsh("qemu-monitor-command", domain, JSON.stringify(args ? { execute, arguments: args } : { execute }))).return;
}

/** What the provider prints while `run` runs: the preview notes. */
async function notesDuring(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    await run();
  } finally {
    console.log = original;
  }
  return lines;
}

describe("Volume: never deleted or recreated under a domain that uses it", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-vol-safety-"));
  const domains: string[] = [];
  const volumes: string[] = [];

  /** A no-OS domain, defined and (unless told otherwise) started. */
  function domain(prefix: string, start = true): string {
    const name = uniqueName(prefix);
    const file = path.join(tmp, `${name}.xml`);
    fs.writeFileSync(file, bareDomainXml(name));
    domains.push(name);
    virsh("define", file);
    if (start) virsh("start", name);
    return name;
  }

  async function volume(inputs: Props): Promise<{ id: string; outs: Props; inputs: Props }> {
    const vol = await create("Volume", inputs);
    volumes.push(inputs.name);
    return { ...vol, inputs };
  }

  const volName = () => `${uniqueName("vol-safe")}.qcow2`;

  after(() => {
    for (const name of domains) removeDomain(name);
    // Overlays before their backing files.
    for (const name of [...volumes].reverse()) {
      try {
        execFileSync("virsh", ["-q", "-c", "qemu:///system", "vol-delete", "--pool", "default", name], { stdio: "ignore" });
      } catch {
        // deleted by the test
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("a disk only in the persistent config, of a stopped domain or waiting for a running one's next boot, keeps its volume", async () => {
    const stopped = domain("vol-stopped", false);
    const running = domain("vol-cfgonly");
    for (const [dom, how] of [
      [stopped, /disk sdb of stopped domain/],
      [running, /disk sdb in the persistent config of domain/],
    ] as const) {
      const vol = await volume({ name: volName(), capacityBytes: 8 * MiB });
      virsh("attach-disk", dom, vol.outs.path, "sdb", "--targetbus", "scsi", "--subdriver", "qcow2", "--config");
      assert.ok(!virsh("dumpxml", dom).includes(vol.outs.path) || dom === stopped, "the running domain has it in its config only");
      await assert.rejects(remove("Volume", vol.id, vol.outs), (e: Error) => {
        assert.match(e.message, new RegExp(`still used by domain ${dom} `));
        assert.match(e.message, how);
        return true;
      });
      assert.equal(virsh("vol-path", "--pool", "default", vol.inputs.name).trim(), vol.outs.path, "the volume is still there");
      virsh("detach-disk", dom, "sdb", "--config");
      await remove("Volume", vol.id, vol.outs);
    }
  });

  it("an image hot-plugged over QMP, which libvirt's XML does not show, keeps its volume; it grows through QEMU", async () => {
    const dom = domain("vol-qmp");
    const vol = await volume({ name: volName(), capacityBytes: 8 * MiB });
    qmp(dom, "blockdev-add", {
      driver: "qcow2",
      "node-name": "tvolq-fmt",
      file: { driver: "file", filename: vol.outs.path, "node-name": "tvolq-file" },
    });
    qmp(dom, "device_add", { driver: "scsi-hd", id: "tvolq", drive: "tvolq-fmt", bus: "scsi0.0" });
    assert.ok(!virsh("dumpxml", dom).includes(vol.outs.path), "libvirt does not know the image");

    await assert.rejects(remove("Volume", vol.id, vol.outs), /still used by domain .*block node tvolq-fmt opened over QMP on running domain/);
    const grown = await update("Volume", vol.id, vol.outs, { ...vol.inputs, capacityBytes: 16 * MiB });
    assert.equal(grown.capacityBytes, 16 * MiB);
    const block = (qmp(dom, "query-block") as any[]).find((b) => b.inserted?.file === vol.outs.path);
    assert.equal(block.inserted.image["virtual-size"], 16 * MiB, "QEMU itself grew the image it has open");

    qmp(dom, "device_del", { id: "tvolq" });
    for (let i = 0; i < 50 && (qmp(dom, "query-block") as any[]).some((b) => b.qdev === "tvolq"); i++) await new Promise((r) => setTimeout(r, 100));
    qmp(dom, "blockdev-del", { "node-name": "tvolq-fmt" });
    await remove("Volume", vol.id, grown);
  });

  it("the backing file of an overlay a running domain uses is kept, may not grow, and its replace says at preview that up will refuse", async () => {
    const dom = domain("vol-backing");
    const base = await volume({ name: volName(), capacityBytes: 8 * MiB });
    const overlay = await volume({ name: volName(), capacityBytes: 8 * MiB, backingStore: { path: base.outs.path, format: "qcow2" } });
    const disk = await create("Disk", { resourceName: "overlay", domain: dom, source: overlay.outs.path, format: "qcow2", bus: "scsi" });
    try {
      await assert.rejects(
        remove("Volume", base.id, base.outs),
        new RegExp(`still used by domain ${dom} \\(backing file of ${overlay.outs.path} on domain ${dom}\\)`),
      );
      await assert.rejects(update("Volume", base.id, base.outs, { ...base.inputs, capacityBytes: 16 * MiB }), /cannot grow it while it is the backing file of/);

      let planned: Props = {};
      const notes = await notesDuring(async () => {
        planned = await diff("Volume", base.id, base.outs, { ...base.inputs, format: "raw" });
      });
      assert.deepEqual(planned.replaces, ["format"]);
      const note = notes.find((n) => n.includes(": format → replace"));
      assert.ok(note, `no note for the format change in ${JSON.stringify(notes)}`);
      assert.match(note, new RegExp(`in use by domain ${dom} \\(backing file of ${overlay.outs.path} on domain ${dom}\\), so up will refuse the delete`));
      // A change that is no replace asks nothing and says nothing of users.
      const grow = await notesDuring(() => diff("Volume", overlay.id, overlay.outs, { ...overlay.inputs, capacityBytes: 16 * MiB }));
      assert.ok(grow.every((n) => !n.includes("in use")), grow.join("\n"));
    } finally {
      await remove("Disk", disk.id, disk.outs);
    }
    // The overlay opened over QMP only, without a device: QEMU's block graph shows the chain, libvirt nothing.
    qmp(dom, "blockdev-add", { driver: "qcow2", "node-name": "tvolb-fmt", file: { driver: "file", filename: overlay.outs.path, "node-name": "tvolb-file" } });
    await assert.rejects(remove("Volume", base.id, base.outs), new RegExp(`backing file of ${overlay.outs.path} on domain ${dom}`));
    qmp(dom, "blockdev-del", { "node-name": "tvolb-fmt" });
    await remove("Volume", overlay.id, overlay.outs);
    await remove("Volume", base.id, base.outs);
  });
});
