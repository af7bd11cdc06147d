// Events as the client delivers them: libvirt's domain events (callback-style messages of the remote program)
// and QEMU's own QMP events relayed by the qemu program.
import { Frame } from "../wire/framing";
import { XdrReader } from "../wire/xdr";
import { Program, QemuProc, RemoteProc } from "./protocol";
import { DomainRef, readDomain } from "./types";

export type DomainEvent =
  | { kind: "lifecycle"; callbackId: number; domain: DomainRef; event: number; detail: number }
  | { kind: "device-removed"; callbackId: number; domain: DomainRef; alias: string }
  | { kind: "device-added"; callbackId: number; domain: DomainRef; alias: string }
  | { kind: "device-removal-failed"; callbackId: number; domain: DomainRef; alias: string };

/** Decodes an event message, or returns null for messages the client does not subscribe to. */
export function decodeDomainEvent(frame: Frame): DomainEvent | null {
  if (frame.header.program !== Program.Remote) return null;
  const r = new XdrReader(frame.payload);
  switch (frame.header.procedure) {
    case RemoteProc.DomainEventCallbackLifecycle: {
      const callbackId = r.int();
      return { kind: "lifecycle", callbackId, domain: readDomain(r), event: r.int(), detail: r.int() };
    }
    case RemoteProc.DomainEventCallbackDeviceRemoved:
      return { kind: "device-removed", callbackId: r.int(), domain: readDomain(r), alias: r.string() };
    case RemoteProc.DomainEventCallbackDeviceAdded:
      return { kind: "device-added", callbackId: r.int(), domain: readDomain(r), alias: r.string() };
    case RemoteProc.DomainEventCallbackDeviceRemovalFailed:
      return { kind: "device-removal-failed", callbackId: r.int(), domain: readDomain(r), alias: r.string() };
    default:
      return null;
  }
}

/** A QMP event of one domain, e.g. DEVICE_DELETED, as QEMU sent it through libvirt. */
export interface QemuMonitorEvent {
  callbackId: number;
  domain: DomainRef;
  event: string;
  /** QEMU's timestamp of the event. */
  at: { seconds: bigint; micros: number };
  /** The event's "data" member, parsed; null when it had none. */
  details: unknown;
}

export function decodeQemuMonitorEvent(frame: Frame): QemuMonitorEvent | null {
  if (frame.header.program !== Program.Qemu || frame.header.procedure !== QemuProc.DomainMonitorEvent) return null;
  const r = new XdrReader(frame.payload);
  const callbackId = r.int();
  const domain = readDomain(r);
  const event = r.string();
  const at = { seconds: r.hyper(), micros: r.uint() };
  const details = r.optional((x) => x.string());
  return { callbackId, domain, event, at, details: details === null ? null : parseDetails(details) };
}

/** QEMU sends JSON; anything else is handed on as the text it was rather than failing the connection. */
function parseDetails(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
