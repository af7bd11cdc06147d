// One round trip of real resources over a remote-style uri (ssh, tcp, tls): a Volume created, grown and deleted,
// and a Cdrom attached to a running domain, its media swapped in the tray, and detached — each step checked with
// virsh over the local socket, so what the remote transport did is seen from outside it.
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { makeImage, virsh } from "./host";
import { create, diff, read, remove, update } from "./provider";

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
