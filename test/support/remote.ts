// One round trip of real resources over a remote-style uri (ssh, tcp, tls): a Volume created, grown and deleted,
// and a Cdrom attached to a running domain, its media swapped in the tray, and detached — each step checked with
// virsh over the local socket, so what the remote transport did is seen from outside it.
//
// The tcp and tls listeners of setup-host.sh's daemon are inside its network namespace, so the tests call these
// through test/support/in-netns.ts: arguments and results are plain JSON, and the checks that need Node's own
// objects (an error's class, a connection) are made here.
import { strict as assert } from "node:assert";
import * as net from "node:net";
import * as path from "node:path";
import { LibvirtClient } from "../../provider/src/libvirt";
import { DialError } from "../../provider/src/wire/transport";
import { makeImage, virsh } from "./host";
import { create, diff, read, remove, update } from "./provider";

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

export type ConnectOutcome = { connected: true } | { connected: false; dialError: boolean; message: string; causeCode?: string };

/** Connects to `uri` and closes again; a refusal is described instead of thrown. */
export async function connectOutcome(uri: string): Promise<ConnectOutcome> {
  try {
    const client = await LibvirtClient.connect(uri);
    await client.close();
    return { connected: true };
  } catch (e) {
    const causeCode = e instanceof Error ? (e.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
    return { connected: false, dialError: e instanceof DialError, message: e instanceof Error ? e.message : String(e), ...(causeCode ? { causeCode } : {}) };
  }
}

/**
 * `count` calls sent at once right after connecting (libVersion and domainState alternately), with each call's own
 * deadline at 20 s: how long after the connection they were all answered, the answers, and the version.
 */
export async function answersInFlight(uri: string, domainName: string, count: number): Promise<{ elapsed: number; answers: unknown[]; version: string }> {
  const client = await LibvirtClient.connect(uri, { callTimeoutMs: 20_000 });
  try {
    const connected = Date.now();
    const dom = await client.lookupDomain(domainName);
    const answers = await Promise.all(Array.from({ length: count }, (_, i) => (i % 2 ? client.domainState(dom) : client.libVersion())));
    return { elapsed: Date.now() - connected, answers, version: await client.libVersion() };
  } finally {
    await client.close();
  }
}

function insertedFile(domainName: string, alias: string): string | undefined {
  const blocks = JSON.parse(virsh("qemu-monitor-command", domainName, JSON.stringify({ execute: "query-block" }))).return as any[];
  return blocks.find((b) => b.qdev === alias || String(b.qdev).startsWith(`/machine/peripheral/${alias}/`))?.inserted?.file;
}

/** `domainName` is a defined bare domain (test/support/host.ts bareDomainXml); it is started if it is not running. */
export async function resourceRoundTrip(uri: string, domainName: string, scratchDir: string): Promise<void> {
  const volName = `${domainName}-rt.qcow2`;
  const volInputs = (mib: number) => ({ uri, name: volName, pool: "default", capacityBytes: mib * 1024 * 1024, format: "qcow2" });
  const vol = await create("Volume", volInputs(4));
  try {
    assert.match(virsh("vol-info", "--pool", "default", volName), /Capacity:\s+4\.00 MiB/);
    assert.deepEqual((await diff("Volume", vol.id, vol.outs, volInputs(8))).replaces, []);
    const grown = await update("Volume", vol.id, vol.outs, volInputs(8));
    assert.equal(grown.capacityBytes, 8 * 1024 * 1024);
    assert.match(virsh("vol-info", "--pool", "default", volName), /Capacity:\s+8\.00 MiB/, "grown, as libvirt sees it");
  } finally {
    await remove("Volume", vol.id, vol.outs);
  }
  assert.throws(() => virsh("vol-info", "--pool", "default", volName), "the volume was not deleted");

  if (!/running/.test(virsh("domstate", domainName))) virsh("start", domainName);
  const [isoA, isoB] = ["rt-a.iso", "rt-b.iso"].map((f) => path.join(scratchDir, f));
  makeImage(isoA, 1);
  makeImage(isoB, 1);
  const base = { uri, resourceName: "rt-cd", domain: domainName, bus: "scsi" };
  const cd = await create("Cdrom", { ...base, media: isoA });
  let outs = cd.outs;
  try {
    assert.equal(insertedFile(domainName, cd.outs.alias), isoA);
    assert.deepEqual((await diff("Cdrom", cd.id, outs, { ...base, media: isoB })).replaces, []);
    outs = await update("Cdrom", cd.id, outs, { ...base, media: isoB });
    assert.equal(outs.inserted, isoB);
    assert.equal(insertedFile(domainName, cd.outs.alias), isoB, "QEMU holds the new medium");
    assert.equal((await read("Cdrom", cd.id, outs)).props.inserted, isoB);
  } finally {
    await remove("Cdrom", cd.id, outs);
  }
  assert.doesNotMatch(virsh("dumpxml", domainName), new RegExp(`<alias name='${cd.outs.alias}'/>`), "the cdrom was not detached");
  assert.doesNotMatch(virsh("dumpxml", "--inactive", domainName), new RegExp(`<alias name='${cd.outs.alias}'/>`), "the cdrom stayed in the config");
}
