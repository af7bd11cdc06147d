// Disk, Cdrom and GuestExec on a QEMU run without libvirt (`qmp` / `agent` instead of `domain`): the provider's
// handlers against a QEMU the test starts as the seeds do, cross-checked over the same QMP socket.
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { QmpClient } from "../../provider/src/qemu";
import { parseQmpReply } from "../../provider/src/vocab/qmp";
import { makeImage } from "../support/host";
import { startBareQemu, type BareQemu } from "../support/bare-qemu";
import { create, diff, providers, read, remove, update } from "../support/provider";
import { notesOf } from "../support/wait";

type Props = Record<string, any>;
const urn = (name: string, kind = "Disk") => `urn:pulumi:direct::qemu::pulumi-nodejs:dynamic/libvirt:${kind}::${name}`;


describe("devices and guest exec on a QEMU run without libvirt", function () {
  this.timeout(180_000);
  let qemu: BareQemu;
  let probe: QmpClient;
  const blocks = async (): Promise<any[]> => parseQmpReply(await probe.execute({ execute: "query-block" }), "query-block") as any[];
  const byId = async (id: string) => (await blocks()).find((b) => b.qdev === id);
  const image = (name: string, mib = 2) => {
    const file = path.join(qemu.dir, name);
    makeImage(file, mib);
    return file;
  };
  const disk = (name: string, extra: Props = {}): Props => ({ resourceName: name, owner: urn(name), qmp: qemu.qmp, source: image(`${name}.raw`), bus: "scsi", ...extra });

  before(async () => {
    qemu = await startBareQemu({ tcpQmp: true });
    // Our own look at QEMU goes over its TCP monitor: the provider holds the unix one.
    probe = new QmpClient(qemu.qmpTcp!);
  });
  after(async () => {
    await probe?.close();
    await qemu?.stop();
  });

  it("a Disk attaches over QMP (blockdev-add + device_add), reads back from query-block, and detaches on DEVICE_DELETED", async () => {
    const inputs = disk("data");
    const created = await create("Disk", inputs);
    assert.equal((await byId(created.outs.alias))?.inserted?.file, inputs.source);
    assert.equal(created.outs.live.file, inputs.source);
    assert.deepEqual((await read("Disk", created.id, created.outs)).props.live, created.outs.live);
    await remove("Disk", created.id, created.outs);
    assert.equal(await byId(created.outs.alias), undefined);
    const nodes = parseQmpReply(await probe.execute({ execute: "query-named-block-nodes", arguments: { flat: true } }), "q") as any[];
    assert.ok(!nodes.some((n) => String(n["node-name"]).startsWith(created.outs.alias)), "no block node left behind");
  });

  it("a disk removed behind Pulumi's back reads as gone; an interrupted create is adopted, never duplicated", async () => {
    const inputs = disk("drift");
    const first = await create("Disk", inputs);
    parseQmpReply(await probe.execute({ execute: "device_del", arguments: { id: first.outs.alias } }), "device_del");
    for (let i = 0; i < 50 && (await byId(first.outs.alias)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await read("Disk", first.id, first.outs)).id, "", "drift: gone");
    const again = await create("Disk", inputs);
    const adopted = await create("Disk", inputs);
    assert.equal(adopted.id, again.id);
    assert.equal((await blocks()).filter((b) => b.inserted?.file === inputs.source).length, 1);
    await remove("Disk", again.id, again.outs);
  });

  it("deleting a disk someone already device_del'ed succeeds and frees the block node it left", async () => {
    const created = await create("Disk", disk("deleted-by-hand"));
    parseQmpReply(await probe.execute({ execute: "device_del", arguments: { id: created.outs.alias } }), "device_del");
    for (let i = 0; i < 50 && (await byId(created.outs.alias)); i++) await new Promise((r) => setTimeout(r, 100));
    const named = async () => (parseQmpReply(await probe.execute({ execute: "query-named-block-nodes", arguments: { flat: true } }), "q") as any[]).filter((n) => String(n["node-name"]).startsWith(created.outs.alias));
    assert.notEqual((await named()).length, 0, "device_del leaves the node behind");
    await remove("Disk", created.id, created.outs);
    assert.deepEqual(await named(), [], "no block node left behind");
  });

  it("ten Disks created at once on one QEMU all attach, on distinct luns", async () => {
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => create("Disk", disk(`par${i}`))));
    const ids = new Set(many.map((d) => d.outs.alias));
    assert.equal(ids.size, 10);
    for (const d of many) assert.equal((await byId(d.outs.alias))?.inserted?.file, d.outs.source);
    await Promise.all(many.map((d) => remove("Disk", d.id, d.outs)));
    for (const d of many) assert.equal(await byId(d.outs.alias), undefined);
  });

  it("a Cdrom: an empty scsi drive, media inserted and swapped live, the tray ejected, then removed", async () => {
    const [a, b] = [image("a.iso", 1), image("b.iso", 1)];
    const inputs: Props = { resourceName: "tools", owner: urn("tools", "Cdrom"), qmp: qemu.qmp, bus: "scsi", media: null };
    const cd = await create("Cdrom", inputs);
    assert.equal((await byId(cd.outs.alias))?.inserted, undefined);
    const d = await diff("Cdrom", cd.id, cd.outs, { ...inputs, media: a });
    assert.deepEqual(d, { changes: true, replaces: [] }, "a media change is live");
    const withA = await update("Cdrom", cd.id, cd.outs, { ...inputs, media: a });
    assert.equal((await byId(cd.outs.alias))?.inserted?.file, a);
    const withB = await update("Cdrom", cd.id, withA, { ...inputs, media: b });
    assert.equal(withB.inserted, b);
    assert.equal((await byId(cd.outs.alias))?.inserted?.file, b);
    const empty = await update("Cdrom", cd.id, withB, inputs);
    assert.equal(empty.inserted, null);
    await remove("Cdrom", cd.id, empty);
    assert.equal(await byId(cd.outs.alias), undefined);
  });

  it("a GuestExec over the agent socket runs in the guest, with output and exit code", async () => {
    const inputs = { agent: qemu.agent, path: "/bin/sh", args: ["-c", "echo from-guest; echo warn >&2; exit 4"], expectExitCode: 4, agentTimeoutSeconds: 150 };
    const ran = await create("GuestExec", inputs);
    assert.equal(ran.outs.exitCode, 4);
    assert.equal(ran.outs.stdout, "from-guest\n");
    assert.equal(ran.outs.stderr, "warn\n");
    await assert.rejects(create("GuestExec", { ...inputs, expectExitCode: 0 }), /exited with 4, expected 0/);
  });

  it("a QEMU without a usb controller gets one of ours, as the preview note says", async () => {
    const bare = await startBareQemu({ controllers: false });
    try {
      const inputs: Props = { resourceName: "stick", owner: urn("stick"), qmp: bare.qmp, source: image("stick.raw"), bus: "usb" };
      const note = await notesOf(() => providers.Disk.check({}, inputs));
      assert.match(note, /no usb controller with an id: a qemu-xhci \(id plv-usb0\) is hot-plugged first \(start QEMU with -device qemu-xhci,id=usb0/);
      const created = await create("Disk", inputs);
      assert.equal(created.outs.live.file, inputs.source);
      await remove("Disk", created.id, created.outs);
    } finally {
      await bare.stop();
    }
  });

  it("a QEMU that went away leaves its devices gone at refresh, and a delete has nothing to do", async () => {
    const gone = await startBareQemu();
    const inputs: Props = { resourceName: "lost", owner: urn("lost"), qmp: gone.qmp, source: image("lost.raw"), bus: "scsi" };
    const created = await create("Disk", inputs);
    await gone.stop();
    assert.equal((await read("Disk", created.id, created.outs)).id, "");
    await remove("Disk", created.id, created.outs);
  });

  const hostile = ["unix:relative.sock", "unix:/run/x,server=on", "tcp:127.0.0.1", "tcp:-oProxyCommand=sh:22", "tcp:a b:1", "unix:/x\u0000y", "/run/qmp.sock", "file:/etc/passwd"];
  for (const address of hostile) {
    it(`refuses qmp ${JSON.stringify(address)} at check, naming the field`, async () => {
      const r = await providers.Disk.check({}, { qmp: address, source: "/srv/a.raw" });
      assert.ok(r.failures?.some((f: { property: string }) => f.property === "qmp"), JSON.stringify(r.failures));
    });
  }
});
