// Event messages as the daemon writes them (remote_protocol.x, qemu_protocol.x), decoded by the client.
import { strict as assert } from "node:assert";
import { decodeDomainEvent, decodeQemuMonitorEvent } from "../../../provider/src/libvirt/events";
import { Program, QemuProc, RemoteProc } from "../../../provider/src/libvirt/protocol";
import { DomainRef, writeDomain } from "../../../provider/src/libvirt/types";
import { Frame, MessageType } from "../../../provider/src/wire/framing";
import { XdrWriter } from "../../../provider/src/wire/xdr";

const dom: DomainRef = { name: "vm1", uuid: Buffer.alloc(16, 7), id: 3 };

const message = (program: number, procedure: number, payload: Buffer): Frame => ({
  header: { program, version: 1, procedure, type: MessageType.Message, serial: 0, status: 0 },
  payload,
});

const deviceDeleted = (details: string | null) =>
  new XdrWriter()
    .int(42)
    .put(writeDomain, dom)
    .string("DEVICE_DELETED")
    .hyper(1_700_000_000n)
    .uint(250_000)
    .optional(details, (w, v) => w.string(v))
    .bytes();

describe("event messages", () => {
  it("decodes QEMU's DEVICE_DELETED with its domain, time and parsed data", () => {
    const event = decodeQemuMonitorEvent(message(Program.Qemu, QemuProc.DomainMonitorEvent, deviceDeleted('{"device":"ua-d1","path":"/machine/peripheral/ua-d1"}')));
    assert.deepEqual(event, {
      callbackId: 42,
      domain: dom,
      event: "DEVICE_DELETED",
      at: { seconds: 1_700_000_000n, micros: 250_000 },
      details: { device: "ua-d1", path: "/machine/peripheral/ua-d1" },
    });
  });

  it("gives null details for a QMP event without data", () => {
    assert.equal(decodeQemuMonitorEvent(message(Program.Qemu, QemuProc.DomainMonitorEvent, deviceDeleted(null)))?.details, null);
  });

  it("keeps the two programs apart: the same procedure number in the other program is not mistaken for an event", () => {
    const payload = deviceDeleted("{}");
    assert.equal(decodeQemuMonitorEvent(message(Program.Remote, QemuProc.DomainMonitorEvent, payload)), null);
    const removed = new XdrWriter().int(1).put(writeDomain, dom).string("ua-d1").bytes();
    assert.equal(decodeDomainEvent(message(Program.Qemu, RemoteProc.DomainEventCallbackDeviceRemoved, removed)), null);
    assert.deepEqual(decodeDomainEvent(message(Program.Remote, RemoteProc.DomainEventCallbackDeviceRemoved, removed)), {
      kind: "device-removed",
      callbackId: 1,
      domain: dom,
      alias: "ua-d1",
    });
  });
});
