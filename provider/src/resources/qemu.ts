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

/**
 * Checks `done` until it holds or the deadline passes; returns whether it held. Checks start 2 ms apart and
 * back off to `maxIntervalMs`, so a change that lands at once is seen at once; `wake` (an event that says the
 * change happened) triggers a check immediately instead of waiting out the interval.
 */
export async function pollUntil(done: () => Promise<boolean>, timeoutMs: number, maxIntervalMs = 50, wake?: Promise<unknown>): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let interval = 2;
  // One-shot: after it fires, the backoff alone paces the checks.
  let pendingWake = wake?.then(() => {
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
