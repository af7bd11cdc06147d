// Talking to the QEMU guest agent (qemu-ga) through libvirt's agent passthrough, or through the agent socket of
// a QEMU run without libvirt: one command with its reply parsed, and the wait until a booting guest's agent answers. Errors name the domain and the command, so a
// user reading `pulumi up` knows which machine and which step failed.
import { DomainRef, DomainState, ErrorCode, LibvirtClient, LibvirtError, uuidToString } from "../libvirt";
import { QemuSocketError, sharedAgent } from "../qemu";
import type { QmpCommand } from "../vocab/qmp";
import { AgentError, agentErrorFromLibvirtMessage, guestPing, parseAgentReply } from "../vocab/qga";

/** How often a booting guest is asked again; libvirt answers "not connected" at once, so this sets the latency. */
const PING_INTERVAL_MS = 200;
/** libvirt's own wait for one reply once the agent is connected (seconds). */
const PING_REPLY_SECONDS = 5;
/** libvirt answers "argument unsupported" (VIR_ERR_ARGUMENT_UNSUPPORTED) when the domain has no agent channel. */
const ARGUMENT_UNSUPPORTED = 74;

/** waitForAgent gave up; the message is meant for the user as it is. */
export class AgentWaitError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentWaitError";
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The agent is not there (yet): no connected channel, or no reply in time. Worth asking again while booting. */
export function isAgentUnavailable(error: unknown): boolean {
  return error instanceof LibvirtError && (error.code === ErrorCode.AgentUnresponsive || error.code === ErrorCode.OperationTimeout);
}

/**
 * Worth asking again: the agent is not there (yet), or the domain is paused (libvirt then answers "domain is
 * not running"; a pause ends, a shutdown does not).
 */
export async function isAgentTransient(client: LibvirtClient, dom: DomainRef, error: unknown): Promise<boolean> {
  if (isAgentUnavailable(error)) return true;
  if (!(error instanceof LibvirtError) || error.code !== ErrorCode.OperationInvalid) return false;
  const { state } = await client.domainState(dom).catch(() => ({ state: -1 }));
  // Running again by now: it was paused when libvirt answered, and has been resumed since (asking again is right).
  return state === DomainState.Paused || state === DomainState.Running;
}

/** What went wrong, in words that tell the user what to do. `what` names the command, e.g. `guest-exec /bin/ls`. */
export function describeAgentError(error: unknown, domainName: string, what: string): string {
  if (error instanceof AgentError) return `guest agent on domain ${domainName} refused ${what}: ${error.desc}`;
  if (error instanceof LibvirtError) {
    const refused = agentErrorFromLibvirtMessage(error.message);
    if (refused) return `guest agent on domain ${domainName} refused ${what}: ${refused.desc}`;
    if (error.code === ErrorCode.AgentUnresponsive) {
      return `guest agent on domain ${domainName} is not connected or not responding (${what}): ${error.message}`;
    }
    if (error.code === ARGUMENT_UNSUPPORTED) {
      return `domain ${domainName} has no guest agent channel (set guestAgent: true on the Domain), so it cannot run ${what}`;
    }
    if (error.code === ErrorCode.OperationInvalid) return `domain ${domainName} cannot run ${what}: ${error.message}`;
  }
  return `${what} on domain ${domainName} failed: ${(error as Error).message ?? String(error)}`;
}

/** Sends one agent command and returns its `return` value; an agent error reply throws AgentError. */
export async function agentCall(client: LibvirtClient, dom: DomainRef, command: QmpCommand, timeoutSeconds: number): Promise<unknown> {
  const reply = await client.qemuAgentCommand(dom, JSON.stringify(command), Math.max(1, Math.ceil(timeoutSeconds)));
  if (reply === null) return null;
  return parseAgentReply(reply, command);
}

/**
 * Pings the guest agent until it answers, for at most `timeoutSeconds`. Returns how long that took (ms).
 * Only an absent agent or a paused domain is waited out; anything else (domain shut off, no agent channel,
 * domain gone) fails at once, since waiting would not change it.
 */
export async function waitForAgent(client: LibvirtClient, dom: DomainRef, timeoutSeconds: number): Promise<number> {
  const started = Date.now();
  const deadline = started + timeoutSeconds * 1000;
  let last: unknown = null;
  for (;;) {
    const left = deadline - Date.now();
    try {
      await agentCall(client, dom, guestPing(), Math.min(PING_REPLY_SECONDS, Math.max(1, left / 1000)));
      return Date.now() - started;
    } catch (error) {
      if (!(await isAgentTransient(client, dom, error))) {
        throw new AgentWaitError(describeAgentError(error, dom.name, "guest-ping"), { cause: error });
      }
      last = error;
    }
    if (Date.now() + PING_INTERVAL_MS > deadline) break;
    await sleep(PING_INTERVAL_MS);
  }
  const why = last instanceof Error ? ` (last answer: ${last.message})` : "";
  throw new AgentWaitError(
    `the guest agent on domain ${dom.name} did not answer guest-ping within ${timeoutSeconds} s${why}; ` +
      "check that the guest runs qemu-ga and the domain has guestAgent: true",
    { cause: last },
  );
}

// ---- the guest agent a command runs through ---------------------------------------------------------------------

/** The guest agent of a libvirt domain (libvirt's passthrough) or of a QEMU run without libvirt (its own socket). */
export interface GuestAgent {
  /** For messages: "domain web-1" or "the guest agent at unix:/run/qemu/vm1.qga". */
  readonly name: string;
  /** What runs in flight are recorded under: the domain's uuid, or the socket's address. */
  readonly key: string;
  /** The run of the machine (libvirt's domain id; -1 where unknown): another value means the guest restarted. */
  readonly runId: number;
  /** Sends one command; its `return` value, or AgentError when the agent refused it. */
  call(command: QmpCommand, timeoutSeconds: number): Promise<unknown>;
  /** Whether an error is worth asking again for (the agent not there yet, a paused guest). */
  transient(error: unknown): Promise<boolean>;
  /** Returns once the agent answers guest-ping, for at most `timeoutSeconds`. */
  waitReady(timeoutSeconds: number): Promise<void>;
}

export function libvirtAgent(client: LibvirtClient, dom: DomainRef): GuestAgent {
  return {
    name: `domain ${dom.name}`,
    key: uuidToString(dom.uuid),
    runId: dom.id,
    call: (command, timeoutSeconds) => agentCall(client, dom, command, timeoutSeconds),
    transient: (error) => isAgentTransient(client, dom, error),
    waitReady: async (timeoutSeconds) => {
      await waitForAgent(client, dom, timeoutSeconds);
    },
  };
}

export function directAgent(address: string): GuestAgent {
  const agent = sharedAgent(address);
  const name = `the guest agent at ${address}`;
  return {
    name,
    key: `agent:${address}`,
    runId: -1,
    call: async (command, timeoutSeconds) => parseAgentReply(await agent.execute(command, timeoutSeconds * 1000), command),
    // A socket that does not answer (yet) is asked again; a refusal by the agent is final.
    transient: async (error) => error instanceof QemuSocketError,
    waitReady: async (timeoutSeconds) => {
      const deadline = Date.now() + timeoutSeconds * 1000;
      for (;;) {
        try {
          await agent.execute(guestPing(), Math.min(PING_REPLY_SECONDS * 1000, Math.max(1_000, deadline - Date.now())));
          return;
        } catch (error) {
          if (!(error instanceof QemuSocketError) || Date.now() + PING_INTERVAL_MS > deadline) {
            throw new AgentWaitError(`${name} did not answer guest-ping within ${timeoutSeconds} s (${(error as Error).message}); check that QEMU runs with that chardev and the guest runs qemu-ga`, { cause: error });
          }
        }
        await sleep(PING_INTERVAL_MS);
      }
    },
  };
}
