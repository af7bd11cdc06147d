import { strict as assert } from "node:assert";
import { changedInputs, classifyAttach, classifyField, overall } from "../../../provider/src/resources/classify";

const running = { running: true, restart: "never" as const };
const stopped = { running: false, restart: "never" as const };
const allow = { running: true, restart: "allow" as const };

describe("classify: how each change lands", () => {
  it("memory and vcpus within the running maximums are live; above them next-boot, or restart when allowed", () => {
    const olds = { memoryMiB: 1024, maxMemoryMiB: 4096, vcpus: 1, maxVcpus: 4 };
    assert.equal(classifyField("Domain", "memoryMiB", olds, { ...olds, memoryMiB: 4096 }, running).class, "live");
    assert.equal(classifyField("Domain", "vcpus", olds, { ...olds, vcpus: 4 }, running).class, "live");
    assert.equal(classifyField("Domain", "memoryMiB", olds, { ...olds, memoryMiB: 8192, maxMemoryMiB: 8192 }, running).class, "next-boot");
    assert.equal(classifyField("Domain", "memoryMiB", olds, { ...olds, memoryMiB: 8192, maxMemoryMiB: 8192 }, allow).class, "restart");
    // A new ceiling is not there until QEMU restarts, so it cannot carry a live change.
    assert.equal(classifyField("Domain", "vcpus", olds, { ...olds, vcpus: 6, maxVcpus: 8 }, running).class, "next-boot");
  });

  it("a stopped domain takes every change in its config at once", () => {
    assert.equal(classifyField("Domain", "machine", { machine: "pc" }, { machine: "q35" }, stopped).class, "live");
    assert.equal(classifyField("Domain", "machine", { machine: "pc" }, { machine: "q35" }, running).class, "next-boot");
  });

  it("a domain's name, type and arch replace it", () => {
    for (const f of ["name", "type", "arch"]) assert.equal(classifyField("Domain", f, {}, {}, running).class, "replace", f);
  });

  it("volumes grow live and are recreated to shrink", () => {
    assert.equal(classifyField("Volume", "capacityBytes", { capacityBytes: 1024 }, { capacityBytes: 2048 }, stopped).class, "live");
    assert.equal(classifyField("Volume", "capacityBytes", { capacityBytes: 2048 }, { capacityBytes: 1024 }, stopped).class, "replace");
  });

  it("cdrom media changes live in a tray and by replace on usb", () => {
    assert.equal(classifyField("Cdrom", "media", { bus: "scsi" }, { bus: "scsi", media: "/b.iso" }, running).class, "live");
    assert.equal(classifyField("Cdrom", "media", { bus: "ide" }, { bus: "ide", media: null }, running).class, "live");
    assert.equal(classifyField("Cdrom", "media", { bus: "usb" }, { bus: "usb", media: "/b.iso" }, running).class, "replace");
  });

  it("attaching is live on virtio, scsi and usb; sata and ide wait for the next boot on a running domain", () => {
    for (const bus of ["virtio", "scsi", "usb"]) assert.equal(classifyAttach("Disk", { bus }, running).class, "live", bus);
    assert.equal(classifyAttach("Disk", { bus: "sata" }, running).class, "next-boot");
    assert.equal(classifyAttach("Cdrom", { bus: "ide", media: "/a.iso" }, allow).class, "restart");
    assert.equal(classifyAttach("Cdrom", { bus: "ide", media: "/a.iso" }, stopped).class, "live");
  });

  it("an empty cdrom attaches live over QMP only: libvirt 9.0 cannot hot-plug one", () => {
    assert.equal(classifyAttach("Cdrom", { bus: "scsi", media: null, via: "libvirt" }, running).class, "next-boot");
    assert.equal(classifyAttach("Cdrom", { bus: "scsi", media: null, via: "qmp" }, running).class, "live");
    assert.equal(classifyAttach("Cdrom", { bus: "scsi", media: "/a.iso", via: "libvirt" }, running).class, "live");
  });

  it("a GuestExec runs again when its command changes, not when only its delete command does", () => {
    assert.equal(classifyField("GuestExec", "args", {}, {}, running).class, "replace");
    assert.equal(classifyField("GuestExec", "delete", {}, {}, running).class, "live");
  });

  it("counts fields chosen at create as unchanged when the program leaves them out, and never compares resourceName", () => {
    assert.deepEqual(changedInputs("Domain", { type: "qemu", memoryMiB: 1 }, { memoryMiB: 1 }, ["type", "memoryMiB"]), []);
    assert.deepEqual(changedInputs("Domain", { type: "qemu" }, { type: "kvm" }, ["type"]), ["type"]);
    assert.deepEqual(changedInputs("Disk", { resourceName: "a", target: "sdb" }, { resourceName: "b" }, ["resourceName", "target"]), []);
  });

  it("the whole update is as heavy as its heaviest change", () => {
    const c = (cls: "live" | "next-boot" | "restart" | "replace") => ({ field: "f", class: cls, reason: "" });
    assert.equal(overall([c("live"), c("replace"), c("next-boot")]), "replace");
    assert.equal(overall([c("live"), c("next-boot")]), "next-boot");
    assert.equal(overall([]), null);
  });
});
