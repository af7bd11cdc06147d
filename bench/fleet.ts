// bench:fleet — what `pulumi refresh` costs on a fleet: D bare domains (no OS, 64 MiB), each with 4 scsi disks
// (1 MiB raw images) and a scsi cdrom, all made through the provider; then one full read pass over every
// resource (domains included), 10 at a time as the engine's default parallelism does, next to a virsh script
// doing the equivalent reads (per domain: dumpxml, dumpxml --inactive, qemu-monitor-command query-block).
// Passes alternate between the sides. D grows 10 → 25 → 50 on the same domains (the first D are read).
// Env: BENCH_DOMAINS (default "10,25,50"), BENCH_ROUNDS (passes per side and D, default 9),
//      BENCH_START_BATCH (domains created at once, default 5), BENCH_SETTLE_SECONDS (pause after starting, 10).
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LibvirtClient } from "../provider/src/libvirt";
import { closeSharedClients } from "../provider/src/libvirt/pool";
import { removeDomain } from "../test/support/host";
import { create, Kind, read } from "../test/support/provider";
import { cleanUpOnAnyExit } from "./cleanup";
import { clientMsPerOp, disableProfile, enableProfile, profileTable, resetProfile } from "./profile";
import { formatTable, libvirtdPid, median, processCpuMs, quiet } from "./stats";
import { forgetSharedViews } from "../provider/src/resources/domain-view";

const SIZES = (process.env.BENCH_DOMAINS ?? "10,25,50").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const START_BATCH = Number(process.env.BENCH_START_BATCH ?? 5);
// Freshly started TCG domains spend CPU in firmware for a few seconds: let them settle before timing.
const SETTLE_SECONDS = Number(process.env.BENCH_SETTLE_SECONDS ?? 10);
const PARALLELISM = 10; // the Pulumi engine's default
const DISKS_PER_DOMAIN = 4;
const QUERY_BLOCK = JSON.stringify({ execute: "query-block" });

const VIRSH = ["-q", "-c", "qemu:///system"];
const virshSync = (...args: string[]) => execFileSync("virsh", [...VIRSH, ...args], { encoding: "utf8", stdio: "pipe", maxBuffer: 64 << 20 });
const execFileAsync = promisify(execFile);
const virshAsync = (...args: string[]) => execFileAsync("virsh", [...VIRSH, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });

interface Made {
  kind: Kind;
  id: string;
  outs: Record<string, any>;
}
interface FleetDomain {
  name: string;
  resources: Made[]; // the Domain first, then its disks and cdrom
}

/** Runs `work` over `items`, at most `limit` at a time (the engine's step parallelism). */
async function limited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]);
  });
  await Promise.all(runners);
  return results;
}


const ms = () => Number(process.hrtime.bigint()) / 1e6;

const made: FleetDomain[] = [];
let tmp = "";
let cleaned = false;

function cleanupSync(): void {
  if (cleaned) return;
  cleaned = true;
  for (const d of made) removeDomain(d.name);
  // Domains named by this run but not yet recorded (a create cut short).
  try {
    const left = virshSync("list", "--all", "--name").split("\n").filter((n) => n.startsWith(`lvb-fleet-${process.pid}-`));
    for (const n of left) removeDomain(n);
  } catch {
    // virsh unavailable: nothing more we can do
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

async function cleanup(): Promise<void> {
  // Faster than one by one: destroy and undefine 10 at a time; cleanupSync then catches anything left.
  await limited(made, PARALLELISM, async (d) => {
    await virshAsync("destroy", d.name).catch(() => undefined);
    await virshAsync("undefine", d.name, "--nvram", "--managed-save", "--snapshots-metadata").catch(() => undefined);
  });
  cleanupSync();
}

cleanUpOnAnyExit(cleanupSync);

async function addDomains(upTo: number): Promise<void> {
  const indexes = Array.from({ length: upTo - made.length }, (_, k) => made.length + k);
  const start = ms();
  // Define and start in parallel batches.
  const domains = await limited(indexes, START_BATCH, async (i) => {
    const name = `lvb-fleet-${process.pid}-${i}`;
    const dom = await create("Domain", { name, memoryMiB: 64, vcpus: 1, guestAgent: false, shutdownTimeoutSeconds: 1, running: true });
    const entry: FleetDomain = { name, resources: [{ kind: "Domain", ...dom }] };
    made.push(entry);
    return entry;
  });
  // Devices: 10 creates in flight, as the engine would; the provider queues them per domain.
  const iso = path.join(tmp, "media.iso");
  if (!fs.existsSync(iso)) fs.writeFileSync(iso, Buffer.alloc(1024 * 1024));
  const jobs = domains.flatMap((d) => [
    ...Array.from({ length: DISKS_PER_DOMAIN }, (_, j) => async () => {
      const source = path.join(tmp, `${d.name}-d${j}.img`);
      fs.writeFileSync(source, Buffer.alloc(0));
      fs.truncateSync(source, 1024 * 1024);
      const r = await create("Disk", { resourceName: `lvb-d${j}`, domain: d.name, source, bus: "scsi", format: "raw", readonly: false });
      d.resources.push({ kind: "Disk", ...r });
    }),
    async () => {
      // With media: libvirt 9.0 refuses to hot-plug an empty cdrom ("argument key 'filename' must not have null value").
      const r = await create("Cdrom", { resourceName: "lvb-cd", domain: d.name, bus: "scsi", media: iso });
      d.resources.push({ kind: "Cdrom", ...r });
    },
  ]);
  await limited(jobs, PARALLELISM, (job) => job());
  process.stderr.write(`fleet: ${made.length} domains with ${DISKS_PER_DOMAIN} disks and a cdrom each (+${indexes.length} in ${((ms() - start) / 1000).toFixed(1)} s)\n`);
}

async function providerPass(domains: FleetDomain[]): Promise<number> {
  const all = domains.flatMap((d) => d.resources);
  // Each pass is one refresh, which starts cold in a new provider process: nothing shared from the last pass.
  forgetSharedViews();
  const start = ms();
  const results = await limited(all, PARALLELISM, (r) => read(r.kind, r.id, r.outs));
  const elapsed = ms() - start;
  const gone = results.filter((r) => !r.id).length;
  if (gone) throw new Error(`${gone} resources read back as gone`);
  return elapsed;
}

function virshScriptPass(domains: FleetDomain[]): number {
  const start = ms();
  for (const d of domains) {
    virshSync("dumpxml", d.name);
    virshSync("dumpxml", "--inactive", d.name);
    if (!JSON.parse(virshSync("qemu-monitor-command", d.name, QUERY_BLOCK)).return) throw new Error("query-block failed");
  }
  return ms() - start;
}

/** The same virsh reads, 10 processes at a time (xargs -P 10): what a script tuned for speed would do. */
async function virshParallelPass(domains: FleetDomain[]): Promise<number> {
  const calls = domains.flatMap((d) => [["dumpxml", d.name], ["dumpxml", "--inactive", d.name], ["qemu-monitor-command", d.name, QUERY_BLOCK]]);
  const start = ms();
  await limited(calls, PARALLELISM, (args) => virshAsync(...args));
  return ms() - start;
}

async function main(): Promise<void> {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvb-fleet-"));
  const client = await LibvirtClient.connect("qemu:///system");
  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  const perSize: Array<{ d: number; provider: number; script: number; parallel: number }> = [];
  try {
    for (const d of SIZES) {
      await quiet(() => addDomains(d));
      await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
      const load = os.loadavg()[0].toFixed(2);
      const domains = made.slice(0, d);
      const resources = domains.reduce((n, x) => n + x.resources.length, 0);
      await quiet(() => providerPass(domains)); // warm-up
      virshScriptPass(domains.slice(0, 2));
      const p: number[] = [];
      const v: number[] = [];
      const vp: number[] = [];
      // CPU the provider side costs, here and in the daemon: on 2 cores this, not waiting, bounds a pass.
      const cpu = { node: 0, daemon: 0 };
      const daemon = libvirtdPid();
      const measuredPass = async () => {
        const [node0, daemon0] = [process.cpuUsage(), daemon ? processCpuMs(daemon) : null];
        const elapsed = await quiet(() => providerPass(domains));
        const node = process.cpuUsage(node0);
        const daemon1 = daemon ? processCpuMs(daemon) : null;
        cpu.node += (node.user + node.system) / 1000;
        if (daemon0 !== null && daemon1 !== null) cpu.daemon += daemon1 - daemon0;
        return elapsed;
      };
      for (let round = 0; round < ROUNDS; round++) {
        const sides = [
          async () => p.push(await measuredPass()),
          async () => v.push(virshScriptPass(domains)),
          async () => vp.push(await virshParallelPass(domains)),
        ];
        if (round % 2 === 1) sides.reverse();
        for (const side of sides) await side();
      }
      const [mp, mv, mvp] = [median(p), median(v), median(vp)];
      perSize.push({ d, provider: mp, script: mv, parallel: mvp });
      const rate = (t: number) => `${((resources * 1000) / t).toFixed(0)}/s`;
      rows.push([
        `${d}`,
        `${resources}`,
        `${mp.toFixed(0)} ms (${rate(mp)})`,
        `${mv.toFixed(0)} ms (${rate(mv)})`,
        `${(mv / mp).toFixed(1)}x`,
        `${mvp.toFixed(0)} ms (${rate(mvp)})`,
        `${(mvp / mp).toFixed(1)}x`,
        load,
      ]);
      cpuRows.push([`${d}`, `${mp.toFixed(0)} ms`, `${(cpu.node / ROUNDS).toFixed(0)} ms`, daemon ? `${(cpu.daemon / ROUNDS).toFixed(0)} ms` : "n/a", `${((cpu.node + cpu.daemon) / ROUNDS / d).toFixed(2)} ms`]);
      process.stderr.write(`D=${d}: provider ${mp.toFixed(0)} ms, virsh script ${mv.toFixed(0)} ms, virsh ×10 ${mvp.toFixed(0)} ms\n`);
    }

    console.log(
      `bench:fleet — ${new Date().toISOString()}, ${os.cpus().length} cores, libvirt ${await client.libVersion()}, node ${process.version}, ` +
        `medians of ${ROUNDS} passes per side and D, sides alternating; provider reads ${PARALLELISM} at a time`,
    );
    console.log(
      formatTable(
        ["domains", "resources", "provider read pass", "virsh script (sequential)", "script/provider", "virsh, 10 processes at a time", "parallel/provider", "load (1 min) before"],
        rows,
      ),
    );
    console.log("\nCPU per provider read pass (mean of the timed passes; the daemon's is libvirtd's, 10 ms resolution):");
    console.log(formatTable(["domains", "pass (median)", "node (provider)", "libvirtd", "both, per domain"], cpuRows));
    const base = perSize[0];
    console.log(`\ngrowth relative to ${base.d} domains (time of a read pass; "work ×" is how many more resources):`);
    console.log(
      formatTable(
        ["domains", "work ×", "provider time ×", "virsh script time ×", "virsh ×10 time ×"],
        perSize.map((x) => [
          `${x.d}`,
          `${(x.d / base.d).toFixed(1)}`,
          `${(x.provider / base.provider).toFixed(2)}`,
          `${(x.script / base.script).toFixed(2)}`,
          `${(x.parallel / base.parallel).toFixed(2)}`,
        ]),
      ),
    );

    // Where the provider's read time goes, on the largest fleet: one profiled pass (not in the medians).
    const domains = made.slice(0, SIZES[SIZES.length - 1]);
    const resources = domains.reduce((n, x) => n + x.resources.length, 0);
    resetProfile();
    enableProfile();
    const wall = await quiet(() => providerPass(domains));
    disableProfile();
    console.log(
      `\nprofile of one provider read pass over ${domains.length} domains (${resources} resources, wall ${wall.toFixed(0)} ms; ` +
        `${(clientMsPerOp(1) / 1000).toFixed(2)} s summed inside libvirt calls, 10 in flight):`,
    );
    console.log(profileTable(resources));
  } finally {
    disableProfile();
    await client.close().catch(() => undefined);
    await closeSharedClients().catch(() => undefined);
    await cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
