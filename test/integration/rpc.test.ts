// The RPC client against the real libvirt daemon and QEMU, cross-checked with virsh.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { XMLBuilder, XMLParser } from "fast-xml-parser";
import {
  Affect,
  CallTimeoutError,
  ConnectionLostError,
  DomainRef,
  ErrorCode,
  LibvirtClient,
  LibvirtError,
  uuidToString,
} from "../../provider/src/libvirt";
import { bareDomainXml, makeImage, removeDomain, uniqueName, virsh } from "../support/host";

const SYSTEM_SOCKET = "/var/run/libvirt/libvirt-sock";

/** A loopback unix-socket relay to the daemon, so a test can cut or stall the link like a daemon restart would. */
class Relay {
  readonly socketPath: string;
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  stalled = false;

  constructor(dir: string) {
    this.socketPath = path.join(dir, "relay.sock");
    this.server = net.createServer((client) => {
      const upstream = net.connect(SYSTEM_SOCKET);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      client.on("data", (d) => this.stalled || upstream.write(d));
      upstream.on("data", (d) => this.stalled || client.write(d));
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on("close", end).on("error", end);
      upstream.on("close", end).on("error", end);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  cutAll(): void {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  close(): Promise<void> {
    this.cutAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@", isArray: (n) => n === "disk" });

function diskAliasByTarget(xml: string, target: string): string | undefined {
  const disks: any[] = parser.parse(xml).domain.devices.disk ?? [];
  return disks.find((d) => d.target?.["@dev"] === target)?.alias?.["@name"];
}

/** The seed's usb cdrom, with a file that exists on this host. */
function seedUsbCdromXml(file: string): string {
  return new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@" }).build({
    disk: {
      "@type": "file",
      "@device": "cdrom",
      driver: { "@name": "qemu", "@type": "raw" },
      target: { "@dev": "sdzy", "@bus": "usb" },
      source: { "@file": file },
      readonly: "",
      boot: { "@order": "999" },
      address: { "@type": "usb", "@bus": "0", "@port": "3" },
    },
  });
}

describe("libvirt RPC client against the real daemon", function () {
  this.timeout(60_000);
  const name = uniqueName("rpc");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-rpc-"));
  let client: LibvirtClient;
  let dom: DomainRef;

  before(async () => {
    client = await LibvirtClient.connect("qemu:///system");
    dom = await client.startDomain(await client.defineDomain(bareDomainXml(name)));
  });

  after(async () => {
    await client?.close();
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("reads the same live XML as virsh dumpxml, and the same persistent XML as dumpxml --inactive", async () => {
    assert.equal((await client.domainXml(dom)).trim(), virsh("dumpxml", name).trim());
    assert.equal((await client.domainXml(dom, { inactive: true })).trim(), virsh("dumpxml", "--inactive", name).trim());
  });

  it("looks a domain up by name and by UUID to the same domain, with its runtime id", async () => {
    const byUuid = await client.lookupDomain(uuidToString(dom.uuid));
    assert.equal(byUuid.name, name);
    assert.equal(uuidToString(byUuid.uuid), virsh("domuuid", name).trim());
    assert.equal(String(byUuid.id), virsh("domid", name).trim());
  });

  it("returns the same QMP query-block answer as virsh qemu-monitor-command", async () => {
    const ours = JSON.parse(await client.qemuMonitorCommand(dom, JSON.stringify({ execute: "query-block" })));
    const theirs = JSON.parse(virsh("qemu-monitor-command", name, JSON.stringify({ execute: "query-block" })));
    assert.ok(Array.isArray(ours.return));
    assert.deepEqual(ours.return, theirs.return);
  });

  it("hands a QMP error back inside a successful reply, as QEMU sends it", async () => {
    const reply = JSON.parse(await client.qemuMonitorCommand(dom, JSON.stringify({ execute: "no-such-command" })));
    assert.equal(reply.error.class, "CommandNotFound");
  });

  it("attaches the seed's usb cdrom live, then detaches it by alias and hears the device-removed event", async () => {
    const iso = path.join(tmp, "media.iso");
    makeImage(iso, 1);
    await client.attachDevice(dom, seedUsbCdromXml(iso), Affect.Live);
    const alias = diskAliasByTarget(virsh("dumpxml", name), "sdzy");
    assert.ok(alias, "libvirt gave the attached cdrom an alias");
    const blocks = JSON.parse(await client.qemuMonitorCommand(dom, JSON.stringify({ execute: "query-block" }))).return;
    assert.ok(blocks.some((b: any) => b.qdev?.includes(alias) && b.inserted?.file === iso), "QEMU has the media");

    const removed = await client.expectDomainEvent(
      (e) => e.kind === "device-removed" && e.alias === alias && e.domain.name === name,
    );
    await client.detachDeviceAlias(dom, alias!, Affect.Live);
    const event = await removed.wait(20_000);
    assert.ok(event, "device-removed event arrived");
    assert.equal(diskAliasByTarget(virsh("dumpxml", name), "sdzy"), undefined);
  });

  it("relays QEMU's own DEVICE_DELETED for a disk unplugged over QMP, to a subscriber of that event only", async () => {
    const img = path.join(tmp, "qmp-event.img");
    makeImage(img, 1);
    const qmp = async (execute: string, args: object) => {
      const reply = JSON.parse(await client.qemuMonitorCommand(dom, JSON.stringify({ execute, arguments: args })));
      assert.equal(reply.error, undefined, `${execute}: ${JSON.stringify(reply.error)}`);
    };
    const deleted: unknown[] = [];
    const otherEvents: string[] = [];
    const unsubscribe = await client.onQemuMonitorEvent(dom, "DEVICE_DELETED", (e) => {
      assert.equal(e.domain.name, name);
      deleted.push(e.details);
    });
    const unsubscribeOther = await client.onQemuMonitorEvent(dom, "BLOCK_JOB_COMPLETED", (e) => otherEvents.push(e.event));
    try {
      await qmp("blockdev-add", { driver: "file", filename: img, "node-name": "lvt-ev-file" });
      await qmp("blockdev-add", { driver: "raw", file: "lvt-ev-file", "node-name": "lvt-ev" });
      await qmp("device_add", { driver: "scsi-hd", id: "lvt-ev-dev", drive: "lvt-ev", bus: "scsi0.0", "scsi-id": 0, lun: 77 });
      await qmp("device_del", { id: "lvt-ev-dev" });
      const until = Date.now() + 10_000;
      while (!deleted.some((d: any) => d?.device === "lvt-ev-dev") && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.ok(deleted.some((d: any) => d?.device === "lvt-ev-dev" && d?.path === "/machine/peripheral/lvt-ev-dev"), JSON.stringify(deleted));
      assert.deepEqual(otherEvents, []);
      // The event means QEMU let go of the device: its node can be deleted now.
      await qmp("blockdev-del", { "node-name": "lvt-ev" });
      await qmp("blockdev-del", { "node-name": "lvt-ev-file" });
    } finally {
      unsubscribe();
      unsubscribeOther();
    }
  });

  it("gives a typed not-found error for an unknown domain, volume and pool", async () => {
    await assert.rejects(client.lookupDomain("lvt-no-such-domain"), (e: unknown) => {
      assert.ok(e instanceof LibvirtError);
      assert.equal(e.code, ErrorCode.NoDomain);
      assert.ok(e.isNotFound);
      assert.match(e.message, /lvt-no-such-domain/);
      return true;
    });
    await assert.rejects(client.lookupDomain("00000000-0000-0000-0000-000000000001"), { code: ErrorCode.NoDomain });
    await assert.rejects(client.lookupPool("lvt-no-such-pool"), { code: ErrorCode.NoStoragePool });
    await assert.rejects(client.lookupVolumeByPath("/nonexistent/lvt.img"), { code: ErrorCode.NoStorageVol });
  });

  it("matches 200 calls in flight on one connection to their replies by serial", async () => {
    const states = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? client.domainState(dom) : client.libVersion())));
    // A reply matched to the wrong serial would hand a version string to a state call or the other way round.
    for (let i = 0; i < 200; i++) {
      if (i % 2) assert.deepEqual(Object.keys(states[i] as object), ["state", "reason"]);
      else assert.match(states[i] as string, /^\d+\.\d+\.\d+$/);
    }
  });

  it("reports lifecycle events of a domain", async () => {
    const suspended = await client.expectDomainEvent((e) => e.kind === "lifecycle" && e.domain.name === name && e.event === 3);
    virsh("suspend", name);
    assert.ok(await suspended.wait(10_000), "suspended event arrived");
    virsh("resume", name);
  });

  describe("when the link to the daemon breaks", () => {
    let relay: Relay;
    before(async () => {
      relay = new Relay(tmp);
      await relay.listen();
    });
    after(() => relay.close());

    it("fails the waiting call as lost, then reconnects on the next call and keeps its event subscription", async () => {
      const viaRelay = await LibvirtClient.connect(`qemu+unix:///system?socket=${relay.socketPath}`);
      try {
        await viaRelay.onDomainEvent(() => undefined);
        assert.equal(viaRelay.connectCount, 1);
        // The relay holds the call back, so it is still waiting for its reply when the link is cut.
        relay.stalled = true;
        const waiting = viaRelay.libVersion();
        await new Promise((r) => setTimeout(r, 100));
        relay.cutAll();
        relay.stalled = false;
        await assert.rejects(waiting, ConnectionLostError);
        assert.equal((await viaRelay.lookupDomainByName(name)).name, name);
        assert.equal(viaRelay.connectCount, 2);
        const suspended = await viaRelay.expectDomainEvent((e) => e.kind === "lifecycle" && e.domain.name === name && e.event === 3);
        virsh("suspend", name);
        try {
          assert.ok(await suspended.wait(10_000), "events still arrive after the reconnect");
        } finally {
          virsh("resume", name);
        }
      } finally {
        await viaRelay.close();
      }
    });

    it("never waits past the deadline when the daemon stops answering", async () => {
      const viaRelay = await LibvirtClient.connect(`qemu+unix:///system?socket=${relay.socketPath}`, { callTimeoutMs: 300 });
      try {
        relay.stalled = true;
        const started = Date.now();
        await assert.rejects(viaRelay.libVersion(), CallTimeoutError);
        assert.ok(Date.now() - started < 5_000);
      } finally {
        relay.stalled = false;
        viaRelay.dropConnection();
        await viaRelay.close();
      }
    });

    it("keeps a connection whose daemon answers our keepalive pings (short interval, well past interval x count)", async () => {
      const c = await LibvirtClient.connect("qemu:///system", { keepaliveIntervalMs: 100, keepaliveCount: 2 });
      try {
        await new Promise((r) => setTimeout(r, 1_000));
        assert.equal(await c.libVersion(), await client.libVersion());
        assert.equal(c.connectCount, 1, "libvirtd answered every PING with a PONG");
      } finally {
        await c.close();
      }
    });

    it("declares a link that went silent dead within interval x (count + 1), and the next call reconnects", async () => {
      const viaRelay = await LibvirtClient.connect(`qemu+unix:///system?socket=${relay.socketPath}`, {
        keepaliveIntervalMs: 200,
        keepaliveCount: 3,
        callTimeoutMs: 60_000,
      });
      try {
        relay.stalled = true;
        const started = Date.now();
        await assert.rejects(viaRelay.libVersion(), (e: unknown) => e instanceof ConnectionLostError && /keepalive/.test((e as Error).message));
        const took = Date.now() - started;
        assert.ok(took <= 200 * 4 + 500, `took ${took} ms`);
        relay.stalled = false;
        assert.equal((await viaRelay.lookupDomainByName(name)).name, name);
        assert.equal(viaRelay.connectCount, 2);
      } finally {
        relay.stalled = false;
        await viaRelay.close();
      }
    });

    it("tears down a connection whose call timed out: the next call runs on a new connection at once", async () => {
      const viaRelay = await LibvirtClient.connect(`qemu+unix:///system?socket=${relay.socketPath}`, { callTimeoutMs: 300, keepaliveIntervalMs: 0 });
      try {
        relay.stalled = true;
        await assert.rejects(viaRelay.libVersion(), CallTimeoutError);
        relay.stalled = false;
        const started = Date.now();
        assert.equal((await viaRelay.lookupDomainByName(name)).name, name);
        assert.ok(Date.now() - started < 1_000);
        assert.equal(viaRelay.connectCount, 2);
      } finally {
        relay.stalled = false;
        await viaRelay.close();
      }
    });

    it("refuses calls after close with a clear error", async () => {
      const c = await LibvirtClient.connect("qemu:///system");
      await c.close();
      await assert.rejects(c.libVersion(), /closed/);
    });

    it("fails fast with the socket path when nothing listens there", async () => {
      await assert.rejects(
        LibvirtClient.connect(`qemu+unix:///system?socket=${path.join(tmp, "nothing.sock")}`),
        /cannot connect to libvirt at unix:.*nothing\.sock/,
      );
    });
  });
});
