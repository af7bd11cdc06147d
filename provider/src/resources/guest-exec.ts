// GuestExec: a command run once in the guest through the QEMU guest agent (guest-exec over libvirt's agent
// passthrough; args travel as a JSON array, never through a shell). Its result (exit code, output, pid,
// duration) is recorded; changing the command or its triggers runs it again, and an optional `delete` command
// runs when the resource goes away.
import { DomainRef, ErrorCode, isNotFound, LibvirtClient, LibvirtError, uuidToString } from "../libvirt";
import { guestExec as guestExecRequest, guestExecStatus, GuestExecStatus, parseGuestExecStarted, parseGuestExecStatus } from "../vocab/qga";
import { AgentWaitError, agentCall, describeAgentError, isAgentTransient, waitForAgent } from "./agent";
import { changedInputs, classifyField, ResourceKind } from "./classify";
import { clientFor, note, planDiff, ResourceError, ResourceHandlers } from "./handler";
import type { GuestExecInputs } from "./inputs";
import { inputFields } from "./validate";

const KIND: ResourceKind = "GuestExec";
/** guest-exec-status is asked again after 20 ms, then less and less often, at most every 500 ms. */
const POLL_FIRST_MS = 20;
const POLL_MAX_MS = 500;
/** libvirt's wait for one agent reply, in seconds: a longer silence means the agent stopped answering. */
const AGENT_REPLY_SECONDS = 10;
/** How much of stderr a failure message quotes. */
const STDERR_TAIL_LINES = 10;
/** Longest command line quoted in messages. */
const COMMAND_LABEL_CHARS = 160;

/** What one run of a command left behind. */
export interface GuestExecResult {
  /** The guest's pid of the command (qemu-ga's handle for guest-exec-status). */
  pid: number;
  /** null when a signal ended the command (see `signal`). */
  exitCode: number | null;
  signal: number | null;
  stdout: string;
  stderr: string;
  /** qemu-ga dropped output beyond its per-stream cap: `stdout`/`stderr` hold only the beginning. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** From guest-exec until the exit was seen. */
  durationMs: number;
}

export interface GuestExecOutputs extends GuestExecInputs, GuestExecResult {
  /** The domain the command ran in; read and delete find it by this, not by a name that may be reused. */
  domainUuid: string;
}

/** A command as sent to the agent: the resource's own, or its `delete` one. */
interface Command {
  path: string;
  args: string[];
  env: string[];
  input?: string;
  captureOutput: boolean;
}

interface Limits {
  timeoutSeconds: number;
  agentTimeoutSeconds: number;
}

/** The command outlived its timeout; it keeps running in the guest. */
export class ExecTimeoutError extends Error {
  constructor(readonly pid: number, timeoutSeconds: number, lastAgentError: unknown) {
    const why = lastAgentError instanceof Error ? ` (the agent last said: ${lastAgentError.message})` : "";
    super(`timed out after ${timeoutSeconds} s; it still runs in the guest as pid ${pid}${why}`);
    this.name = "ExecTimeoutError";
  }
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/** The command as a reader would type it (for messages only: nothing ever runs this string). */
export function commandLine(command: Pick<Command, "path" | "args">): string {
  const text = [command.path, ...command.args].map(quoteArg).join(" ");
  return text.length > COMMAND_LABEL_CHARS ? `${text.slice(0, COMMAND_LABEL_CHARS - 1)}…` : text;
}

function label(inputs: GuestExecInputs): string {
  return `${commandLine(inputs)} on ${inputs.domain}`;
}

function mainCommand(inputs: GuestExecInputs): Command {
  const { path, args = [], env = [], input, captureOutput = true } = inputs;
  return { path, args, env, input, captureOutput };
}

function deleteCommand(inputs: GuestExecInputs): Command | null {
  const d = inputs.delete;
  return d ? { path: d.path, args: d.args ?? [], env: d.env ?? [], captureOutput: true } : null;
}

/** The exit code that counts as success; null accepts any exit. */
function expectedExitCode(inputs: GuestExecInputs): number | null {
  const value = inputs.expectExitCode as number | null | undefined;
  return value === undefined ? 0 : value;
}

function lastLines(text: string, count: number): string {
  const lines = text.replace(/\n+$/, "").split("\n");
  return lines.slice(-count).join("\n");
}

/** The recorded result for a finished command (pure: unit tests feed it recorded guest-exec-status replies). */
export function resultFrom(pid: number, status: GuestExecStatus, durationMs: number): GuestExecResult {
  return {
    pid,
    exitCode: status.exitCode,
    signal: status.signal,
    stdout: status.stdout,
    stderr: status.stderr,
    stdoutTruncated: status.stdoutTruncated,
    stderrTruncated: status.stderrTruncated,
    durationMs,
  };
}

function stderrTail(result: GuestExecResult): string {
  if (result.stderr.trim().length === 0) return "no stderr";
  const truncated = result.stderrTruncated ? ", truncated by the agent" : "";
  return `stderr (last ${STDERR_TAIL_LINES} lines${truncated}):\n${lastLines(result.stderr, STDERR_TAIL_LINES)}`;
}

/** Why a finished command does not count as success, or null when it does. */
export function exitProblem(result: GuestExecResult, expected: number | null): string | null {
  if (expected === null && result.signal === null) return null;
  if (result.exitCode !== null && result.exitCode === expected) return null;
  const how = result.signal !== null ? `was killed by signal ${result.signal}` : `exited with ${result.exitCode}`;
  const want = expected === null ? "" : `, expected ${expected}`;
  return `${how}${want} (pid ${result.pid}); ${stderrTail(result)}`;
}

/** Truncated output is reported, never hidden. */
function truncationNote(result: GuestExecResult): string | null {
  const streams = [result.stdoutTruncated ? "stdout" : null, result.stderrTruncated ? "stderr" : null].filter((s) => s !== null);
  return streams.length > 0 ? `${streams.join(" and ")} truncated by the guest agent (it keeps the first 16 MiB of each)` : null;
}

/** An agent reply too big for libvirt's RPC: its strings stop at 4 MiB, and base64 makes output a third bigger. */
function isReplyTooBig(error: unknown): boolean {
  return error instanceof LibvirtError && error.code === ErrorCode.Rpc && /encode message payload/i.test(error.message);
}

function describeExecError(error: unknown, domainName: string, what: string): string {
  if (isReplyTooBig(error)) {
    return (
      `the output of ${what} on domain ${domainName} is too large for libvirt's agent passthrough (4 MiB per reply, ` +
      "about 3 MiB of stdout and stderr together) and is lost; write it to a file in the guest, or set captureOutput: false"
    );
  }
  return describeAgentError(error, domainName, what);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function findDomain(client: LibvirtClient, ref: string): Promise<DomainRef | null> {
  try {
    return await client.lookupDomain(ref);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** Polls guest-exec-status with backoff until the command exits; an agent that goes quiet is asked again. */
async function waitForExit(client: LibvirtClient, dom: DomainRef, pid: number, timeoutSeconds: number): Promise<GuestExecStatus> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let delayMs = POLL_FIRST_MS;
  let lastAgentError: unknown = null;
  for (;;) {
    await sleep(Math.max(0, Math.min(delayMs, deadline - Date.now())));
    const left = (deadline - Date.now()) / 1000;
    try {
      const reply = await agentCall(client, dom, guestExecStatus(pid), Math.min(AGENT_REPLY_SECONDS, Math.max(1, left)));
      const status = parseGuestExecStatus(reply);
      if (status.exited) return status;
    } catch (error) {
      // A paused or busy guest is waited out like a slow command; anything else is final.
      if (!(await isAgentTransient(client, dom, error))) throw error;
      lastAgentError = error;
    }
    if (Date.now() >= deadline) throw new ExecTimeoutError(pid, timeoutSeconds, lastAgentError);
    delayMs = Math.min(delayMs * 2, POLL_MAX_MS);
  }
}

/** Waits for the agent, starts the command and waits for its exit. Throws ExecTimeoutError or the agent's error. */
async function runCommand(client: LibvirtClient, dom: DomainRef, command: Command, limits: Limits): Promise<GuestExecResult> {
  await waitForAgent(client, dom, limits.agentTimeoutSeconds);
  const request = guestExecRequest(command);
  const started = Date.now();
  const { pid } = parseGuestExecStarted(await agentCall(client, dom, request, AGENT_REPLY_SECONDS));
  const status = await waitForExit(client, dom, pid, limits.timeoutSeconds);
  return resultFrom(pid, status, Date.now() - started);
}

/**
 * Runs a command; every failure becomes one message for the user: the exit code and stderr, the timeout and
 * pid, or the agent's own error (which names the domain and the command).
 */
async function runOrExplain(
  client: LibvirtClient, dom: DomainRef, command: Command, limits: Limits, expected: number | null,
): Promise<GuestExecResult> {
  let result: GuestExecResult;
  try {
    result = await runCommand(client, dom, command, limits);
  } catch (error) {
    if (error instanceof ExecTimeoutError || error instanceof AgentWaitError) throw error;
    throw new Error(describeExecError(error, dom.name, `guest-exec ${commandLine(command)}`), { cause: error });
  }
  const problem = exitProblem(result, expected);
  if (problem) throw new Error(problem);
  const truncated = truncationNote(result);
  if (truncated) note(`GuestExec ${commandLine(command)} on ${dom.name}: ${truncated}`);
  return result;
}

function recordedResult(outputs: GuestExecOutputs): GuestExecResult & { domainUuid: string } {
  const { pid, exitCode, signal, stdout, stderr, stdoutTruncated, stderrTruncated, durationMs, domainUuid } = outputs;
  return { pid, exitCode, signal, stdout, stderr, stdoutTruncated, stderrTruncated, durationMs, domainUuid };
}

export const guestExec: ResourceHandlers<GuestExecInputs, GuestExecOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    // A re-run deletes first: the old delete command (e.g. `rm` of what the command made) runs before the new
    // command, so a create/remove pair never removes what the re-run just made.
    const fields = changedInputs(KIND, olds, news, inputFields(KIND));
    return planDiff(`GuestExec ${label(news)}`, fields.map((f) => classifyField(KIND, f, olds, news, { running: true, restart: "never" })));
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const dom = await findDomain(client, inputs.domain);
    if (!dom) throw new ResourceError(`${KIND} ${label(inputs)}`, `domain "${inputs.domain}" not found`);
    let result: GuestExecResult;
    try {
      result = await runOrExplain(client, dom, mainCommand(inputs), inputs, expectedExitCode(inputs));
    } catch (error) {
      // Not created: the next `up` runs the command again.
      throw new ResourceError(`${KIND} ${label(inputs)}`, (error as Error).message, { cause: error });
    }
    const domainUuid = uuidToString(dom.uuid);
    return { id: `${domainUuid}/exec/${result.pid}/${Date.now()}`, outs: { ...inputs, ...result, domainUuid } };
  },

  async read(id, props) {
    // The result is history: it is kept as recorded. Only the domain's disappearance changes anything.
    const client = await clientFor(props.uri);
    const dom = await findDomain(client, props.domainUuid ?? props.domain);
    return dom ? { id, props } : { id: "", props };
  },

  async update(_id, olds, news) {
    // Only recorded-only fields reach update (delete, timeouts, expectExitCode, uri): nothing runs.
    return { outs: { ...news, ...recordedResult(olds) } };
  },

  async delete(_id, props) {
    const command = deleteCommand(props);
    if (!command) return;
    const client = await clientFor(props.uri);
    const dom = await findDomain(client, props.domainUuid ?? props.domain);
    if (!dom) return;
    if (dom.id === -1) {
      note(`GuestExec ${label(props)}: domain is not running; the delete command ${commandLine(command)} is skipped`);
      return;
    }
    try {
      await runOrExplain(client, dom, command, props, 0);
    } catch (error) {
      const hint = "fix the guest, or change or remove `delete` (that runs nothing) and delete again";
      const message = `delete command ${commandLine(command)}: ${(error as Error).message}; ${hint}`;
      throw new ResourceError(`${KIND} ${label(props)}`, message, { cause: error });
    }
  },

  async describeCreate(inputs) {
    const cleanup = inputs.delete ? `; on delete: ${commandLine({ path: inputs.delete.path, args: inputs.delete.args ?? [] })}` : "";
    return `GuestExec ${label(inputs)}: run once through the guest agent${cleanup}`;
  },
};
