// The QEMU monitor a device change talks to: the one behind a libvirt domain (libvirt's QMP passthrough and its
// QEMU monitor events) or the one of a QEMU run without libvirt (its own QMP socket). The device flows ask QEMU
// the same things either way; only how the words travel differs.
import type { DomainRef, LibvirtClient } from "../libvirt";
import { isConnectionError, uuidToString } from "../libvirt";
import { QemuSocketError, type QmpClient } from "../qemu";
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
    onEvent: (name, listener) =>
      client.onQemuMonitorEvent(dom, name, (e) => listener((e.details as Record<string, unknown> | null) ?? null)).catch(() => null),
    generation: () => client.connectCount,
    lost: isConnectionError,
  };
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

/** QEMU's block devices (query-block), through either monitor. */
export async function monitorBlocks(monitor: QemuMonitor): Promise<BlockDeviceInfo[]> {
  return parseQueryBlock(await monitor.command(queryBlock()));
}
