// libvirt over ssh, the way libvirt's own client does it: spawn `ssh`, and speak RPC over the child's
// stdin and stdout. On the far side virt-ssh-helper (or nc -U on older hosts) joins the pipe to libvirtd.
import { spawn } from "node:child_process";
import { DialError, Transport } from "../transport";

export interface SshTarget {
  host: string;
  user?: string;
  port?: number;
  keyfile?: string;
  /** The URI virt-ssh-helper opens on the remote side, e.g. "qemu:///system". */
  remoteUri: string;
  /** The socket nc falls back to when the remote has no virt-ssh-helper. */
  remoteSocket: string;
  /** Skip host key checks (libvirt's `no_verify=1`). */
  noVerify?: boolean;
  /** Extra `-o` options, for tests that point ssh at their own known_hosts. */
  sshOptions?: string[];
  sshBinary?: string;
  /**
   * ssh's keepalive over the encrypted channel: a dead link or host ends the ssh child (and so the connection)
   * after interval x count seconds of silence. Default 5 s x 3, as the RPC keepalive.
   */
  serverAliveIntervalSeconds?: number;
  serverAliveCountMax?: number;
}

/** Quotes one word for the remote POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function sshArgs(target: SshTarget): string[] {
  const args = ["-T", "-e", "none", "-o", "BatchMode=yes"];
  args.push("-o", `ServerAliveInterval=${target.serverAliveIntervalSeconds ?? 5}`);
  args.push("-o", `ServerAliveCountMax=${target.serverAliveCountMax ?? 3}`);
  if (target.port !== undefined) args.push("-p", String(target.port));
  if (target.user !== undefined) args.push("-l", target.user);
  if (target.keyfile !== undefined) args.push("-i", target.keyfile);
  if (target.noVerify) args.push("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null");
  for (const option of target.sshOptions ?? []) args.push("-o", option);
  const helper = `virt-ssh-helper ${shellQuote(target.remoteUri)}`;
  const fallback = `nc -U ${shellQuote(target.remoteSocket)}`;
  const script = `if command -v virt-ssh-helper >/dev/null 2>&1; then exec ${helper}; else exec ${fallback}; fi`;
  args.push("--", target.host, "sh", "-c", shellQuote(script));
  return args;
}

/**
 * Starts ssh and resolves once the child is running. ssh reports authentication failures on stderr and exits,
 * so the connection's handshake (the first RPC call) is what proves the pipe works; its stderr is kept for the
 * error message.
 */
export function dialSsh(target: SshTarget, timeoutMs: number): Promise<Transport> {
  const description = `ssh:${target.user ? `${target.user}@` : ""}${target.host}${target.port ? `:${target.port}` : ""}`;
  return new Promise((resolve, reject) => {
    const child = spawn(target.sshBinary ?? "ssh", sshArgs(target), { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new DialError(description, `ssh did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new DialError(description, `cannot run ssh: ${err.message}`, err));
    });
    child.once("spawn", () => {
      clearTimeout(timer);
      const closeListeners: Array<(error?: Error) => void> = [];
      child.once("exit", (code, signal) => {
        const reason = stderr.trim() || `ssh exited with ${signal ?? `code ${code}`}`;
        const error = code === 0 ? undefined : new DialError(description, reason);
        for (const listener of closeListeners) listener(error);
      });
      // Writes after the child died would raise EPIPE on stdin; the exit handler reports the real cause.
      child.stdin.on("error", () => undefined);
      resolve({
        description,
        send: (bytes) => {
          child.stdin.write(bytes);
        },
        onData: (listener) => {
          child.stdout.on("data", listener);
        },
        onClose: (listener) => {
          closeListeners.push(listener);
        },
        close: () => {
          child.stdin.end();
          setTimeout(() => child.exitCode === null && child.kill("SIGTERM"), 1000).unref();
        },
      });
    });
  });
}
