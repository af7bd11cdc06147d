// A QEMU JSON socket (monitor or guest agent) as the clients see it: dialed from its address, decoded into
// messages, closed on any protocol error, and reported once when it ends.
import { DialError, Transport } from "../wire/transport";
import { connectSocket } from "../wire/transports/socket";
import { encodeJsonMessage, JsonStreamDecoder } from "../wire/json-stream";
import { parseSocketAddress } from "./address";

export class QemuSocketError extends Error {
  /** Nothing listens at the address (QEMU stopped, or its socket removed), as opposed to a link that broke. */
  readonly unreachable: boolean;

  constructor(message: string, options?: { cause?: unknown; unreachable?: boolean }) {
    super(message, options);
    this.name = "QemuSocketError";
    this.unreachable = options?.unreachable ?? false;
  }
}

/** QEMU gone (stopped, or its socket removed): nothing of ours can be on it any more. */
export function isQemuUnreachable(error: unknown): boolean {
  return error instanceof QemuSocketError && error.unreachable;
}

export interface PeerHandlers {
  message(message: Record<string, unknown>): void;
  /** The 0xFF byte of a guest-sync-delimited reply arrived (guest agent only). */
  delimiter?(): void;
  closed(error: Error): void;
}

export interface JsonPeer {
  readonly description: string;
  send(message: object): void;
  close(): void;
}

/** Dials `address` ("unix:/path" or "tcp:host:port"); `what` names the socket in errors ("QMP socket", "guest agent socket"). */
export async function dialJsonPeer(address: string, what: string, timeoutMs: number, handlers: PeerHandlers): Promise<JsonPeer> {
  const parsed = parseSocketAddress(address);
  let transport: Transport;
  try {
    transport = await connectSocket(parsed.kind === "unix" ? { path: parsed.path } : { host: parsed.host, port: parsed.port }, address, timeoutMs);
  } catch (error) {
    const reason = error instanceof DialError ? ((error.cause as Error | undefined)?.message ?? error.message) : (error as Error).message;
    throw new QemuSocketError(`cannot connect to the ${what} at ${address}: ${reason}`, { cause: error, unreachable: true });
  }
  const decoder = new JsonStreamDecoder();
  let ended = false;
  const end = (error: Error) => {
    if (ended) return;
    ended = true;
    transport.close();
    handlers.closed(error);
  };
  transport.onData((chunk) => {
    if (ended) return;
    try {
      for (const message of decoder.push(chunk, handlers.delimiter)) {
        if (typeof message === "object" && message !== null && !Array.isArray(message)) handlers.message(message as Record<string, unknown>);
      }
    } catch (error) {
      // A malformed stream is an error on this connection only: it closes, the next call dials again.
      end(new QemuSocketError(`the ${what} at ${address} sent ${(error as Error).message}`));
    }
  });
  transport.onClose((error) => end(new QemuSocketError(`the ${what} at ${address} closed${error ? `: ${error.message}` : ""}`)));
  return {
    description: address,
    send: (message) => transport.send(encodeJsonMessage(message)),
    close: () => end(new QemuSocketError(`the connection to the ${what} at ${address} was closed by this process`)),
  };
}

/** Resolves with `promise`, or rejects with `onTimeout()` after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * One session at a time over a QEMU socket: opened on first use and again after it ended; a failed open is not
 * kept, so the next call tries again (QEMU may be starting, or another client let go of the socket).
 */
export abstract class SessionHolder<S extends { peer: JsonPeer }> {
  protected session: Promise<S> | null = null;
  private opened = 0;
  private closedByUs = false;

  constructor(readonly address: string, private readonly what: string) {}

  /** How many connections were made so far (a request sent on an earlier one may have died with it). */
  get connectCount(): number {
    return this.opened;
  }

  async close(): Promise<void> {
    this.closedByUs = true;
    const session = await this.session?.catch(() => null);
    session?.peer.close();
    this.session = null;
  }

  /** Opens a session; `ended` is to be called when that session's connection ends. */
  protected abstract open(ended: () => void): Promise<S>;

  protected connected(): Promise<S> {
    if (this.closedByUs) return Promise.reject(new QemuSocketError(`the ${this.what} client for ${this.address} is closed`));
    if (!this.session) {
      const generation = ++this.opened;
      const opening = this.open(() => {
        // The end of an old connection never forgets a newer one.
        if (this.opened === generation) this.session = null;
      });
      this.session = opening;
      opening.catch(() => {
        if (this.session === opening) this.session = null;
      });
    }
    return this.session;
  }
}
