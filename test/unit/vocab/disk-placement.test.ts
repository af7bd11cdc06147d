import { strict as assert } from "node:assert";
import {
  diskTargetName,
  impliedDriveAddress,
  parseDiskTargetName,
  pickFreeDriveUnit,
  pickFreeTarget,
  pickFreeUsbPort,
  usbControllerPorts,
} from "../../../provider/src/vocab/disk-placement";
import { parseDomainXml } from "../../../provider/src/vocab/domain-xml";
import { SpecError } from "../../../provider/src/vocab/errors";
import { fixtureText } from "./helpers";

describe("vocab/disk-placement", () => {
  it("names targets the way libvirt numbers them", () => {
    assert.equal(diskTargetName("sd", 0), "sda");
    assert.equal(diskTargetName("sd", 25), "sdz");
    assert.equal(diskTargetName("sd", 26), "sdaa");
    assert.equal(diskTargetName("sd", 700), "sdzy");
    assert.deepEqual(parseDiskTargetName("sdzy"), { prefix: "sd", index: 700 });
    for (const index of [0, 1, 25, 26, 51, 701, 702, 18277, 18278]) {
      assert.equal(parseDiskTargetName(diskTargetName("vd", index))?.index, index);
    }
    assert.equal(parseDiskTargetName("nvme0n1"), null);
  });

  it("picks the lowest free name and skips taken ones", () => {
    assert.equal(pickFreeTarget("virtio", []), "vda");
    assert.equal(pickFreeTarget("virtio", ["vda", "vdb", "vdd"]), "vdc");
  });

  it("treats scsi, usb and sata as one sd namespace", () => {
    const existing = [
      { target: "sda", bus: "scsi" },
      { target: "sdb", bus: "usb" },
      { target: "sdc", bus: "sata" },
    ];
    assert.equal(pickFreeTarget("scsi", existing), "sdd");
    assert.equal(pickFreeTarget("usb", existing), "sdd");
    assert.equal(pickFreeTarget("virtio", existing), "vda");
  });

  it("gives up on IDE after hdd", () => {
    assert.equal(pickFreeTarget("ide", ["hda", "hdb"]), "hdc");
    assert.throws(() => pickFreeTarget("ide", ["hda", "hdb", "hdc", "hdd"]), SpecError);
  });

  it("picks a free scsi unit counting only scsi disks, and skips unit 7", () => {
    const drive = (unit: number) => ({ type: "drive" as const, controller: 0, bus: 0, target: 0, unit });
    const existing = [
      { target: "sda", bus: "scsi", address: drive(0) },
      { target: "sdb", bus: "sata", address: drive(1) }, // a sata controller's unit: not ours
      { target: "sdc", bus: "scsi", address: drive(2) },
    ];
    assert.deepEqual(pickFreeDriveUnit("scsi", existing), drive(1));
    const full = [0, 1, 2, 3, 4, 5, 6].map((unit) => ({ target: diskTargetName("sd", unit), bus: "scsi", address: drive(unit) }));
    assert.equal(pickFreeDriveUnit("scsi", full).unit, 8);
    assert.equal(pickFreeDriveUnit("scsi", existing, 1).controller, 1);
  });

  it("counts an address-less disk where libvirt would put it", () => {
    assert.deepEqual(impliedDriveAddress("scsi", "sdzy"), { type: "drive", controller: 100, bus: 0, target: 0, unit: 0 });
    assert.deepEqual(impliedDriveAddress("ide", "hdc"), { type: "drive", controller: 0, bus: 1, target: 0, unit: 0 });
    assert.equal(pickFreeDriveUnit("sata", [{ target: "sda", bus: "sata" }]).unit, 1);
  });

  it("stops at six sata units", () => {
    const taken = [0, 1, 2, 3, 4, 5].map((unit) => ({ target: diskTargetName("sd", unit), bus: "sata", address: { type: "drive" as const, controller: 0, bus: 0, target: 0, unit } }));
    assert.throws(() => pickFreeDriveUnit("sata", taken), SpecError);
  });

  it("picks a usb port no device uses (the live domain's tablet holds port 1, the cdrom port 3)", () => {
    const domain = parseDomainXml(fixtureText("live-domain-pc.xml"));
    const usb = domain.controllers.find((c) => c.type === "usb");
    assert.ok(usb);
    const ports = usbControllerPorts(usb);
    assert.equal(ports, 8);
    assert.deepEqual(pickFreeUsbPort(domain.usbAddresses, ports), { type: "usb", bus: 0, port: "2" });
    const taken = [...domain.usbAddresses, { type: "usb" as const, bus: 0, port: "2" }];
    assert.equal(pickFreeUsbPort(taken, ports).port, "4");
    assert.throws(() => pickFreeUsbPort(taken, 3), SpecError);
  });

  it("knows libvirt's default port counts", () => {
    assert.equal(usbControllerPorts({ model: "qemu-xhci" }), 4);
    assert.equal(usbControllerPorts({ model: "qemu-xhci", ports: 15 }), 15);
    assert.equal(usbControllerPorts({ model: "none" }), 0);
  });
});
