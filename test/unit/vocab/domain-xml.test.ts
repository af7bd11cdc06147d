import { strict as assert } from "node:assert";
import {
  acceptsDeviceBootOrder,
  buildDomainXml,
  DEFAULT_HOTPLUG_SLOTS,
  freeHotplugSlots,
  freePcieRootPorts,
  machineFamily,
  parseDomainXml,
  type DomainSpec,
} from "../../../provider/src/vocab/domain-xml";
import { SpecError } from "../../../provider/src/vocab/errors";
import { fixtureText, VALIDATOR_MISSING, virtXmlValidate } from "./helpers";
import { skipMissing } from "../../support/skip";

const minimal: DomainSpec = { name: "vm1", type: "qemu", memoryKiB: 65536, vcpus: 1 };

const specs: Record<string, DomainSpec> = {
  "minimal pc with every default": minimal,
  "q35 with disks on every hotpluggable bus, kernel boot and live-change headroom": {
    name: "vm-q35",
    uuid: "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    type: "kvm",
    memoryKiB: 131072,
    maxMemoryKiB: 524288,
    vcpus: 1,
    maxVcpus: 4,
    machine: "q35",
    boot: { kernel: "/var/lib/plv/vmlinux", initrd: "/var/lib/plv/initrd.gz", cmdline: "console=ttyS0 quiet panic=-1" },
    disks: [
      { device: "disk", bus: "virtio", source: "/var/lib/libvirt/images/root.qcow2", format: "qcow2", bootOrder: 1, alias: "ua-root" },
      { device: "cdrom", bus: "scsi", source: "/var/lib/libvirt/images/tools.iso" },
      { device: "cdrom", bus: "sata" },
      { device: "disk", bus: "usb", source: "/var/lib/libvirt/images/usb.img", readonly: true, serial: "USB 1" },
    ],
    interfaces: [{ type: "network", network: "default", mac: "52:54:00:12:34:56" }],
    serial: { type: "file", path: "/var/log/plv/vm-q35.log" },
    onCrash: "coredump-restart",
  },
  "hostile strings everywhere a user can type one": {
    name: `vm 'quoted' "double" <tag> & amp;`,
    type: "qemu",
    memoryKiB: 65536,
    vcpus: 1,
    boot: { kernel: `/boot/k'"<>&`, cmdline: `init=/bin/sh -c "echo <hi> & exit"` },
    disks: [{ device: "disk", bus: "virtio", source: `/images/a'b"c<d>e&f.img` }],
    serial: { type: "file", path: `/var/log/'"<>&.log` },
  },
  "firmware boot from devices, ide cdrom, no graphics, no serial, no agent, no extra controllers": {
    name: "vm-bare",
    type: "qemu",
    memoryKiB: 65536,
    vcpus: 2,
    boot: { devices: ["cdrom", "hd", "network"] },
    disks: [
      { device: "cdrom", bus: "ide", target: "hdc", source: "/isos/install.iso" },
      { device: "disk", bus: "sata", source: "/images/disk.raw" },
    ],
    interfaces: [{ type: "user", model: "e1000" }],
    graphics: { type: "none" },
    serial: { type: "none" },
    guestAgent: false,
    usbController: false,
    scsiController: false,
    onPoweroff: "preserve",
    onReboot: "destroy",
  },
};

describe("vocab/domain-xml", () => {
  describe("generated XML passes libvirt's own schema (virt-xml-validate)", function () {
    this.timeout(30_000);
    for (const [what, spec] of Object.entries(specs)) {
      it(what, function () {
        const check = virtXmlValidate(buildDomainXml(spec), "domain");
        if (!check.available) {
          skipMissing(this, VALIDATOR_MISSING);
        }
        assert.ok(check.valid, check.output);
      });
    }
  });

  it("reads back what it built", () => {
    const spec = specs["q35 with disks on every hotpluggable bus, kernel boot and live-change headroom"];
    assert.ok(spec);
    const parsed = parseDomainXml(buildDomainXml(spec));
    assert.equal(parsed.name, "vm-q35");
    assert.equal(parsed.uuid, spec.uuid);
    assert.equal(parsed.type, "kvm");
    assert.equal(parsed.id, null);
    assert.equal(parsed.memoryKiB, 131072);
    assert.equal(parsed.maxMemoryKiB, 524288);
    assert.deepEqual(parsed.vcpus, { current: 1, max: 4 });
    assert.equal(parsed.machine, "q35");
    assert.equal(parsed.arch, "x86_64");
    assert.deepEqual(parsed.os, { kernel: "/var/lib/plv/vmlinux", initrd: "/var/lib/plv/initrd.gz", cmdline: "console=ttyS0 quiet panic=-1", bootDevices: [] });
    assert.equal(parsed.onCrash, "coredump-restart");
    assert.equal(parsed.hasGuestAgentChannel, true);
    assert.deepEqual(parsed.graphics, [{ type: "vnc", listen: "127.0.0.1", port: null, autoport: true }]);
    assert.deepEqual(parsed.interfaces, [
      { type: "network", source: "default", model: "virtio", mac: "52:54:00:12:34:56", alias: null, target: null, linkState: "up", mtu: null, bootOrder: null, ipv4: null, address: null },
    ]);
    // Targets and addresses were picked: the sd namespace is shared by scsi, sata and usb.
    assert.deepEqual(
      parsed.disks.map((d) => [d.target, d.bus, d.device]),
      [
        ["vda", "virtio", "disk"],
        ["sda", "scsi", "cdrom"],
        ["sdb", "sata", "cdrom"],
        ["sdc", "usb", "disk"],
      ],
    );
    assert.deepEqual(parsed.disks[1]?.address, { type: "drive", controller: 0, bus: 0, target: 0, unit: 0 });
    assert.equal(parsed.disks[3]?.serial, "USB 1");
  });

  it("keeps hostile names and paths as data", () => {
    const spec = specs["hostile strings everywhere a user can type one"];
    assert.ok(spec);
    const parsed = parseDomainXml(buildDomainXml(spec));
    assert.equal(parsed.name, spec.name);
    assert.equal(parsed.os.kernel, `/boot/k'"<>&`);
    assert.equal(parsed.os.cmdline, `init=/bin/sh -c "echo <hi> & exit"`);
    assert.equal(parsed.disks[0]?.source, `/images/a'b"c<d>e&f.img`);
  });

  it("has the hotplug-ready defaults: xhci, virtio-scsi, virtio-serial, agent channel, VNC on loopback only", () => {
    const parsed = parseDomainXml(buildDomainXml(minimal));
    assert.deepEqual(
      parsed.controllers.map((c) => [c.type, c.model]),
      [
        ["usb", "qemu-xhci"],
        ["scsi", "virtio-scsi"],
        ["virtio-serial", null],
      ],
    );
    assert.equal(parsed.hasGuestAgentChannel, true);
    assert.deepEqual(parsed.graphics.map((g) => g.listen), ["127.0.0.1"]);
    assert.equal(parsed.machine, "pc");
    assert.equal(parsed.memoryKiB, 65536);
    assert.equal(parsed.maxMemoryKiB, 65536, "no headroom asked: <memory> equals <currentMemory>");
    assert.deepEqual(parsed.vcpus, { current: 1, max: 1 });
  });

  it("turns off what the spec turns off", () => {
    const spec = specs["firmware boot from devices, ide cdrom, no graphics, no serial, no agent, no extra controllers"];
    assert.ok(spec);
    const parsed = parseDomainXml(buildDomainXml(spec));
    assert.deepEqual(parsed.os.bootDevices, ["cdrom", "hd", "network"]);
    assert.equal(parsed.hasGuestAgentChannel, false);
    assert.deepEqual(parsed.graphics, []);
    assert.deepEqual(parsed.controllers.map((c) => [c.type, c.model]), [["usb", "none"], ["virtio-serial", null]]);
  });

  it("gives q35 a pcie-root and root ports for our devices plus the free ones asked for", () => {
    const parsed = parseDomainXml(buildDomainXml({ ...minimal, machine: "q35", pcieHotplugPorts: 3, disks: [{ device: "disk", bus: "virtio", source: "/a.img" }] }));
    assert.equal(parsed.controllers.filter((c) => c.model === "pcie-root").length, 1);
    // xhci + virtio-scsi + virtio-serial + balloon + one virtio disk = 5 endpoints, plus 3 spares.
    assert.equal(parsed.controllers.filter((c) => c.model === "pcie-root-port").length, 8);
    const pc = parseDomainXml(buildDomainXml(minimal));
    assert.equal(pc.controllers.filter((c) => c.type === "pci").length, 0, "i440fx hotplugs on pci.0 directly");
  });

  it("leaves 8 root ports free on q35 by default (4 let the fifth virtio disk hot-plug fail)", () => {
    assert.equal(DEFAULT_HOTPLUG_SLOTS, 8);
    const parsed = parseDomainXml(buildDomainXml({ ...minimal, machine: "q35" }));
    // xhci + virtio-scsi + virtio-serial + balloon = 4 endpoints, plus the 8 spares.
    assert.equal(parsed.controllers.filter((c) => c.model === "pcie-root-port").length, 12);
  });

  it("counts free hotplug slots on a recorded q35 config (one spare taken by a Disk resource's virtio disk)", () => {
    assert.equal(freeHotplugSlots(parseDomainXml(fixtureText("recorded-inactive-q35.xml"))), 7);
    assert.equal(freeHotplugSlots(parseDomainXml(fixtureText("recorded-inactive-pc-nics-disk.xml"))), 0, "no root ports on i440fx");
  });

  it("marks NICs with the alias asked for, so a redefine knows which ones the Domain made", () => {
    const parsed = parseDomainXml(buildDomainXml({ ...minimal, interfaces: [{ type: "user", alias: "ua-inline-nic-0" }] }));
    assert.equal(parsed.interfaces[0]?.alias, "ua-inline-nic-0");
    assert.throws(() => buildDomainXml({ ...minimal, interfaces: [{ type: "user", alias: "nic0" }] }), SpecError);
  });

  it("reads libvirt's live XML: runtime id, balloon target, vcpus, agent state, VNC port, usb ports in use", () => {
    const parsed = parseDomainXml(fixtureText("live-domain-pc.xml"));
    assert.equal(parsed.id, 3);
    assert.equal(parsed.uuid, "0d6b8a53-3f5e-4c55-9bfe-9c7f0f0fd3a1");
    assert.equal(parsed.memoryKiB, 131072);
    assert.equal(parsed.maxMemoryKiB, 262144);
    assert.deepEqual(parsed.vcpus, { current: 1, max: 4 });
    assert.equal(machineFamily(parsed.machine ?? ""), "i440fx");
    assert.equal(parsed.guestAgentState, "connected");
    assert.equal(parsed.graphics[0]?.port, 5900);
    assert.deepEqual(parsed.usbAddresses.map((a) => a.port).sort(), ["1", "3"]);
    assert.equal(parsed.disks.length, 4);
    assert.deepEqual(
      parsed.controllers.filter((c) => c.type === "scsi").map((c) => c.alias),
      ["scsi0"],
    );
  });

  it("reads a recorded live domain: balloon size, agent channel not connected, libvirt's own <boot dev='hd'/>", () => {
    const parsed = parseDomainXml(fixtureText("recorded-live-domain-pc.xml"));
    assert.equal(parsed.maxMemoryKiB, 131072);
    assert.equal(parsed.memoryKiB, 131072, "live XML shows the balloon's actual size (no guest driver), not the 65536 target");
    assert.equal(parsed.guestAgentState, "disconnected");
    assert.equal(parsed.machine, "pc-i440fx-7.2");
    assert.deepEqual(parsed.os.bootDevices, ["hd"], "libvirt added it: no device had a boot order");
    assert.equal(acceptsDeviceBootOrder(parsed), false);
    assert.deepEqual(parsed.usbAddresses, [{ type: "usb", bus: 0, port: "3" }]);
  });

  it("knows which domains can take a disk with a boot order", () => {
    const perDevice = parseDomainXml(buildDomainXml({ ...minimal, disks: [{ device: "disk", bus: "virtio", source: "/a", bootOrder: 1 }] }));
    assert.equal(acceptsDeviceBootOrder(perDevice), true);
    const byDevices = parseDomainXml(buildDomainXml({ ...minimal, boot: { devices: ["hd"] } }));
    assert.equal(acceptsDeviceBootOrder(byDevices), false);
  });

  it("finds q35 root ports with nothing plugged in", () => {
    const xml = buildDomainXml({ ...minimal, machine: "q35", pcieHotplugPorts: 2 });
    const parsed = parseDomainXml(xml);
    // Pretend libvirt put the four endpoints into ports 1-4 (what it does on define).
    const placed = {
      controllers: parsed.controllers,
      pciAddresses: [1, 2, 3, 4].map((bus) => ({ type: "pci" as const, domain: 0, bus, slot: 0, function: 0 })),
    };
    assert.deepEqual(freePcieRootPorts(placed), [5, 6]);
  });

  it("reads memory in any unit libvirt accepts", () => {
    const xml = `<domain type='kvm'><name>m</name><memory unit='GiB'>2</memory><currentMemory unit='MiB'>512</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`;
    const parsed = parseDomainXml(xml);
    assert.equal(parsed.maxMemoryKiB, 2 * 1024 * 1024);
    assert.equal(parsed.memoryKiB, 512 * 1024);
    assert.deepEqual(parsed.vcpus, { current: 2, max: 2 });
  });

  describe("refuses specs libvirt would reject", () => {
    const cases: [string, DomainSpec, string][] = [
      ["a name with a slash", { ...minimal, name: "a/b" }, "name"],
      ["an empty name", { ...minimal, name: "" }, "name"],
      ["a malformed uuid", { ...minimal, uuid: "not-a-uuid" }, "uuid"],
      ["max memory below memory", { ...minimal, maxMemoryKiB: 1024 }, "maxMemoryKiB"],
      ["max vcpus below vcpus", { ...minimal, vcpus: 4, maxVcpus: 2 }, "maxVcpus"],
      ["zero vcpus", { ...minimal, vcpus: 0 }, "vcpus"],
      ["per-disk boot order with boot devices", { ...minimal, boot: { devices: ["hd"] }, disks: [{ device: "disk", bus: "virtio", source: "/a", bootOrder: 1 }] }, "disks[0].bootOrder"],
      ["IDE on q35", { ...minimal, machine: "q35", disks: [{ device: "cdrom", bus: "ide" }] }, "disks[0].bus"],
      ["two disks on one target", { ...minimal, disks: [{ device: "disk", bus: "virtio", target: "vda", source: "/a" }, { device: "disk", bus: "virtio", target: "vda", source: "/b" }] }, "disks[1].target"],
      ["a bad disk inside the domain", { ...minimal, disks: [{ device: "disk", bus: "virtio", source: "/a", serial: "bad/serial" }] }, "disks[0].serial"],
      ["a relative kernel path", { ...minimal, boot: { kernel: "vmlinuz" } }, "boot.kernel"],
      ["a bad MAC", { ...minimal, interfaces: [{ type: "user", mac: "52:54:00" }] }, "interfaces[0].mac"],
    ];
    for (const [what, spec, field] of cases) {
      it(what, () => {
        assert.throws(
          () => buildDomainXml(spec),
          (error: unknown) => error instanceof SpecError && error.field === field,
        );
      });
    }
  });
});
