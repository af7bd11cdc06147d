// What ends a detach's wait, shown with a stand-in daemon (FakeDaemon) whose events and XML the test controls:
// libvirt's device-removed event ends it at once, with no XML read; device-removal-failed is a clear refusal; and
// only without any event does the wait fall back to reading the live XML until its deadline.
import { strict as assert } from "node:assert";
import { LibvirtClient, RemoteProc, type DomainRef } from "../../../provider/src/libvirt";
import { detachXml } from "../../../provider/src/resources/devices";
import type { DomainView } from "../../../provider/src/resources/domain-view";
import { parseDomainXml } from "../../../provider/src/vocab/domain-xml";
import { XdrReader, XdrWriter } from "../../../provider/src/wire/xdr";
import { eventFrame, FakeDaemon } from "../libvirt/fake-daemon";

const dom: DomainRef = { name: "fake", uuid: Buffer.alloc(16, 7), id: 5 };
const UUID_TEXT = "07070707-0707-0707-0707-070707070707";
const ALIAS = "ua-disk-x";
const XML =
  `<domain type='qemu' id='5'><name>fake</name><uuid>${UUID_TEXT}</uuid><os><type arch='x86_64' machine='pc'>hvm</type></os>` +
  `<devices><disk type='file' device='disk'><source file='/srv/x.raw'/><target dev='sdb' bus='scsi'/><alias name='${ALIAS}'/></disk></devices></domain>`;
/** virDomainEventID → the event message's procedure. */
const EVENT_PROCEDURE: Record<number, number> = {
  15: RemoteProc.DomainEventCallbackDeviceRemoved,
  22: RemoteProc.DomainEventCallbackDeviceRemovalFailed,
};

type Answer = "removed" | "failed" | "nothing";

/** A daemon that answers the detach, then sends `answer` as an event; counts the live XML reads. */
async function daemonAnswering(answer: Answer): Promise<{ daemon: FakeDaemon; xmlReads: () => number }> {
  const callbacks = new Map<number, number>();
  let nextId = 500;
  let reads = 0;
  const daemon = new FakeDaemon({
    onCall: (call, peer) => {
      switch (call.header.procedure) {
        case RemoteProc.ConnectDomainEventCallbackRegisterAny: {
          const eventId = new XdrReader(Buffer.from(call.payload)).int();
          callbacks.set(eventId, nextId);
          peer.reply(call, new XdrWriter().int(nextId++).bytes());
          return true;
        }
        case RemoteProc.DomainGetXmlDesc:
          reads++;
          peer.reply(call, new XdrWriter().string(XML).bytes());
          return true;
        case RemoteProc.DomainDetachDeviceAlias: {
          peer.reply(call, new Uint8Array(0));
          const eventId = answer === "removed" ? 15 : answer === "failed" ? 22 : null;
          if (eventId !== null) {
            const payload = new XdrWriter().int(callbacks.get(eventId)!).string(dom.name).fixedOpaque(dom.uuid, 16).int(dom.id).string(ALIAS).bytes();
            setTimeout(() => peer.send(eventFrame(EVENT_PROCEDURE[eventId]!, payload)), 30);
          }
          return true;
        }
        default:
          return false;
      }
    },
  });
  await daemon.listen();
  return { daemon, xmlReads: () => reads };
}

function viewOf(): DomainView {
  const parsed = parseDomainXml(XML);
  const view: DomainView = {
    dom,
    uuid: UUID_TEXT,
    running: true,
    live: parsed,
    config: parsed,
    claims: [],
    blocks: async () => [],
    lifecycle: async () => ({ autostart: false, state: "running" }),
    persistent: async () => true,
    refresh: async () => view,
  };
  return view;
}

async function detachWith(answer: Answer, timeoutSeconds: number): Promise<{ result: Promise<void>; xmlReads: () => number; done: () => Promise<void> }> {
  const { daemon, xmlReads } = await daemonAnswering(answer);
  const client = await LibvirtClient.connect(daemon.uri, { keepaliveIntervalMs: 0 });
  const result = detachXml(client, viewOf(), ALIAS, timeoutSeconds);
  return { result, xmlReads, done: async () => (await client.close().catch(() => undefined), await daemon.close()) };
}

describe("what ends a detach's wait (a stand-in daemon)", function () {
  this.timeout(30_000);

  it("libvirt's device-removed event ends it at once: the live XML is never read", async () => {
    const run = await detachWith("removed", 20);
    try {
      const started = Date.now();
      await run.result;
      assert.ok(Date.now() - started < 5_000, "well before the 20 s deadline");
      assert.equal(run.xmlReads(), 0, "the event, not a poll of the XML, ended the wait");
    } finally {
      await run.done();
    }
  });

  it("device-removal-failed is a refusal with the device named, not a timeout", async () => {
    const run = await detachWith("failed", 20);
    try {
      await assert.rejects(run.result, /the guest refused to release ua-disk-x \(device-removal-failed\)/);
    } finally {
      await run.done();
    }
  });

  it("with no event at all, the live XML is read until the deadline, and the device still there is an error", async () => {
    const run = await detachWith("nothing", 1);
    try {
      await assert.rejects(run.result, /the guest did not release ua-disk-x within 1 s/);
      assert.ok(run.xmlReads() > 0, "the fallback read the live XML");
    } finally {
      await run.done();
    }
  });
});
