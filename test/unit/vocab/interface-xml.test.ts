import { strict as assert } from "node:assert";
import { SpecError } from "../../../provider/src/vocab/errors";
import { buildDomainXml, parseDomainXml, type InterfaceSpec } from "../../../provider/src/vocab/domain-xml";
import {
  buildInterfaceXml,
  interfaceByAlias,
  interfaceByMac,
  isUnicastMac,
  nicSpecFromParsed,
  parseInterfaceXml,
} from "../../../provider/src/vocab/interface-xml";
import { bootByDeviceOrder } from "../../../provider/src/vocab/boot-order";
import { fixtureText, virtXmlValidate } from "./helpers";
import { skipMissing } from "../../support/skip";

// Recorded from libvirt 9.0 / QEMU 7.2: a running domain with a NIC on a network (moved there from another network
// by update-device), one on user-mode networking with its link down and a 198.18 subnet, and one with an MTU.
const LIVE = () => parseDomainXml(fixtureText("live-interfaces.xml"));

// Recorded the same way: a NIC moved live from a network to a bridge (update-device).
const BRIDGE = `<interface type='bridge'>
      <mac address='52:54:00:ba:cf:78'/>
      <source bridge='c1probea'/>
      <target dev='vnet1'/>
      <model type='virtio'/>
      <alias name='ua-nic-x'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </interface>`;

describe("vocab/interface-xml", () => {
  describe("reading libvirt's live XML", () => {
    it("a NIC on a network: its network (not the bridge libvirt adds), tap, MAC, alias and PCI slot; link up when <link> is absent", () => {
      const nic = interfaceByAlias(LIVE(), "ua-nic-x")!;
      assert.deepEqual(nic, {
        type: "network",
        source: "c1-probe-a",
        model: "virtio",
        mac: "52:54:00:ba:cf:78",
        alias: "ua-nic-x",
        target: "vnet1",
        linkState: "up",
        mtu: null,
        bootOrder: null,
        ipv4: null,
        address: { type: "pci", domain: 0, bus: 0, slot: 2, function: 0 },
      });
    });

    it("user-mode networking: its subnet, the link down, no tap", () => {
      const nic = interfaceByAlias(LIVE(), "ua-nic-u")!;
      assert.equal(nic.type, "user");
      assert.equal(nic.source, null);
      assert.equal(nic.target, null);
      assert.equal(nic.linkState, "down");
      assert.deepEqual(nic.ipv4, { address: "198.18.77.0", prefixLength: 24 });
      assert.equal(nic.model, "e1000");
    });

    it("the MTU, and a NIC found by MAC whatever its case", () => {
      assert.equal(interfaceByAlias(LIVE(), "ua-nic-m")!.mtu, 1400);
      assert.equal(interfaceByMac(LIVE(), "52:54:00:C9:36:08")?.alias, "ua-nic-m");
      assert.equal(interfaceByMac(LIVE(), "52:54:00:00:00:01"), undefined);
      assert.equal(interfaceByAlias(LIVE(), "ua-nic-none"), undefined);
    });

    it("a bridge NIC", () => {
      const nic = parseInterfaceXml(BRIDGE);
      assert.equal(nic.type, "bridge");
      assert.equal(nic.source, "c1probea");
      assert.equal(nic.target, "vnet1");
    });
  });

  describe("building what attach-device and update-device send", () => {
    it("every field the resource sets, read back the same", () => {
      const spec: InterfaceSpec = { type: "network", network: "lan", model: "e1000e", mac: "52:54:00:12:34:56", alias: "ua-nic-web-0123456789ab", linkState: "down", mtu: 9000, bootOrder: 3 };
      const nic = parseInterfaceXml(buildInterfaceXml(spec));
      assert.deepEqual(
        { type: nic.type, source: nic.source, model: nic.model, mac: nic.mac, alias: nic.alias, linkState: nic.linkState, mtu: nic.mtu, bootOrder: nic.bootOrder },
        { type: "network", source: "lan", model: "e1000e", mac: "52:54:00:12:34:56", alias: "ua-nic-web-0123456789ab", linkState: "down", mtu: 9000, bootOrder: 3 },
      );
    });

    it("without a MAC (libvirt assigns one) and with the link left out (libvirt's up)", () => {
      const xml = buildInterfaceXml({ type: "bridge", bridge: "br0", alias: "ua-nic-a" });
      assert.doesNotMatch(xml, /<mac/);
      assert.doesNotMatch(xml, /<link/);
      assert.match(xml, /<model type="virtio"\/>/);
    });

    it("user-mode networking with its subnet as libvirt writes it: <ip family address prefix>", () => {
      const nic = parseInterfaceXml(buildInterfaceXml({ type: "user", ipv4: { address: "198.18.9.0", prefixLength: 24 }, alias: "ua-nic-u" }));
      assert.deepEqual(nic.ipv4, { address: "198.18.9.0", prefixLength: 24 });
    });

    it("what libvirt reports goes back unchanged (an update-device that changes only the link keeps the rest)", () => {
      for (const alias of ["ua-nic-x", "ua-nic-u", "ua-nic-m"]) {
        const read = interfaceByAlias(LIVE(), alias)!;
        const again = parseInterfaceXml(buildInterfaceXml(nicSpecFromParsed(read)));
        assert.deepEqual({ ...again, target: read.target, address: read.address }, read, alias);
      }
    });

    it("every update sends the link state, since libvirt takes a missing <link> for up", () => {
      const down = interfaceByAlias(LIVE(), "ua-nic-u")!;
      assert.match(buildInterfaceXml(nicSpecFromParsed(down)), /<link state="down"\/>/);
      assert.match(buildInterfaceXml(nicSpecFromParsed(interfaceByAlias(LIVE(), "ua-nic-x")!)), /<link state="up"\/>/);
    });

    it("a domain with these NICs is valid for libvirt's own schema", function () {
      const xml = buildDomainXml({
        name: "nics",
        type: "qemu",
        memoryKiB: 65536,
        vcpus: 1,
        interfaces: [
          { type: "network", network: "lan", mac: "52:54:00:12:34:56", linkState: "down", mtu: 1400, bootOrder: 2, alias: "ua-nic-a" },
          { type: "user", ipv4: { address: "198.18.9.0", prefixLength: 24 }, model: "e1000" },
        ],
      });
      const check = virtXmlValidate(xml, "domain");
      if (!check.available) return skipMissing(this, "virt-xml-validate (libvirt-clients) and xmllint (libxml2-utils)");
      assert.ok(check.valid, check.output);
    });
  });

  it("a NIC with a boot order joins a config converted to per-device order in the same define (a define leaving no order gets <boot dev='hd'/> back)", () => {
    const xml = bootByDeviceOrder(fixtureText("recorded-inactive-kernel-boot.xml"), { interface: { type: "network", network: "lan", bootOrder: 3, alias: "ua-nic-pxe" } });
    const config = parseDomainXml(xml);
    assert.deepEqual(config.os.bootDevices, []);
    assert.equal(interfaceByAlias(config, "ua-nic-pxe")?.bootOrder, 3);
  });

  describe("refusing what libvirt would refuse, or worse take", () => {
    const base: InterfaceSpec = { type: "network", network: "lan", alias: "ua-nic-a" };
    const cases: Array<[string, InterfaceSpec, string]> = [
      ["a multicast MAC", { ...base, mac: "01:00:5e:00:00:01" }, "mac"],
      ["the broadcast MAC", { ...base, mac: "ff:ff:ff:ff:ff:ff" }, "mac"],
      ["an all-zero MAC", { ...base, mac: "00:00:00:00:00:00" }, "mac"],
      ["a MAC with a dash", { ...base, mac: "52-54-00-12-34-56" }, "mac"],
      ["a bridge name of 16 characters", { type: "bridge", bridge: "b".repeat(16) }, "bridge"],
      ["a bridge name with a quote", { type: "bridge", bridge: "br0'/>" }, "bridge"],
      ["a network name with a space", { type: "network", network: "a b" }, "network"],
      ["an MTU on user-mode networking", { type: "user", mtu: 1400 }, "mtu"],
      ["an MTU of 67", { ...base, mtu: 67 }, "mtu"],
      ["a subnet prefix of /30", { type: "user", ipv4: { address: "198.18.9.0", prefixLength: 30 } }, "ipv4.prefixLength"],
      ["a subnet address that is no address", { type: "user", ipv4: { address: "198.18.9", prefixLength: 24 } }, "ipv4.address"],
      ["an alias without ua-", { ...base, alias: "net0" }, "alias"],
      ["an unknown model", { ...base, model: "ne2k" as never }, "model"],
    ];
    for (const [title, spec, field] of cases) {
      it(title, () => {
        assert.throws(() => buildInterfaceXml(spec), (e: unknown) => e instanceof SpecError && e.field === `interface.${field}`);
      });
    }

    it("unicast MACs pass, in either case", () => {
      assert.ok(isUnicastMac("52:54:00:AB:cd:01"));
      assert.ok(!isUnicastMac("53:54:00:ab:cd:01"));
    });
  });
});
