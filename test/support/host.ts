// What integration tests need from the host they run on: the real daemon, virsh to cross-check, unique names.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as nodePath from "node:path";
import { XMLBuilder } from "fast-xml-parser";
import { ClientOptions, LibvirtClient } from "../../provider/src/libvirt";

export const DOMAIN_TYPE_FILE = "/var/lib/pulumi-libvirt-live/domain-type";

/** "kvm" only where scripts/setup-host.sh found KVM really usable; TCG otherwise. */
export function domainType(): "kvm" | "qemu" {
  try {
    return fs.readFileSync(DOMAIN_TYPE_FILE, "utf8").trim() === "kvm" ? "kvm" : "qemu";
  } catch {
    return "qemu";
  }
}

export function virsh(...args: string[]): string {
  return execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8" });
}

export function uniqueName(prefix: string): string {
  return `lvt-${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true, suppressEmptyNode: true });

/**
 * A domain with no OS: starts in well under a second and is enough for device hotplug over QMP and XML.
 * Its empty scsi cdrom carries a per-device boot order: libvirt otherwise adds <os><boot dev='hd'/>, and then
 * refuses every later device that has a <boot order> (as the seeds' devices do) — unless the provider converts it.
 * Options: `bootDevOrder: false` leaves that order out (libvirt then adds <os><boot dev='hd'/>), `bootDevices`
 * writes an explicit <os><boot dev> list, `usb: false` gives no USB controller.
 */
export function bareDomainXml(name: string, options: { bootDevOrder?: boolean; bootDevices?: string[]; usb?: boolean } = {}): string {
  const cdrom: Record<string, unknown> = { "@type": "file", "@device": "cdrom", target: { "@dev": "sda", "@bus": "scsi" }, readonly: "" };
  if (options.bootDevOrder !== false && !options.bootDevices) cdrom.boot = { "@order": "1" };
  return builder.build({
    domain: {
      "@type": domainType(),
      name,
      memory: { "@unit": "MiB", "#text": "64" },
      vcpu: "1",
      os: { type: { "@arch": "x86_64", "@machine": "pc", "#text": "hvm" }, boot: options.bootDevices?.map((dev) => ({ "@dev": dev })) },
      devices: {
        disk: cdrom,
        controller: [
          { "@type": "usb", "@index": "0", "@model": options.usb === false ? "none" : "qemu-xhci" },
          { "@type": "scsi", "@index": "0", "@model": "virtio-scsi" },
        ],
      },
    },
  });
}

/** Removes a test domain whatever state it is in; never throws (cleanup must not mask a test failure). */
export function removeDomain(name: string): void {
  for (const args of [["destroy", name], ["undefine", name, "--nvram", "--managed-save", "--snapshots-metadata"]]) {
    try {
      execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}

export function makeImage(path: string, sizeMiB = 8, format: "raw" | "qcow2" = "raw"): void {
  execFileSync("qemu-img", ["create", "-q", "-f", format, path, `${sizeMiB}M`]);
}

/** A scratch folder for a test file's images: `image(name)` makes a raw image there and returns its path. */
export function scratchImages(prefix: string): { dir: string; image(name: string, mib?: number): string; remove(): void } {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), `${prefix}-`));
  return {
    dir,
    image(name, mib = 8) {
      const file = nodePath.join(dir, name);
      makeImage(file, mib);
      return file;
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Connects over `uri` and checks the client reads the same domain XML as virsh does; closes the client. */
export async function assertReadsWhatVirshReads(uri: string, options: ClientOptions, domainName: string): Promise<void> {
  const client = await LibvirtClient.connect(uri, options);
  try {
    assert.match(await client.libVersion(), /^\d+\.\d+\.\d+$/);
    const dom = await client.lookupDomain(domainName);
    assert.equal((await client.domainXml(dom)).trim(), virsh("dumpxml", domainName).trim());
  } finally {
    await client.close();
  }
}
