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

/** Polls until `done` holds or the deadline passes; returns whether it held. */
export async function pollUntil(done: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await done()) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
