// GuestExec: a command run once in the guest through the QEMU guest agent (guest-exec over libvirt's agent
// passthrough; args travel as a JSON array, never through a shell). Its result (exit code, output, pid,
// duration) is recorded; changing the command or its triggers runs it again, and an optional `delete` command
// runs when the resource goes away.
//
// At most once: the guest pid is written to a small file (exec-records.ts) as soon as guest-exec answers, and
// removed once the result is read. A create that finds such a file for the same command on the same domain
// does not start the command again: it asks the agent for that pid's result (a run whose result was lost to a
// timeout, a dropped connection or a crash), waits for it if it still runs, and otherwise fails naming the pid.
// A command that outlives timeoutSeconds is stopped in the guest (SIGTERM to it and its children, SIGKILL
// after 5 s) and is not started again until its triggers (or command) change or the file is removed.
//
// Secrets: Pulumi hands the provider secret inputs in plain text; `secretInputs` (set by the SDK) says which,
// and every note and error shows them as `[secret]` (secrets.ts). Output of a command with secret inputs is
// never quoted: it may echo what it was given.
import { DomainRef, ErrorCode, isNotFound, LibvirtClient, LibvirtError } from "../libvirt";
import {
  AgentError, agentErrorFromLibvirtMessage, guestExec as guestExecRequest, guestExecStatus, GuestExecStatus, isUnknownExecPid,
  parseGuestExecStarted, parseGuestExecStatus, SIGNAL_TREE_SCRIPT,
} from "../vocab/qga";
import { AgentWaitError, describeAgentError, directAgent, GuestAgent, libvirtAgent } from "./agent";
import { changedInputs, classifyField, ResourceKind } from "./classify";
import { ExecRecord, readRecord, recordFile, removeRecord, writeRecord } from "./exec-records";
import { clientFor, note, planDiff, ResourceError, ResourceHandlers } from "./handler";
import type { GuestExecInputs } from "./inputs";
import { Masker, masker, NO_SECRETS, SECRET } from "./secrets";
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
/** After SIGTERM, how long a timed-out command gets to exit before SIGKILL; and after SIGKILL. */
const STOP_GRACE_SECONDS = 5;

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
  /** Where its fields sit in the inputs, for secretInputs paths: "" or "delete.". */
  at?: string;
}

interface Limits {
  timeoutSeconds: number;
  agentTimeoutSeconds: number;
}

/** The command outlived its timeout; `stopped` says whether it was stopped in the guest. */
export class ExecTimeoutError extends Error {
  constructor(readonly pid: number, readonly timeoutSeconds: number, readonly lastAgentError: unknown, readonly stopped = false, stopProblem?: string) {
    const why = lastAgentError instanceof Error ? ` (the agent last said: ${lastAgentError.message})` : "";
    super(
      stopped
        ? `timed out after ${timeoutSeconds} s and was stopped in the guest (guest pid ${pid}, SIGTERM to it and its children)${why}`
        : `timed out after ${timeoutSeconds} s; it still runs in the guest as pid ${pid}${stopProblem ? ` (stopping it failed: ${stopProblem})` : ""}${why}`,
    );
    this.name = "ExecTimeoutError";
  }
}

/** The result of a started run was not read (the agent or the connection failed); the run may go on. */
class ResultLostError extends Error {
  constructor(readonly pid: number, cause: unknown, what: string) {
    super(`${what}; the result of guest pid ${pid} was not read (the next up asks the agent for it instead of running the command again)`, { cause });
    this.name = "ResultLostError";
  }
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/** The command as a reader would type it, secret args as [secret] (for messages only: nothing runs this string). */
export function commandLine(command: Pick<Command, "path" | "args" | "at">, mask: Masker = NO_SECRETS): string {
  const at = command.at ?? "";
  const args = command.args.map((arg, i) => (mask.isSecret(`${at}args[${i}]`) ? SECRET : mask.text(quoteArg(arg))));
  const text = [mask.text(quoteArg(command.path)), ...args].join(" ");
  return text.length > COMMAND_LABEL_CHARS ? `${text.slice(0, COMMAND_LABEL_CHARS - 1)}…` : text;
}

function label(inputs: GuestExecInputs, mask: Masker = masker(inputs)): string {
  return `${commandLine(inputs, mask)} on ${inputs.domain ?? inputs.agent}`;
}

function mainCommand(inputs: GuestExecInputs): Command {
  const { path, args = [], env = [], input, captureOutput = true } = inputs;
  return { path, args, env, input, captureOutput, at: "" };
}

function deleteCommand(inputs: GuestExecInputs): Command | null {
  const d = inputs.delete;
  return d ? { path: d.path, args: d.args ?? [], env: d.env ?? [], captureOutput: true, at: "delete." } : null;
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

function stderrTail(result: GuestExecResult, mask: Masker): string {
  if (result.stderr.trim().length === 0) return "no stderr";
  const truncated = result.stderrTruncated ? ", truncated by the agent" : "";
  if (mask.any) {
    const lines = result.stderr.replace(/\n+$/, "").split("\n").length;
    return `stderr: ${SECRET} (${lines} line${lines === 1 ? "" : "s"}${truncated}; not quoted: the command has secret inputs or outputs)`;
  }
  return `stderr (last ${STDERR_TAIL_LINES} lines${truncated}):\n${lastLines(result.stderr, STDERR_TAIL_LINES)}`;
}

/** Why a finished command does not count as success, or null when it does. */
export function exitProblem(result: GuestExecResult, expected: number | null, mask: Masker = NO_SECRETS): string | null {
  if (expected === null && result.signal === null) return null;
  if (result.exitCode !== null && result.exitCode === expected) return null;
  const how = result.signal !== null ? `was killed by signal ${result.signal}` : `exited with ${result.exitCode}`;
  const want = expected === null ? "" : `, expected ${expected}`;
  return `${how}${want} (pid ${result.pid}); ${stderrTail(result, mask)}`;
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

function describeExecError(error: unknown, agentName: string, what: string): string {
  // describeAgentError words its messages "… on domain NAME": a libvirt agent's name already reads "domain NAME".
  const domainName = agentName.startsWith("domain ") ? agentName.slice("domain ".length) : agentName;
  if (isReplyTooBig(error)) {
    return (
      `the output of ${what} on domain ${domainName} is too large for libvirt's agent passthrough (4 MiB per reply, ` +
      "about 3 MiB of stdout and stderr together) and is lost; write it to a file in the guest, or set captureOutput: false"
    );
  }
  return describeAgentError(error, domainName, what);
}

/** qemu-ga does not know this pid (any more): its status was read already, or the agent restarted. */
function isUnknownPid(error: unknown): boolean {
  if (error instanceof AgentError) return isUnknownExecPid(error.desc);
  if (error instanceof LibvirtError) {
    const refused = agentErrorFromLibvirtMessage(error.message);
    return refused !== null && isUnknownExecPid(refused.desc);
  }
  return false;
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

/** The agent a command goes through: the domain's (null when the domain is gone), or a QEMU's own socket. */
async function agentFor(inputs: GuestExecInputs & { domainUuid?: string }): Promise<GuestAgent | null> {
  if (inputs.agent) return directAgent(inputs.agent);
  const client = await clientFor(inputs.uri);
  const dom = await findDomain(client, inputs.domainUuid || inputs.domain!);
  return dom ? libvirtAgent(client, dom) : null;
}

/** Polls guest-exec-status with backoff until the command exits; an agent that goes quiet is asked again. */
async function waitForExit(agent: GuestAgent, pid: number, timeoutSeconds: number): Promise<GuestExecStatus> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let delayMs = POLL_FIRST_MS;
  let lastAgentError: unknown = null;
  for (;;) {
    await sleep(Math.max(0, Math.min(delayMs, deadline - Date.now())));
    const left = (deadline - Date.now()) / 1000;
    try {
      const reply = await agent.call(guestExecStatus(pid), Math.min(AGENT_REPLY_SECONDS, Math.max(1, left)));
      const status = parseGuestExecStatus(reply);
      if (status.exited) return status;
    } catch (error) {
      // A paused or busy guest is waited out like a slow command; anything else is final.
      if (!(await agent.transient(error))) throw error;
      lastAgentError = error;
    }
    if (Date.now() >= deadline) throw new ExecTimeoutError(pid, timeoutSeconds, lastAgentError);
    delayMs = Math.min(delayMs * 2, POLL_MAX_MS);
  }
}

/** Starts a command; resolves with qemu-ga's pid once guest-exec answers. */
async function startCommand(agent: GuestAgent, command: Command): Promise<number> {
  return parseGuestExecStarted(await agent.call(guestExecRequest(command), AGENT_REPLY_SECONDS)).pid;
}

/** Runs a small helper command to its end (its status is read, so the agent forgets it). */
async function runHelper(agent: GuestAgent, command: Command, seconds: number): Promise<GuestExecStatus> {
  const pid = await startCommand(agent, command);
  return waitForExit(agent, pid, seconds);
}

/**
 * Stops a timed-out command in the guest: SIGTERM to it and its descendants, SIGKILL after STOP_GRACE_SECONDS.
 * Returns null once the agent reports it exited, else what went wrong.
 */
async function stopInGuest(agent: GuestAgent, pid: number): Promise<string | null> {
  let problem: string | null = null;
  for (const signal of ["TERM", "KILL"]) {
    try {
      const sent = await runHelper(agent, {
        path: "/bin/sh", args: ["-c", SIGNAL_TREE_SCRIPT, "stop", signal, String(pid)], env: [], captureOutput: true,
      }, AGENT_REPLY_SECONDS);
      if (sent.exitCode !== 0 && sent.exitCode !== 1) problem = `kill -${signal} exited with ${sent.exitCode ?? `signal ${sent.signal}`}`;
    } catch (error) {
      problem = describeExecError(error, agent.name, `guest-exec /bin/sh -c kill -${signal} ${pid}`);
    }
    try {
      await waitForExit(agent, pid, STOP_GRACE_SECONDS);
      return null;
    } catch (error) {
      if (!(error instanceof ExecTimeoutError)) return problem ?? describeExecError(error, agent.name, `guest-exec-status ${pid}`);
    }
  }
  return problem ?? `guest pid ${pid} still runs after SIGKILL`;
}

/** One create's view of its run: where its record lives and how to word what happened. */
interface Run {
  agent: GuestAgent;
  command: Command;
  limits: Limits;
  mask: Masker;
  /** The record file, or null when no record is kept (delete commands). */
  file: string | null;
  /** The record as written, when there is one. */
  record: ExecRecord | null;
}

/**
 * Waits for a started run to end and returns its result. A timeout stops it in the guest (the record then says
 * so); any other failure keeps the record, so the next create reads the result instead of running it again.
 */
async function finishRun(run: Run, pid: number, startedAt: number): Promise<GuestExecResult> {
  const { agent, limits } = run;
  let status: GuestExecStatus;
  try {
    status = await waitForExit(agent, pid, limits.timeoutSeconds);
  } catch (error) {
    if (error instanceof ExecTimeoutError) {
      const problem = await stopInGuest(agent, pid);
      if (problem === null && run.file && run.record) writeRecord(run.file, { ...run.record, stoppedAt: Date.now() });
      throw new ExecTimeoutError(pid, limits.timeoutSeconds, error.lastAgentError, problem === null, problem ?? undefined);
    }
    throw new ResultLostError(pid, error, describeExecError(error, agent.name, `guest-exec-status ${pid}`));
  }
  if (run.file) removeRecord(run.file);
  return resultFrom(pid, status, Date.now() - startedAt);
}

/** Waits for the agent, starts the command (recording its pid) and waits for its end. */
async function startRun(run: Run): Promise<GuestExecResult> {
  const { agent, command, limits, mask } = run;
  await agent.waitReady(limits.agentTimeoutSeconds);
  const startedAt = Date.now();
  const pid = await startCommand(agent, command);
  if (run.file) {
    run.record = { pid, domainId: agent.runId, startedAt, command: commandLine(command, mask) };
    writeRecord(run.file, run.record);
  }
  return finishRun(run, pid, startedAt);
}

/** How to run the command anyway, for messages about an earlier run. */
function againHint(file: string): string {
  return `it is not started again; check the guest, then change \`triggers\` (or the command) to run it again, or remove ${file}`;
}

/**
 * A create that finds the record of an earlier run of the same command: the earlier run's result where the
 * agent still has it (waiting for the run if it goes on), else a failure naming the guest pid.
 */
async function resumeRun(run: Run, earlier: ExecRecord, file: string): Promise<GuestExecResult> {
  const { agent, limits } = run;
  const when = new Date(earlier.startedAt).toISOString();
  const what = `an earlier run of this command (guest pid ${earlier.pid}, started ${when})`;
  if (earlier.stoppedAt !== undefined) {
    throw new Error(`${what} timed out and was stopped in the guest at ${new Date(earlier.stoppedAt).toISOString()}; ${againHint(file)}`);
  }
  if (earlier.domainId !== agent.runId) {
    throw new Error(`${what} lost its result: ${agent.name} has been restarted since, so whether it finished is unknown; ${againHint(file)}`);
  }
  await agent.waitReady(limits.agentTimeoutSeconds);
  let status: GuestExecStatus;
  try {
    status = parseGuestExecStatus(await agent.call(guestExecStatus(earlier.pid), AGENT_REPLY_SECONDS));
  } catch (error) {
    if (isUnknownPid(error)) {
      throw new Error(`${what} lost its result: the guest agent no longer knows that pid (its result was read, or qemu-ga restarted); ${againHint(file)}`);
    }
    throw new ResultLostError(earlier.pid, error, describeExecError(error, agent.name, `guest-exec-status ${earlier.pid}`));
  }
  run.record = earlier;
  if (!status.exited) {
    note(`GuestExec ${commandLine(run.command, run.mask)} on ${agent.name}: ${what} still runs; waiting for it instead of starting the command again`);
    return finishRun(run, earlier.pid, earlier.startedAt);
  }
  removeRecord(file);
  note(`GuestExec ${commandLine(run.command, run.mask)} on ${agent.name}: recovered the result of ${what} instead of running the command again`);
  return resultFrom(earlier.pid, status, Date.now() - earlier.startedAt);
}

/** Turns a run's result into success or one message for the user (the exit code and stderr tail). */
function judge(run: Run, result: GuestExecResult, expected: number | null): GuestExecResult {
  const problem = exitProblem(result, expected, run.mask);
  if (problem) throw new Error(problem);
  const truncated = truncationNote(result);
  if (truncated) note(`GuestExec ${commandLine(run.command, run.mask)} on ${run.agent.name}: ${truncated}`);
  return result;
}

/** Every failure of a run as one message: the timeout and pid, the exit, or the agent's own error. */
async function explained<T>(run: Run, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    if (error instanceof ExecTimeoutError || error instanceof AgentWaitError || error instanceof ResultLostError) throw error;
    // Messages written here for the user (plain Errors) stand as they are; the agent's and libvirt's are explained.
    if (error instanceof Error && error.constructor === Error) throw error;
    throw new Error(describeExecError(error, run.agent.name, `guest-exec ${commandLine(run.command, run.mask)}`), { cause: error });
  }
}

/** The error create and delete throw: masked, and without a cause that could carry a secret further. */
function failure(subject: string, error: unknown, mask: Masker, suffix = ""): ResourceError {
  const message = mask.text(`${(error as Error).message ?? String(error)}${suffix}`);
  return new ResourceError(mask.text(subject), message, mask.any ? undefined : { cause: error });
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
    const mask = masker(news, masker(olds).any ? secretValuesOf(olds) : []);
    return planDiff(`GuestExec ${label(news, mask)}`, fields.map((f) => classifyField(KIND, f, olds, news, { running: true, restart: "never" })));
  },

  async create(inputs) {
    const mask = masker(inputs);
    const subject = `${KIND} ${label(inputs, mask)}`;
    const agent = await agentFor(inputs);
    if (!agent) throw new ResourceError(subject, `domain "${mask.text(inputs.domain ?? "")}" not found`);
    // A QEMU without libvirt has no domain uuid: its runs are recorded under the agent's address.
    const domainUuid = inputs.agent ? "" : agent.key;
    const command = mainCommand(inputs);
    const file = recordFile({ domainUuid: agent.key, ...command, triggers: inputs.triggers });
    const run: Run = { agent, command, limits: inputs, mask, file, record: null };
    let result: GuestExecResult;
    try {
      const earlier = readRecord(file);
      result = await explained(run, () => (earlier ? resumeRun(run, earlier, file) : startRun(run)));
      result = judge(run, result, expectedExitCode(inputs));
    } catch (error) {
      // Not created. A run that exited (with a failure) is run again by the next `up`; one whose result was
      // lost or that timed out is not (its record stays): see the comment at the top.
      throw failure(subject, error, mask);
    }
    return { id: `${domainUuid}/exec/${result.pid}/${Date.now()}`, outs: { ...inputs, ...result, domainUuid } };
  },

  async read(id, props) {
    // The result is history: it is kept as recorded. Only the domain's disappearance changes anything (a QEMU
    // without libvirt has no such record to consult: its run stays as it is).
    if (props.agent) return { id, props };
    const client = await clientFor(props.uri);
    const dom = await findDomain(client, props.domainUuid || props.domain!);
    return dom ? { id, props } : { id: "", props };
  },

  async update(_id, olds, news) {
    // Only recorded-only fields reach update (delete, timeouts, expectExitCode, uri): nothing runs.
    return { outs: { ...news, ...recordedResult(olds) } };
  },

  async delete(_id, props) {
    const command = deleteCommand(props);
    if (!command) return;
    const mask = masker(props);
    const subject = `${KIND} ${label(props, mask)}`;
    const agent = await agentFor(props);
    if (!agent) return;
    if (agent.runId === -1 && !props.agent) {
      note(mask.text(`${subject}: domain is not running; the delete command ${commandLine(command, mask)} is skipped`));
      return;
    }
    const run: Run = { agent, command, limits: props, mask, file: null, record: null };
    try {
      judge(run, await explained(run, () => startRun(run)), 0);
    } catch (error) {
      const hint = "fix the guest, or change or remove `delete` (that runs nothing) and delete again";
      throw failure(subject, new Error(`delete command ${commandLine(command, mask)}: ${(error as Error).message}; ${hint}`), mask);
    }
  },

  async describeCreate(inputs) {
    const mask = masker(inputs);
    const del = deleteCommand(inputs);
    const cleanup = del ? `; on delete: ${commandLine(del, mask)}` : "";
    return mask.text(`GuestExec ${label(inputs, mask)}: run once through the guest agent${cleanup}`);
  },
};

/** The secret values recorded with earlier outputs (a diff masks old and new values alike). */
function secretValuesOf(olds: GuestExecOutputs): string[] {
  const values: string[] = [];
  const mask = masker(olds);
  const probe = (path: string, value: unknown) => {
    if (mask.isSecret(path) && typeof value === "string") values.push(value);
  };
  (olds.args ?? []).forEach((a, i) => probe(`args[${i}]`, a));
  (olds.env ?? []).forEach((e, i) => {
    probe(`env[${i}]`, e);
    if (mask.isSecret(`env[${i}]`) && e.includes("=")) values.push(e.slice(e.indexOf("=") + 1));
  });
  probe("input", olds.input);
  return values;
}
