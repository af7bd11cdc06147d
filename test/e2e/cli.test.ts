// End to end through the real Pulumi CLI (v3.259 built from source, scripts/prepare.sh) against the local
// libvirt: one stack for the whole file, edited between scenarios the way a user edits a program, with what
// libvirt (virsh dumpxml) and QEMU (query-block) really have cross-checked after every step.
// Run: . scripts/prepare.sh && npx mocha dist/test/e2e/cli.test.js
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { domainType } from "../support/host";
import { programSource, type ProgramOptions } from "./support/program";
import { LibvirtClient } from "../../provider/src/libvirt";
import { killTree, REPO, TestStack } from "./support/stack";

const GUEST_DIR = process.env.GUEST_DIR ?? "";
const FIXTURES = path.join(REPO, "test/e2e/fixtures");
const EXPLAIN = path.join(REPO, "dist/provider/src/cli.js");

function virsh(...args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8" });
}

function qmp(dom: string, execute: string, args?: object): any {
  return JSON.parse(virsh("qemu-monitor-command", dom, JSON.stringify(args ? { execute, arguments: args } : { execute }))).return;
}

const queryBlock = (dom: string): any[] => qmp(dom, "query-block");
const blocksWithFile = (dom: string, file: string) => queryBlock(dom).filter((b) => b.inserted?.file === file);
const blockOf = (dom: string, alias: string) => queryBlock(dom).find((b) => b.qdev === alias || String(b.qdev).startsWith(`/machine/peripheral/${alias}/`));
const namedNodeFiles = (dom: string): string[] => qmp(dom, "query-named-block-nodes", { flat: true }).map((n: any) => n.file);

/** When the QEMU process of a running domain started (same value ⇒ no restart happened). */
function qemuStart(dom: string): string {
  const pid = fs.readFileSync(`/run/libvirt/qemu/${dom}.pid`, "utf8").trim();
  return execFileSync("ps", ["-o", "lstart=", "-p", pid], { encoding: "utf8" }).trim();
}

function explain(file: string, check: boolean) {
  const r = spawnSync(process.execPath, [EXPLAIN, "explain", ...(check ? ["--check"] : []), file], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One row of explain's Markdown table: Resource | Kind | Domain | Operation | Change | Class | Why. */
interface ExplainRow {
  resource: string;
  kind: string;
  domain: string;
  operation: string;
  /** The changed field ("memoryMiB"), or the whole cell when it names no field ("(attach)"). */
  field: string;
  class: string;
}

function explainRows(markdown: string): ExplainRow[] {
  const lines = markdown.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| Resource |"));
  return lines.map((line) => {
    const cells = line.slice(2, -2).split(/ (?<!\\)\| /);
    assert.equal(cells.length, 7, `not a 7-column row: ${line}`);
    const [resource, kind, domain, operation, change, cls] = cells;
    return { resource, kind, domain, operation, field: change.startsWith("(") ? change : change.split(":")[0], class: cls };
  });
}

/** The rows as "Kind name on domain: operation, field → class", sorted: one string per row, easy to diff. */
const rowTexts = (rows: ExplainRow[]) => rows.map((r) => `${r.kind} ${r.resource} on ${r.domain || "-"}: ${r.operation}, ${r.field} → ${r.class}`).sort();

const stepOf = (preview: any, kind: string, name: string) =>
  (preview.steps as any[]).filter((s) => s.urn.endsWith(`::pulumi-nodejs:dynamic/libvirt:${kind}::${name}`));

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("e2e: the real pulumi CLI against libvirt", function () {
  // Each up may take minutes on a loaded 2-core TCG machine; the per-command timeouts below stay inside this.
  this.timeout(600_000);
  const prefix = `lvt-e2e-${process.pid}-`;
  const dom = `${prefix}vm`;
  const base: ProgramOptions = {
    kernel: path.join(GUEST_DIR, "vmlinux"),
    initrd: path.join(GUEST_DIR, "initrd.gz"),
    type: domainType(),
    usbMedia: "b",
  };
  // Scenario 3's edits: a disk added, the scsi cdrom's media changed, the usb cdrom's media changed, and memory
  // beyond the running maxMemoryMiB (256; the ceiling rises to 512, which QEMU only takes at start) with
  // restart "never". (memoryMiB above the declared maxMemoryMiB itself fails `check`, naming the property.)
  const edited: ProgramOptions = { ...base, extraDisk: true, scsiMedia: "b", usbMedia: "a", memoryMiB: 384, maxMemoryMiB: 512 };
  let stack: TestStack;
  let outs: Record<string, any>;
  const program = (o: ProgramOptions) => stack.write(programSource(prefix, o));

  before(async function () {
    if (!GUEST_DIR || !fs.existsSync(path.join(GUEST_DIR, "vmlinux"))) throw new Error("GUEST_DIR unset: source scripts/prepare.sh first");
    stack = new TestStack(prefix, (p) => programSource(p, base));
    await stack.init();
  });

  // Every pulumi command a test runs ends before the test's own mocha timeout (killed with its process group
  // and the lock dropped), so a timed-out test leaves no CLI running and the stack unlocked for the next one.
  beforeEach(function () {
    stack?.setBudget(this.currentTest!.timeout());
  });

  after(async function () {
    this.timeout(600_000);
    if (!stack) return;
    stack.setBudget(600_000);
    const problems = await stack.cleanup(process.env.LVT_E2E_KEEP === "1");
    if (problems.length > 0) console.error(`e2e cleanup: ${problems.join("; ")}`);
  });

  it("1. pulumi up makes the stack, and its outputs match virsh dumpxml and query-block", async () => {
    await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    outs = await stack.outputs();
    assert.equal(outs.domain.name, dom);
    assert.equal(outs.domain.state, "running");
    assert.equal(outs.domain.pendingRestart, false);
    assert.equal(outs.domain.domainId, Number(virsh("domid", dom).trim()));
    assert.equal(outs.domain.uuid, virsh("domuuid", dom).trim());

    const xml = virsh("dumpxml", dom);
    const blocks = queryBlock(dom);
    // Disk via libvirt: in the domain XML and open in QEMU, once.
    const data = outs.disks.data;
    assert.match(xml, new RegExp(`<source file='${outs.volumes.data}'`));
    assert.match(xml, new RegExp(`<target dev='${data.target}' bus='scsi'/>`));
    assert.match(xml, new RegExp(`<alias name='${data.alias}'/>`));
    assert.equal(blocks.filter((b) => b.inserted?.file === outs.volumes.data).length, 1);
    assert.deepEqual({ file: data.live?.file, format: data.live?.format }, { file: outs.volumes.data, format: "qcow2" });
    assert.equal(blocksWithFile(dom, outs.volumes.data)[0].inserted.drv, "qcow2");
    assert.equal(data.live.virtualSizeBytes, 64 * 1024 * 1024);
    // Disk via qmp: QEMU has it; libvirt's XML does not (that is what via qmp means).
    const scratch = outs.disks.scratch;
    assert.equal(blocksWithFile(dom, outs.volumes.scratch).length, 1);
    assert.equal(scratch.live?.file, outs.volumes.scratch);
    assert.ok(blockOf(dom, scratch.alias), `query-block has no device ${scratch.alias}`);
    // Cdroms: inserted is what QEMU reports.
    assert.equal(outs.cdroms.tools.inserted, outs.volumes.mediaA);
    assert.equal(blockOf(dom, outs.cdroms.tools.alias)?.inserted?.file, outs.volumes.mediaA);
    assert.equal(outs.cdroms.usbcd.inserted, outs.volumes.mediaB);
    assert.equal(blockOf(dom, outs.cdroms.usbcd.alias)?.inserted?.file, outs.volumes.mediaB);
    // Volumes are in the pool.
    const vols = virsh("vol-list", "default");
    for (const v of ["data.qcow2", "scratch.img", "media-a.iso", "media-b.iso"]) assert.ok(vols.includes(prefix + v), `no volume ${prefix + v}`);
  });

  it("2. a second run has nothing to do (preview --expect-no-changes exits 0)", async () => {
    const r = await stack.pulumi(["preview", "--expect-no-changes"]);
    assert.equal(r.code, 0, `preview reported changes:\n${r.stdout}\n${r.stderr}`);
  });

  let previewFile = "";
  it("3. memoryMiB above the declared maxMemoryMiB fails at preview, naming the property", async () => {
    program({ ...base, memoryMiB: 384 });
    try {
      const r = await stack.pulumi(["preview"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /property memoryMiB .*must be at most maxMemoryMiB \(256\), got 384/);
    } finally {
      program(base);
    }
  });

  it("3+4. editing the program: preview names each change with the provider's one-line classification", async () => {
    program(edited);
    const r = await stack.ok(["preview"]);
    const out = r.stdout;
    assert.match(out, new RegExp(`Volume ${prefix}extra.img: create in pool default`));
    assert.match(out, new RegExp(`Domain ${dom}: maxMemoryMiB → next-boot`));
    assert.match(out, new RegExp(`Disk extra on ${dom}: live attach on scsi \\(no restart\\)`));
    assert.match(out, new RegExp(`Cdrom tools on ${dom}: media → live \\(media change in the tray\\)`));
    assert.match(out, new RegExp(`Cdrom usbcd on ${dom}: media → replace \\(usb-storage is not removable`));
    assert.match(out, new RegExp(`Domain ${dom}: memoryMiB → next-boot`));
  });

  it("3. preview --json: scsi media is an update, usb media a replace, the disk a create, memory an update", async () => {
    const { raw, json } = await stack.previewJson();
    previewFile = stack.file("preview-edits.json");
    fs.writeFileSync(previewFile, raw);
    assert.deepEqual(stepOf(json, "Cdrom", "tools").map((s) => s.op), ["update"]);
    assert.deepEqual(stepOf(json, "Cdrom", "usbcd").map((s) => s.op), ["replace"]);
    assert.deepEqual(stepOf(json, "Disk", "extra").map((s) => s.op), ["create"]);
    assert.deepEqual(stepOf(json, "Volume", "extra").map((s) => s.op), ["create"]);
    assert.deepEqual(stepOf(json, "Domain", "vm").map((s) => s.op), ["update"]);
    saveFixture("real-e2e-preview.json", raw);
  });

  it("8. explain on the real preview: each row's class; next-boot passes --check; restart of the running domain fails it", async () => {
    const table = explain(previewFile, false);
    assert.equal(table.code, 0, table.stderr);
    // The legend names every class in every report: the rows are what says how each change lands.
    assert.deepEqual(
      rowTexts(explainRows(table.stdout)),
      [
        `Cdrom tools on ${dom}: update, media → live`,
        `Cdrom usbcd on ${dom}: replace, media → replace`,
        `Disk extra on ${dom}: create, (attach) → live`,
        `Domain vm on ${dom}: update, maxMemoryMiB → next-boot`,
        `Domain vm on ${dom}: update, memoryMiB → next-boot`,
        `Volume extra on -: create, (create) → create`,
      ],
      table.stdout,
    );
    assert.match(table.stdout, /\*\*Summary:\*\* 2 live, 2 next-boot, 0 restart, 1 replace, 1 create /);
    const passed = explain(previewFile, true);
    assert.equal(passed.code, 0, `explain --check failed on a next-boot plan:\n${passed.stdout}\n${passed.stderr}`);

    program({ ...edited, usbMedia: "b", restart: "allow" });
    try {
      const { raw } = await stack.previewJson();
      const restartFile = stack.file("preview-restart.json");
      fs.writeFileSync(restartFile, raw);
      const failed = explain(restartFile, true);
      assert.equal(failed.code, 1, `explain --check passed a restart of a running domain:\n${failed.stdout}\n${failed.stderr}`);
      assert.deepEqual(
        rowTexts(explainRows(failed.stdout)),
        [
          `Cdrom tools on ${dom}: update, media → live`,
          `Disk extra on ${dom}: create, (attach) → live`,
          `Domain vm on ${dom}: update, maxMemoryMiB → restart`,
          `Domain vm on ${dom}: update, memoryMiB → restart`,
          `Domain vm on ${dom}: update, restart → live`,
          `Volume extra on -: create, (create) → create`,
        ],
        failed.stdout,
      );
      assert.match(failed.stderr, /explain --check: .*vm/);
      saveFixture("real-e2e-preview-restart.json", raw);
    } finally {
      program(edited);
    }
  });

  it("3. pulumi up of the edits: the disk attaches live, media changes, memory waits for the next boot", async () => {
    const domid = virsh("domid", dom).trim();
    const started = qemuStart(dom);
    await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    outs = await stack.outputs();
    assert.equal(virsh("domid", dom).trim(), domid, "the domain was restarted (domid changed)");
    assert.equal(qemuStart(dom), started, "the QEMU process was restarted");
    assert.equal(outs.domain.pendingRestart, true);
    assert.equal(blocksWithFile(dom, outs.volumes.extra).length, 1);
    assert.equal(outs.disks.extra.live?.file, outs.volumes.extra);
    assert.equal(blockOf(dom, outs.cdroms.tools.alias)?.inserted?.file, outs.volumes.mediaB);
    assert.equal(outs.cdroms.tools.inserted, outs.volumes.mediaB);
    assert.equal(blockOf(dom, outs.cdroms.usbcd.alias)?.inserted?.file, outs.volumes.mediaA);
    assert.equal(outs.cdroms.usbcd.inserted, outs.volumes.mediaA);
    assert.match(virsh("dumpxml", "--inactive", dom), /<currentMemory unit='KiB'>393216<\/currentMemory>|<memory unit='KiB'>393216<\/memory>/);
    const again = await stack.pulumi(["preview", "--expect-no-changes"]);
    assert.equal(again.code, 0, `changes after the edits were applied:\n${again.stdout}\n${again.stderr}`);
  });

  it("5. drift made behind Pulumi's back is found by preview --refresh (exit 7, naming each drifted resource)", async () => {
    const { data, scratch } = outs.disks;
    const tools = outs.cdroms.tools;
    virsh("detach-device-alias", dom, data.alias, "--live");
    qmp(dom, "eject", { id: tools.alias, force: true });
    qmp(dom, "device_del", { id: scratch.alias });
    await until("the detached disks to leave query-block", () => !blockOf(dom, data.alias) && !blockOf(dom, scratch.alias));
    assert.equal(blockOf(dom, tools.alias)?.inserted, undefined);

    const p = await stack.pulumi(["preview", "--refresh", "--expect-no-changes"]);
    assert.equal(p.code, 7, `preview --refresh did not report the drift (exit ${p.code}):\n${p.stdout}\n${p.stderr}`);
    // Each drifted resource is named with what up will do about it: the detached disks are gone (create
    // again), the ejected cdrom differs (update).
    for (const [kind, res, op] of [["Disk", "data", "create"], ["Disk", "scratch", "create"], ["Cdrom", "tools", "update"]]) {
      assert.match(p.stdout, new RegExp(`libvirt:${kind} ${res} ${op}\\s`), `preview --refresh does not name ${kind} ${res} (${op}):\n${p.stdout}`);
    }
    assert.match(p.stdout, /Cdrom tools on .*: media → live \(media change in the tray\)/);
    // Resources nobody touched are not reported as drifted.
    for (const res of ["Disk extra", "Cdrom usbcd", "Domain vm"]) {
      assert.doesNotMatch(p.stdout, new RegExp(`libvirt:${res} (create|update|replace|delete)\\s`), `${res} reported as drifted`);
    }
  });

  it("5. pulumi refresh then pulumi up restore the declared state (query-block)", async () => {
    await stack.ok(["refresh", "--yes", "--skip-preview"]);
    const up = await stack.pulumi(["up", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    if (up.code !== 0 && /Duplicate nodes with node-name='lvq-disk-scratch-file'/.test(up.stdout)) {
      assert.fail(
        "PROVIDER BUG (qmp Disk re-attach after an external device_del): QEMU keeps the -blockdev nodes a device_del leaves " +
          "behind, and attachQmp's blockdev-add reuses their node-names: \"QMP blockdev-add failed (GenericError): Duplicate nodes " +
          "with node-name='lvq-disk-scratch-file'\". Fix: attachQmp (provider/src/resources/devices.ts) should first blockdev-del " +
          "its own stale nodes (format, then file) when no device holds them, as detachQmp already does after a detach.",
      );
    }
    assert.equal(up.code, 0, `pulumi up failed:\n${up.stdout}\n${up.stderr}`);
    outs = await stack.outputs();
    assert.equal(blocksWithFile(dom, outs.volumes.data).length, 1, "data disk not restored exactly once");
    assert.equal(blocksWithFile(dom, outs.volumes.scratch).length, 1, "qmp disk not restored exactly once");
    assert.equal(blockOf(dom, outs.cdroms.tools.alias)?.inserted?.file, outs.volumes.mediaB, "cdrom media not restored");
    const again = await stack.pulumi(["preview", "--refresh", "--expect-no-changes"]);
    assert.equal(again.code, 0, `still drifting after refresh + up:\n${again.stdout}\n${again.stderr}`);
  });

  it("6. a pulumi up killed right after a Disk's attach adopts that same device on the next run (no duplicate)", async () => {
    await convergeAroundKnownBugs();
    // Watch QEMU (query-block over the project's own client: ~1 ms a call) from the moment `pulumi up` starts, and
    // SIGKILL the CLI with its language host and provider (the tree it started, see killTree) as soon as the late
    // disk is open: the provider has attached it and nobody can record the create any more. When the run beat the
    // kill (the checkpoint holds the Disk), take the disk out again and retry.
    const lateFile = `/var/lib/libvirt/images/${prefix}late.img`;
    const watcher = await LibvirtClient.connect("qemu:///system");
    const domRef = await watcher.lookupDomainByName(dom);
    const lateBlock = async (): Promise<any> =>
      (JSON.parse(await watcher.qemuMonitorCommand(domRef, JSON.stringify({ execute: "query-block" }))).return as any[]).find(
        (b) => b.inserted?.file === lateFile,
      );
    type KillPoint = { qdev: string; node: string; ms: number };
    let atKill: KillPoint | undefined;
    const history: string[] = [];
    let locked = false; // a killed run leaves the stack locked until `pulumi cancel`
    try {
      for (let attempt = 1; ; attempt++) {
        program({ ...edited, lateDisk: true });
        atKill = undefined;
        let spawnedAt = 0;
        let watching: Promise<void> = Promise.resolve();
        const run = await stack.pulumi(["up", "--yes", "--skip-preview"], {
          timeoutMs: 300_000,
          onSpawn: (child) => {
            spawnedAt = Date.now();
            watching = (async () => {
              while (child.exitCode === null && child.signalCode === null) {
                const block = await lateBlock().catch(() => undefined);
                if (block) {
                  killTree(child);
                  atKill = { qdev: String(block.qdev), node: String(block.inserted["node-name"]), ms: Date.now() - spawnedAt };
                  return;
                }
                await new Promise((r) => setTimeout(r, 5));
              }
            })();
          },
        });
        await watching;
        locked = run.signal === "SIGKILL";
        const exported = JSON.parse((await stack.ok(["stack", "export"])).stdout);
        const recorded = (exported.deployment.resources ?? []).some((r: any) => String(r.urn).endsWith("libvirt:Disk::late"));
        const pending = (exported.deployment.pending_operations ?? []).map((o: any) => `${o.type} ${String(o.resource.urn).split("::").pop()}`);
        const seen = atKill as KillPoint | undefined; // set by the watcher
        history.push(
          `attempt ${attempt}: exit ${run.code ?? run.signal}; ${seen ? `killed ${seen.ms} ms after the start, with ${seen.qdev} open` : "never saw the disk open"}; ` +
            `Disk recorded: ${recorded}; pending: [${pending.join(", ")}]`,
        );
        if (run.signal === "SIGKILL" && seen && !recorded) break;
        assert.ok(run.signal === "SIGKILL" || run.code === 0, `pulumi up failed on its own:\n${run.stdout}\n${run.stderr}`);
        assert.ok(attempt < 4, `the kill never landed between the attach and the record:\n${history.join("\n")}`);
        // The run beat the kill, or the kill beat the attach: start again from a stack without the late disk.
        if (run.signal === "SIGKILL") {
          await stack.pulumi(["cancel", "--yes"]);
          locked = false;
          await stack.ok(["refresh", "--yes", "--skip-preview", "--clear-pending-creates"]);
        }
        program(edited);
        await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 300_000 });
      }
    } finally {
      program({ ...edited, lateDisk: true });
      await watcher.close();
      // The file backend keeps a killed run's lock (and its pending create): cancel drops the lock, also when
      // an assertion above failed, so the next test does not find the stack locked.
      if (locked) {
        const cancelled = await stack.pulumi(["cancel", "--yes"]);
        assert.equal(cancelled.code, 0, `pulumi cancel failed:\n${cancelled.stdout}\n${cancelled.stderr}`);
      }
    }
    console.log(`      ${history.join("\n      ")}`);
    const killed = atKill as unknown as KillPoint;
    // The tree kill took the language host and the provider too: nothing of that run is left.
    assert.deepEqual(await settleOrphans(stack.dir, 5_000), [], "processes of the killed run were still running");
    assert.equal(blocksWithFile(dom, lateFile).length, 1, "the disk attached before the kill is not open in QEMU (once)");
    // refresh --clear-pending-creates drops the pending create; then up must find the device and adopt it.
    const refreshed = await stack.pulumi(["refresh", "--yes", "--skip-preview", "--clear-pending-creates"]);
    assert.equal(refreshed.code, 0, `refresh --clear-pending-creates failed:\n${refreshed.stdout}\n${refreshed.stderr}`);
    await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 300_000 });
    outs = await stack.outputs();
    const after = blocksWithFile(dom, outs.volumes.late);
    assert.equal(after.length, 1, "the killed Disk's source is open in QEMU other than once");
    // Adopted, not detached and attached again: the same device (alias) holding the same QEMU block node.
    assert.equal(String(after[0].qdev), killed.qdev, "another device holds the disk after the next up");
    assert.equal(after[0].inserted["node-name"], killed.node, "the disk was re-opened (a new QEMU node) instead of adopted");
    assert.ok(killed.qdev.includes(`/${outs.disks.late.alias}/`) || killed.qdev === outs.disks.late.alias, `${outs.disks.late.alias} is not ${killed.qdev}`);
    const xmlSources = virsh("dumpxml", dom).split(`<source file='${outs.volumes.late}'`).length - 1;
    assert.equal(xmlSources, 1, "the killed Disk is in libvirt's XML other than once");
    const again = await stack.pulumi(["preview", "--refresh", "--expect-no-changes"]);
    assert.equal(again.code, 0, `not converged:\n${again.stdout}\n${again.stderr}`);
  }).timeout(1_800_000);

  /**
   * When scenario 5 hit the provider bug above, the stale QMP nodes keep the qmp Disk from coming back and
   * every later up fails the same way. Remove them by hand (what a user would do) so 6 and 7 test their own thing.
   */
  async function convergeAroundKnownBugs(): Promise<void> {
    const scratchFile = outs.volumes.scratch;
    if (blocksWithFile(dom, scratchFile).length > 0) return;
    const stale = qmp(dom, "query-named-block-nodes", { flat: true }).filter((n: any) => n.file === scratchFile).map((n: any) => n["node-name"]);
    for (const node of stale.sort((a: string, b: string) => Number(a.endsWith("-file")) - Number(b.endsWith("-file")))) {
      try {
        qmp(dom, "blockdev-del", { "node-name": node });
      } catch {
        // an implicit child goes with its parent
      }
    }
    if (stale.length > 0) console.log(`      (worked around scenario 5's bug: blockdev-del ${stale.join(", ")})`);
    await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    outs = await stack.outputs();
  }

  it("7. removing the qmp disk leaves no block node; pulumi destroy leaves no domain or volume", async () => {
    program({ ...edited, lateDisk: true, qmpDisk: false });
    const scratchFile = outs.volumes.scratch;
    await stack.ok(["up", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    assert.equal(blocksWithFile(dom, scratchFile).length, 0);
    assert.deepEqual(namedNodeFiles(dom).filter((f) => f === scratchFile), [], "a stray QMP block node keeps the qmp disk's file open");

    const destroyed = await stack.pulumi(["destroy", "--yes", "--skip-preview"], { timeoutMs: 200_000 });
    const foreign = /Domain not found: no domain with matching uuid '[^']+' \((?!lvt-e2e-)[^)]*\)/.exec(destroyed.stdout);
    if (destroyed.code !== 0 && foreign) {
      assert.fail(
        "PROVIDER BUG (Volume delete races with other domains): domainsUsingFile (provider/src/resources/usage.ts) lists " +
          "all domains, then reads each one's XML; a domain that someone else removes in between fails the whole delete: " +
          `"${foreign[0]}". Fix: skip domains whose domainXml fails with not-found (isNotFound) — they use no file.`,
      );
    }
    assert.equal(destroyed.code, 0, `pulumi destroy failed:\n${destroyed.stdout}\n${destroyed.stderr}`);
    assert.deepEqual(stack.leftovers(), { domains: [], volumes: [], networks: [] });
    const resources = JSON.parse((await stack.ok(["stack", "export"])).stdout).deployment.resources ?? [];
    assert.deepEqual(resources.filter((r: any) => String(r.type).includes("libvirt")), []);
  });
});

/** Processes whose working directory is DIR (the killed CLI's language host and provider): waits, then SIGKILLs them by pid. */
async function settleOrphans(dir: string, waitMs: number): Promise<number[]> {
  const inDir = () =>
    fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/cwd`) === dir;
      } catch {
        return false;
      }
    });
  const deadline = Date.now() + waitMs;
  while (inDir().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  const left = inDir();
  for (const pid of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return left;
}

/** Real preview JSON for `explain` tests: kept under test/e2e/fixtures/, written once (or with LVT_E2E_UPDATE_FIXTURES=1). */
function saveFixture(name: string, raw: string): void {
  const file = path.join(FIXTURES, name);
  if (fs.existsSync(file) && process.env.LVT_E2E_UPDATE_FIXTURES !== "1") return;
  fs.mkdirSync(FIXTURES, { recursive: true });
  fs.writeFileSync(file, raw);
}
