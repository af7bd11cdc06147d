// libvirtd restarted in the middle of work: ten Disks being attached and one being detached through the
// provider's handlers (the shared client, as in Pulumi's provider process). Each call completes or fails with a
// message naming libvirt; running the same creates (and the delete) again, as the next `pulumi up` would,
// converges with no duplicate and no lost device, checked with virsh dumpxml (live and config) and query-block.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Program, QemuProc, RemoteProc } from "../../provider/src/libvirt/protocol";
import { FrameDecoder, MessageType } from "../../provider/src/wire/framing";
import { bareDomainXml, makeImage, removeDomain, uniqueName, virsh } from "../support/host";
import { ensureLibvirtd, libvirtdIsOurs, libvirtdPid, restartLibvirtd } from "../support/libvirtd";
import { create, read, remove } from "../support/provider";
import { skipMissing } from "../support/skip";

type Props = Record<string, any>;

function queryBlockFiles(domain: string): string[] {
  const blocks = JSON.parse(virsh("qemu-monitor-command", domain, JSON.stringify({ execute: "query-block" }))).return as any[];
  return blocks.flatMap((b) => (typeof b.inserted?.file === "string" ? [b.inserted.file] : []));
}

const sourcesIn = (xml: string) => [...xml.matchAll(/<source file='([^']+)'/g)].map((m) => m[1]);
const count = (list: string[], item: string) => list.filter((x) => x === item).length;

/**
 * A relay to the daemon's socket that, once armed, lets one chosen call through and then loses the link before
 * its answer (and any event it causes) comes back: the request may or may not have been carried out, as when
 * libvirtd dies mid-call. Deterministic, where a real restart's timing is not.
 */
class CuttingRelay {
  readonly socketPath: string;
  connections = 0;
  cuts = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private armed: ((program: number, procedure: number, payload: Buffer) => boolean) | null = null;

  constructor(dir: string) {
    this.socketPath = path.join(dir, "relay.sock");
    this.server = net.createServer((client) => {
      this.connections++;
      this.sockets.add(client);
      client.on("close", () => this.sockets.delete(client));
      const upstream = net.connect("/var/run/libvirt/libvirt-sock");
      const decoder = new FrameDecoder();
      let deaf = false;
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("data", (chunk) => {
        upstream.write(chunk);
        for (const frame of decoder.push(chunk)) {
          const { program, procedure, type } = frame.header;
          if (type !== MessageType.Call || !this.armed?.(program, procedure, frame.payload)) continue;
          this.armed = null;
          this.cuts++;
          deaf = true; // the answer is lost...
          setTimeout(end, 200); // ...and then the link, after the daemon has acted on the call
        }
      });
      upstream.on("data", (chunk) => deaf || client.write(chunk));
      client.on("close", end).on("error", end);
      upstream.on("close", end).on("error", end);
    });
  }

  get uri(): string {
    return `qemu+unix:///system?socket=${this.socketPath}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  cutAfter(match: (program: number, procedure: number, payload: Buffer) => boolean): void {
    this.armed = match;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("a detach whose connection is lost mid-wait", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-cut-"));
  const vmName = uniqueName("cut");
  let relay: CuttingRelay;

  before(async () => {
    fs.writeFileSync(path.join(tmp, "domain.xml"), bareDomainXml(vmName));
    virsh("define", path.join(tmp, "domain.xml"));
    virsh("start", vmName);
    relay = new CuttingRelay(tmp);
    await relay.listen();
  });

  after(async () => {
    await relay?.close();
    removeDomain(vmName);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("via libvirt: reads the state again on the new connection and ends once the device is gone", async () => {
    const source = path.join(tmp, "cut-xml.img");
    makeImage(source, 1);
    const disk = await create("Disk", { resourceName: "cutxml", domain: vmName, source, bus: "usb", uri: relay.uri });
    const before = relay.connections;
    relay.cutAfter((program, procedure) => program === Program.Remote && procedure === RemoteProc.DomainDetachDeviceAlias);
    await remove("Disk", disk.id, disk.outs);
    assert.equal(relay.cuts, 1, "the link was lost after the detach request");
    assert.ok(relay.connections > before, "the provider reconnected");
    assert.equal(count(sourcesIn(virsh("dumpxml", vmName)), source), 0, "gone from the live XML");
    assert.equal(count(sourcesIn(virsh("dumpxml", "--inactive", vmName)), source), 0, "gone from the config");
    assert.equal(count(queryBlockFiles(vmName), source), 0, "gone from QEMU");
  });

  it("via qmp: device_del's answer lost, the wait ends on the new connection and no block node is left", async () => {
    const source = path.join(tmp, "cut-qmp.img");
    makeImage(source, 1);
    const disk = await create("Disk", { resourceName: "cutqmp", domain: vmName, source, bus: "scsi", via: "qmp", uri: relay.uri });
    relay.cutAfter((program, procedure, payload) => program === Program.Qemu && procedure === QemuProc.DomainMonitorCommand && payload.includes("device_del"));
    await remove("Disk", disk.id, disk.outs);
    assert.equal(relay.cuts, 2);
    assert.equal(count(queryBlockFiles(vmName), source), 0, "gone from QEMU");
    const nodes = JSON.parse(virsh("qemu-monitor-command", vmName, JSON.stringify({ execute: "query-named-block-nodes", arguments: { flat: true } }))).return as any[];
    assert.deepEqual(nodes.filter((n) => String(n["node-name"]).startsWith(disk.outs.alias)).map((n) => n["node-name"]), [], "no block node left behind");
  });
});

describe("libvirtd restarted while ten Disks attach and one detaches", function () {
  this.timeout(240_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-restart-"));
  const vmName = uniqueName("restart");
  const image = (name: string) => {
    const file = path.join(tmp, name);
    makeImage(file, 1);
    return file;
  };

  before(function () {
    // A host's own daemon is never restarted by the tests.
    if (!libvirtdIsOurs()) skipMissing(this, "a libvirtd started by scripts/setup-host.sh (this host's own daemon is never restarted)");
    fs.writeFileSync(path.join(tmp, "domain.xml"), bareDomainXml(vmName));
    virsh("define", path.join(tmp, "domain.xml"));
    virsh("start", vmName);
  });

  after(async () => {
    await ensureLibvirtd(); // running again whatever happened
    removeDomain(vmName);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("every call completes or fails clearly, and running the same work again converges", async () => {
    // 5 scsi and 3 usb through libvirt's XML, 2 scsi over QMP; the one being detached is a usb disk.
    const inputs: Props[] = Array.from({ length: 10 }, (_, i) => ({
      resourceName: `rs${i}`,
      domain: vmName,
      source: image(`rs${i}.img`),
      bus: i < 5 || i >= 8 ? "scsi" : "usb",
      ...(i >= 8 ? { via: "qmp" } : {}),
    }));
    const leaving = await create("Disk", { resourceName: "leaving", domain: vmName, source: image("leaving.img"), bus: "usb" });
    const pidBefore = libvirtdPid();

    // The next `pulumi up`: all eleven operations at once, and the daemon restarted once the first has landed.
    const creates = inputs.map((i) => create("Disk", i));
    const detach = remove("Disk", leaving.id, leaving.outs);
    await Promise.race([...creates, detach].map((p) => p.catch(() => undefined)));
    const restarted = restartLibvirtd();
    const results = await Promise.allSettled([...creates, detach]);
    await restarted;
    assert.notEqual(libvirtdPid(), pidBefore, "the daemon was restarted");
    // The delete waits for the device to leave; across the restart it reads the state again and completes.
    const detached = results[10];
    assert.ok(detached.status === "fulfilled", `the detach: ${detached.status === "rejected" ? (detached.reason as Error).message : ""}`);

    const failures = results.flatMap((r, i) => (r.status === "rejected" ? [[i, r.reason as Error] as const] : []));
    for (const [i, error] of failures) {
      assert.ok(error instanceof Error, `operation ${i} failed with ${String(error)}`);
      assert.match(error.message, /libvirt/, `operation ${i}: a message that says what went wrong: ${error.message}`);
    }
    console.log(`      restart: ${failures.length} of 11 operations failed: ${failures.map(([i, e]) => `#${i}: ${e.message}`).join(" | ")}`);
    // Only what was in flight when the daemon went away can fail (the creates take turns under the domain's
    // lock): everything that asked afterwards waited for the daemon to come back instead of failing to dial.
    assert.ok(failures.length <= 3, `${failures.length} of 11 failed`);
    assert.ok(!failures.some(([, e]) => /cannot connect/.test(e.message)), "no call gave up while the daemon restarted");

    // Run again: failed creates are created again (Pulumi recorded nothing for them), a failed delete is retried.
    const state = new Map<number, { id: string; outs: Props }>();
    for (const [i, r] of results.slice(0, 10).entries()) if (r.status === "fulfilled") state.set(i, r.value as { id: string; outs: Props });
    for (let i = 0; i < 10; i++) if (!state.has(i)) state.set(i, await create("Disk", inputs[i]));
    if (results[10].status === "rejected") await remove("Disk", leaving.id, leaving.outs);

    // And once more, as a refresh: every recorded Disk reads back as present.
    for (const [i, disk] of state) assert.notEqual((await read("Disk", disk.id, disk.outs)).id, "", `rs${i} is there`);

    const live = sourcesIn(virsh("dumpxml", vmName));
    const config = sourcesIn(virsh("dumpxml", "--inactive", vmName));
    const blocks = queryBlockFiles(vmName);
    for (const [i, input] of inputs.entries()) {
      assert.equal(count(blocks, input.source), 1, `rs${i} is open exactly once in QEMU: ${JSON.stringify(blocks)}`);
      if (!input.via) {
        assert.equal(count(live, input.source), 1, `rs${i} once in the live XML`);
        assert.equal(count(config, input.source), 1, `rs${i} once in the config`);
      }
    }
    const gone = leaving.outs.source as string;
    assert.equal(count(blocks, gone), 0, "the detached disk is gone from QEMU");
    assert.equal(count(live, gone) + count(config, gone), 0, "and from libvirt's live and persistent XML");

    for (const disk of state.values()) await remove("Disk", disk.id, disk.outs);
  });
});
