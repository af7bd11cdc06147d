// The QEMU monitor a device change talks to: the one behind a libvirt domain (libvirt's QMP passthrough and its
// QEMU monitor events) or the one of a QEMU run without libvirt (its own QMP socket). The device flows ask QEMU
// the same things either way; only how the words travel differs.
import type { DomainRef, LibvirtClient } from "../libvirt";
import { isConnectionError, uuidToString } from "../libvirt";
import { QemuSocketError, sharedQmp, type QmpClient } from "../qemu";
import { parseQmpReply, queryBlock, type QmpCommand } from "../vocab/qmp";
import { qmp } from "./qemu";
import { parseQueryBlock, type BlockDeviceInfo } from "../vocab/query-block";

export interface QemuMonitor {
  /** What the per-machine lock is keyed by: the domain's uuid, or the QMP socket's address. */
  readonly key: string;
  /** For messages: "domain web-1" or "QEMU at unix:/run/qemu/vm1.qmp". */
  readonly label: string;
  /** Runs a command; QEMU's `return`, or a QmpError when it refused. */
  command(command: QmpCommand): Promise<unknown>;
  /** Hears one kind of QEMU event (its `data`); null when the path refuses subscriptions (then callers poll). */
  onEvent(name: string, listener: (data: Record<string, unknown> | null) => void): Promise<(() => void) | null>;
  /** Counts the connections made so far: a request sent on an earlier one may have died with it. */
  generation(): number;
  /** Whether an error is the connection going away (the request may or may not have been carried out). */
  lost(error: unknown): boolean;
}

export function libvirtMonitor(client: LibvirtClient, dom: DomainRef): QemuMonitor {
  return {
    key: uuidToString(dom.uuid),
    label: `domain ${dom.name}`,
    command: (command) => qmp(client, dom, command),
    onEvent: (name, listener) => sharedQemuEvent(client, dom, name, listener),
    generation: () => client.connectCount,
    lost: isConnectionError,
  };
}

type EventListener = (data: Record<string, unknown> | null) => void;

interface Registration {
  /** The connection it was made on (client.connectCount); a reconnect ends it, so the next wait registers anew. */
  connectCount: number;
  listeners: Set<EventListener>;
  ready: Promise<boolean>;
}

/**
 * One registration with the daemon per client, domain and QEMU event, kept while its connection lives: each wait
 * adds its listener to it instead of registering (and then dropping) its own, one daemon round trip less per
 * detach. Null when the daemon refuses the subscription (the caller polls then).
 */
const registrations = new WeakMap<LibvirtClient, Map<string, Registration>>();

async function sharedQemuEvent(client: LibvirtClient, dom: DomainRef, name: string, listener: EventListener): Promise<(() => void) | null> {
  let byDomain = registrations.get(client);
  if (!byDomain) registrations.set(client, (byDomain = new Map()));
  const key = `${uuidToString(dom.uuid)}\0${name}`;
  let registration = byDomain.get(key);
  if (!registration || registration.connectCount !== client.connectCount) {
    const listeners = new Set<EventListener>();
    const made: Registration = { connectCount: client.connectCount, listeners, ready: Promise.resolve(false) };
    made.ready = client
      .onQemuMonitorEvent(dom, name, (e) => {
        // One listener failing must not keep the event from the others.
        for (const each of listeners) {
          try {
            each((e.details as Record<string, unknown> | null) ?? null);
          } catch (error) {
            process.emitWarning(`a QEMU event listener failed: ${(error as Error)?.message ?? String(error)}`);
          }
        }
      })
      .then(
        () => {
          made.connectCount = client.connectCount; // the connection it went out on, when a reconnect preceded it
          return true;
        },
        () => {
          if (byDomain!.get(key) === made) byDomain!.delete(key);
          return false;
        },
      );
    byDomain.set(key, made);
    registration = made;
  }
  if (!(await registration.ready)) return null;
  const { listeners } = registration;
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function directMonitor(qmp: QmpClient): QemuMonitor {
  return {
    key: `qmp:${qmp.address}`,
    label: `QEMU at ${qmp.address}`,
    command: async (command) => parseQmpReply(await qmp.execute(command), command),
    onEvent: async (name, listener) => qmp.onEvent(name, (e) => listener(e.data)),
    generation: () => qmp.connectCount,
    lost: (error) => error instanceof QemuSocketError,
  };
}

/** The monitor of the QEMU run without libvirt at `address` (a resource's `qmp`), over the process's shared link. */
export function socketMonitor(address: string): QemuMonitor {
  return directMonitor(sharedQmp(address));
}

/** QEMU's block devices (query-block), through either monitor. */
export async function monitorBlocks(monitor: QemuMonitor): Promise<BlockDeviceInfo[]> {
  return parseQueryBlock(await monitor.command(queryBlock()));
}
