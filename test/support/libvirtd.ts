// Restarting the host's libvirtd the way scripts/setup-host.sh starts it (same program, same arguments, same
// log, inside the same network namespace), for tests of a daemon restart in the middle of work. Running domains survive (QEMU is not libvirtd's
// child). Other suites share this daemon: keep restarts few, and always leave it running (ensureLibvirtd).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";

const PIDFILE = process.env.SETUP_HOST_PIDFILE ?? "/run/libvirtd.pid";
const LOG = process.env.SETUP_HOST_LOG ?? "/var/log/libvirt/libvirtd.log";
const STATE_DIR = process.env.SETUP_HOST_STATE_DIR ?? "/var/lib/pulumi-libvirt-live";

/** The network namespace setup-host.sh runs its daemon in; null when the daemon is not the script's. */
export function libvirtdNetns(): string | null {
  try {
    return fs.readFileSync(`${STATE_DIR}/netns`, "utf8").trim() || null;
  } catch {
    return null;
  }
}

/** The namespace names `ip netns identify` gives for a process (empty when it is in none with a name). */
function netnsOf(pid: number): string[] {
  const out = spawnSync("ip", ["netns", "identify", String(pid)], { encoding: "utf8" });
  return out.status === 0 ? out.stdout.split("\n").filter((n) => n !== "") : [];
}

/** The namespace setup-host.sh names, when the running daemon really is in it; null otherwise. */
export function libvirtdInItsNetns(): string | null {
  const netns = libvirtdNetns();
  const pid = libvirtdPid();
  return netns !== null && pid !== null && netnsOf(pid).includes(netns) ? netns : null;
}

/** setup-host.sh's libvirtd_args. */
function setupHostArgs(): string[] {
  return fs.existsSync("/etc/libvirt/libvirtd.conf") ? ["-d"] : ["-d", "--listen", "--config", `${STATE_DIR}/libvirtd.conf`];
}

export function libvirtdPid(): number | null {
  try {
    const pid = Number(fs.readFileSync(PIDFILE, "utf8").trim());
    if (!pid || fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "libvirtd") return null;
    return pid;
  } catch {
    return null;
  }
}

/** The argv the running daemon was started with (in its namespace, as `ip netns exec` runs it), else the setup script's. */
function commandLine(pid: number | null): string[] {
  if (pid !== null) {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
      const netns = libvirtdNetns();
      const inNetns = netns !== null && netnsOf(pid).includes(netns);
      if (argv.length > 0) return inNetns ? ["ip", "netns", "exec", netns, ...argv] : argv;
    } catch {
      // gone meanwhile
    }
  }
  const netns = libvirtdNetns();
  return [...(netns ? ["ip", "netns", "exec", netns] : []), "libvirtd", ...setupHostArgs()];
}

/** True when the daemon was started by scripts/setup-host.sh (a host's own daemon is never restarted). */
export function libvirtdIsOurs(): boolean {
  return fs.existsSync(`${STATE_DIR}/libvirtd-started-by-setup-host`) && libvirtdPid() !== null;
}

function answers(): boolean {
  return spawnSync("virsh", ["-q", "-c", "qemu:///system", "version"], { stdio: "ignore", timeout: 5_000 }).status === 0;
}

async function waitFor(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let remembered: string[] | null = null;

/** Stops the daemon (SIGTERM, as setup-host.sh does) and returns once it has exited. */
export async function stopLibvirtd(): Promise<void> {
  const pid = libvirtdPid();
  remembered = commandLine(pid);
  if (pid === null) return;
  process.kill(pid, "SIGTERM");
  await waitFor(`libvirtd (pid ${pid}) to exit`, () => !fs.existsSync(`/proc/${pid}`), 15_000);
}

/** Starts the daemon as setup-host.sh does, unless one runs, and waits until it answers. */
export async function ensureLibvirtd(): Promise<void> {
  if (libvirtdPid() === null) {
    const [program, ...args] = remembered ?? commandLine(null);
    const log = fs.openSync(LOG, "a");
    try {
      execFileSync(program, args, { env: { ...process.env, LIBVIRT_LOG_OUTPUTS: `3:file:${LOG}` }, stdio: ["ignore", log, log] });
    } finally {
      fs.closeSync(log);
    }
  }
  await waitFor("libvirtd to answer", answers, 20_000);
}

/** Stop, then start again; the daemon is running when this returns or throws. */
export async function restartLibvirtd(): Promise<void> {
  try {
    await stopLibvirtd();
  } finally {
    await ensureLibvirtd();
  }
}
