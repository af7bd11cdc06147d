// QMP through libvirt's monitor passthrough, as JSON objects in and parsed replies out.
import type { DomainRef, LibvirtClient } from "../libvirt";
import { parseQmpReply, queryBlock, QmpCommand } from "../vocab/qmp";
import { BlockDeviceInfo, parseQueryBlock } from "../vocab/query-block";

export async function qmp(client: LibvirtClient, dom: DomainRef, command: QmpCommand): Promise<unknown> {
  return parseQmpReply(await client.qemuMonitorCommand(dom, JSON.stringify(command)), command);
}

export async function blockDevices(client: LibvirtClient, dom: DomainRef): Promise<BlockDeviceInfo[]> {
  return parseQueryBlock(await qmp(client, dom, queryBlock()));
}

/** A qdev property of a device we added (its scsi lun, its usb port), read from QEMU itself. */
export async function qomProperty(client: LibvirtClient, dom: DomainRef, id: string, property: string): Promise<unknown> {
  return qmp(client, dom, { execute: "qom-get", arguments: { path: `/machine/peripheral/${id}`, property } });
}

export interface PollOptions {
  timeoutMs: number;
  /** The pause before the second check (the first is immediate); pauses double up to `maxIntervalMs`. Default 2. */
  firstIntervalMs?: number;
  /** Default 50. */
  maxIntervalMs?: number;
  /** An event that says the change happened: it triggers a check at once instead of waiting out the pause. */
  wake?: Promise<unknown>;
}

/**
 * Checks `done` until it holds or the deadline passes; returns whether it held. With the default pauses a change
 * that lands at once is seen at once; a caller that has an event for the change passes it as `wake` and can
 * poll lazily, the poll then only standing in for an event lost to a reconnect.
 */
export async function pollUntil(done: () => Promise<boolean>, options: PollOptions): Promise<boolean> {
  const until = Date.now() + options.timeoutMs;
  const maxIntervalMs = options.maxIntervalMs ?? 50;
  let interval = options.firstIntervalMs ?? 2;
  // One-shot: after it fires, the backoff alone paces the checks.
  let pendingWake = options.wake?.then(() => {
    pendingWake = undefined;
  });
  for (;;) {
    if (await done()) return true;
    const left = until - Date.now();
    if (left <= 0) return false;
    const sleep = new Promise((r) => setTimeout(r, Math.min(interval, left)));
    await (pendingWake ? Promise.race([sleep, pendingWake]) : sleep);
    interval = Math.min(interval * 2, maxIntervalMs);
  }
}
