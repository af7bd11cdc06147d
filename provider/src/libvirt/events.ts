// Domain events as the client delivers them, decoded from the callback-style event messages.
import { Frame } from "../wire/framing";
import { XdrReader } from "../wire/xdr";
import { RemoteProc } from "./protocol";
import { DomainRef, readDomain } from "./types";

export type DomainEvent =
  | { kind: "lifecycle"; callbackId: number; domain: DomainRef; event: number; detail: number }
  | { kind: "device-removed"; callbackId: number; domain: DomainRef; alias: string }
  | { kind: "device-added"; callbackId: number; domain: DomainRef; alias: string }
  | { kind: "device-removal-failed"; callbackId: number; domain: DomainRef; alias: string };

/** Decodes an event message, or returns null for messages the client does not subscribe to. */
export function decodeDomainEvent(frame: Frame): DomainEvent | null {
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
