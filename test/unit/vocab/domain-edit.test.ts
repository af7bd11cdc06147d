// A redefine edits the domain's persistent XML instead of rebuilding it: these run the editor on configs recorded
// from the real daemon (test/fixtures/vocab/recorded-inactive-*.xml; each file says how it was recorded).
import { strict as assert } from "node:assert";
import {
  deviceBootOrders,
  editDomainXml,
  isDomainNic,
  isInlineDiskAlias,
  matchInlineDisks,
  sameMachine,
  type DomainEdit,
} from "../../../provider/src/vocab/domain-edit";
import { freeHotplugSlots, parseDomainXml, type ParsedDomain } from "../../../provider/src/vocab/domain-xml";
import { SpecError } from "../../../provider/src/vocab/errors";
import { fixtureText, VALIDATOR_MISSING, virtXmlValidate } from "./helpers";
import { skipMissing } from "../../support/skip";

const PC = fixtureText("recorded-inactive-pc-nics-disk.xml");
const Q35 = fixtureText("recorded-inactive-q35.xml");

/** The inputs the pc fixture was made from, as Domain.update hands them over. */
const pcEdit: DomainEdit = {
  memoryKiB: 65536,
  maxMemoryKiB: 131072,
  vcpus: 1,
  maxVcpus: 2,
  machine: "pc",
  boot: null,
  inlineDisks: [{ device: "disk", bus: "virtio", source: "/var/lib/plv-rec/root.img" }],
  firstDiskBoots: true,
  interfaces: [
    { type: "network", network: "default" },
    { type: "user", model: "e1000" },
  ],
  guestAgent: true,
  hotplugSlots: 8,
};

const q35Edit: DomainEdit = { ...pcEdit, maxMemoryKiB: 65536, vcpus: 1, maxVcpus: 1, machine: "q35", interfaces: [{ type: "network", network: "default" }] };

/** What libvirt keeps of the devices: compared as parsed, so quoting and indentation do not matter. */
const devicesOf = (d: ParsedDomain) => ({ disks: d.disks, interfaces: d.interfaces, controllers: d.controllers, pci: d.pciAddresses, agent: d.hasGuestAgentChannel });

function validates(xml: string, ctx: Mocha.Context): void {
  const check = virtXmlValidate(xml, "domain");
  if (!check.available) {
    skipMissing(ctx, VALIDATOR_MISSING);
  }
  assert.ok(check.valid, check.output);
}

describe("vocab/domain-edit", function () {
  this.timeout(30_000);

  it("with the inputs the domain was made from, changes nothing libvirt keeps", function () {
    for (const [xml, edit] of [
      [PC, pcEdit],
      [Q35, { ...q35Edit, hotplugSlots: 7 }],
    ] as const) {
      const edited = editDomainXml(xml, edit);
      assert.deepEqual(devicesOf(parseDomainXml(edited)), devicesOf(parseDomainXml(xml)));
      validates(edited, this);
    }
  });

  it("a next-boot change (more memory headroom) keeps MACs, PCI addresses, the Disk resource's disk and a device added beside Pulumi", function () {
    const edited = editDomainXml(PC, { ...pcEdit, memoryKiB: 98304, maxMemoryKiB: 262144, vcpus: 2, maxVcpus: 4 });
    const before = parseDomainXml(PC);
    const after = parseDomainXml(edited);
    assert.equal(after.maxMemoryKiB, 262144);
    assert.equal(after.memoryKiB, 98304);
    assert.deepEqual(after.vcpus, { current: 2, max: 4 });
    assert.equal(after.name, "rec-edit-pc");
    assert.equal(after.uuid, before.uuid);
    assert.deepEqual(after.interfaces.map((n) => n.mac), ["52:54:00:c7:2b:0b", "52:54:00:56:05:e9"]);
    assert.deepEqual(after.pciAddresses, before.pciAddresses);
    assert.equal(after.machine, "pc-i440fx-7.2", '"pc" is the alias libvirt expanded: the versioned name stays');
    assert.deepEqual(after.disks.find((d) => d.alias === "ua-disk-data"), before.disks.find((d) => d.alias === "ua-disk-data"));
    assert.match(edited, /<rng model="virtio">\s*<backend model="random">\/dev\/urandom<\/backend>\s*<address type="pci" domain="0x0000" bus="0x00" slot="0x0a" function="0x0"\/>/);
    validates(edited, this);
  });

  it("keeps the device claims other resources keep in <metadata> (namespaced elements)", () => {
    const claims =
      `<metadata><plv:claims xmlns:plv="https://pulumi-libvirt-live.invalid/xmlns/claims/1">` +
      `<plv:device name="ua-disk-data" owner="urn:pulumi:s::p::virt:Disk::data" source="/var/lib/plv-rec/data.img"/>` +
      `<plv:device name="lvq-disk-x" owner="urn:pulumi:s::p::virt:Disk::x" source="/a &amp; b.img"/></plv:claims></metadata>`;
    const edited = editDomainXml(PC.replace("<os>", `${claims}\n  <os>`), { ...pcEdit, maxMemoryKiB: 262144 });
    assert.match(edited, /<metadata>\s*<plv:claims xmlns:plv="https:\/\/pulumi-libvirt-live.invalid\/xmlns\/claims\/1">/);
    assert.match(edited, /<plv:device name="ua-disk-data" owner="urn:pulumi:s::p::virt:Disk::data" source="\/var\/lib\/plv-rec\/data.img"\/>/);
    assert.match(edited, /<plv:device name="lvq-disk-x" owner="urn:pulumi:s::p::virt:Disk::x" source="\/a &amp; b.img"\/>/);
  });

  it("networks: a removed NIC goes, a new one comes without a MAC (libvirt picks), a kept one keeps MAC and address through a type change", () => {
    const foreign = PC.replace("</devices>", "<interface type='user'><mac address='52:54:00:00:00:99'/><model type='virtio'/><alias name='ua-nic-other'/></interface></devices>");
    const edited = parseDomainXml(
      editDomainXml(foreign, { ...pcEdit, interfaces: [{ type: "bridge", bridge: "br-x", model: "e1000e" }, { type: "user" }, { type: "network", network: "n2" }] }),
    );
    assert.deepEqual(
      edited.interfaces.map((n) => [n.type, n.source, n.model, n.mac, n.alias]),
      [
        ["bridge", "br-x", "e1000e", "52:54:00:c7:2b:0b", "ua-inline-nic-0"],
        ["user", null, "virtio", "52:54:00:56:05:e9", "ua-inline-nic-1"],
        ["network", "n2", "virtio", null, "ua-inline-nic-2"],
        ["user", null, "virtio", "52:54:00:00:00:99", "ua-nic-other"],
      ],
    );
    const slot3 = { type: "pci", domain: 0, bus: 0, slot: 3, function: 0 };
    assert.ok(edited.pciAddresses.some((a) => JSON.stringify(a) === JSON.stringify(slot3)), "the first NIC keeps its slot");

    const fewer = parseDomainXml(editDomainXml(foreign, { ...pcEdit, interfaces: [{ type: "network", network: "default", mac: "52:54:00:aa:bb:cc" }] }));
    assert.deepEqual(fewer.interfaces.map((n) => [n.mac, n.alias]), [
      ["52:54:00:aa:bb:cc", "ua-inline-nic-0"],
      ["52:54:00:00:00:99", "ua-nic-other"],
    ]);
  });

  it("inline disks: a new source keeps target, address and boot order; a new scsi disk avoids the Disk resource's target and unit; a dropped one goes", () => {
    const edited = parseDomainXml(
      editDomainXml(PC, {
        ...pcEdit,
        inlineDisks: [
          { device: "disk", bus: "virtio", source: "/var/lib/plv-rec/other.img", format: "qcow2" },
          { device: "disk", bus: "scsi", source: "/var/lib/plv-rec/second.img" },
        ],
      }),
    );
    const [root, second] = edited.disks;
    assert.deepEqual([root?.alias, root?.source, root?.target, root?.bootOrder, root?.format], ["ua-inline-0", "/var/lib/plv-rec/other.img", "vda", 1, "qcow2"]);
    assert.deepEqual(root?.address, { type: "pci", domain: 0, bus: 0, slot: 8, function: 0 });
    assert.deepEqual([second?.alias, second?.target, second?.address], ["ua-inline-1", "sdb", { type: "drive", controller: 0, bus: 0, target: 0, unit: 1 }]);
    assert.ok(edited.disks.some((d) => d.alias === "ua-disk-data"));

    const none = parseDomainXml(editDomainXml(PC, { ...pcEdit, inlineDisks: [] }));
    assert.deepEqual(none.disks.map((d) => d.alias), ["ua-disk-data"]);
  });

  it("takes over a disk nobody named (an adopted domain's) by its source, keeping its place", () => {
    const unnamed = PC.replace("<alias name='ua-inline-0'/>", "");
    const edited = parseDomainXml(editDomainXml(unnamed, pcEdit));
    assert.equal(edited.disks.length, 2, "not added a second time");
    assert.deepEqual([edited.disks[0]?.alias, edited.disks[0]?.target], ["ua-inline-0", "vda"]);
    assert.deepEqual(matchInlineDisks(parseDomainXml(unnamed).disks, ["/var/lib/plv-rec/root.img", "/nope"]), [0, null]);
  });

  it("boot: kernel boot replaces <os> boot settings; boot devices are refused while devices carry orders", function () {
    const kernel = editDomainXml(PC, { ...pcEdit, boot: { kernel: "/k/vmlinux", initrd: "/k/initrd.gz", cmdline: "console=ttyS0 a<b" } });
    const os = parseDomainXml(kernel).os;
    assert.deepEqual(os, { kernel: "/k/vmlinux", initrd: "/k/initrd.gz", cmdline: "console=ttyS0 a<b", bootDevices: [] });
    validates(kernel, this);

    assert.throws(
      () => editDomainXml(PC, { ...pcEdit, boot: { devices: ["cdrom", "hd"] } }),
      (e: unknown) => e instanceof SpecError && /boot\.devices/.test(e.message) && /ua-disk-data/.test(e.message),
    );
    // boot.devices ["hd"] is libvirt's own default, which a device's boot order turned into per-device orders:
    // a redefine keeps those orders instead of refusing.
    const hdOnly = parseDomainXml(editDomainXml(PC, { ...pcEdit, boot: { devices: ["hd"] } }));
    assert.deepEqual(hdOnly.os.bootDevices, []);
    assert.equal(hdOnly.disks.find((d) => d.alias === "ua-disk-data")?.bootOrder, 2);
    const noOrders = PC.replace("<boot order='2'/>", "");
    const byDevices = parseDomainXml(editDomainXml(noOrders, { ...pcEdit, boot: { devices: ["cdrom", "hd"] } }));
    assert.deepEqual(byDevices.os.bootDevices, ["cdrom", "hd"]);
    assert.equal(byDevices.disks[0]?.bootOrder, null, "the inline disk gives up its order for <os><boot dev>");
  });

  it("keeps boot orders already there, and does not give order 1 twice", () => {
    assert.deepEqual(deviceBootOrders(PC).map((b) => [b.alias, b.target, b.order]), [
      ["ua-inline-0", "vda", 1],
      ["ua-disk-data", "sda", 2],
    ]);
    // A Disk resource took order 1 while the inline disk had none: the inline disk does not take it too.
    const taken = PC.replace("<boot order='1'/>", "").replace("<boot order='2'/>", "<boot order='1'/>");
    const edited = editDomainXml(taken, pcEdit);
    assert.deepEqual(deviceBootOrders(edited).map((b) => [b.alias, b.order]), [["ua-disk-data", 1]]);
  });

  it("the agent channel and the console change only as asked", () => {
    const noAgent = parseDomainXml(editDomainXml(PC, { ...pcEdit, guestAgent: false }));
    assert.equal(noAgent.hasGuestAgentChannel, false);
    const back = editDomainXml(editDomainXml(PC, { ...pcEdit, guestAgent: false }), pcEdit);
    assert.equal(back.split("org.qemu.guest_agent.0").length - 1, 1);

    const untouched = editDomainXml(PC, pcEdit);
    assert.deepEqual(parseDomainXml(untouched).graphics, parseDomainXml(PC).graphics);
    assert.deepEqual(parseDomainXml(editDomainXml(PC, { ...pcEdit, graphics: { type: "none" } })).graphics, []);
    assert.deepEqual(parseDomainXml(editDomainXml(PC, { ...pcEdit, graphics: { type: "vnc", listen: "0.0.0.0" } })).graphics.map((g) => g.listen), ["0.0.0.0"]);
  });

  describe("hotplug slots (q35)", () => {
    const ports = (xml: string) => parseDomainXml(xml).controllers.filter((c) => c.model === "pcie-root-port").map((c) => c.index);

    it("adds root ports until the asked number is free, counting the devices libvirt has yet to place", function () {
      assert.equal(freeHotplugSlots(parseDomainXml(Q35)), 7);
      const eight = editDomainXml(Q35, q35Edit);
      assert.equal(freeHotplugSlots(parseDomainXml(eight)), 8);
      assert.deepEqual(ports(eight).slice(-1), [15], "the next index after the last pci controller");
      validates(eight, this);
      // A new NIC takes a port at define: one more is added so 8 stay free after it.
      const withNic = editDomainXml(Q35, { ...q35Edit, interfaces: [{ type: "network", network: "default" }, { type: "user" }] });
      assert.equal(ports(withNic).length, ports(Q35).length + 2);
    });

    it("never removes ports, in use or not", () => {
      assert.deepEqual(ports(editDomainXml(Q35, { ...q35Edit, hotplugSlots: 0 })), ports(Q35));
    });

    it("is not a pc thing: i440fx gets no root ports", () => {
      assert.equal(ports(editDomainXml(PC, { ...pcEdit, hotplugSlots: 32 })).length, 0);
    });
  });

  it("a machine of another family gets a fresh PCI layout", function () {
    const q35 = editDomainXml(PC, { ...pcEdit, machine: "q35" });
    const parsed = parseDomainXml(q35);
    assert.equal(parsed.machine, "q35");
    assert.deepEqual(parsed.controllers.filter((c) => c.type === "pci").map((c) => c.model).slice(0, 1), ["pcie-root"]);
    assert.ok(!parsed.pciAddresses.some((a) => a.slot === 0x0a), "the old i440fx slots are gone");
    assert.deepEqual(parsed.interfaces.map((n) => n.mac), ["52:54:00:c7:2b:0b", "52:54:00:56:05:e9"], "MACs are not PCI layout");
    validates(q35, this);
  });

  it("names", () => {
    assert.ok(sameMachine("pc-i440fx-7.2", "pc"));
    assert.ok(sameMachine("pc-q35-7.2", "q35"));
    assert.ok(!sameMachine("pc-i440fx-7.2", "q35"));
    assert.ok(!sameMachine("pc-q35-7.2", "pc-q35-6.2"));
    assert.ok(isInlineDiskAlias("ua-inline-3"));
    assert.ok(!isInlineDiskAlias("ua-inline-nic-0"));
    assert.ok(!isInlineDiskAlias("ua-disk-x"));
    assert.ok(isDomainNic(null) && isDomainNic("ua-inline-nic-1") && !isDomainNic("ua-nic-x"));
  });
});
