// Bad input fails at check (what `pulumi preview` runs), naming the property, before anything on the host is
// touched: the provider objects the SDK's shim loads are given hostile inputs, and the host is compared after.
import { strict as assert } from "node:assert";
import { virsh } from "../support/host";
import { providers } from "../support/provider";

type Case = [kind: keyof typeof providers, inputs: Record<string, unknown>, property: string];

const vm = { name: "vm1", memoryMiB: 256, vcpus: 1 };
const disk = { domain: "vm1", source: "/var/lib/libvirt/images/a.img" };

const CASES: Case[] = [
  ["Domain", { ...vm, name: "vm1'/><devices>" }, "name"],
  ["Domain", { ...vm, name: "vm1\nx" }, "name"],
  ["Domain", { ...vm, name: "-rf" }, "name"],
  ["Domain", { ...vm, memoryMiB: -1 }, "memoryMiB"],
  ["Domain", { ...vm, memoryMiB: "256" }, "memoryMiB"],
  ["Domain", { ...vm, vcpus: 0 }, "vcpus"],
  ["Domain", { ...vm, memoryMiB: 512, maxMemoryMiB: 256 }, "memoryMiB"],
  ["Domain", { ...vm, boot: { kernel: "vmlinuz" } }, "boot.kernel"],
  ["Domain", { ...vm, boot: { kernel: "/boot/vmlinuz", cmdline: "console=ttyS0 <script>" } }, "boot.cmdline"],
  ["Domain", { ...vm, disks: [{ source: "/img/a,b.img" }] }, "disks[0].source"],
  ["Domain", { ...vm, disks: [{ source: "/img/a.img", bus: "floppy" }] }, "disks[0].bus"],
  ["Domain", { ...vm, restart: "sometimes" }, "restart"],
  ["Domain", { ...vm, uri: "http://example.invalid/" }, "uri"],
  ["Domain", { ...vm, uri: "qemu+ssh://%zz@example.invalid/system" }, "uri"],
  ["Disk", { ...disk, uri: "qemu+ssh://a%@example.invalid/system" }, "uri"],
  ["Disk", { ...disk, uri: "qemu+ssh://a%27%3Btouch%20%2Ftmp%2Fpwned%3B%27@example.invalid/system" }, "uri"],
  ["Cdrom", { domain: "vm1", uri: "qemu+ssh://a%0Ab@example.invalid/system" }, "uri"],
  ["Volume", { name: "v.img", capacityBytes: 1048576, uri: "qemu+ssh://-oProxyCommand/system" }, "uri"],
  ["Domain", { ...vm, memoryMib: 256 }, "memoryMib"],
  ["Volume", { name: "v.qcow2", capacityBytes: 0 }, "capacityBytes"],
  ["Volume", { name: "../etc/passwd", capacityBytes: 1048576 }, "name"],
  ["Volume", { name: "v.img", capacityBytes: 1048576, format: "vmdk" }, "format"],
  ["Volume", { name: "v.img", capacityBytes: 1048576, backingStore: { path: "relative.qcow2", format: "qcow2" } }, "backingStore.path"],
  ["Disk", { ...disk, source: "/var/lib/x.img,format=raw" }, "source"],
  ["Disk", { ...disk, source: '/var/lib/"x".img' }, "source"],
  ["Disk", { ...disk, source: "/var/lib/../../etc/shadow" }, "source"],
  ["Disk", { ...disk, source: "/var/lib/x.img\n" }, "source"],
  ["Disk", { ...disk, bus: "ide" }, "bus"],
  ["Disk", { ...disk, target: "vda; rm -rf /" }, "target"],
  ["Disk", { ...disk, bootOrder: 0 }, "bootOrder"],
  ["Disk", { ...disk, serial: "<x>" }, "serial"],
  ["Disk", { ...disk, via: "hmp" }, "via"],
  ["Disk", { ...disk, domain: "vm1<" }, "domain"],
  ["Cdrom", { domain: "vm1", media: "/iso/a&b.iso" }, "media"],
  ["Cdrom", { domain: "vm1", bus: "virtio" }, "bus"],
  ["Cdrom", { domain: "vm1", bus: "usb", target: "vdb" }, "target"],
  ["GuestExec", { domain: "vm1", path: "../../bin/sh" }, "path"],
  ["GuestExec", { domain: "vm1", path: "/bin/sh", env: ["NO_EQUALS_SIGN"] }, "env[0]"],
  ["GuestExec", { domain: "vm1", path: "/bin/sh", args: ["a\u0000b"] }, "args[0]"],
  ["GuestExec", { domain: "vm1", path: "/bin/sh", timeoutSeconds: -5 }, "timeoutSeconds"],
  ["Interface", { domain: "vm1", network: "lan", mac: "01:00:5e:00:00:fb" }, "mac"],
  ["Interface", { domain: "vm1", network: "lan", mac: "52:54:00:12:34:56'/><x" }, "mac"],
  ["Interface", { domain: "vm1", bridge: "br0;ip link del br0" }, "bridge"],
  ["Interface", { domain: "vm1", bridge: "a-bridge-name-too-long" }, "bridge"],
  ["Interface", { domain: "vm1", network: "lan", bridge: "br0" }, "bridge"],
  ["Interface", { domain: "vm1", user: true, ipv4: { address: "198.18.7.9", prefixLength: 24 } }, "ipv4.address"],
  ["Interface", { domain: "vm1", network: "lan", linkState: "off" }, "linkState"],
  ["Interface", { domain: "vm1", network: "lan", mtu: 70000 }, "mtu"],
];

function hostState(): string {
  return [virsh("list", "--all", "--name"), virsh("vol-list", "default"), virsh("pool-list", "--all")].join("\n");
}

describe("hostile inputs are refused at check, before anything is touched", () => {
  it(`refuses all ${CASES.length}, each naming the property, and the host is unchanged`, async () => {
    assert.ok(CASES.length >= 30);
    const before = hostState();
    for (const [kind, inputs, property] of CASES) {
      const result = await providers[kind].check({}, inputs);
      const failures = result.failures ?? [];
      assert.ok(failures.length > 0, `${kind} ${JSON.stringify(inputs)} was accepted`);
      assert.ok(
        failures.some((f) => f.property === property),
        `${kind}: expected a failure naming ${property}, got ${JSON.stringify(failures)}`,
      );
      for (const f of failures) assert.ok(f.reason.length > 10, `a reason a user can act on: ${JSON.stringify(f)}`);
    }
    assert.equal(hostState(), before);
  });
});
