import { strict as assert } from "node:assert";
import { UNKNOWN, containsUnknown, validateInputs } from "../../../provider/src/resources/validate";

describe("schema validation accepts the contract's inputs and applies defaults", () => {
  it("Volume: minimal inputs get pool and format defaults", () => {
    const r = validateInputs("Volume", { name: "data.qcow2", capacityBytes: 1073741824 });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs, { name: "data.qcow2", capacityBytes: 1073741824, pool: "default", format: "qcow2" });
  });

  it("Volume: a raw volume and a qcow2 overlay on a backing store", () => {
    assert.deepEqual(
      validateInputs("Volume", { pool: "images", name: "seed.raw", capacityBytes: 512, format: "raw" }).failures,
      [],
    );
    const r = validateInputs("Volume", {
      name: "overlay-1",
      capacityBytes: 64 * 1024 ** 4,
      backingStore: { path: "/var/lib/libvirt/images/base.qcow2", format: "qcow2" },
      uri: "qemu+ssh://root@hv1.example.com:2222/system?keyfile=/root/.ssh/id_ed25519&no_verify=1",
    });
    assert.deepEqual(r.failures, []);
    assert.equal(r.inputs.format, "qcow2");
  });

  it("Domain: minimal inputs get every default", () => {
    const r = validateInputs("Domain", { name: "vm1", memoryMiB: 64, vcpus: 1 });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs, {
      name: "vm1",
      memoryMiB: 64,
      vcpus: 1,
      disks: [],
      guestAgent: true,
      networks: [],
      running: true,
      autostart: false,
      shutdownTimeoutSeconds: 60,
      restart: "never",
    });
  });

  it("Domain: every input, with nested defaults", () => {
    const r = validateInputs("Domain", {
      uri: "qemu:///system",
      name: "guest-1.test_A",
      type: "qemu",
      memoryMiB: 256,
      maxMemoryMiB: 1024,
      vcpus: 1,
      maxVcpus: 4,
      machine: "pc-q35-7.2",
      arch: "x86_64",
      boot: { kernel: "/srv/guest/vmlinux", initrd: "/srv/guest/initrd.gz", cmdline: 'console=ttyS0 quiet panic=-1 x="a b"' },
      disks: [
        { source: "/var/lib/libvirt/images/root.qcow2", format: "qcow2", bootOrder: 1 },
        { source: "/var/lib/libvirt/images/data.img", bus: "scsi", target: "sdb", readonly: true, serial: "DATA-01" },
      ],
      guestAgent: true,
      networks: [{ network: "default" }, { bridge: "br0", model: "e1000", mac: "52:54:00:12:34:56" }, {}],
      graphics: { type: "vnc" },
      running: false,
      autostart: true,
      shutdownTimeoutSeconds: 0.5,
      restart: "allow",
    });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs.disks[0], {
      source: "/var/lib/libvirt/images/root.qcow2",
      format: "qcow2",
      bootOrder: 1,
      bus: "virtio",
      readonly: false,
    });
    assert.deepEqual(r.inputs.networks[0], { network: "default", model: "virtio" });
    assert.deepEqual(r.inputs.networks[2], { model: "virtio" });
    assert.deepEqual(r.inputs.graphics, { type: "vnc", listen: "127.0.0.1" });
    assert.equal(r.inputs.restart, "allow");
  });

  it("Domain: a firmware boot order and equal memory/max", () => {
    const r = validateInputs("Domain", {
      name: "vm2",
      memoryMiB: 1024,
      maxMemoryMiB: 1024,
      vcpus: 2,
      maxVcpus: 2,
      boot: { devices: ["cdrom", "hd", "network"] },
    });
    assert.deepEqual(r.failures, []);
  });

  it("Disk: minimal inputs get every default; a UUID names the domain", () => {
    const r = validateInputs("Disk", {
      domain: "0f8fad5b-d9cb-469f-a165-70867728950e",
      source: "/var/lib/libvirt/images/data.qcow2",
    });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs, {
      domain: "0f8fad5b-d9cb-469f-a165-70867728950e",
      source: "/var/lib/libvirt/images/data.qcow2",
      format: "raw",
      bus: "virtio",
      readonly: false,
      via: "libvirt",
      persistent: true,
      detachTimeoutSeconds: 30,
    });
  });

  it("Disk: every input", () => {
    const r = validateInputs("Disk", {
      uri: "qemu+unix:///system?socket=/var/run/libvirt/libvirt-sock",
      domain: "vm1",
      source: "/srv/images/My Disk (2).qcow2",
      format: "qcow2",
      bus: "usb",
      target: "sdzy",
      readonly: true,
      serial: "usb-1",
      bootOrder: 9999,
      via: "qmp",
      persistent: false,
      detachTimeoutSeconds: 120,
    });
    assert.deepEqual(r.failures, []);
  });

  it("Cdrom: an empty scsi drive by default; media path or null", () => {
    const r = validateInputs("Cdrom", { domain: "vm1" });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs, { domain: "vm1", bus: "scsi", media: null, via: "libvirt", detachTimeoutSeconds: 30 });
    for (const bus of ["scsi", "usb", "sata", "ide"] as const) {
      const target = bus === "ide" ? "hdc" : "sdc";
      const c = validateInputs("Cdrom", { domain: "vm1", bus, media: "/srv/iso/seed.iso", target, bootOrder: 2 });
      assert.deepEqual(c.failures, [], bus);
    }
    assert.deepEqual(validateInputs("Cdrom", { domain: "vm1", media: null, via: "qmp" }).failures, []);
  });

  it("GuestExec: args carry any text (never a shell); defaults applied", () => {
    const r = validateInputs("GuestExec", {
      domain: "vm1",
      path: "/bin/sh",
      args: ["-c", "echo 'it''s' \"<b>&amp;\" > /tmp/x, y; cat <<EOF\nline\nEOF\n", "--", "-rf", "../.."],
      env: ["PATH=/usr/bin:/bin", "EMPTY=", "_X1=a=b,c"],
      input: "stdin\u0000 may carry anything\n",
    });
    assert.deepEqual(r.failures, []);
    assert.equal(r.inputs.captureOutput, true);
    assert.equal(r.inputs.timeoutSeconds, 60);
    assert.equal(r.inputs.expectExitCode, 0);
    assert.equal(r.inputs.agentTimeoutSeconds, 300);
  });

  it("GuestExec: a bare command name, triggers of any shape, a delete command", () => {
    const r = validateInputs("GuestExec", {
      domain: "vm1",
      path: "systemctl",
      triggers: [1, "two", { three: [3] }, null],
      delete: { path: "rm", args: ["-f", "/tmp/marker"] },
      captureOutput: false,
      timeoutSeconds: 600,
      expectExitCode: 3,
      agentTimeoutSeconds: 30,
    });
    assert.deepEqual(r.failures, []);
    assert.equal(r.inputs.args.length, 0);
    assert.deepEqual(r.inputs.env, []);
    assert.deepEqual(r.inputs.delete, { path: "rm", args: ["-f", "/tmp/marker"], env: [] });
  });

  it("accepts each URI form", () => {
    for (const uri of [
      "qemu:///system",
      "qemu:///session",
      "qemu+tcp://10.0.0.1/system",
      "qemu+tcp://hv1:16509/system",
      "qemu+tls://[::1]/system",
      "qemu+ssh://user@hv1/system",
      "qemu+ssh://hv1/session?keyfile=/home/u/.ssh/id",
      "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
    ]) {
      assert.deepEqual(validateInputs("Cdrom", { domain: "vm1", uri }).failures, [], uri);
    }
  });

  it("ignores __provider, leaves the caller's object untouched and does not return __provider", () => {
    const given = { __provider: "exports.handler = …", name: "v", capacityBytes: 512 };
    const snapshot = JSON.parse(JSON.stringify(given)) as unknown;
    const r = validateInputs("Volume", given);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(given, snapshot);
    assert.equal("__provider" in r.inputs, false);
  });
});

describe("schema validation during preview (unknown values)", () => {
  it("accepts the unknown sentinel at every leaf", () => {
    const r = validateInputs("Domain", {
      uri: UNKNOWN,
      name: UNKNOWN,
      type: UNKNOWN,
      memoryMiB: UNKNOWN,
      maxMemoryMiB: UNKNOWN,
      vcpus: UNKNOWN,
      maxVcpus: UNKNOWN,
      machine: UNKNOWN,
      arch: UNKNOWN,
      boot: { kernel: UNKNOWN, initrd: UNKNOWN, cmdline: UNKNOWN },
      disks: [{ source: UNKNOWN, format: UNKNOWN, bus: UNKNOWN, target: UNKNOWN, bootOrder: UNKNOWN, serial: UNKNOWN }],
      networks: [{ network: UNKNOWN, mac: UNKNOWN, model: UNKNOWN }],
      graphics: { type: UNKNOWN, port: UNKNOWN, listen: UNKNOWN },
      running: UNKNOWN,
      autostart: UNKNOWN,
      guestAgent: UNKNOWN,
      shutdownTimeoutSeconds: UNKNOWN,
      restart: UNKNOWN,
    });
    assert.deepEqual(r.failures, []);
    assert.equal(containsUnknown(r.inputs), true);
  });

  it("accepts unknown objects, arrays and array elements, and still applies defaults around them", () => {
    const r = validateInputs("Domain", {
      name: "vm1",
      memoryMiB: 64,
      vcpus: 1,
      boot: UNKNOWN,
      disks: [UNKNOWN, { source: "/i/a.img" }],
      networks: UNKNOWN,
      graphics: UNKNOWN,
    });
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.inputs.disks[1], { source: "/i/a.img", format: "raw", bus: "virtio", readonly: false });
    assert.equal(r.inputs.networks as unknown, UNKNOWN);
    assert.equal(r.inputs.running, true);
    const g = validateInputs("GuestExec", { domain: UNKNOWN, path: UNKNOWN, args: [UNKNOWN, "x"], env: UNKNOWN, delete: UNKNOWN });
    assert.deepEqual(g.failures, []);
    const c = validateInputs("Cdrom", { domain: "vm1", media: UNKNOWN, bus: "usb", target: UNKNOWN });
    assert.deepEqual(c.failures, []);
    const v = validateInputs("Volume", { name: UNKNOWN, capacityBytes: UNKNOWN, backingStore: { path: UNKNOWN, format: "qcow2" } });
    assert.deepEqual(v.failures, []);
  });

  it("skips cross-field rules that involve an unknown value", () => {
    const r = validateInputs("Domain", {
      name: "vm1",
      memoryMiB: UNKNOWN,
      maxMemoryMiB: 64,
      vcpus: 8,
      maxVcpus: UNKNOWN,
      boot: { devices: [UNKNOWN, UNKNOWN] },
      disks: [
        { source: "/i/a.img", target: UNKNOWN, bus: "scsi" },
        { source: "/i/b.img", target: UNKNOWN, bootOrder: UNKNOWN },
      ],
    });
    assert.deepEqual(r.failures, []);
    const d = validateInputs("Disk", { domain: "vm1", source: "/i/a.img", bus: UNKNOWN, target: "sda" });
    assert.deepEqual(d.failures, []);
  });

  it("still rejects known bad values next to unknown ones", () => {
    const r = validateInputs("Disk", { domain: UNKNOWN, source: "/i/a,b.img", bus: UNKNOWN, bootOrder: 0 });
    assert.deepEqual(r.failures.map((f) => f.property).sort(), ["bootOrder", "source"]);
    const m = validateInputs("Domain", { name: UNKNOWN, memoryMiB: 128, maxMemoryMiB: 64, vcpus: 1 });
    assert.deepEqual(m.failures.map((f) => f.property), ["memoryMiB"]);
    const x = validateInputs("Volume", { name: UNKNOWN, capacityBytes: UNKNOWN, sizeBytes: UNKNOWN });
    assert.deepEqual(x.failures.map((f) => f.property), ["sizeBytes"]);
  });

  it("an unknown value is only the exact sentinel string", () => {
    const r = validateInputs("Disk", { domain: "vm1", source: UNKNOWN + "," });
    assert.deepEqual(r.failures.map((f) => f.property), ["source"]);
  });
});
