// Runs in flight: the guest pid of a GuestExec command, written as soon as guest-exec answers and removed once
// its result is read. A create that fails leaves nothing in Pulumi's state, so this small file is what lets the
// next create ask the agent for the earlier run's result instead of starting the command a second time.
//
// One JSON file per run, named by a keyed hash of the domain's UUID and everything that makes the command (path,
// args, env, input, captureOutput, triggers), under $PULUMI_LIBVIRT_LIVE_STATE_DIR/guest-exec (default:
// /var/lib/pulumi-libvirt-live as root, else $XDG_STATE_HOME or ~/.local/state/pulumi-libvirt-live). The
// hash key is random per directory, so the file names say nothing about secret inputs; the files hold the
// pid, the domain's run id, the time and the command line with secrets masked.
import { createHash, createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface ExecRecord {
  /** qemu-ga's pid of the run (the handle for guest-exec-status). */
  pid: number;
  /** libvirt's id of the running domain when it started: another id means the guest was restarted since. */
  domainId: number;
  /** When guest-exec answered (epoch ms). */
  startedAt: number;
  /** Set once the run timed out and was stopped in the guest. */
  stoppedAt?: number;
  /** The command, secrets masked, for a reader of the file. */
  command: string;
}

export function stateDir(): string {
  const configured = process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR;
  if (configured) return configured;
  if (typeof process.getuid === "function" && process.getuid() === 0) return "/var/lib/pulumi-libvirt-live";
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state");
  return path.join(base, "pulumi-libvirt-live");
}

function recordsDir(): string {
  return path.join(stateDir(), "guest-exec");
}

function hashKey(dir: string): Buffer {
  const file = path.join(dir, ".key");
  try {
    return fs.readFileSync(file);
  } catch {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      fs.writeFileSync(file, key, { mode: 0o600, flag: "wx" });
      return key;
    } catch {
      return fs.readFileSync(file); // another process made it first
    }
  }
}

/** What identifies one command on one domain: a second create with the same fields is the same run. */
export interface RunIdentity {
  domainUuid: string;
  path: string;
  args: readonly string[];
  env: readonly string[];
  input?: string;
  captureOutput: boolean;
  triggers?: unknown;
}

/** The file that records a run of this command on this domain. */
export function recordFile(identity: RunIdentity): string {
  const dir = recordsDir();
  const { domainUuid, path: p, args, env, input, captureOutput, triggers } = identity;
  const text = JSON.stringify([domainUuid, p, args, env, input ?? null, captureOutput, triggers ?? null]);
  const name = createHmac("sha256", hashKey(dir)).update(text).digest("hex").slice(0, 40);
  return path.join(dir, `${name}.json`);
}

export function readRecord(file: string): ExecRecord | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    const value = JSON.parse(text) as ExecRecord;
    return Number.isSafeInteger(value.pid) && Number.isSafeInteger(value.domainId) ? value : null;
  } catch {
    return null;
  }
}

export function writeRecord(file: string, record: ExecRecord): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${createHash("sha1").update(String(Math.random())).digest("hex").slice(0, 8)}`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function removeRecord(file: string): void {
  fs.rmSync(file, { force: true });
}
