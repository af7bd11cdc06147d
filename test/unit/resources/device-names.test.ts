// Device names carry their owner: two stacks that both declare Disk("data") on one domain get different devices,
// and a program from before owners (no `owner` input) keeps the names its stack recorded.
import { strict as assert } from "node:assert";
import { deviceNameFor, legacyDeviceName, ownedDeviceName } from "../../../provider/src/resources/device-names";
import { isValidNodeName, isValidQemuId, blockNodeNames, MAX_BLOCK_ID_LENGTH } from "../../../provider/src/vocab/qmp-names";

const stackA = "urn:pulumi:prod::shop::pulumi-nodejs:dynamic/libvirt:Disk::data";
const stackB = "urn:pulumi:dev::shop::pulumi-nodejs:dynamic/libvirt:Disk::data";
const otherProject = "urn:pulumi:prod::crm::pulumi-nodejs:dynamic/libvirt:Disk::data";

describe("device names", () => {
  for (const via of ["libvirt", "qmp"] as const) {
    it(`${via}: the same resource name in another stack or project names another device`, () => {
      const names = [stackA, stackB, otherProject].map((owner) => ownedDeviceName("Disk", owner, "data", via));
      assert.equal(new Set(names).size, 3, names.join(" "));
      assert.equal(ownedDeviceName("Disk", stackA, "data", via), names[0], "stable across runs");
      assert.notEqual(ownedDeviceName("Cdrom", stackA, "data", via), names[0], "a Cdrom and a Disk never share a name");
    });
  }

  it("libvirt aliases are user aliases libvirt accepts, and show the resource name", () => {
    const alias = ownedDeviceName("Disk", stackA, "web data #1", "libvirt");
    assert.match(alias, /^ua-disk-web-data-1-[0-9a-f]{12}$/);
    assert.ok(alias.length <= 48);
    const long = ownedDeviceName("Cdrom", stackA, "x".repeat(200), "libvirt");
    assert.ok(long.length <= 48 && isValidQemuId(long), long);
  });

  it("QMP ids stay valid QEMU ids whose node-names fit QEMU's 31 characters, whatever the resource name", () => {
    for (const name of ["data", "a very long resource name with spaces / slashes", "9lives", "", "ü"]) {
      const id = ownedDeviceName("Disk", stackA, name, "qmp");
      assert.ok(id.length <= MAX_BLOCK_ID_LENGTH && isValidQemuId(id), id);
      const nodes = blockNodeNames(id);
      assert.ok(isValidNodeName(nodes.file) && isValidNodeName(nodes.format), id);
    }
  });

  it("without an owner (a program from before owners) the recorded legacy names are kept", () => {
    assert.equal(deviceNameFor("Disk", { resourceName: "data", via: "libvirt" }, "seed"), "ua-disk-data");
    assert.equal(deviceNameFor("Cdrom", { resourceName: "tools", via: "libvirt" }, "seed"), "ua-cdrom-tools");
    assert.equal(deviceNameFor("Disk", { resourceName: "data", via: "qmp" }, "seed"), "lvq-disk-data");
    assert.equal(legacyDeviceName("Disk", "data", "seed", "libvirt"), "ua-disk-data");
    assert.notEqual(deviceNameFor("Disk", { owner: stackA, resourceName: "data", via: "libvirt" }, "seed"), "ua-disk-data");
  });
});
