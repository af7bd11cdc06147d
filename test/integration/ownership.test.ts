// Devices never touch what is not theirs, and what up would refuse is said before anything changes: Disk and Cdrom
// handlers against the real daemon and QEMU, cross-checked with virsh and query-block.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, domainType, makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { buildDomainXml } from "../../provider/src/vocab/domain-xml";
import { create, diff, providers, read, remove, update } from "../support/provider";
import { eventually, notesOf } from "../support/wait";

type Props = Record<string, any>;
const CLAIMS = "https://pulumi-libvirt-live.invalid/xmlns/claims/1";
/** Our claims element in the running copy (or the config, with "--config"); "" when that copy has none. */
const claimsIn = (dom: string, ...flags: string[]): string => {
  try {
    return virsh("metadata", dom, CLAIMS, ...flags);
  } catch (error) {
    if (/metadata not found|Requested metadata element is not present/i.test(String((error as { stderr?: string }).stderr))) return "";
    throw error;
  }
};
const urn = (stack: string, name: string, kind = "Disk") => `urn:pulumi:${stack}::shop::pulumi-nodejs:dynamic/libvirt:${kind}::${name}`;

const queryBlock = (dom: string): any[] => JSON.parse(virsh("qemu-monitor-command", dom, JSON.stringify({ execute: "query-block" }))).return;
const filesOpen = (dom: string) => queryBlock(dom).flatMap((b) => (b.inserted?.file ? [b.inserted.file as string] : []));
const aliasesIn = (xml: string) => [...xml.matchAll(/<alias name='([^']+)'\/>/g)].map((m) => m[1]);
const configAliases = (dom: string) => aliasesIn(virsh("dumpxml", "--inactive", dom));

/** What the provider prints as preview notes, captured around `work`. */

const checkNote = (kind: "Disk" | "Cdrom", inputs: Props) => notesOf(() => providers[kind].check({}, inputs));

describe("ownership of devices and preview-time refusals, against the real daemon", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-own-"));
  const image = (name: string, mib = 2) => {
    const file = path.join(tmp, name);
    makeImage(file, mib);
    return file;
  };
  const domains: string[] = [];
  const writeXml = (name: string, xml: string) => {
    const file = path.join(tmp, `${name}.xml`);
    fs.writeFileSync(file, xml);
    return file;
  };
  const bare = (options: Parameters<typeof bareDomainXml>[1] = {}, start = true) => {
    const name = uniqueName("own");
    domains.push(name);
    const file = path.join(tmp, `${name}.xml`);
    fs.writeFileSync(file, bareDomainXml(name, options));
    virsh("define", file);
    if (start) virsh("start", name);
    return name;
  };
  after(() => {
    for (const d of domains) removeDomain(d);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("one domain, the same resource name in two stacks", () => {
    let vm: string;
    before(() => (vm = bare()));

    it("each stack gets its own device; deleting one leaves the other attached live and in the config", async () => {
      const [fileA, fileB] = [image("a.raw"), image("b.raw")];
      const a = await create("Disk", { resourceName: "data", owner: urn("prod", "data"), domain: vm, source: fileA, bus: "scsi" });
      const b = await create("Disk", { resourceName: "data", owner: urn("dev", "data"), domain: vm, source: fileB, bus: "scsi" });
      assert.notEqual(a.outs.alias, b.outs.alias);
      assert.ok(filesOpen(vm).includes(fileA) && filesOpen(vm).includes(fileB));
      await remove("Disk", a.id, a.outs);
      assert.ok(!filesOpen(vm).includes(fileA));
      assert.ok(filesOpen(vm).includes(fileB), "the other stack's disk is still open in QEMU");
      assert.ok(configAliases(vm).includes(b.outs.alias), "and still in the config");
      assert.equal((await read("Disk", b.id, b.outs)).id, b.id, "the other stack sees no drift");
      await remove("Disk", b.id, b.outs);
    });

    it("the same over QMP: two owners, two devices, one delete removes only its own", async () => {
      const [fileA, fileB] = [image("qa.raw"), image("qb.raw")];
      const a = await create("Disk", { resourceName: "scratch", owner: urn("prod", "scratch"), domain: vm, source: fileA, bus: "usb", via: "qmp" });
      const b = await create("Disk", { resourceName: "scratch", owner: urn("dev", "scratch"), domain: vm, source: fileB, bus: "usb", via: "qmp" });
      assert.notEqual(a.outs.alias, b.outs.alias);
      // A QMP device lives only as long as its QEMU process: its claim is in the running copy, not the config, so
      // a restart leaves no claim on a device that is gone.
      assert.match(claimsIn(vm), new RegExp(`name="${a.outs.alias}"[^>]*owner="${urn("prod", "scratch")}"`));
      assert.doesNotMatch(claimsIn(vm, "--config"), new RegExp(a.outs.alias));
      await remove("Disk", a.id, a.outs);
      assert.deepEqual([filesOpen(vm).includes(fileA), filesOpen(vm).includes(fileB)], [false, true]);
      assert.doesNotMatch(claimsIn(vm), new RegExp(a.outs.alias), "the delete dropped its claim");
      assert.match(claimsIn(vm), new RegExp(b.outs.alias), "the other owner's claim stays");
      await remove("Disk", b.id, b.outs);
    });

    it("a create that finds a device under its name holding another medium changes nothing and says so", async () => {
      // Names from before owners (no owner input) are where this happened: stack B found stack A's ua-disk-data.
      const fileA = image("legacy-a.raw");
      const a = await create("Disk", { resourceName: "legacy", domain: vm, source: fileA, bus: "scsi" });
      assert.equal(a.outs.alias, "ua-disk-legacy");
      await assert.rejects(
        create("Disk", { resourceName: "legacy", domain: vm, source: image("legacy-b.raw"), bus: "scsi" }),
        /device ua-disk-legacy on domain .* already holds .*legacy-a\.raw, not .*legacy-b\.raw.*Nothing was changed/,
      );
      assert.ok(filesOpen(vm).includes(fileA), "stack A's disk was not detached");
      assert.ok(configAliases(vm).includes("ua-disk-legacy"));
      await remove("Disk", a.id, a.outs);
    });

    it("an interrupted create is still adopted: same owner, same medium, one device", async () => {
      const inputs = { resourceName: "again", owner: urn("prod", "again"), domain: vm, source: image("again.raw"), bus: "scsi" };
      const first = await create("Disk", inputs);
      const second = await create("Disk", inputs);
      assert.equal(second.id, first.id);
      assert.equal(filesOpen(vm).filter((f) => f === inputs.source).length, 1);
      await remove("Disk", second.id, second.outs);
    });

    it("a stack from before owners keeps its device; once both holders recorded their claim, one delete leaves it to the other", async () => {
      const file = image("shared.raw");
      const legacy = { resourceName: "shared", domain: vm, source: file, bus: "scsi" };
      // Two old stacks that named the same file ended up holding one device (ua-disk-shared).
      const a = await create("Disk", legacy);
      const b = await create("Disk", legacy);
      assert.equal(a.outs.alias, "ua-disk-shared");
      assert.equal(b.outs.alias, a.outs.alias);
      // The new SDK passes the owner: diff records it (no change to the device), update writes the claim.
      const newA = { ...legacy, owner: urn("prod", "shared") };
      const newB = { ...legacy, owner: urn("dev", "shared") };
      const d = await diff("Disk", a.id, a.outs, newA);
      assert.deepEqual(d, { changes: true, replaces: [] });
      const outA = await update("Disk", a.id, a.outs, newA);
      const outB = await update("Disk", b.id, b.outs, newB);
      assert.equal(outA.alias, "ua-disk-shared", "the device keeps its name");
      assert.deepEqual(await diff("Disk", a.id, outA, newA), { changes: false, replaces: [] }, "recorded once");
      assert.match(virsh("metadata", vm, "https://pulumi-libvirt-live.invalid/xmlns/claims/1"), /owner="urn:pulumi:prod::shop::[^"]+::shared"[\s\S]*owner="urn:pulumi:dev::/);
      await remove("Disk", a.id, outA);
      assert.ok(filesOpen(vm).includes(file), "the other holder's device stays");
      assert.equal((await read("Disk", b.id, outB)).id, b.id);
      await remove("Disk", b.id, outB);
      assert.ok(!filesOpen(vm).includes(file), "the last holder's delete removes it");
      assert.ok(!configAliases(vm).includes("ua-disk-shared"));
    });

    it("a device someone else claims is never adopted: the error names the device and who holds it", async () => {
      const file = image("held.raw");
      const legacy = { resourceName: "held", domain: vm, source: file, bus: "scsi" };
      const a = await create("Disk", legacy);
      const outA = await update("Disk", a.id, a.outs, { ...legacy, owner: urn("prod", "held") });
      await assert.rejects(create("Disk", legacy), /device ua-disk-held on domain .* is held by urn:pulumi:prod::shop::.*::held; nothing was changed/);
      assert.ok(filesOpen(vm).includes(file));
      await remove("Disk", a.id, outA);
    });

    // Over QMP the create asks QEMU nothing before its add: QEMU refusing a taken name or address is when it looks.
    it("over QMP too: another medium under the name is refused untouched, and a claimed device is never adopted", async () => {
      const legacy = { resourceName: "qlegacy", domain: vm, bus: "scsi", via: "qmp" };
      const [fileA, fileB] = [image("qlegacy-a.raw"), image("qlegacy-b.raw")];
      const a = await create("Disk", { ...legacy, source: fileA });
      await assert.rejects(
        create("Disk", { ...legacy, source: fileB }),
        new RegExp(`device ${a.outs.alias} on domain .* already holds .*qlegacy-a\\.raw, not .*qlegacy-b\\.raw.*Nothing was changed`),
      );
      assert.deepEqual([filesOpen(vm).includes(fileA), filesOpen(vm).includes(fileB)], [true, false], "A's disk stays, B's image was not left open");
      const outA = await update("Disk", a.id, a.outs, { ...legacy, source: fileA, owner: urn("prod", "qlegacy") });
      assert.match(claimsIn(vm), new RegExp(`name="${a.outs.alias}"[^>]*owner="${urn("prod", "qlegacy")}"`));
      assert.doesNotMatch(claimsIn(vm, "--config"), new RegExp(a.outs.alias), "a QMP device's claim is recorded in the running copy only");
      await assert.rejects(create("Disk", { ...legacy, source: fileA }), new RegExp(`device ${a.outs.alias} on domain .* is held by urn:pulumi:prod::shop::.*::qlegacy; nothing was changed`));
      assert.equal(filesOpen(vm).filter((f) => f === fileA).length, 1);
      await remove("Disk", a.id, outA);
      assert.ok(!filesOpen(vm).includes(fileA));
    });

    it("over QMP a device added by hand at the lun a disk would take is stepped around, and left as it was", async () => {
      const monitor = (execute: string, args: Props) => {
        const reply = JSON.parse(virsh("qemu-monitor-command", vm, JSON.stringify({ execute, arguments: args })));
        if (reply.error) throw new Error(`${execute}: ${reply.error.desc}`);
        return reply.return;
      };
      const lunOf = (id: string) => monitor("qom-get", { path: `/machine/peripheral/${id}`, property: "lun" });
      // Where the provider looks first: luns from the far end, 255 down.
      const hand = image("byhand.raw");
      monitor("blockdev-add", { driver: "raw", "node-name": "byhand-fmt", file: { driver: "file", filename: hand } });
      monitor("device_add", { driver: "scsi-hd", id: "byhand", drive: "byhand-fmt", bus: "scsi0.0", "scsi-id": 0, lun: 255 });
      try {
        const disk = await create("Disk", { resourceName: "aside", owner: urn("prod", "aside"), domain: vm, source: image("aside.raw"), bus: "scsi", via: "qmp" });
        assert.equal(lunOf(disk.outs.alias), 254);
        assert.equal(lunOf("byhand"), 255);
        assert.ok(filesOpen(vm).includes(hand), "the hand-made device still has its image");
        await remove("Disk", disk.id, disk.outs);
        assert.ok(filesOpen(vm).includes(hand));
      } finally {
        monitor("device_del", { id: "byhand" });
        await eventually("the hand-made device to go", () => !queryBlock(vm).some((b) => b.qdev === "byhand" || String(b.qdev).includes("/byhand/")));
        monitor("blockdev-del", { "node-name": "byhand-fmt" });
      }
    });

    it("persistent false → true puts the running disk into the config; true → false takes it out, live untouched", async () => {
      const inputs = { resourceName: "pers", owner: urn("prod", "pers"), domain: vm, source: image("pers.raw"), bus: "scsi", persistent: false };
      const disk = await create("Disk", inputs);
      assert.ok(!configAliases(vm).includes(disk.outs.alias));
      const d = await diff("Disk", disk.id, disk.outs, { ...inputs, persistent: true });
      assert.deepEqual(d, { changes: true, replaces: [] });
      const on = await update("Disk", disk.id, disk.outs, { ...inputs, persistent: true });
      assert.ok(configAliases(vm).includes(disk.outs.alias), "the next boot has the disk");
      assert.equal(on.persistent, true);
      const off = await update("Disk", disk.id, on, inputs);
      assert.ok(!configAliases(vm).includes(disk.outs.alias));
      assert.ok(filesOpen(vm).includes(inputs.source), "the running guest keeps it");
      await remove("Disk", disk.id, off);
    });
  });

  describe("boot order on a domain that boots by libvirt's own <os><boot dev='hd'>", () => {
    it("the seed's usb disk (read-only, boot order 4) attaches live; the config boots by per-device order from now on", async () => {
      const vm = bare({ bootDevOrder: false });
      assert.match(virsh("dumpxml", "--inactive", vm), /<boot dev='hd'\/>/, "libvirt added it by itself");
      const started = virsh("domid", vm).trim();
      const inputs = { resourceName: "seed-usb", owner: urn("prod", "seed-usb"), domain: vm, source: image("seed.raw"), bus: "usb", readonly: true, bootOrder: 4 };
      const note = await checkNote("Disk", inputs);
      assert.match(note, /live attach on usb \(no restart\)/);
      assert.match(note, /bootOrder → next-boot/);
      const disk = await create("Disk", inputs);
      assert.equal(virsh("domid", vm).trim(), started, "not restarted");
      assert.equal(disk.outs.live.file, inputs.source);
      assert.equal(disk.outs.bootOrder, 4);
      const config = virsh("dumpxml", "--inactive", vm);
      assert.doesNotMatch(config, /<boot dev=/);
      assert.match(config, new RegExp(`<alias name='${disk.outs.alias}'/>`));
      assert.match(config, /<boot order='4'\/>/);
      assert.equal((await read("Disk", disk.id, disk.outs)).props.bootOrder, 4, "the boot order is not mistaken for drift");
      await remove("Disk", disk.id, disk.outs);
    });

    it("a domain that chose its boot devices refuses a device boot order at check time, naming both fields and the fix", async () => {
      const vm = bare({ bootDevices: ["cdrom", "hd"] }, false);
      const inputs = { resourceName: "bo", owner: urn("prod", "bo"), domain: vm, source: image("bo.raw"), bus: "scsi", bootOrder: 2 };
      const note = await checkNote("Disk", inputs);
      assert.match(note, /up would refuse bootOrder: domain .* boots by boot\.devices \[cdrom, hd\].*remove bootOrder from this Disk, or remove boot\.devices from the Domain/);
      const before = virsh("dumpxml", "--inactive", vm);
      await assert.rejects(create("Disk", inputs), /bootOrder: domain .* boots by boot\.devices/);
      assert.equal(virsh("dumpxml", "--inactive", vm), before, "nothing was touched");
    });
  });

  describe("q35: hot-plug slots are counted before a live virtio attach is promised", () => {
    it("with one spare root port, the second of two planned virtio Disks is refused at preview and at create", async () => {
      const name = uniqueName("own-q35");
      domains.push(name);
      const xml = buildDomainXml({ name, type: domainType(), memoryKiB: 65536, vcpus: 1, machine: "q35", pcieHotplugPorts: 1, guestAgent: false, graphics: { type: "none" } });
      virsh("define", writeXml(name, xml));
      virsh("start", name);
      const disk = (n: number): Props => ({ resourceName: `v${n}`, owner: urn("prod", `v${n}`), domain: name, source: image(`v${n}.raw`), bus: "virtio" });
      const [first, second] = [disk(1), disk(2)];
      assert.doesNotMatch(await checkNote("Disk", first), /up would refuse/);
      assert.match(await checkNote("Disk", second), /up would refuse bus: domain .* \(q35\) has 1 free PCIe slot for hot-plugged virtio devices and this is virtio attach 2 of this run: use bus "scsi", or raise the Domain's hotplugSlots/);
      const attached = await create("Disk", first);
      assert.equal(attached.outs.live.file, first.source);
      await assert.rejects(create("Disk", second), /has 0 free PCIe slots/);
      assert.ok(!filesOpen(name).includes(second.source), "nothing was attached");
      // A bus the machine type lacks: q35 has no IDE controller.
      const ide = { resourceName: "ide", owner: urn("prod", "ide", "Cdrom"), domain: name, bus: "ide", media: image("ide.iso", 1) };
      assert.match(await checkNote("Cdrom", ide), /up would refuse bus: q35 machines have no IDE controller .*use bus "sata" or "scsi"/);
      await assert.rejects(create("Cdrom", ide), /q35 machines have no IDE controller/);
      // No OS answers the PCI unplug of the first one: the domain goes as a whole (after()).
    });
  });

  describe("what up would refuse is said by preview's note, and create then changes nothing", () => {
    let vm: string;
    let stopped: string;
    let noUsb: string;
    before(() => {
      vm = bare();
      stopped = bare({}, false);
      noUsb = bare({ usb: false });
    });

    const refusals: Array<{ what: string; kind: "Disk" | "Cdrom"; inputs: () => Props; pattern: RegExp }> = [
      { what: "a target name in use", kind: "Disk", inputs: () => ({ domain: vm, source: image("t.raw"), bus: "scsi", target: "sda" }), pattern: /target: target sda is in use on domain .* by sda \(scsi0-0-0-0, no medium\): leave target out/ },
      { what: 'via: "qmp" on a stopped domain', kind: "Disk", inputs: () => ({ domain: stopped, source: image("q.raw"), bus: "scsi", via: "qmp" }), pattern: /via: via: "qmp" needs a running domain.*start it \(running: true\) or use via: "libvirt"/ },
      { what: "usb on a domain without a USB controller", kind: "Disk", inputs: () => ({ domain: noUsb, source: image("u.raw"), bus: "usb" }), pattern: /bus: domain .* has no USB controller: use bus "scsi"/ },
      { what: "a boot order another device has", kind: "Cdrom", inputs: () => ({ domain: vm, bus: "scsi", media: image("m.iso"), bootOrder: 1 }), pattern: /bootOrder: boot order 1 is already used on domain .* by sda .*choose another bootOrder/ },
      { what: "a usb cdrom without media", kind: "Cdrom", inputs: () => ({ domain: vm, bus: "usb" }), pattern: /media: a usb cdrom needs media/ },
    ];
    for (const r of refusals) {
      it(r.what, async () => {
        const inputs: Props = { resourceName: "refused", owner: urn("prod", "refused", r.kind), ...r.inputs() };
        assert.match(await checkNote(r.kind, inputs), new RegExp(`up would refuse ${r.pattern.source}`));
        const before = [virsh("dumpxml", inputs.domain), virsh("dumpxml", "--inactive", inputs.domain)];
        await assert.rejects(create(r.kind, inputs), r.pattern);
        assert.deepEqual([virsh("dumpxml", inputs.domain), virsh("dumpxml", "--inactive", inputs.domain)], before, "nothing was touched");
      });
    }
  });
});
