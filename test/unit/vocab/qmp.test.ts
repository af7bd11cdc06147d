import { strict as assert } from "node:assert";
import { ProtocolShapeError, SpecError } from "../../../provider/src/vocab/errors";
import {
  blockdevAdd,
  blockdevChangeMedium,
  blockdevDel,
  blockdevInsertMedium,
  blockdevOpenTray,
  deviceAdd,
  deviceDel,
  parseQmpReply,
  QmpError,
  queryBlock,
  queryNamedBlockNodes,
} from "../../../provider/src/vocab/qmp";
import {
  blockNodeNames,
  deriveBlockId,
  deriveUserAlias,
  isValidNodeName,
  isValidQemuId,
  libvirtNodeNames,
  libvirtScsiBus,
  libvirtUsbBus,
  MAX_NODE_NAME_LENGTH,
} from "../../../provider/src/vocab/qmp-names";
import { findBlockDevice, parseNamedBlockNodes, parseQueryBlock, plainFilename } from "../../../provider/src/vocab/query-block";
import { parseDisks } from "../../../provider/src/vocab/disk-xml";
import { fixtureJson, fixtureText } from "./helpers";

describe("vocab/qmp", () => {
  describe("names", () => {
    it("follows QEMU's id rules", () => {
      for (const ok of ["a", "ua-disk1", "plv.data_1-x", "A9"]) assert.ok(isValidQemuId(ok), ok);
      for (const bad of ["", "1disk", "-x", "_x", "a b", "a/b", "#block1", "dísk"]) assert.ok(!isValidQemuId(bad), bad);
    });

    it("limits node-names to 31 characters", () => {
      assert.equal(MAX_NODE_NAME_LENGTH, 31);
      assert.ok(isValidNodeName("a".repeat(31)));
      assert.ok(!isValidNodeName("a".repeat(32)));
    });

    it("keeps a short valid resource name as it is", () => {
      assert.equal(deriveBlockId("data"), "data");
    });

    it("derives short, valid, distinct, stable ids from long or odd resource names", () => {
      const long = "my-project/production/database-volume-number-one";
      const id = deriveBlockId(long);
      assert.equal(id, deriveBlockId(long), "stable");
      assert.notEqual(id, deriveBlockId(long + "2"), "distinct");
      const names = blockNodeNames(id);
      assert.ok(isValidNodeName(names.file) && isValidNodeName(names.format), JSON.stringify(names));
      for (const odd of ["9lives", "über disk", "a.b", "-", "x".repeat(200)]) {
        const derived = deriveBlockId(odd);
        assert.ok(isValidNodeName(blockNodeNames(derived).format), `${odd} → ${derived}`);
      }
      assert.notEqual(deriveBlockId("a b"), deriveBlockId("a/b"), "different inputs that sanitise alike stay distinct");
    });

    it("derives libvirt user aliases that are also QEMU ids", () => {
      const alias = deriveUserAlias("web server #1");
      assert.match(alias, /^ua-[A-Za-z0-9_-]+$/);
      assert.ok(isValidQemuId(alias));
    });

    it("knows libvirt's node and bus names", () => {
      assert.deepEqual(libvirtNodeNames(3), { file: "libvirt-3-storage", format: "libvirt-3-format" });
      assert.equal(libvirtUsbBus(), "usb.0");
      assert.equal(libvirtUsbBus(1), "usb1.0");
      assert.equal(libvirtScsiBus(0), "scsi0.0");
    });
  });

  describe("command builders", () => {
    it("blockdev-add: one command, format node over an inline file node, no silent read-only fallback", () => {
      assert.deepEqual(blockdevAdd({ blockId: "plv-data", filename: "/var/lib/libvirt/images/data.qcow2", format: "qcow2", readOnly: false }), {
        execute: "blockdev-add",
        arguments: {
          driver: "qcow2",
          "node-name": "plv-data-fmt",
          "read-only": false,
          backing: null,
          file: {
            driver: "file",
            filename: "/var/lib/libvirt/images/data.qcow2",
            "node-name": "plv-data-file",
            "read-only": false,
            "auto-read-only": false,
          },
        },
      });
    });

    it("blockdev-add of a qcow2 passes backing: null, so a backing file named in the image header is never opened", () => {
      const command = blockdevAdd({ blockId: "plv-data", filename: "/images/child.qcow2", format: "qcow2", readOnly: false });
      const wire = JSON.parse(JSON.stringify(command)) as Record<string, any>;
      assert.ok("backing" in wire.arguments, "backing survives JSON serialization");
      assert.equal(wire.arguments.backing, null);
      // raw has no backing option: QEMU would refuse the member.
      const raw = JSON.parse(JSON.stringify(blockdevAdd({ blockId: "plv-cd", filename: "/images/x.iso", format: "raw", readOnly: true })));
      assert.ok(!("backing" in raw.arguments));
    });

    it("blockdev-add keeps a hostile filename intact in the JSON", () => {
      const filename = `/tmp/"quoted"\\back'slash\n.img`;
      const command = blockdevAdd({ blockId: "x", filename, format: "raw", readOnly: true });
      const wire = JSON.parse(JSON.stringify(command)) as typeof command;
      assert.equal(wire.arguments?.file.filename, filename);
    });

    it("blockdev-add refuses an id whose node-names would be too long", () => {
      assert.throws(() => blockdevAdd({ blockId: "a".repeat(30), filename: "/x", format: "raw", readOnly: true }), SpecError);
    });

    it("device_add: scsi-hd with QEMU's property names and JSON types", () => {
      assert.deepEqual(
        deviceAdd({ driver: "scsi-hd", id: "plv-data", drive: "plv-data-fmt", bus: libvirtScsiBus(0), channel: 0, scsiId: 0, lun: 3, bootIndex: 2, serial: "DATA1" }),
        {
          execute: "device_add",
          arguments: { driver: "scsi-hd", id: "plv-data", drive: "plv-data-fmt", bus: "scsi0.0", channel: 0, "scsi-id": 0, lun: 3, bootindex: 2, serial: "DATA1" },
        },
      );
    });

    it("device_add: usb-storage port is a string; an empty scsi-cd has no drive", () => {
      assert.deepEqual(deviceAdd({ driver: "usb-storage", id: "ua-stick", drive: "ua-stick-fmt", bus: "usb.0", port: "2", removable: true }).arguments, {
        driver: "usb-storage",
        id: "ua-stick",
        drive: "ua-stick-fmt",
        bus: "usb.0",
        port: "2",
        removable: true,
      });
      assert.deepEqual(deviceAdd({ driver: "scsi-cd", id: "cd1", bus: "scsi0.0", lun: 1 }).arguments, { driver: "scsi-cd", id: "cd1", bus: "scsi0.0", lun: 1 });
      assert.deepEqual(deviceAdd({ driver: "virtio-blk-pci", id: "vd1", drive: "vd1-fmt", bus: "pci.0", addr: "0x9" }).arguments, {
        driver: "virtio-blk-pci",
        id: "vd1",
        drive: "vd1-fmt",
        bus: "pci.0",
        addr: "0x9",
      });
    });

    it("device_add refuses ids QEMU would refuse", () => {
      assert.throws(() => deviceAdd({ driver: "scsi-hd", id: "1bad", drive: "d-fmt", bus: "scsi0.0" }), SpecError);
      assert.throws(() => deviceAdd({ driver: "usb-storage", id: "ok", drive: "d-fmt", port: "0" }), SpecError);
    });

    it("removal, tray and media commands", () => {
      assert.deepEqual(deviceDel("ua-x"), { execute: "device_del", arguments: { id: "ua-x" } });
      assert.deepEqual(blockdevDel("plv-data-fmt"), { execute: "blockdev-del", arguments: { "node-name": "plv-data-fmt" } });
      assert.deepEqual(blockdevOpenTray("ua-cd"), { execute: "blockdev-open-tray", arguments: { id: "ua-cd" } });
      assert.deepEqual(blockdevOpenTray("ua-cd", true), { execute: "blockdev-open-tray", arguments: { id: "ua-cd", force: true } });
      assert.deepEqual(blockdevInsertMedium("ua-cd", "iso2-fmt"), { execute: "blockdev-insert-medium", arguments: { id: "ua-cd", "node-name": "iso2-fmt" } });
      assert.deepEqual(blockdevChangeMedium({ id: "ua-cd", filename: "/isos/b.iso", format: "raw", readOnlyMode: "read-only" }), {
        execute: "blockdev-change-medium",
        arguments: { id: "ua-cd", filename: "/isos/b.iso", format: "raw", "read-only-mode": "read-only" },
      });
      assert.deepEqual(queryBlock(), { execute: "query-block" });
      assert.deepEqual(queryNamedBlockNodes(), { execute: "query-named-block-nodes", arguments: { flat: true } });
    });
  });

  describe("replies", () => {
    it("turns a QMP error into a typed QmpError with class, description and command", () => {
      const reply = JSON.stringify(fixtureJson("recorded-qmp-error-device-del.json"));
      assert.throws(
        () => parseQmpReply(reply, deviceDel("ua-missing")),
        (error: unknown) =>
          error instanceof QmpError &&
          error.errorClass === "DeviceNotFound" &&
          error.desc === "Device 'ua-missing' not found" &&
          error.command === "device_del" &&
          error.message.includes("device_del"),
      );
      assert.throws(
        () => parseQmpReply(fixtureJson("qmp-error-duplicate-node.json"), "blockdev-add"),
        (error: unknown) => error instanceof QmpError && error.errorClass === "GenericError",
      );
    });

    it("returns the `return` value of a successful reply, even an empty one", () => {
      assert.deepEqual(parseQmpReply(`{"return": {}, "id": "libvirt-12"}`, "device_add"), {});
    });

    it("rejects replies that are neither return nor error", () => {
      assert.throws(() => parseQmpReply(`{"event": "DEVICE_DELETED"}`, "device_del"), ProtocolShapeError);
      assert.throws(() => parseQmpReply(`not json`, "query-block"), ProtocolShapeError);
    });
  });

  describe("query-block", () => {
    const live = parseQueryBlock(parseQmpReply(fixtureJson("query-block-live-pc.json"), "query-block"));

    it("keys every device by its qdev id, whether QEMU reports an id or a QOM path", () => {
      assert.deepEqual(
        live.map((d) => d.qdevId),
        ["ua-root", "ua-tools", "scsi0-0-0-1", "ua-vmtools"],
      );
      assert.equal(live[0]?.qdev, "/machine/peripheral/ua-root/virtio-backend");
    });

    it("reports the medium: file, format, read-only, node-name and virtual size", () => {
      assert.deepEqual(findBlockDevice(live, { qdevId: "ua-root" })?.inserted, {
        file: "/var/lib/libvirt/images/root.qcow2",
        format: "qcow2",
        readOnly: false,
        nodeName: "libvirt-3-format",
        virtualSizeBytes: 2147483648,
        backingFile: "/var/lib/libvirt/images/base.qcow2",
      });
      const tools = findBlockDevice(live, { qdevId: "ua-tools" });
      assert.equal(tools?.removable, true);
      assert.equal(tools?.trayOpen, false);
      assert.equal(tools?.inserted?.readOnly, true);
    });

    it("reports an empty cdrom as inserted null, and a usb cdrom as not removable", () => {
      assert.equal(findBlockDevice(live, { qdevId: "scsi0-0-0-1" })?.inserted, null);
      const usb = findBlockDevice(live, { qdevId: "ua-vmtools" });
      assert.equal(usb?.removable, false);
      assert.equal(usb?.trayOpen, null);
    });

    it("matches a live XML disk to its entry through libvirt's node-names when the alias is unknown", () => {
      const disk = parseDisks(fixtureText("live-domain-pc.xml")).find((d) => d.target === "sdzy");
      assert.ok(disk?.sourceIndex !== null && disk?.sourceIndex !== undefined);
      const names = libvirtNodeNames(disk.sourceIndex);
      const entry = findBlockDevice(live, { qdevId: "unknown", nodeNames: [names.format, names.file] });
      assert.equal(entry?.inserted?.file, disk.source);
    });

    it("shows the truth after QMP changes that libvirt's XML does not", () => {
      const after = parseQueryBlock(parseQmpReply(fixtureJson("query-block-after-qmp.json"), "query-block"));
      assert.equal(findBlockDevice(after, { qdevId: "ua-tools" })?.inserted?.file, "/var/lib/libvirt/images/tools-v2.iso");
      assert.equal(findBlockDevice(after, { qdevId: "scsi0-0-0-1" })?.trayOpen, true);
      const data = findBlockDevice(after, { nodeNames: [blockNodeNames("plv-data").format] });
      assert.equal(data?.qdevId, "plv-data");
      assert.equal(data?.inserted?.virtualSizeBytes, 1073741824);
      assert.equal(findBlockDevice(after, { qdevId: "gone" }), undefined);
    });

    it("resolves json: pseudo-filenames to the file underneath", () => {
      assert.equal(plainFilename(`json:{"driver":"qcow2","file":{"driver":"file","filename":"/a b/c.qcow2"}}`), "/a b/c.qcow2");
      assert.equal(plainFilename("/plain.img"), "/plain.img");
    });

    it("rejects entries without the fields it reports", () => {
      assert.throws(() => parseQueryBlock({}), ProtocolShapeError);
      assert.throws(() => parseQueryBlock([{ device: "", qdev: "x" }]), ProtocolShapeError);
    });

    it("lists named block nodes (e.g. to spot leftovers after a detach)", () => {
      const nodes = parseNamedBlockNodes(parseQmpReply(fixtureJson("query-named-block-nodes.json"), "query-named-block-nodes"));
      assert.deepEqual(nodes.map((n) => [n.nodeName, n.driver]), [["plv-data-fmt", "qcow2"], ["plv-data-file", "file"]]);
    });
  });
});

describe("vocab/query-block on replies recorded from libvirt 9.0 / QEMU 7.2", () => {
  it("maps every device of a libvirt-attached domain to its alias, usb-storage's QOM path included", () => {
    const devices = parseQueryBlock(parseQmpReply(fixtureJson("recorded-query-block-libvirt-attach.json"), "query-block"));
    const disks = parseDisks(fixtureText("recorded-live-domain-pc.xml"));
    assert.deepEqual(devices.map((d) => d.qdevId).sort(), disks.map((d) => d.alias).sort());
    for (const disk of disks) {
      const entry = findBlockDevice(devices, { qdevId: disk.alias ?? "" });
      assert.equal(entry?.inserted?.file ?? null, disk.source, `${disk.alias}: query-block and XML agree on the medium`);
      if (disk.sourceIndex !== null) assert.equal(entry?.inserted?.nodeName, libvirtNodeNames(disk.sourceIndex).format);
    }
    const usb = findBlockDevice(devices, { qdevId: "ua-usbcd" });
    assert.equal(usb?.qdev, "/machine/peripheral/ua-usbcd/ua-usbcd.0/legacy[0]");
    assert.equal(usb?.removable, false, "a usb cdrom is not removable media: a media change is a replace");
    assert.equal(findBlockDevice(devices, { qdevId: "ua-cd0" })?.trayOpen, true);
  });

  it("sees QMP-added devices and a QMP media change", () => {
    const devices = parseQueryBlock(parseQmpReply(fixtureJson("recorded-query-block-after-qmp.json"), "query-block"));
    const scsi = findBlockDevice(devices, { qdevId: deriveBlockId("plv-vocab-probe/data disk") });
    assert.equal(scsi?.inserted?.nodeName, blockNodeNames(deriveBlockId("plv-vocab-probe/data disk")).format);
    assert.equal(scsi?.inserted?.virtualSizeBytes, 3 * 1024 * 1024);
    const usb = findBlockDevice(devices, { qdevId: "plv-usb2" });
    assert.equal(usb?.inserted?.readOnly, true);
    const cd = findBlockDevice(devices, { qdevId: "ua-cd0" });
    assert.equal(cd?.inserted?.file, "/tmp/plv-vocab-probe-d.iso");
    assert.equal(cd?.trayOpen, false);
    const nodes = parseNamedBlockNodes(parseQmpReply(fixtureJson("recorded-query-named-block-nodes.json"), "query-named-block-nodes"));
    assert.ok(nodes.some((n) => n.nodeName === "plv-usb2-file" && n.driver === "file"));
  });

  it("types the recorded errors", () => {
    const cases: [string, string, string][] = [
      ["recorded-qmp-error-device-add.json", "device_add", "GenericError"],
      ["recorded-qmp-error-device-del.json", "device_del", "DeviceNotFound"],
      ["recorded-qmp-error-open-tray-usb.json", "blockdev-open-tray", "GenericError"],
    ];
    for (const [file, command, errorClass] of cases) {
      assert.throws(
        () => parseQmpReply(fixtureJson(file), command),
        (error: unknown) => error instanceof QmpError && error.errorClass === errorClass && error.command === command,
        file,
      );
    }
  });
});
