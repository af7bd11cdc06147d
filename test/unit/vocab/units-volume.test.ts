import { strict as assert } from "node:assert";
import { toBytes, toKiB } from "../../../provider/src/vocab/units";
import { buildVolumeXml, parseVolumeXml } from "../../../provider/src/vocab/volume-xml";
import { VALIDATOR_MISSING, virtXmlValidate } from "./helpers";
import { skipMissing } from "../../support/skip";

describe("vocab/units", () => {
  it("reads every unit libvirt writes or accepts", () => {
    assert.equal(toKiB("65536", undefined), 65536, "KiB is libvirt's default for memory");
    assert.equal(toKiB("2", "GiB"), 2 * 1024 * 1024);
    assert.equal(toKiB("1", "G"), 1024 * 1024);
    assert.equal(toKiB("1000", "KB"), 977, "decimal units round up to whole KiB");
    assert.equal(toBytes("3", "MiB"), 3 * 1024 * 1024);
    assert.equal(toBytes("5", undefined), 5, "bytes is the default for volumes");
  });

  it("refuses what it cannot read instead of guessing", () => {
    assert.equal(toKiB("12", "furlongs"), undefined);
    assert.equal(toKiB("12", "constructor"), undefined);
    assert.equal(toKiB("-1", "KiB"), undefined);
    assert.equal(toKiB("1.5", "GiB"), undefined);
    assert.equal(toBytes("99999999", "EiB"), undefined, "beyond exact integers");
  });
});

describe("vocab/volume-xml", function () {
  this.timeout(30_000);

  it("builds volume XML that passes libvirt's storagevol schema, with and without a backing store", function () {
    const xmls = [
      buildVolumeXml({ name: "root.qcow2", capacityBytes: 2 * 1024 ** 3, format: "qcow2", backingStore: { path: "/var/lib/libvirt/images/base.qcow2", format: "qcow2" } }),
      buildVolumeXml({ name: `odd 'name' & <more>.raw`, capacityBytes: 1048576, format: "raw" }),
    ];
    for (const xml of xmls) {
      const check = virtXmlValidate(xml, "storagevol");
      if (!check.available) {
        skipMissing(this, VALIDATOR_MISSING);
      }
      assert.ok(check.valid, check.output);
    }
  });

  it("reads back name, format, capacity and backing store", () => {
    const parsed = parseVolumeXml(buildVolumeXml({ name: `odd 'name' & <more>.qcow2`, capacityBytes: 1048576, format: "qcow2", backingStore: { path: "/b.qcow2", format: "qcow2" } }));
    assert.equal(parsed.name, `odd 'name' & <more>.qcow2`);
    assert.equal(parsed.format, "qcow2");
    assert.equal(parsed.capacityBytes, 1048576);
    assert.deepEqual(parsed.backingStore, { path: "/b.qcow2", format: "qcow2" });
  });
});
