// A throwaway Pulumi program and stack for the end-to-end tests: its own folder under test/e2e/.stacks/,
// its own file backend and PULUMI_HOME inside that folder, the program linked to this working tree
// (scripts/link-program.sh), and the real `pulumi` CLI (put on PATH by scripts/prepare.sh).
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "../../../..");
const STACKS = path.join(REPO, "test/e2e/.stacks");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Called with each stdout chunk and the child process (e.g. to kill it at the right moment). */
  onStdout?: (chunk: string, child: ChildProcess, soFar: string) => void;
  /** Called once the CLI has been spawned. */
  onSpawn?: (child: ChildProcess) => void;
}

/** The pids of `root`'s descendants (by parent pid in /proc), root excluded. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces or parentheses, so split after the last ')'.
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * SIGKILLs a `pulumi` child and everything it started (its language host, the program, the dynamic-provider
 * process), and nothing else: the CLI gives its plugins process groups of their own, so the tree is found by
 * parent pid. The tree is frozen first (SIGSTOP, again until no new process shows up), so nothing it starts
 * meanwhile escapes and no child is orphaned before it is found; then every pid of it gets SIGKILL.
 */
export function killTree(child: ChildProcess): void {
  const root = child.pid;
  if (root === undefined) return;
  const stopped = new Set<number>([root]);
  signal(root, "SIGSTOP");
  for (let round = 0; round < 10; round++) {
    const found = descendants(root).filter((pid) => !stopped.has(pid));
    if (found.length === 0) break;
    for (const pid of found) {
      signal(pid, "SIGSTOP");
      stopped.add(pid);
    }
  }
  for (const pid of stopped) signal(pid, "SIGKILL");
}

function virshQuiet(...args: string[]): string {
  try {
    return execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

/**
 * A Pulumi program folder that runs offline and touches nothing of the user's: Pulumi.yaml, index.js, links to
 * this working tree, its own file backend and PULUMI_HOME, an empty passphrase. Returns the env to run pulumi with.
 */
export function offlineProgram(dir: string, name: string, description: string, indexSource: string): NodeJS.ProcessEnv {
  fs.mkdirSync(path.join(dir, "backend"), { recursive: true });
  fs.mkdirSync(path.join(dir, "home"), { recursive: true });
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${name}\nruntime: nodejs\ndescription: ${description}\n`);
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, private: true, main: "index.js" }, null, 2));
  fs.writeFileSync(path.join(dir, "index.js"), indexSource);
  execFileSync(path.join(REPO, "scripts/link-program.sh"), [dir]);
  return {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${path.join(dir, "backend")}`,
    PULUMI_HOME: path.join(dir, "home"),
    PULUMI_CONFIG_PASSPHRASE: "",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    NO_COLOR: "1",
  };
}

export class TestStack {
  readonly dir: string;
  readonly stackName = "e2e";
  private readonly env: NodeJS.ProcessEnv;

  /**
   * prefix: every domain and volume the program makes starts with it (cleanup's last resort relies on it).
   * project: the Pulumi project name (two stacks of different projects have different URNs).
   */
  constructor(readonly prefix: string, readonly writeIndex: (prefix: string) => string, project = "lvt-e2e") {
    this.dir = path.join(STACKS, prefix);
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.env = offlineProgram(this.dir, project, `end-to-end test stack (${prefix})`, writeIndex(prefix));
  }

  /** Replaces the program's index.js. */
  write(source: string): void {
    fs.writeFileSync(path.join(this.dir, "index.js"), source);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /**
   * When set (ms since the epoch), no pulumi command outlives it: tests set it from their mocha timeout
   * (beforeEach), so a timed-out test never leaves a CLI running and the stack locked behind it.
   */
  deadline: number | undefined;

  /** Sets the deadline to `ms` from now, less a margin for the kill and the lock's release. */
  setBudget(ms: number | undefined): void {
    this.deadline = ms === undefined ? undefined : Date.now() + ms - 15_000;
  }

  /**
   * Runs `pulumi ARGS` in the program folder; never rejects (the caller asserts on code/stdout/stderr). A run that
   * outlives its timeout (or the test's deadline) is SIGKILLed with its language host and provider (the process
   * tree it started, see killTree), and the lock it left is dropped (`pulumi cancel`).
   */
  pulumi(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const left = this.deadline === undefined ? Infinity : this.deadline - Date.now();
    const timeoutMs = Math.max(1_000, Math.min(options.timeoutMs ?? 150_000, left));
    return new Promise((resolve) => {
      const child = spawn("pulumi", [...args, "--non-interactive"], { cwd: this.dir, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      options.onSpawn?.(child);
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        stderr += `\n[e2e] pulumi ${args.join(" ")} timed out after ${timeoutMs} ms; killed with the processes it started\n`;
        killTree(child);
      }, timeoutMs);
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        options.onStdout?.(chunk, child, stdout);
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (timedOut && args[0] !== "cancel") {
          const c = spawnSync("pulumi", ["cancel", "--yes", "--non-interactive"], { cwd: this.dir, env: this.env, encoding: "utf8", timeout: 30_000 });
          stderr += `[e2e] pulumi cancel after the kill exited ${c.status ?? c.signal}\n`;
        }
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  /** `pulumi ARGS`, failing with everything it printed unless it exits 0. */
  async ok(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const r = await this.pulumi(args, options);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    return r;
  }

  async init(): Promise<void> {
    await this.ok(["stack", "init", this.stackName]);
  }

  async outputs(): Promise<Record<string, any>> {
    return JSON.parse((await this.ok(["stack", "output", "--json", "--show-secrets"])).stdout);
  }

  /** `pulumi preview --json`, parsed, with the raw text kept for files. */
  async previewJson(extra: string[] = []): Promise<{ raw: string; json: any; result: RunResult }> {
    const result = await this.pulumi(["preview", "--json", ...extra]);
    let json: any;
    try {
      json = JSON.parse(result.stdout);
    } catch {
      throw new Error(`preview --json printed no JSON (exit ${result.code})\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    }
    return { raw: result.stdout, json, result };
  }

  /** Domains, volumes and networks whose names start with the prefix (what the last-resort cleanup would remove). */
  leftovers(): { domains: string[]; volumes: string[]; networks: string[] } {
    const named = (...args: string[]) => virshQuiet(...args).split("\n").map((s) => s.trim()).filter((n) => n.startsWith(this.prefix));
    const domains = named("list", "--all", "--name");
    const networks = named("net-list", "--all", "--name");
    const volumes = virshQuiet("vol-list", "default")
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter((n) => n.startsWith(this.prefix));
    return { domains, volumes, networks };
  }

  /** pulumi destroy, then the stack and the folder; as a last resort removes prefixed domains/volumes via virsh. */
  async cleanup(keepDir = false): Promise<string[]> {
    const problems: string[] = [];
    if (fs.existsSync(this.dir)) {
      let d = await this.pulumi(["destroy", "--yes", "--skip-preview"], { timeoutMs: 180_000 });
      if (d.code !== 0 && /currently locked/.test(d.stderr)) {
        // A killed run's lock: drop it and try again.
        await this.pulumi(["cancel", "--yes"]);
        d = await this.pulumi(["destroy", "--yes", "--skip-preview"], { timeoutMs: 180_000 });
      }
      if (d.code !== 0) d = await this.pulumi(["destroy", "--yes", "--skip-preview"], { timeoutMs: 180_000 }); // transient failures
      if (d.code !== 0) problems.push(`destroy exited ${d.code}: ${(d.stdout + d.stderr).slice(-3000)}`);
      await this.pulumi(["stack", "rm", "--yes", "--force", this.stackName], { timeoutMs: 60_000 });
    }
    const left = this.leftovers();
    for (const dom of left.domains) {
      problems.push(`leftover domain ${dom}`);
      virshQuiet("destroy", dom);
      virshQuiet("undefine", dom, "--nvram", "--managed-save", "--snapshots-metadata");
    }
    for (const net of left.networks) {
      problems.push(`leftover network ${net}`);
      virshQuiet("net-destroy", net);
      virshQuiet("net-undefine", net);
    }
    for (const vol of left.volumes) {
      problems.push(`leftover volume ${vol}`);
      virshQuiet("vol-delete", vol, "--pool", "default");
    }
    if (!keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}

/** The after-hook of a file with several stacks: destroys each (kept with LVT_E2E_KEEP=1) and reports leftovers. */
export async function cleanupStacks(stacks: readonly TestStack[]): Promise<void> {
  for (const s of stacks) {
    const problems = await s.cleanup(process.env.LVT_E2E_KEEP === "1");
    if (problems.length > 0) console.error(`e2e cleanup: ${problems.join("; ")}`);
  }
}
