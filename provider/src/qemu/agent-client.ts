// A client of the QEMU guest agent's host-side socket (a chardev QEMU serves: `-chardev socket,path=…,server=on,
// wait=off,id=qga0 -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0`), for QEMU run without
// libvirt. The agent answers one command at a time and does not tag replies, so every new connection starts with
// guest-sync-delimited: a reply left in the channel by an earlier client is never taken for ours.
import { randomInt } from "node:crypto";
import { dialJsonPeer, JsonPeer, QemuSocketError, SessionHolder, withDeadline } from "./json-peer";

export interface AgentClientOptions {
  /** How long the agent may take to answer the sync (a guest still booting may not answer at all). */
  syncTimeoutMs?: number;
  dialTimeoutMs?: number;
}

interface Session {
  peer: JsonPeer;
  next(): Promise<Record<string, unknown>>;
}

export class AgentClient extends SessionHolder<Session> {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly syncTimeoutMs: number;
  private readonly dialTimeoutMs: number;

  constructor(address: string, options: AgentClientOptions = {}) {
    super(address, "guest agent");
    this.syncTimeoutMs = options.syncTimeoutMs ?? 5_000;
    this.dialTimeoutMs = options.dialTimeoutMs ?? 10_000;
  }

  /**
   * Sends one command and returns the agent's whole reply (`{return}` or `{error}`). Commands queue: the agent
   * handles one at a time. A command that outlives `timeoutMs` drops the connection, so its late reply can never
   * be read as the answer to the next one.
   */
  execute(command: { execute: string; arguments?: object }, timeoutMs: number): Promise<Record<string, unknown>> {
    const run = this.queue.then(async () => {
      const session = await this.connected();
      const reply = session.next();
      session.peer.send(command);
      return withDeadline(reply, timeoutMs, () => {
        session.peer.close();
        return new QemuSocketError(`the guest agent at ${this.address} did not answer ${command.execute} within ${timeoutMs} ms`);
      });
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  protected async open(onEnd: () => void): Promise<Session> {
    const inbox: Record<string, unknown>[] = [];
    let waiter: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void } | null = null;
    let ended: Error | null = null;
    const next = () =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        if (ended) return reject(ended);
        const ready = inbox.shift();
        if (ready) return resolve(ready);
        waiter = { resolve, reject };
      });
    const peer = await dialJsonPeer(this.address, "guest agent socket", this.dialTimeoutMs, {
      message: (message) => {
        if (waiter) {
          const w = waiter;
          waiter = null;
          w.resolve(message);
        } else inbox.push(message);
      },
      // Whatever came before the delimiter answered someone else's command.
      delimiter: () => (inbox.length = 0),
      closed: (error) => {
        ended = error;
        waiter?.reject(error);
        waiter = null;
        onEnd();
      },
    });
    try {
      const id = randomInt(1, 2 ** 31);
      const synced = (async () => {
        peer.send({ execute: "guest-sync-delimited", arguments: { id } });
        for (;;) {
          const reply = await next();
          if (reply["return"] === id) return;
        }
      })();
      await withDeadline(synced, this.syncTimeoutMs, () => new QemuSocketError(`the guest agent at ${this.address} did not answer guest-sync-delimited within ${this.syncTimeoutMs} ms (is qemu-ga running in the guest?)`));
    } catch (error) {
      peer.close();
      throw error;
    }
    return { peer, next };
  }
}
