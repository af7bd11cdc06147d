// <os><boot dev> turned into per-device boot orders, on configs libvirt itself wrote (recorded fixtures).
import { strict as assert } from "node:assert";
import { bootByDeviceOrder, bootDevicesAreDefault } from "../../../provider/src/vocab/boot-order";
import { parseDomainXml } from "../../../provider/src/vocab/domain-xml";
import { fixtureText, virtXmlValidate } from "./helpers";
import { skipMissing } from "../../support/skip";

const seedUsbDisk = { device: "disk" as const, bus: "usb" as const, target: "sdb", source: "/srv/seed.raw", format: "raw" as const, readonly: true, bootOrder: 4, alias: "ua-disk-seed" };

describe("boot order: from <os><boot dev> to per-device orders", () => {
  it("a kernel-boot domain with no disk: the boot element goes, the seed's usb disk comes with order 4", () => {
    const before = parseDomainXml(fixtureText("recorded-inactive-kernel-boot.xml"));
    assert.deepEqual(before.os.bootDevices, ["hd"]);
    const after = parseDomainXml(bootByDeviceOrder(fixtureText("recorded-inactive-kernel-boot.xml"), seedUsbDisk));
    assert.deepEqual(after.os.bootDevices, []);
    assert.equal(after.os.kernel, before.os.kernel, "the kernel stays");
    const seed = after.disks.find((d) => d.alias === "ua-disk-seed");
    assert.equal(seed?.bootOrder, 4);
    assert.equal(seed?.readonly, true);
    // Everything else is as it was: the same devices, addresses and MAC.
    assert.deepEqual(after.interfaces.map((i) => i.mac), before.interfaces.map((i) => i.mac));
    assert.deepEqual(after.pciAddresses, before.pciAddresses);
    assert.equal(after.uuid, before.uuid);
  });

  it("'hd' becomes the first disk's order, ahead of the new device, skipping orders in use", () => {
    const xml = bootByDeviceOrder(fixtureText("recorded-inactive-boot-hd.xml"), { ...seedUsbDisk, bootOrder: 1 });
    const disks = parseDomainXml(xml).disks;
    assert.equal(disks.find((d) => d.target === "sda")?.bootOrder, 2, "order 1 is the new device's, so the converted disk takes 2");
    assert.equal(disks.find((d) => d.device === "cdrom")?.bootOrder, null, "'hd' does not stand for the cdrom");
    assert.equal(disks.find((d) => d.alias === "ua-disk-seed")?.bootOrder, 1);
    const plain = parseDomainXml(bootByDeviceOrder(fixtureText("recorded-inactive-boot-hd.xml"))).disks;
    assert.equal(plain.find((d) => d.target === "sda")?.bootOrder, 1);
  });

  it("the result is clean XML that libvirt's own schema accepts", function () {
    const xml = bootByDeviceOrder(fixtureText("recorded-inactive-boot-hd.xml"), seedUsbDisk);
    assert.doesNotMatch(xml, /&#10;/, "no indentation written back as character references");
    const check = virtXmlValidate(xml, "domain");
    if (!check.available) skipMissing(this, "virt-xml-validate (libvirt-clients and libxml2-utils)");
    assert.ok(check.available && check.valid, check.available ? check.output : "");
  });

  it("only libvirt's own default (or any list beside a kernel) may be converted; a chosen boot.devices may not", () => {
    assert.ok(bootDevicesAreDefault({ kernel: null, bootDevices: ["hd"] }));
    assert.ok(bootDevicesAreDefault({ kernel: "/boot/vmlinux", bootDevices: ["cdrom", "hd"] }));
    assert.ok(!bootDevicesAreDefault({ kernel: null, bootDevices: ["cdrom", "hd"] }));
    assert.ok(!bootDevicesAreDefault({ kernel: null, bootDevices: ["network"] }));
  });
});
