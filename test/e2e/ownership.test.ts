// End to end through the real Pulumi CLI: devices never touch another stack's, and the seed's usb disk with a boot
// order lands on a kernel-boot Domain that has no inline disk (libvirt's own <os><boot dev='hd'/> is turned into
// per-device order in the config) without restarting it.
// Run: . scripts/prepare.sh && npx mocha dist/test/e2e/ownership.test.js
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, domainType, makeImage, removeDomain, virsh } from "../support/host";
import { cleanupStacks, TestStack } from "./support/stack";

const GUEST_DIR = process.env.GUEST_DIR ?? "";
const j = JSON.stringify;

const queryBlock = (dom: string): any[] => JSON.parse(virsh("qemu-monitor-command", dom, j({ execute: "query-block" }))).return;
const filesOpen = (dom: string) => queryBlock(dom).flatMap((b) => (b.inserted?.file ? [b.inserted.file as string] : []));
const aliasesIn = (xml: string) => [...xml.matchAll(/<alias name='([^']+)'\/>/g)].map((m) => m[1]);

/** When the QEMU process of a running domain started (same value ⇒ no restart happened). */
function qemuStart(dom: string): string {
  const pid = fs.readFileSync(`/run/libvirt/qemu/${dom}.pid`, "utf8").trim();
  return execFileSync("ps", ["-o", "lstart=", "-p", pid], { encoding: "utf8" }).trim();
}

describe("e2e: ownership of devices and preview-time refusals", function () {
  this.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-own-"));
  const stacks: TestStack[] = [];
  after(async function () {
    this.timeout(400_000);
    await cleanupStacks(stacks);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("two stacks, one domain, the same resource name", () => {
    const dom = `lvt-own-${process.pid}-web`;
    const fileA = path.join(tmp, "a.raw");
    const fileB = path.join(tmp, "b.raw");
    const disk = (file: string) =>
      `const virt = require("pulumi-libvirt-live");\n` +
      `const d = new virt.Disk("data", { domain: ${j(dom)}, source: ${j(file)}, bus: "scsi" });\n` +
      `exports.alias = d.alias; exports.live = d.live;\n`;
    let a: TestStack;
    let b: TestStack;

    before(async () => {
      makeImage(fileA, 4);
      makeImage(fileB, 4);
      const xml = path.join(tmp, "web.xml");
      fs.writeFileSync(xml, bareDomainXml(dom));
      virsh("define", xml);
      virsh("start", dom);
      // Two projects, the same stack name and the same resource name: only the URN's project differs.
      a = new TestStack(`lvt-own-${process.pid}-a-`, () => disk(fileA), "shop");
      b = new TestStack(`lvt-own-${process.pid}-b-`, () => disk(fileB), "crm");
      stacks.push(a, b);
      await a.init();
      await b.init();
    });
    after(() => removeDomain(dom));

    it("both disks are attached, each under its own device", async () => {
      await a.ok(["up", "--yes", "--skip-preview"]);
      await b.ok(["up", "--yes", "--skip-preview"]);
      const [outA, outB] = [await a.outputs(), await b.outputs()];
      assert.notEqual(outA.alias, outB.alias);
      assert.equal(outA.live.file, fileA);
      assert.equal(outB.live.file, fileB);
      const open = filesOpen(dom);
      assert.ok(open.includes(fileA) && open.includes(fileB), `QEMU has ${open}`);
      // Neither stack sees drift from the other's device.
      for (const s of [a, b]) {
        const r = await s.pulumi(["preview", "--refresh", "--expect-no-changes"]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      }
    });

    it("destroying one stack leaves the other's disk attached, live and in the config", async () => {
      const outB = await b.outputs();
      await a.ok(["destroy", "--yes", "--skip-preview"]);
      assert.ok(!filesOpen(dom).includes(fileA), "stack A's disk is gone");
      assert.ok(filesOpen(dom).includes(fileB), "stack B's disk is still open in QEMU");
      assert.ok(aliasesIn(virsh("dumpxml", "--inactive", dom)).includes(outB.alias), "and in the persistent config");
      await b.ok(["destroy", "--yes", "--skip-preview"]);
      assert.ok(!filesOpen(dom).includes(fileB));
    });
  });

  describe("a kernel-boot Domain with no inline disk takes the seed's devices live", () => {
    let s: TestStack;
    const prefix = `lvt-own-${process.pid}-k-`;
    const dom = `${prefix}vm`;
    const seedDisk = path.join(tmp, "seed-usb.raw");
    const qmpDisk = path.join(tmp, "qmp.raw");
    const media = path.join(tmp, "media.iso");
    const program = (withDevices: boolean) =>
      [
        `const virt = require("pulumi-libvirt-live");`,
        `const vm = new virt.Domain("vm", { name: ${j(dom)}, type: ${j(domainType())}, memoryMiB: 96, vcpus: 1, guestAgent: false,`,
        `  boot: { kernel: ${j(path.join(GUEST_DIR, "vmlinux"))}, initrd: ${j(path.join(GUEST_DIR, "initrd.gz"))}, cmdline: "console=ttyS0 quiet panic=-1" }, shutdownTimeoutSeconds: 5 });`,
        `exports.domainId = vm.domainId; exports.pendingRestart = vm.pendingRestart;`,
        ...(withDevices
          ? [
              // 000_cf22c236006cf1b2.txt: the usb disk, read-only, <boot order='4'/>.
              `const seed = new virt.Disk("seed-usb", { domain: vm.name, source: ${j(seedDisk)}, bus: "usb", readonly: true, bootOrder: 4 });`,
              `new virt.Cdrom("tools", { domain: vm.name, bus: "scsi", media: ${j(media)} });`,
              `new virt.Disk("scratch", { domain: vm.name, source: ${j(qmpDisk)}, bus: "scsi", via: "qmp" });`,
              `exports.seed = { alias: seed.alias, target: seed.target, bootOrder: seed.bootOrder, live: seed.live };`,
            ]
          : []),
      ].join("\n") + "\n";

    before(async function () {
      if (!GUEST_DIR || !fs.existsSync(path.join(GUEST_DIR, "vmlinux"))) throw new Error("GUEST_DIR unset: source scripts/prepare.sh first");
      makeImage(seedDisk, 4);
      makeImage(qmpDisk, 4);
      makeImage(media, 1);
      s = new TestStack(prefix, () => program(false));
      stacks.push(s);
      await s.init();
      await s.ok(["up", "--yes", "--skip-preview"]);
    });

    it("libvirt gave the domain <os><boot dev='hd'/> (what made the seed's disk fail before)", () => {
      assert.match(virsh("dumpxml", "--inactive", dom), /<boot dev='hd'\/>/);
    });

    it("preview says the boot order waits for the next boot; up attaches everything live, with no restart", async () => {
      const before = { id: virsh("domid", dom).trim(), started: qemuStart(dom) };
      s.write(program(true));
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, /Disk seed-usb on .*: live attach on usb \(no restart\)/);
      assert.match(preview.stdout, /Disk seed-usb on .*: bootOrder → next-boot/);
      await s.ok(["up", "--yes", "--skip-preview"]);
      assert.deepEqual({ id: virsh("domid", dom).trim(), started: qemuStart(dom) }, before, "the domain was not restarted");
      const outs = await s.outputs();
      assert.equal(outs.seed.live.file, seedDisk);
      assert.equal(outs.seed.live.readonly, true);
      assert.equal(outs.seed.bootOrder, 4);
      const open = filesOpen(dom);
      for (const f of [seedDisk, qmpDisk, media]) assert.ok(open.includes(f), `QEMU lacks ${f}: ${open}`);

      const config = virsh("dumpxml", "--inactive", dom);
      assert.doesNotMatch(config, /<boot dev=/, "the config boots by per-device order now");
      assert.match(config, new RegExp(`<source file='${seedDisk}'/>[\\s\\S]*?<boot order='4'/>`));
      const file = path.join(tmp, "persistent.xml");
      fs.writeFileSync(file, config);
      const validated = spawnSync("virt-xml-validate", [file, "domain"], { encoding: "utf8" });
      assert.equal(validated.status, 0, `virt-xml-validate: ${validated.stdout}${validated.stderr}`);
      // Nothing is left to do, and the boot order is not mistaken for drift.
      assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 0);
    });

    it("what up would refuse is said at preview, naming the field and the fix; up then changes nothing", async () => {
      const taken = (await s.outputs()).seed.target;
      const clash = path.join(tmp, "clash.raw");
      makeImage(clash, 1);
      s.write(program(true) + `new virt.Disk("clash", { domain: vm.name, source: ${j(clash)}, bus: "usb", target: ${j(taken)} });\n`);
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, new RegExp(`Disk clash on .*: up would refuse target: target ${taken} is in use on domain ${dom} by ${taken} \\(ua-disk-seed-usb-[0-9a-f]+, ${seedDisk}\\): leave target out`));
      const before = virsh("dumpxml", "--inactive", dom);
      const up = await s.pulumi(["up", "--yes", "--skip-preview"]);
      assert.notEqual(up.code, 0);
      assert.ok(!filesOpen(dom).includes(clash), "nothing was attached");
      assert.equal(virsh("dumpxml", "--inactive", dom), before, "the config is as it was");
      s.write(program(true));
      await s.ok(["up", "--yes", "--skip-preview"]);
    });
  });

  describe("adopting a running domain and a volume made with virsh", () => {
    let s: TestStack;
    const prefix = `lvt-own-${process.pid}-adopt-`;
    const dom = `${prefix}vm`;
    const vol = `${prefix}data.qcow2`;
    const program = (o: { memoryMiB: number; importOption?: boolean }) =>
      [
        `const virt = require("pulumi-libvirt-live");`,
        `const vm = new virt.Domain("vm", { name: ${j(dom)}, type: ${j(domainType())}, memoryMiB: ${o.memoryMiB}, maxMemoryMiB: 128, vcpus: 1, maxVcpus: 2,`,
        `  guestAgent: false, shutdownTimeoutSeconds: 2, adopt: true }${o.importOption ? `, { import: ${j(virsh("domuuid", dom).trim())} }` : ""});`,
        `const data = new virt.Volume("data", { name: ${j(vol)}, capacityBytes: 1024 * 1024, format: "qcow2", adopt: true });`,
        `exports.domainId = vm.domainId; exports.uuid = vm.uuid; exports.key = data.key; exports.path = data.path;`,
      ].join("\n") + "\n";

    before(async () => {
      const xml = path.join(tmp, "adopt.xml");
      fs.writeFileSync(
        xml,
        `<domain type='${domainType()}'><name>${dom}</name><memory unit='MiB'>128</memory><currentMemory unit='MiB'>64</currentMemory>` +
          `<vcpu current='1'>2</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`,
      );
      virsh("define", xml);
      virsh("start", dom);
      virsh("vol-create-as", "default", vol, "1M", "--format", "qcow2");
      s = new TestStack(prefix, () => program({ memoryMiB: 64 }));
      stacks.push(s);
      await s.init();
    });
    after(() => {
      removeDomain(dom);
      // Normally destroyed with the stack already.
      spawnSync("virsh", ["-q", "-c", "qemu:///system", "vol-delete", vol, "--pool", "default"], { stdio: "ignore" });
    });

    it("the import option is refused at once with a pointer to adopt (dynamic providers cannot import)", async () => {
      s.write(program({ memoryMiB: 64, importOption: true }));
      const r = await s.pulumi(["preview"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /Domain vm: the "import" resource option does not work .*set adopt: true/);
      s.write(program({ memoryMiB: 64 }));
    });

    it("preview says adopt with no restart; up takes both over with the same domain id, volume key and path", async () => {
      const id = virsh("domid", dom).trim();
      const key = virsh("vol-key", vol, "--pool", "default").trim();
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, new RegExp(`Domain ${dom}: adopt existing domain \\(no restart\\)`));
      assert.match(preview.stdout, new RegExp(`Volume ${vol}: adopt existing volume in pool default`));
      await s.ok(["up", "--yes", "--skip-preview"]);
      const outs = await s.outputs();
      assert.equal(String(outs.domainId), id, "the running domain was not restarted");
      assert.equal(outs.uuid, virsh("domuuid", dom).trim());
      assert.equal(outs.key, key);
      assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 0, "nothing left to do");
    });

    it("a live change to the adopted domain lands live; destroy then removes what the stack now owns", async () => {
      const id = virsh("domid", dom).trim();
      s.write(program({ memoryMiB: 96 }));
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, new RegExp(`Domain ${dom}: memoryMiB → live`));
      await s.ok(["up", "--yes", "--skip-preview"]);
      assert.equal(virsh("domid", dom).trim(), id, "same running domain");
      assert.match(virsh("dumpxml", "--inactive", dom), /<currentMemory unit='KiB'>98304<\/currentMemory>/);
      await s.ok(["destroy", "--yes", "--skip-preview"]);
      assert.doesNotMatch(virsh("list", "--all", "--name"), new RegExp(dom));
      assert.doesNotMatch(virsh("vol-list", "default"), new RegExp(vol));
    });
  });
});
