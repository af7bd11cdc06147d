import { strict as assert } from "node:assert";
import { SpecError } from "../../../provider/src/vocab/errors";
import { buildDiskXml, diskSpecFromParsed, parseDisks, type DiskSpec, type ParsedDisk } from "../../../provider/src/vocab/disk-xml";
import { fixtureText, libxml2XPathString } from "./helpers";
import { skipMissing } from "../../support/skip";

function roundTrip(xml: string): { first: ParsedDisk; second: ParsedDisk; rebuilt: string } {
  const [first] = parseDisks(xml);
  assert.ok(first);
  const rebuilt = buildDiskXml(diskSpecFromParsed(first));
  const [second] = parseDisks(rebuilt);
  assert.ok(second);
  return { first, second, rebuilt };
}

describe("vocab/disk-xml", () => {
  describe("seed device XML", () => {
    it("usb cdrom: target sdzy on usb, boot order 999, usb port 3, round-trips", () => {
      const { first, second } = roundTrip(fixtureText("seed-usb-cdrom.xml"));
      assert.deepEqual(first, {
        device: "cdrom",
        type: "file",
        bus: "usb",
        target: "sdzy",
        source: "/usr/share/smartx/images/vmtools/706dca56-06cc-4554-b74f-a686c8f973fb",
        sourceIndex: null,
        format: "raw",
        readonly: true,
        serial: null,
        bootOrder: 999,
        alias: null,
        address: { type: "usb", bus: 0, port: "3" },
        removable: null,
      });
      assert.deepEqual(second, first);
    });

    it("scsi cdrom: drive address controller 0 unit 2, round-trips", () => {
      const { first, second } = roundTrip(fixtureText("seed-scsi-cdrom.xml"));
      assert.equal(first.bus, "scsi");
      assert.equal(first.device, "cdrom");
      assert.equal(first.bootOrder, 999);
      assert.deepEqual(first.address, { type: "drive", controller: 0, bus: 0, target: 0, unit: 2 });
      assert.deepEqual(second, first);
    });

    it("usb disk: read-only, boot order 4, round-trips", () => {
      const { first, second } = roundTrip(fixtureText("seed-usb-disk.xml"));
      assert.equal(first.device, "disk");
      assert.equal(first.readonly, true);
      assert.equal(first.bootOrder, 4);
      assert.equal(first.source, "/usr/share/smartx/images/ae5d0ad2-ee8b-4be8-a5e9-dd55f8beee62");
      assert.deepEqual(first.address, { type: "usb", bus: 0, port: "3" });
      assert.deepEqual(second, first);
    });
  });

  it("a source path full of quotes, brackets and ampersands parses back to the same string", () => {
    const source = `/var/lib/images/it's "a" <test> & more; rm -rf ~ .qcow2`;
    const xml = buildDiskXml({ device: "disk", bus: "virtio", target: "vdb", source, format: "qcow2", alias: "ua-x" });
    const [disk] = parseDisks(xml);
    assert.equal(disk?.source, source);
    assert.equal(disk?.target, "vdb");
    assert.equal(disk?.alias, "ua-x");
  });

  it("libxml2, libvirt's own parser, reads a hostile path exactly, tabs and newlines included", function () {
    this.timeout(30_000);
    const source = `/images/'q' "dq" <a> & b\tTAB\nLF\r\nCRLF  two spaces .img`;
    const xml = buildDiskXml({ device: "disk", bus: "virtio", target: "vdb", source });
    const read = libxml2XPathString(xml, "/disk/source/@file");
    if (read === null) {
      skipMissing(this, "xmllint (apt-get install -y --no-install-recommends libxml2-utils)");
    }
    assert.equal(read, source);
  });

  it("an empty cdrom has no <source> and reads back with source null", () => {
    const xml = buildDiskXml({ device: "cdrom", bus: "scsi", target: "sdc", address: { type: "drive", controller: 0, bus: 0, target: 0, unit: 3 } });
    const [disk] = parseDisks(xml);
    assert.equal(disk?.source, null);
    assert.equal(disk?.readonly, true, "libvirt forces cdroms read-only; we say so explicitly");
  });

  it("writes every field a user can set, and reads all of them back", () => {
    const spec: DiskSpec = {
      device: "disk",
      bus: "usb",
      target: "sdd",
      source: "/dev/mapper/vg-data",
      sourceType: "block",
      format: "raw",
      readonly: true,
      serial: "SN 1.2_3+4-5",
      bootOrder: 2,
      alias: "ua-data_1",
      address: { type: "usb", bus: 0, port: "1.2" },
      removable: true,
    };
    const [disk] = parseDisks(buildDiskXml(spec));
    assert.ok(disk);
    assert.deepEqual(diskSpecFromParsed(disk), spec);
    assert.equal(disk.type, "block");
  });

  it("reads disks from live domain XML with aliases, source index and addresses", () => {
    const disks = parseDisks(fixtureText("live-domain-pc.xml"));
    assert.deepEqual(
      disks.map((d) => [d.target, d.bus, d.alias, d.sourceIndex]),
      [
        ["vda", "virtio", "ua-root", 3],
        ["sda", "scsi", "ua-tools", 2],
        ["sdb", "scsi", "scsi0-0-0-1", null],
        ["sdzy", "usb", "ua-vmtools", 1],
      ],
    );
    assert.deepEqual(disks[0]?.address, { type: "pci", domain: 0, bus: 0, slot: 6, function: 0 });
    assert.equal(disks[0]?.source, "/var/lib/libvirt/images/root.qcow2", "the backing file is not the disk's source");
    assert.equal(disks[0]?.serial, "root-1");
    assert.equal(disks[2]?.source, null);
  });

  describe("refuses specs libvirt would reject or misplace", () => {
    const base: DiskSpec = { device: "disk", bus: "virtio", target: "vdb", source: "/img" };
    const cases: [string, DiskSpec, string][] = [
      ["a cdrom on virtio", { ...base, device: "cdrom" }, "disk.bus"],
      ["a target from the wrong family", { ...base, target: "sdb" }, "disk.target"],
      ["an alias without ua-", { ...base, alias: "mydisk" }, "disk.alias"],
      ["an alias with a dot", { ...base, alias: "ua-my.disk" }, "disk.alias"],
      ["a serial with a slash", { ...base, serial: "a/b" }, "disk.serial"],
      ["a relative source", { ...base, source: "img.qcow2" }, "disk.source"],
      ["a disk without a medium", { ...base, source: null }, "disk.source"],
      ["boot order 0", { ...base, bootOrder: 0 }, "disk.bootOrder"],
      ["a scsi disk with no drive address", { ...base, bus: "scsi", target: "sdb" }, "disk.address"],
      ["a usb disk with a drive address", { ...base, bus: "usb", target: "sdb", address: { type: "drive", controller: 0, bus: 0, target: 0, unit: 0 } }, "disk.address.type"],
      ["removable on a non-usb bus", { ...base, removable: true }, "disk.removable"],
    ];
    for (const [what, spec, field] of cases) {
      it(what, () => {
        assert.throws(
          () => buildDiskXml(spec),
          (error: unknown) => error instanceof SpecError && error.field === field,
        );
      });
    }
  });
});
