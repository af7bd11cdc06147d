// bench:up — a fleet under the real Pulumi CLI: `pulumi up`, a second `pulumi up` with nothing to change,
// `pulumi refresh` and `pulumi destroy`, with the engine's default parallelism, timing each phase and how much of
// it the provider spends in its handlers.
// Fleet: D bare domains (no OS: one 1 MiB raw scsi boot disk, 64 MiB, no guest agent), each with 4 Disks (scsi,
// via libvirt) and a scsi Cdrom with media; every image is a 1 MiB raw file in a mkdtemp dir `lvb-up-…`.
// Provider time: the provider process inherits PULUMI_LIBVIRT_LIVE_TIMINGS=FILE from the CLI and appends one line
// {kind, op, ms, start, end} per handler call (provider/src/resources/handler.ts). "provider busy" is the union
// of those intervals; "engine/other" = wall − busy (CLI and plugin start-up, the program, gRPC, state writes).
// The engine's floor, run in the same session beside each phase: a stack of as many dynamic resources (6·D) whose
// provider does nothing (check returns the inputs, diff says no change, create/read echo), with the same CLI and
// flags; its program requires only @pulumi/pulumi. provider/floor is what the provider and its SDK add.
// Phases that change nothing (the second `up`, `refresh`) run BENCH_REPEAT times, alternating which stack goes
// first, and report medians.
// Run after `. scripts/prepare.sh` (Node 22 and pulumi on PATH). Env: BENCH_DOMAINS (default "10"),
// BENCH_REPEAT (default 3).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { offlineProgram } from "../test/e2e/support/stack";
import { cleanUpOnAnyExit } from "./cleanup";
import { formatTable, median } from "./stats";

const SIZES = (process.env.BENCH_DOMAINS ?? "10").split(",").map(Number);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const DISKS_PER_DOMAIN = 4;
const PREFIX = `lvb-up-${process.pid}-`;
const MiB = 1024 * 1024;
const VIRSH = ["-q", "-c", "qemu:///system"];

const now = () => performance.timeOrigin + performance.now();

function virshQuiet(...args: string[]): string {
  try {
    return execFileSync("virsh", [...VIRSH, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

interface Timing {
  kind: string;
  op: string;
  ms: number;
  start: number;
  end: number;
}

interface PhaseResult {
  d: number;
  phase: string;
  /** "fleet" (the provider) or "floor" (the do-nothing provider). */
  stack: "fleet" | "floor";
  wall: number;
  calls: Timing[];
  summary: string; // the CLI's "Resources:" line
}

let tmp = "";
let child: ChildProcess | null = null;

function killGroup(c: ChildProcess): void {
  try {
    if (c.pid) process.kill(-c.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** One stack: a program folder linked to this tree, its own file backend, PULUMI_HOME and empty passphrase. */
class Stack {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  private runs = 0;
  constructor(readonly d: number, readonly kind: "fleet" | "floor" = "fleet") {
    this.dir = path.join(tmp, `${kind}-${d}`);
    this.env = offlineProgram(this.dir, kind === "fleet" ? "lvb-up" : "lvb-up-floor", `bench:up ${kind} of ${d}`, kind === "fleet" ? this.program() : this.floorProgram());
    delete this.env.PULUMI_LIBVIRT_LIVE_TIMINGS;
  }

  /**
   * The engine's floor: as many dynamic resources as the fleet, with inputs of the same shape, whose one provider
   * does nothing. It writes the same timing lines, so "before first call" compares too.
   */
  private floorProgram(): string {
    const j = JSON.stringify;
    const lines = [
      `const pulumi = require("@pulumi/pulumi");`,
      `const t = (op, start) => { const f = process.env.PULUMI_LIBVIRT_LIVE_TIMINGS; if (!f) return; const end = performance.timeOrigin + performance.now(); ` +
        `require("fs").appendFileSync(f, JSON.stringify({ kind: "Floor", op, ms: end - start, start, end }) + "\\n"); };`,
      `const now = () => performance.timeOrigin + performance.now();`,
      `const provider = {`,
      `  async check(olds, news) { const s = now(); t("check", s); return { inputs: news }; },`,
      `  async diff() { const s = now(); t("diff", s); return { changes: false }; },`,
      `  async create(inputs) { const s = now(); t("create", s); return { id: inputs.name, outs: inputs }; },`,
      `  async read(id, props) { const s = now(); t("read", s); return { id, props }; },`,
      `  async update(id, olds, news) { const s = now(); t("update", s); return { outs: news }; },`,
      `  async delete() { const s = now(); t("delete", s); },`,
      `};`,
      `const r = (kind, name, props) => new pulumi.dynamic.Resource(provider, name, props, undefined, "floor", kind);`,
    ];
    for (let i = 0; i < this.d; i++) {
      const name = `${PREFIX}${i}`;
      lines.push(`r("Domain", ${j(name)}, { name: ${j(name)}, memoryMiB: 64, vcpus: 1, disks: [{ source: ${j(path.join(tmp, `${name}-boot.img`))}, bus: "scsi" }] });`);
      for (let k = 0; k < DISKS_PER_DOMAIN; k++) {
        lines.push(`r("Disk", ${j(`${name}-d${k}`)}, { name: ${j(`${name}-d${k}`)}, domain: ${j(name)}, source: ${j(path.join(tmp, `${name}-d${k}.img`))}, bus: "scsi" });`);
      }
      lines.push(`r("Cdrom", ${j(`${name}-cd`)}, { name: ${j(`${name}-cd`)}, domain: ${j(name)}, bus: "scsi" });`);
    }
    return lines.join("\n") + "\n";
  }

  /** index.js: the fleet, with its images made here (plain files; the program only names them). */
  private program(): string {
    const img = (name: string) => {
      const file = path.join(tmp, `${PREFIX}${this.d}-${name}.img`);
      fs.writeFileSync(file, Buffer.alloc(0));
      fs.truncateSync(file, MiB);
      return file;
    };
    const media = img("media");
    const j = JSON.stringify;
    const lines = [`const virt = require("pulumi-libvirt-live");`];
    for (let i = 0; i < this.d; i++) {
      const name = `${PREFIX}${i}`;
      lines.push(
        `const d${i} = new virt.Domain(${j(name)}, { name: ${j(name)}, memoryMiB: 64, vcpus: 1, guestAgent: false, ` +
          `shutdownTimeoutSeconds: 1, disks: [{ source: ${j(img(`${i}-boot`))}, bus: "scsi" }] });`,
      );
      for (let k = 0; k < DISKS_PER_DOMAIN; k++) {
        lines.push(`new virt.Disk(${j(`${name}-d${k}`)}, { domain: d${i}.name, source: ${j(img(`${i}-d${k}`))}, bus: "scsi", via: "libvirt" });`);
      }
      lines.push(`new virt.Cdrom(${j(`${name}-cd`)}, { domain: d${i}.name, bus: "scsi", media: ${j(media)} });`);
    }
    return lines.join("\n") + "\n";
  }

  /** Runs `pulumi ARGS`; with `timings`, the provider writes its handler timings there. */
  run(args: string[], timings?: string, timeoutMs = 600_000): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const env = timings ? { ...this.env, PULUMI_LIBVIRT_LIVE_TIMINGS: timings } : this.env;
      // Its own process group, so killing it also ends the language host and provider plugins it started.
      const c = spawn("pulumi", [...args, "--non-interactive"], { cwd: this.dir, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
      child = c;
      let out = "";
      const timer = setTimeout(() => killGroup(c), timeoutMs);
      c.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
      c.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
      c.on("error", (e) => (out += `\n${e.message}`));
      c.on("close", (code) => {
        clearTimeout(timer);
        child = null;
        resolve({ code, out });
      });
    });
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code}\n${r.out.slice(-4000)}`);
    return r.out;
  }

  /** A timed phase: wall time of the CLI process, the provider's handler calls during it. */
  async phase(name: string, args: string[]): Promise<PhaseResult> {
    const file = path.join(this.dir, `timings-${name.replace(/\W+/g, "_")}-${++this.runs}.jsonl`);
    const start = now();
    const r = await this.run(args, file);
    const wall = now() - start;
    if (r.code !== 0) throw new Error(`${name}: pulumi ${args.join(" ")} exited ${r.code}\n${r.out.slice(-4000)}`);
    const calls: Timing[] = fs.existsSync(file)
      ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
      : [];
    const summary = (r.out.match(/Resources:[\s\S]*?(?=\n\s*\n|Duration)/)?.[0] ?? "").replace(/\s+/g, " ").trim();
    return { d: this.d, phase: name, stack: this.kind, wall, calls: calls.map((c) => ({ ...c, start: c.start - start, end: c.end - start })), summary };
  }
}

/** Length of the union of [start, end] intervals, and the most calls in flight at once. */
function busy(calls: Timing[]): { union: number; maxInFlight: number } {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  let union = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const c of sorted) {
    if (c.start > curEnd) {
      if (curEnd > curStart) union += curEnd - curStart;
      curStart = c.start;
      curEnd = c.end;
    } else curEnd = Math.max(curEnd, c.end);
  }
  if (curEnd > curStart) union += curEnd - curStart;
  const events = calls.flatMap((c) => [[c.start, 1], [c.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let inFlight = 0;
  let maxInFlight = 0;
  for (const [, delta] of events) maxInFlight = Math.max(maxInFlight, (inFlight += delta));
  return { union, maxInFlight };
}

const s = (msValue: number) => `${(msValue / 1000).toFixed(1)} s`;

function row(p: PhaseResult): string[] {
  const sum = p.calls.reduce((n, c) => n + c.ms, 0);
  const { union, maxInFlight } = busy(p.calls);
  const first = p.calls.length ? Math.min(...p.calls.map((c) => c.start)) : NaN;
  const last = p.calls.length ? Math.max(...p.calls.map((c) => c.end)) : NaN;
  return [
    `${p.d}`,
    p.phase,
    s(p.wall),
    `${p.calls.length}`,
    s(sum),
    `${maxInFlight}`,
    `${s(union)} (${((100 * union) / p.wall).toFixed(0)} %)`,
    `${s(p.wall - union)} (${((100 * (p.wall - union)) / p.wall).toFixed(0)} %)`,
    p.calls.length ? `${s(first)} / ${s(p.wall - last)}` : "-",
  ];
}

/** Per kind and operation: calls × mean time. */
function breakdown(p: PhaseResult): string {
  const groups = new Map<string, number[]>();
  for (const c of p.calls) {
    const key = `${c.kind}.${c.op}`;
    groups.set(key, [...(groups.get(key) ?? []), c.ms]);
  }
  const parts = [...groups].map(([key, v]) => {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return `${key} ${v.length}×${mean.toFixed(mean < 10 ? 1 : 0)} ms (max ${Math.max(...v).toFixed(0)})`;
  });
  return `  ${p.d} ${p.phase}: ${parts.join(", ")}${p.summary ? `\n      ${p.summary}` : ""}`;
}

/** Last resort: every domain and volume named with this run's prefix, and the temp dir. */
function removeLeftovers(): string[] {
  const found: string[] = [];
  for (const dom of virshQuiet("list", "--all", "--name").split("\n").map((x) => x.trim()).filter((n) => n.startsWith(PREFIX))) {
    found.push(`domain ${dom}`);
    virshQuiet("destroy", dom);
    virshQuiet("undefine", dom, "--nvram", "--managed-save", "--snapshots-metadata");
  }
  for (const line of virshQuiet("vol-list", "default").split("\n")) {
    const vol = line.trim().split(/\s+/)[0] ?? "";
    if (!vol.startsWith(PREFIX)) continue;
    found.push(`volume ${vol}`);
    virshQuiet("vol-delete", vol, "--pool", "default");
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  return found;
}

cleanUpOnAnyExit(() => {
  if (child) killGroup(child);
  const left = removeLeftovers();
  if (left.length) process.stderr.write(`bench:up: interrupted; removed ${left.length} leftovers by virsh\n`);
});

async function main(): Promise<void> {
  try {
    execFileSync("pulumi", ["version"], { stdio: "pipe" });
  } catch {
    throw new Error("bench:up needs the Pulumi CLI on PATH: run `. scripts/prepare.sh` in this shell first");
  }
  const pulumiVersion = execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvb-up-"));
  const results: PhaseResult[] = [];
  const loads: string[] = [];
  let failure: unknown = null;
  for (const d of SIZES) {
    const stack = new Stack(d);
    const floor = new Stack(d, "floor");
    let destroyed = false;
    try {
      await stack.ok(["stack", "init", "bench"]);
      await floor.ok(["stack", "init", "bench"]);
      loads.push(`D=${d}: ${os.loadavg()[0].toFixed(2)}`);
      const phases: Array<[string, string[], number]> = [
        ["up", ["up", "--yes", "--skip-preview"], 1],
        ["up (no change)", ["up", "--yes", "--skip-preview"], REPEAT],
        ["refresh", ["refresh", "--yes", "--skip-preview"], REPEAT],
        ["destroy", ["destroy", "--yes", "--skip-preview"], 1],
      ];
      for (const [name, args, times] of phases) {
        for (let i = 0; i < times; i++) {
          // Both stacks side by side, the one going first alternating.
          const order = i % 2 === 0 ? [stack, floor] : [floor, stack];
          for (const each of order) {
            const p = await each.phase(name, args);
            if (name === "destroy" && each === stack) destroyed = true;
            results.push(p);
            process.stderr.write(`bench:up D=${d} ${each.kind} ${name}: ${s(p.wall)}, ${p.calls.length} handler calls, load ${os.loadavg()[0].toFixed(2)}\n`);
          }
        }
      }
    } catch (e) {
      failure = e;
    } finally {
      if (!destroyed) {
        const r = await stack.run(["destroy", "--yes", "--skip-preview"]);
        if (r.code !== 0) process.stderr.write(`bench:up: cleanup destroy exited ${r.code}\n${r.out.slice(-2000)}\n`);
      }
      await stack.run(["stack", "rm", "--yes", "--force", "bench"]);
      await floor.run(["stack", "rm", "--yes", "--force", "bench"]);
    }
    if (failure) break;
  }
  const left = removeLeftovers();
  if (left.length) process.stderr.write(`bench:up: removed leftovers by virsh: ${left.join(", ")}\n`);

  if (results.length) {
    const header = [
      "domains",
      "phase",
      "wall",
      "handler calls",
      "handler sum",
      "max in flight",
      "provider busy (union)",
      "engine/other",
      "before first / after last call",
    ];
    const resources = (d: number) => d * (2 + DISKS_PER_DOMAIN);
    console.log(
      `bench:up — ${new Date().toISOString()}, ${os.cpus().length} cores, ${pulumiVersion}, node ${process.version}, ` +
        `default parallelism, fleets of ${SIZES.map((d) => `${d} domains (${resources(d)} resources)`).join(", ")}; ` +
        `load (1 min) before: ${loads.join(", ")}`,
    );
    const fleet = results.filter((p) => p.stack === "fleet");
    console.log(formatTable(header, fleet.map(row)));
    console.log(`\nagainst the engine's floor (the same number of dynamic resources whose provider does nothing, same CLI and flags, run beside each phase; medians of the runs)`);
    const rows: string[][] = [];
    for (const d of SIZES) {
      for (const phase of [...new Set(fleet.filter((p) => p.d === d).map((p) => p.phase))]) {
        const of = (which: "fleet" | "floor") => results.filter((p) => p.d === d && p.phase === phase && p.stack === which);
        const walls = (ps: PhaseResult[]) => ps.map((p) => p.wall);
        const first = (ps: PhaseResult[]) => median(ps.map((p) => (p.calls.length ? Math.min(...p.calls.map((c) => c.start)) : NaN)));
        const [ours, base] = [of("fleet"), of("floor")];
        if (!base.length) continue;
        rows.push([
          `${d}`,
          phase,
          `${s(median(walls(ours)))} (${walls(ours).map((w) => (w / 1000).toFixed(2)).join(", ")})`,
          `${s(median(walls(base)))} (${walls(base).map((w) => (w / 1000).toFixed(2)).join(", ")})`,
          `${(median(walls(ours)) / median(walls(base))).toFixed(2)}x`,
          `${s(first(ours))} / ${s(first(base))}`,
        ]);
      }
    }
    console.log(formatTable(["domains", "phase", "provider wall (runs)", "floor wall (runs)", "provider/floor", "before first call: provider / floor"], rows));
    console.log("\nhandler calls per kind.op: count × mean (max), and the CLI's summary");
    for (const p of fleet) console.log(breakdown(p));
  }
  if (failure) throw failure;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  removeLeftovers();
  process.exit(1);
});
