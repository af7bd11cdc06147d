// What only a real guest can show (busybox + qemu-ga, booted under TCG here): its own eject of a cdrom opens the
// tray and leaves the medium attached, which refresh must report and up must undo; and a live memory change that
// the guest's balloon driver really carries out. One guest serves the file; everything is removed in `after`.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { guestExec } from "../../provider/src/resources/guest-exec";
import { validateInputs } from "../../provider/src/resources/validate";
import { bootGuest, BootedGuest, destroyGuest, domainInputs, runInGuest } from "../support/guest";
import { makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { create, diff, read, remove, update } from "../support/provider";
import { eventually } from "../support/wait";

type Props = Record<string, any>;

function qmp(domain: string, execute: string, args?: object): any {
  return JSON.parse(virsh("qemu-monitor-command", domain, JSON.stringify(args ? { execute, arguments: args } : { execute }))).return;
}

function blockById(domain: string, id: string): any | undefined {
  return qmp(domain, "query-block").find((b: any) => b.qdev === id || String(b.qdev).startsWith(`/machine/peripheral/${id}/`));
}


describe("drift and live changes a real guest makes visible", function () {
  this.timeout(180_000);
  const name = uniqueName("gdrift");
  const overrides = { memoryMiB: 256, maxMemoryMiB: 256 };
  let guest: BootedGuest;
  let tmp: string;

  before(async function () {
    this.timeout(240_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-gdrift-"));
    guest = await bootGuest(name, overrides);
  });

  after(async function () {
    this.timeout(60_000);
    if (guest) await destroyGuest(guest).catch(() => undefined);
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("an eject inside the guest (util-linux eject /dev/sr0) is drift against media; up closes the tray with the medium in", async () => {
    const media = path.join(tmp, "tools.iso");
    makeImage(media, 1);
    const inputs = { resourceName: "tray", domain: name, bus: "scsi", media };
    const cd = await create("Cdrom", inputs);
    assert.equal(cd.outs.trayOpen, false);
    await eventually("the guest has /dev/sr0", async () => (await runInGuest(guest, "/bin/ls", ["/dev/sr0"])).exitCode === 0);

    // The guest's own eject, through the GuestExec resource.
    const { inputs: execInputs, failures } = validateInputs("GuestExec", { domain: name, path: "/usr/bin/eject", args: ["/dev/sr0"] });
    assert.deepEqual(failures, []);
    const ejected = await guestExec.create(execInputs);
    assert.equal(ejected.outs.exitCode, 0, ejected.outs.stderr);
    // QEMU: tray open, the medium still attached (unlike a host-side `eject force`).
    await eventually("QEMU reports the tray open", () => blockById(name, cd.outs.alias)?.tray_open === true);
    assert.equal(blockById(name, cd.outs.alias).inserted?.file, media);

    const refreshed = await read("Cdrom", cd.id, cd.outs);
    assert.equal(refreshed.id, cd.id);
    assert.equal(refreshed.props.trayOpen, true);
    assert.equal(refreshed.props.inserted, media, "QEMU still holds the medium");
    assert.notEqual(refreshed.props.media, media, "the guest sees no medium");
    assert.deepEqual(await diff("Cdrom", cd.id, refreshed.props, inputs), { changes: true, replaces: [] });

    const outs = await update("Cdrom", cd.id, refreshed.props, inputs);
    const block = blockById(name, cd.outs.alias);
    assert.equal(block.tray_open, false, "the tray is closed");
    assert.equal(block.inserted?.file, media, "with the medium inserted");
    assert.equal(outs.trayOpen, false);
    assert.equal(outs.media, media);
    assert.deepEqual(await diff("Cdrom", cd.id, (await read("Cdrom", cd.id, outs)).props, inputs), { changes: false, replaces: [] });
    await remove("Cdrom", cd.id, outs);
  });

  it("memoryMiB lowered live: the guest's balloon gives the memory back (query-balloon, live XML, liveMemoryMiB)", async () => {
    const inputs = domainInputs(name, overrides);
    const recorded: Props = { ...guest };
    delete recorded.bootToAgentMs;
    const lowered = { ...inputs, memoryMiB: 160 };
    assert.deepEqual(await diff("Domain", guest.uuid, recorded, lowered), { changes: true, replaces: [] });
    const outs = await update("Domain", guest.uuid, recorded, lowered);
    assert.equal(outs.domainId, guest.domainId, "no restart");
    assert.equal(outs.memoryMiB, 160);
    assert.equal(outs.pendingRestart, false);
    // The balloon target is live at once; the guest's driver then really gives the memory back.
    const MiB = 1024 * 1024;
    await eventually("query-balloon reports 160 MiB actual", () => qmp(name, "query-balloon").actual === 160 * MiB);
    // libvirt's live XML follows the balloon's event.
    await eventually("the live XML's currentMemory is 160 MiB", () => /<currentMemory unit='KiB'>163840<\/currentMemory>/.test(virsh("dumpxml", name)));
    await eventually("the Domain reads liveMemoryMiB 160", async () => (await read("Domain", guest.uuid, outs)).props.liveMemoryMiB === 160);
    const refreshed = await read("Domain", guest.uuid, outs);
    assert.equal(refreshed.props.memoryMiB, 160);
    assert.deepEqual(await diff("Domain", guest.uuid, refreshed.props, lowered), { changes: false, replaces: [] });
    // The guest itself has less memory now.
    const meminfo = await runInGuest(guest, "/bin/cat", ["/proc/meminfo"]);
    const totalKiB = Number(/MemTotal:\s+(\d+) kB/.exec(meminfo.stdout)?.[1]);
    assert.ok(totalKiB <= 160 * 1024, `the guest's MemTotal is ${totalKiB} kB`);
  });
});
