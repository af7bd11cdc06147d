// What an Interface's inputs mean before anything is touched: how each change lands (the classes measured on
// libvirt 9.0: see vocab/interface-xml.ts), the names its device gets, and the inputs check accepts.
import { strict as assert } from "node:assert";
import { changedInputs, classifyField, classifyNicAttach } from "../../../provider/src/resources/classify";
import { deviceNameFor, nicNetdevId, ownedDeviceName } from "../../../provider/src/resources/device-names";
import { inputFields, validateInputs } from "../../../provider/src/resources/validate";
import { isValidQemuId } from "../../../provider/src/vocab/qmp-names";
import { explainPlan } from "../../../provider/src/explain/plan";
import { ourStep, preview } from "../explain/fixtures";

const running = { running: true, restart: "never" as const };
const stopped = { running: false, restart: "never" as const };
const urn = (name: string) => `urn:pulumi:prod::shop::pulumi-nodejs:dynamic/libvirt:Interface::${name}`;

function classOf(olds: Record<string, unknown>, news: Record<string, unknown>): Array<[string, string]> {
  const base = { domain: "vm1", model: "virtio", linkState: "up", via: "libvirt", persistent: true, detachTimeoutSeconds: 30, waitForAddressSeconds: 0 };
  const o = { ...base, ...olds };
  const n = { ...base, ...news };
  return changedInputs("Interface", o, n, inputFields("Interface")).map((f) => [f, classifyField("Interface", f, o, n, running).class]);
}

describe("Interface: how each change lands", () => {
  it("link state is live, both ways", () => {
    assert.deepEqual(classOf({ network: "a" }, { network: "a", linkState: "down" }), [["linkState", "live"]]);
    assert.deepEqual(classOf({ user: true, linkState: "down" }, { user: true }), [["linkState", "live"]]);
  });

  it("another network, another bridge, or a network to a bridge is live (the tap moves); to or from user-mode is a replace", () => {
    assert.deepEqual(classOf({ network: "a" }, { network: "b" }), [["network", "live"]]);
    assert.deepEqual(classOf({ bridge: "br0" }, { bridge: "br1" }), [["bridge", "live"]]);
    assert.deepEqual(classOf({ network: "a" }, { bridge: "br0" }), [["network", "live"], ["bridge", "live"]]);
    assert.deepEqual(classOf({ network: "a" }, { user: true }), [["network", "replace"], ["user", "replace"]]);
    assert.deepEqual(classOf({ user: true }, { bridge: "br0" }), [["bridge", "replace"], ["user", "replace"]]);
  });

  it("over QMP a new place is a replace (QEMU cannot swap a NIC's netdev), the link state still live", () => {
    assert.deepEqual(classOf({ qmp: "unix:/q", bridge: "br0" }, { qmp: "unix:/q", bridge: "br1" }), [["bridge", "replace"]]);
    assert.deepEqual(classOf({ via: "qmp", user: true }, { via: "qmp", user: true, linkState: "down" }), [["linkState", "live"]]);
  });

  it("model, MAC, MTU, subnet, boot order, domain and via replace; the reasons say the MAC stays where it can", () => {
    assert.deepEqual(classOf({ network: "a" }, { network: "a", model: "e1000" }), [["model", "replace"]]);
    assert.deepEqual(classOf({ network: "a", mac: "52:54:00:00:00:01" }, { network: "a", mac: "52:54:00:00:00:02" }), [["mac", "replace"]]);
    assert.deepEqual(classOf({ network: "a" }, { network: "a", mtu: 9000 }), [["mtu", "replace"]]);
    assert.deepEqual(classOf({ user: true, ipv4: { address: "198.18.1.0", prefixLength: 24 } }, { user: true, ipv4: { address: "198.18.2.0", prefixLength: 24 } }), [["ipv4", "replace"]]);
    assert.deepEqual(classOf({ network: "a" }, { network: "a", domain: "vm2" }), [["domain", "replace"]]);
    assert.deepEqual(classOf({ network: "a" }, { network: "a", via: "qmp" }), [["via", "replace"]]);
    assert.match(classifyField("Interface", "mtu", {}, { mtu: 9000 }, running).reason, /cannot modify MTU.*same MAC/);
  });

  it("persistent, timeouts and the address wait change nothing on the device", () => {
    assert.deepEqual(classOf({ network: "a" }, { network: "a", persistent: false, detachTimeoutSeconds: 5, waitForAddressSeconds: 60 }), [
      ["persistent", "live"],
      ["detachTimeoutSeconds", "live"],
      ["waitForAddressSeconds", "live"],
    ]);
  });

  it("the MAC libvirt assigned is no change for a program that never set one", () => {
    assert.deepEqual(classOf({ network: "a", mac: "52:54:00:ab:cd:ef" }, { network: "a" }), []);
  });

  it("plugging one in is live on a running domain and lands in the config of a stopped one", () => {
    assert.equal(classifyNicAttach({ model: "virtio" }, running).class, "live");
    assert.match(classifyNicAttach({ model: "virtio" }, stopped).reason, /stopped: the NIC is added to its config/);
    assert.match(classifyNicAttach({ qmp: "unix:/q" }, stopped).reason, /over QMP/);
  });
});

describe("Interface: device names", () => {
  it("libvirt alias ua-nic-<name>-<hash>, QMP id lvn-<name>-<hash> and its netdev lvnd-<name>-<hash>", () => {
    const alias = ownedDeviceName("Interface", urn("web"), "web", "libvirt");
    assert.match(alias, /^ua-nic-web-[0-9a-f]{12}$/);
    const id = ownedDeviceName("Interface", urn("web"), "web", "qmp");
    assert.match(id, /^lvn-web-[0-9a-f]{12}$/);
    assert.equal(nicNetdevId(id), `lvnd-${id.slice(4)}`);
    assert.ok(isValidQemuId(nicNetdevId(id)));
    assert.notEqual(ownedDeviceName("Interface", urn("web"), "web", "libvirt"), ownedDeviceName("Disk", urn("web"), "web", "libvirt"));
    assert.notEqual(ownedDeviceName("Interface", urn("web"), "web", "libvirt"), ownedDeviceName("Interface", urn("web").replace("prod", "dev"), "web", "libvirt"));
  });

  it("a program without owners gets a stable name from the resource name", () => {
    assert.equal(deviceNameFor("Interface", { resourceName: "lan", via: "libvirt" }, "seed"), "ua-nic-lan");
    assert.equal(deviceNameFor("Interface", { resourceName: "lan", via: "qmp" }, "seed"), "lvq-nic-lan");
  });
});

describe("Interface: inputs check accepts", () => {
  const accepted: Array<[string, Record<string, unknown>]> = [
    ["a network", { domain: "vm1", network: "lan" }],
    ["a bridge of 15 characters", { domain: "vm1", bridge: "br0123456789abc" }],
    ["user-mode with a 198.18 subnet", { domain: "vm1", user: true, ipv4: { address: "198.18.7.0", prefixLength: 24 } }],
    ["an upper-case unicast MAC", { domain: "vm1", network: "lan", mac: "52:54:00:AB:CD:EF" }],
    ["link down, MTU and boot order", { domain: "vm1", bridge: "br0", linkState: "down", mtu: 9000, bootOrder: 2 }],
    ["user-mode over QMP on a libvirt domain", { domain: "vm1", user: true, via: "qmp" }],
    ["a QEMU without libvirt", { qmp: "unix:/run/qemu/vm1.qmp", user: true }],
    ["a bridge on a QEMU without libvirt", { qmp: "tcp:127.0.0.1:4444", bridge: "br0" }],
  ];
  for (const [title, inputs] of accepted) {
    it(title, () => assert.deepEqual(validateInputs("Interface", inputs).failures, []));
  }

  it("fills the defaults: virtio, link up, via libvirt, persistent, 30 s detach, no address wait", () => {
    const { inputs } = validateInputs("Interface", { domain: "vm1", network: "lan" });
    assert.deepEqual(
      { model: inputs.model, linkState: inputs.linkState, via: inputs.via, persistent: inputs.persistent, detach: inputs.detachTimeoutSeconds, wait: inputs.waitForAddressSeconds },
      { model: "virtio", linkState: "up", via: "libvirt", persistent: true, detach: 30, wait: 0 },
    );
  });
});

describe("Interface in explain", () => {
  const vm = { name: "vm", memoryMiB: 64, vcpus: 1, running: true };
  it("a NIC added to a running domain is live, to a stopped one lands in its config; a link change is live, a model change a replace", () => {
    const base = { domain: "vm", network: "lan", model: "virtio", linkState: "up", via: "libvirt", persistent: true, detachTimeoutSeconds: 30, waitForAddressSeconds: 0 };
    const plan = explainPlan(
      preview(
        ourStep("same", "Domain", "vm", { olds: vm, outputs: { ...vm, state: "running" }, news: vm }),
        ourStep("same", "Domain", "cold", { olds: { ...vm, name: "cold" }, outputs: { ...vm, name: "cold", running: false, state: "shut off" }, news: { ...vm, name: "cold" } }),
        ourStep("create", "Interface", "hot", { news: base }),
        ourStep("create", "Interface", "cfg", { news: { ...base, domain: "cold" } }),
        ourStep("update", "Interface", "link", { olds: base, outputs: { ...base, mac: "52:54:00:00:00:01" }, news: { ...base, linkState: "down" } }),
        ourStep("replace", "Interface", "shape", { olds: base, outputs: { ...base, mac: "52:54:00:00:00:02" }, news: { ...base, model: "e1000" } }),
      ),
    );
    const row = (name: string) => plan.resources.find((r) => r.name === name)!.changes.map((c) => [c.field, c.class]);
    assert.deepEqual(row("hot"), [["(attach)", "live"]]);
    assert.match(plan.resources.find((r) => r.name === "cfg")!.changes[0]!.reason, /stopped: the NIC is added to its config/);
    assert.deepEqual(row("link"), [["linkState", "live"]]);
    assert.deepEqual(row("shape"), [["model", "replace"]]);
    assert.deepEqual(plan.resources.find((r) => r.name === "hot")!.domains, ["vm"]);
  });
});
