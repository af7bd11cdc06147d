// Guest agent (qemu-ga) commands as typed JSON objects, and readers for their replies. Sent with
// libvirt's DOMAIN_AGENT_COMMAND; guest-exec is asynchronous: it returns a pid, and
// guest-exec-status is polled until `exited` is true.

import { ProtocolShapeError, SpecError } from "./errors";
import { commandName, isRecord, returnOf } from "./json-reply";
import type { QmpCommand } from "./qmp";

export function guestPing(): QmpCommand<"guest-ping"> {
  return { execute: "guest-ping" };
}

export function guestInfo(): QmpCommand<"guest-info"> {
  return { execute: "guest-info" };
}

export interface GuestExecSpec {
  /** Program to run; qemu-ga searches PATH when it has no slash. */
  readonly path: string;
  readonly args?: readonly string[];
  /** Either a map or ready-made "KEY=VALUE" strings. */
  readonly env?: Readonly<Record<string, string>> | readonly string[];
  /** Bytes for the program's stdin (text is sent as UTF-8). */
  readonly input?: string | Uint8Array;
  /** Capture stdout/stderr for guest-exec-status; default true. */
  readonly captureOutput?: boolean;
}

export interface GuestExecArgs {
  readonly path: string;
  readonly arg?: readonly string[];
  readonly env?: readonly string[];
  readonly "input-data"?: string;
  readonly "capture-output": boolean;
}

function envList(env: GuestExecSpec["env"]): string[] | undefined {
  if (env === undefined) return undefined;
  if (Array.isArray(env)) {
    const list = env as readonly string[];
    list.forEach((entry, i) => {
      if (entry.indexOf("=") <= 0) throw new SpecError(`env[${i}]`, `must look like KEY=VALUE, got ${JSON.stringify(entry)}`);
    });
    return [...list];
  }
  return Object.entries(env as Readonly<Record<string, string>>).map(([key, value]) => {
    if (key.length === 0 || key.includes("=")) throw new SpecError(`env.${key}`, "a variable name must be non-empty and contain no '='");
    return `${key}=${value}`;
  });
}

export function guestExec(spec: GuestExecSpec): QmpCommand<"guest-exec", GuestExecArgs> {
  if (spec.path.length === 0) throw new SpecError("path", "must not be empty");
  const env = envList(spec.env);
  const input = spec.input === undefined ? undefined : typeof spec.input === "string" ? Buffer.from(spec.input, "utf8") : Buffer.from(spec.input);
  return {
    execute: "guest-exec",
    arguments: {
      path: spec.path,
      ...(spec.args !== undefined ? { arg: [...spec.args] } : {}),
      ...(env !== undefined ? { env } : {}),
      ...(input !== undefined ? { "input-data": input.toString("base64") } : {}),
      "capture-output": spec.captureOutput ?? true,
    },
  };
}

export function guestExecStatus(pid: number): QmpCommand<"guest-exec-status", { readonly pid: number }> {
  if (!Number.isSafeInteger(pid) || pid < 0) throw new SpecError("pid", `must be a non-negative integer, got ${pid}`);
  return { execute: "guest-exec-status", arguments: { pid } };
}

// ---------------------------------------------------------------------------------------------
// Replies

/** qemu-ga refused a command, e.g. {"error":{"class":"GenericError","desc":"Guest agent command failed, error was 'Failed to execute child process …'"}}. */
export class AgentError extends Error {
  override readonly name = "AgentError";
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`guest agent ${command} failed (${errorClass}): ${desc}`);
  }
}

/** The `return` of an agent reply (JSON text or parsed); an `error` reply throws AgentError. */
export function parseAgentReply(reply: string | unknown, command: string | QmpCommand): unknown {
  const name = commandName(command);
  return returnOf(reply, name, "agent reply", (errorClass, desc) => new AgentError(name, errorClass, desc));
}

/**
 * libvirt itself turns an agent error reply into a libvirt error whose message reads
 * "internal error: unable to execute QEMU agent command 'guest-exec': <desc>". This recovers the
 * command and QEMU's description from such a message; null when it is some other error.
 */
export function agentErrorFromLibvirtMessage(message: string): AgentError | null {
  const marker = "unable to execute QEMU agent command '";
  const start = message.indexOf(marker);
  if (start < 0) return null;
  const nameStart = start + marker.length;
  const nameEnd = message.indexOf("'", nameStart);
  if (nameEnd < 0) return null;
  const rest = message.slice(nameEnd + 1);
  const desc = rest.startsWith(": ") ? rest.slice(2) : rest.trim();
  return new AgentError(message.slice(nameStart, nameEnd), "GenericError", desc);
}

export function parseGuestExecStarted(ret: unknown): { readonly pid: number } {
  if (!isRecord(ret) || typeof ret["pid"] !== "number") throw new ProtocolShapeError("guest-exec", "return has no numeric pid");
  return { pid: ret["pid"] };
}

export interface GuestExecStatus {
  readonly exited: boolean;
  /** Set when the process exited normally. */
  readonly exitCode: number | null;
  /** Set when a signal ended the process. */
  readonly signal: number | null;
  /** Output decoded as UTF-8 (invalid sequences become U+FFFD); the raw bytes are kept too. */
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutBytes: Buffer;
  readonly stderrBytes: Buffer;
  /** qemu-ga keeps at most 16 MiB per stream; true when it dropped the rest. */
  readonly stdoutTruncated: boolean;
  readonly stderrTruncated: boolean;
}

function decodeBase64(value: unknown, field: string): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new ProtocolShapeError("guest-exec-status", `${field} is not base64`);
  }
  return Buffer.from(value, "base64");
}

function optionalInteger(ret: Record<string, unknown>, key: string): number | null {
  const value = ret[key];
  return typeof value === "number" && Number.isInteger(value) ? value : null;
}

export function parseGuestExecStatus(ret: unknown): GuestExecStatus {
  if (!isRecord(ret) || typeof ret["exited"] !== "boolean") throw new ProtocolShapeError("guest-exec-status", "return has no boolean exited");
  const stdoutBytes = decodeBase64(ret["out-data"], "out-data");
  const stderrBytes = decodeBase64(ret["err-data"], "err-data");
  return {
    exited: ret["exited"],
    exitCode: optionalInteger(ret, "exitcode"),
    signal: optionalInteger(ret, "signal"),
    stdout: stdoutBytes.toString("utf8"),
    stderr: stderrBytes.toString("utf8"),
    stdoutBytes,
    stderrBytes,
    stdoutTruncated: ret["out-truncated"] === true,
    stderrTruncated: ret["err-truncated"] === true,
  };
}

export interface GuestInfo {
  readonly version: string;
  readonly commands: readonly { readonly name: string; readonly enabled: boolean }[];
}

export function parseGuestInfo(ret: unknown): GuestInfo {
  if (!isRecord(ret) || typeof ret["version"] !== "string" || !Array.isArray(ret["supported_commands"])) {
    throw new ProtocolShapeError("guest-info", "return lacks version or supported_commands");
  }
  const commands = (ret["supported_commands"] as unknown[]).flatMap((entry) =>
    isRecord(entry) && typeof entry["name"] === "string" ? [{ name: entry["name"], enabled: entry["enabled"] !== false }] : [],
  );
  return { version: ret["version"], commands };
}

/**
 * qemu-ga's answer to guest-exec-status for a pid it does not know (never started by it, its status already
 * read, or the agent restarted since): "Invalid parameter 'pid'". `message` is the AgentError's desc or
 * libvirt's wrapped message.
 */
export function isUnknownExecPid(message: string): boolean {
  return /Invalid parameter 'pid'/.test(message);
}

/**
 * A POSIX shell script that sends a signal to a process and all its descendants (found through /proc), for
 * `/bin/sh -c SCRIPT stop SIGNAL PID`: a command started as `sh -c "…"` leaves its children running when only
 * the shell is signalled. Exits 0 when the process was signalled, 1 when it was gone already.
 */
export const SIGNAL_TREE_SCRIPT = [
  'kids() { for f in /proc/[0-9]*/stat; do l=$(cat "$f" 2>/dev/null) || continue; r=${l##*) }; pp=${r#* }; pp=${pp%% *};',
  '  if [ "$pp" = "$1" ]; then c=${f#/proc/}; echo "${c%/stat}"; fi; done; }',
  'all() { echo "$1"; for k in $(kids "$1"); do all "$k"; done; }',
  '[ -d "/proc/$2" ] || exit 1',
  'kill -"$1" $(all "$2") 2>/dev/null; exit 0',
].join("\n");
