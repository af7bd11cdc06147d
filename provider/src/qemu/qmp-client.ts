// A client of QEMU's own monitor socket (QMP), for QEMU run without libvirt: greeting, qmp_capabilities,
// replies matched by id, events to listeners, a deadline on every call, and a new connection after a lost one.
// A QMP server socket serves one client at a time: while this process holds it, another tool connecting to the
// same socket waits (QEMU accepts it only after we close).
import { dialJsonPeer, JsonPeer, QemuSocketError, SessionHolder, withDeadline } from "./json-peer";

export interface QmpEvent {
  event: string;
  data: Record<string, unknown> | null;
}

export interface QmpClientOptions {
  callTimeoutMs?: number;
  dialTimeoutMs?: number;
}

interface Session {
  peer: JsonPeer;
  pending: Map<string, { resolve: (reply: Record<string, unknown>) => void; reject: (error: Error) => void }>;
}

export class QmpClient extends SessionHolder<Session> {
  private nextId = 1;
  private readonly listeners = new Map<string, Set<(event: QmpEvent) => void>>();
  private readonly callTimeoutMs: number;
  private readonly dialTimeoutMs: number;

  constructor(address: string, options: QmpClientOptions = {}) {
    super(address, "QMP");
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.dialTimeoutMs = options.dialTimeoutMs ?? 10_000;
  }

  /**
   * Sends one command and returns QEMU's whole reply (`{return}` or `{error}`), for the vocabulary's parsers.
   * A call that outlives its deadline tears the connection down: the next call starts on a fresh one.
   */
  async execute(command: { execute: string; arguments?: object }, timeoutMs = this.callTimeoutMs): Promise<Record<string, unknown>> {
    const session = await this.connected();
    const id = `plv-${this.nextId++}`;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => session.pending.set(id, { resolve, reject }));
    session.peer.send({ ...command, id });
    return withDeadline(reply, timeoutMs, () => {
      session.peer.close();
      return new QemuSocketError(`QEMU at ${this.address} did not answer ${command.execute} within ${timeoutMs} ms`);
    });
  }

  /** Listens for one kind of QMP event on every connection this client makes; returns the way to stop. */
  onEvent(name: string, listener: (event: QmpEvent) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    set.add(listener);
    this.listeners.set(name, set);
    return () => set.delete(listener);
  }

  protected async open(ended: () => void): Promise<Session> {
    let greeted: (() => void) | undefined;
    let failed: ((error: Error) => void) | undefined;
    const greeting = new Promise<void>((resolve, reject) => {
      greeted = resolve;
      failed = reject;
    });
    const pending: Session["pending"] = new Map();
    const peer = await dialJsonPeer(this.address, "QMP socket", this.dialTimeoutMs, {
      message: (message) => {
        if ("QMP" in message) greeted?.();
        else if (typeof message["event"] === "string") this.deliver(message);
        else if (typeof message["id"] === "string") {
          const waiter = pending.get(message["id"]);
          pending.delete(message["id"]);
          waiter?.resolve(message);
        }
      },
      closed: (error) => {
        failed?.(error);
        for (const waiter of pending.values()) waiter.reject(error);
        pending.clear();
        ended();
      },
    });
    const session: Session = { peer, pending };
    try {
      await withDeadline(greeting, this.dialTimeoutMs, () => new QemuSocketError(`no QMP greeting from ${this.address} within ${this.dialTimeoutMs} ms (another client may hold the socket)`));
      const id = `plv-${this.nextId++}`;
      const reply = new Promise<Record<string, unknown>>((resolve, reject) => pending.set(id, { resolve, reject }));
      peer.send({ execute: "qmp_capabilities", id });
      const answer = await withDeadline(reply, this.dialTimeoutMs, () => new QemuSocketError(`QEMU at ${this.address} did not accept qmp_capabilities`));
      if ("error" in answer) throw new QemuSocketError(`QEMU at ${this.address} refused qmp_capabilities: ${JSON.stringify(answer["error"])}`);
    } catch (error) {
      peer.close();
      throw error;
    }
    return session;
  }

  private deliver(message: Record<string, unknown>): void {
    const name = message["event"] as string;
    const data = typeof message["data"] === "object" && message["data"] !== null ? (message["data"] as Record<string, unknown>) : null;
    for (const listener of this.listeners.get(name) ?? []) listener({ event: name, data });
  }
}
