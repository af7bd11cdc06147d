// End to end through the real Pulumi CLI against a QEMU the test starts without libvirt, as the seeds run it
// (001_e20eda633cafcaa1.txt): a Disk and a Cdrom over its QMP socket, a GuestExec over its agent socket; and a
// transient libvirt Domain (persistent: false) that a stop removes and the next up brings back.
// Run: . scripts/prepare.sh && npx mocha dist/test/e2e/qemu-direct.test.js
import { strict as assert } from "node:assert";
import * as net from "node:net";
import * as path from "node:path";
import { domainType, makeImage, removeDomain, virsh } from "../support/host";
import { startBareQemu, type BareQemu } from "../support/bare-qemu";
import { cleanupStacks, TestStack } from "./support/stack";

const GUEST_DIR = process.env.GUEST_DIR ?? "";
const j = JSON.stringify;

/** One QMP exchange on the seed's socket, as another tool would do it (our provider process has exited by then). */
async function qmpOnce(address: string, command: object): Promise<any> {
  const socketPath = address.replace(/^unix:/, "");
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let buffer = "";
    let step = 0;
    s.setEncoding("utf8");
    s.on("data", (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const message = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (message.event) continue;
        if (step === 0) s.write(`${j({ execute: "qmp_capabilities" })}\n`);
        else if (step === 1) s.write(`${j(command)}\n`);
        else {
          s.end();
          resolve(message);
        }
        step++;
      }
    });
    s.on("error", reject);
  });
}

const queryBlock = async (qmp: string): Promise<any[]> => (await qmpOnce(qmp, { execute: "query-block" })).return;

describe("e2e: QEMU without libvirt, and transient domains", function () {
  this.timeout(300_000);
  const stacks: TestStack[] = [];
  after(async function () {
    this.timeout(400_000);
    await cleanupStacks(stacks);
  });

  describe("a Disk, a Cdrom and a GuestExec on QEMU's own sockets", () => {
    let qemu: BareQemu;
    let s: TestStack;
    const prefix = `lvt-qd-${process.pid}-`;
    let files: { disk: string; a: string; b: string };
    const program = (media: "a" | "b") =>
      [
        `const virt = require("pulumi-libvirt-live");`,
        `const disk = new virt.Disk("data", { qmp: ${j(qemu.qmp)}, source: ${j(files.disk)}, bus: "scsi" });`,
        `const cd = new virt.Cdrom("tools", { qmp: ${j(qemu.qmp)}, bus: "scsi", media: ${j(files[media])} });`,
        // The seed's command (003_4407f49e8ba8e10d.txt / 001: `ip addr list` through the agent).
        `const ip = new virt.GuestExec("ip", { agent: ${j(qemu.agent)}, path: "/bin/sh", args: ["-c", "ip addr list"], agentTimeoutSeconds: 180 });`,
        `exports.disk = { alias: disk.alias, live: disk.live }; exports.cd = { alias: cd.alias, inserted: cd.inserted }; exports.ip = ip.stdout;`,
      ].join("\n") + "\n";

    before(async function () {
      if (!GUEST_DIR) throw new Error("GUEST_DIR unset: source scripts/prepare.sh first");
      qemu = await startBareQemu();
      files = { disk: path.join(qemu.dir, "data.raw"), a: path.join(qemu.dir, "a.iso"), b: path.join(qemu.dir, "b.iso") };
      makeImage(files.disk, 8);
      makeImage(files.a, 1);
      makeImage(files.b, 1);
      s = new TestStack(prefix, () => program("a"));
      stacks.push(s);
      await s.init();
    });
    after(async () => {
      // The stack is destroyed first (outer after runs later): stop QEMU only after it.
      await s?.cleanup();
      await qemu?.stop();
    });

    it("preview classifies each change; up attaches over QMP, and the agent runs the seed's command", async () => {
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, /Disk data on .*: live attach on scsi over QEMU at unix:/);
      await s.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 280_000 });
      const outs = await s.outputs();
      const blocks = await queryBlock(qemu.qmp);
      assert.equal(blocks.find((b) => b.qdev === outs.disk.alias)?.inserted?.file, files.disk);
      assert.equal(blocks.find((b) => b.qdev === outs.cd.alias)?.inserted?.file, files.a);
      assert.equal(outs.cd.inserted, files.a);
      assert.match(outs.ip, /1: lo: <LOOPBACK/);
      assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 0);
    });

    it("the cdrom's media changes live; a disk removed behind Pulumi's back is drift, and up adds it again", async () => {
      s.write(program("b"));
      const preview = await s.ok(["preview"]);
      assert.match(preview.stdout, /Cdrom tools on .*: media → live/);
      await s.ok(["up", "--yes", "--skip-preview"]);
      const outs = await s.outputs();
      assert.equal((await queryBlock(qemu.qmp)).find((b) => b.qdev === outs.cd.alias)?.inserted?.file, files.b);

      await qmpOnce(qemu.qmp, { execute: "device_del", arguments: { id: outs.disk.alias } });
      // The unplug of a scsi disk completes at once; query-block is the judge.
      for (let i = 0; i < 50 && (await queryBlock(qemu.qmp)).some((b) => b.qdev === outs.disk.alias); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 7, "the drift job sees it");
      await s.ok(["up", "--refresh", "--yes", "--skip-preview"]);
      assert.equal((await queryBlock(qemu.qmp)).find((b) => b.qdev === outs.disk.alias)?.inserted?.file, files.disk);
    });

    it("destroy leaves QEMU running with none of our devices", async () => {
      const outs = await s.outputs();
      await s.ok(["destroy", "--yes", "--skip-preview"]);
      const status = await qmpOnce(qemu.qmp, { execute: "query-status" });
      assert.equal(status.return.status, "running");
      const left = (await queryBlock(qemu.qmp)).filter((b) => b.qdev === outs.disk.alias || b.qdev === outs.cd.alias);
      assert.deepEqual(left, []);
    });
  });

  describe("a transient Domain (persistent: false)", () => {
    let s: TestStack;
    const prefix = `lvt-qd-${process.pid}-t-`;
    const dom = `${prefix}vm`;
    before(async () => {
      s = new TestStack(prefix, () =>
        [
          `const virt = require("pulumi-libvirt-live");`,
          `const vm = new virt.Domain("vm", { name: ${j(dom)}, type: ${j(domainType())}, memoryMiB: 64, vcpus: 1, guestAgent: false, persistent: false });`,
          `exports.domainId = vm.domainId;`,
        ].join("\n") + "\n",
      );
      stacks.push(s);
      await s.init();
    });
    after(() => removeDomain(dom));

    it("up creates it running and not persistent; stopped behind Pulumi's back it is gone, drift says so, up brings it back", async () => {
      await s.ok(["up", "--yes", "--skip-preview"]);
      assert.match(virsh("dominfo", dom), /Persistent:\s+no/);
      virsh("destroy", dom);
      assert.doesNotMatch(virsh("list", "--all", "--name"), new RegExp(dom), "a stopped transient domain is gone");
      assert.equal((await s.pulumi(["preview", "--refresh", "--expect-no-changes"])).code, 7);
      await s.ok(["up", "--refresh", "--yes", "--skip-preview"]);
      assert.match(virsh("dominfo", dom), /State:\s+running/);
      assert.equal((await s.outputs()).domainId, Number(virsh("domid", dom).trim()));
    });
  });
});
