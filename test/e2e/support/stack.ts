// A throwaway Pulumi program and stack for the end-to-end tests: its own folder under test/e2e/.stacks/,
// its own file backend and PULUMI_HOME inside that folder, the program linked to this working tree
// (scripts/link-program.sh), and the real `pulumi` CLI (put on PATH by scripts/prepare.sh).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
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

  /** Runs `pulumi ARGS` in the program folder; never rejects (the caller asserts on code/stdout/stderr). */
  pulumi(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? 150_000;
    return new Promise((resolve) => {
      const child = spawn("pulumi", [...args, "--non-interactive"], { cwd: this.dir, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      const timer = setTimeout(() => {
        stderr += `\n[e2e] pulumi ${args.join(" ")} timed out after ${timeoutMs} ms; killed\n`;
        child.kill("SIGKILL");
      }, timeoutMs);
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        options.onStdout?.(chunk, child, stdout);
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
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

  /** Domains and volumes whose names start with the prefix (what the last-resort cleanup would remove). */
  leftovers(): { domains: string[]; volumes: string[] } {
    const domains = virshQuiet("list", "--all", "--name").split("\n").map((s) => s.trim()).filter((n) => n.startsWith(this.prefix));
    const volumes = virshQuiet("vol-list", "default")
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter((n) => n.startsWith(this.prefix));
    return { domains, volumes };
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
    for (const vol of left.volumes) {
      problems.push(`leftover volume ${vol}`);
      virshQuiet("vol-delete", vol, "--pool", "default");
    }
    if (!keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}
