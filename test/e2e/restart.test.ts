// End to end through the real Pulumi CLI: libvirtd restarted in the middle of `pulumi up` (ten Disks being
// attached, one being detached). The run completes or fails with a message naming libvirt; the next `up`
// converges (a refreshed preview then shows no changes) with no duplicate and no lost device.
// Run: . scripts/prepare.sh && npx mocha dist/test/e2e/restart.test.js
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, makeImage, removeDomain, virsh } from "../support/host";
import { ensureLibvirtd, libvirtdIsOurs, libvirtdPid, restartLibvirtd } from "../support/libvirtd";
import { TestStack } from "./support/stack";
import { skipMissing } from "../support/skip";

const j = JSON.stringify;

const sourcesIn = (xml: string) => [...xml.matchAll(/<source file='([^']+)'/g)].map((m) => m[1]);
const count = (list: string[], item: string) => list.filter((x) => x === item).length;
function filesOpen(dom: string): string[] {
  const blocks = JSON.parse(virsh("qemu-monitor-command", dom, j({ execute: "query-block" }))).return as any[];
  return blocks.flatMap((b) => (typeof b.inserted?.file === "string" ? [b.inserted.file as string] : []));
}

describe("e2e: libvirtd restarted during pulumi up", function () {
  this.timeout(600_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-e2e-restart-"));
  const prefix = `lvt-rst-${process.pid}-`;
  // Not under the stack's prefix: the domain is the test's, made with virsh, not the stack's.
  const dom = `lvt-e2e-restartvm-${process.pid}`;
  const files = Array.from({ length: 10 }, (_, i) => path.join(tmp, `d${i}.img`));
  const leavingFile = path.join(tmp, "leaving.img");
  let stack: TestStack;

  const program = (withLeaving: boolean, withTen: boolean) => {
    const lines = [`const virt = require("pulumi-libvirt-live");`];
    if (withLeaving) lines.push(`new virt.Disk("leaving", { domain: ${j(dom)}, source: ${j(leavingFile)}, bus: "usb" });`);
    if (withTen) {
      files.forEach((file, i) => {
        const how = i >= 8 ? `bus: "scsi", via: "qmp"` : i >= 5 ? `bus: "usb"` : `bus: "scsi"`;
        lines.push(`new virt.Disk("d${i}", { domain: ${j(dom)}, source: ${j(file)}, ${how} });`);
      });
    }
    return lines.join("\n") + "\n";
  };

  before(async function () {
    // A host's own daemon is never restarted by the tests.
    if (!libvirtdIsOurs()) skipMissing(this, "a libvirtd started by scripts/setup-host.sh (this host's own daemon is never restarted)");
    for (const f of [...files, leavingFile]) makeImage(f, 1);
    fs.writeFileSync(path.join(tmp, "vm.xml"), bareDomainXml(dom));
    virsh("define", path.join(tmp, "vm.xml"));
    virsh("start", dom);
    stack = new TestStack(prefix, () => program(true, false));
    await stack.init();
  });

  after(async function () {
    await ensureLibvirtd();
    if (stack) {
      const problems = await stack.cleanup(process.env.LVT_E2E_KEEP === "1");
      if (problems.length > 0) console.error(`e2e cleanup: ${problems.join("; ")}`);
    }
    removeDomain(dom);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the interrupted up ends clearly, and the next up converges with every device once", async () => {
    await stack.ok(["up", "--yes", "--skip-preview"]);
    assert.equal(count(filesOpen(dom), leavingFile), 1);

    // Ten Disks in, one out; the daemon is restarted as soon as the provider starts working.
    stack.write(program(false, true));
    const pidBefore = libvirtdPid();
    let restart: Promise<void> | undefined;
    const first = await stack.pulumi(["up", "--yes", "--skip-preview"], {
      onStdout: (_chunk, _child, soFar) => {
        if (!restart && /creating|deleting/.test(soFar)) restart = restartLibvirtd();
      },
    });
    await restart;
    assert.ok(restart, `the up never started working:\n${first.stdout}`);
    assert.notEqual(libvirtdPid(), pidBefore, "the daemon was restarted");
    const errors = (first.stdout + first.stderr).split("\n").filter((l) => /error/i.test(l) && /libvirt/.test(l));
    if (first.code !== 0) assert.ok(errors.length > 0, `the failed up says what went wrong:\n${first.stdout}\n${first.stderr}`);
    console.log(`      interrupted up exited ${first.code}${errors.map((l) => `\n        ${l.trim()}`).join("")}`);

    await stack.ok(["up", "--yes", "--skip-preview"]);
    await stack.ok(["preview", "--refresh", "--expect-no-changes"]);

    const live = sourcesIn(virsh("dumpxml", dom));
    const config = sourcesIn(virsh("dumpxml", "--inactive", dom));
    const open = filesOpen(dom);
    files.forEach((file, i) => {
      assert.equal(count(open, file), 1, `d${i} open exactly once in QEMU`);
      if (i < 8) {
        assert.equal(count(live, file), 1, `d${i} once in the live XML`);
        assert.equal(count(config, file), 1, `d${i} once in the config`);
      }
    });
    assert.equal(count(open, leavingFile) + count(live, leavingFile) + count(config, leavingFile), 0, "the detached disk is gone");
  });
});
