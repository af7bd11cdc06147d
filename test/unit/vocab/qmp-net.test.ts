import { strict as assert } from "node:assert";
import { ProtocolShapeError, SpecError } from "../../../provider/src/vocab/errors";
import {
  BRIDGE_CONF,
  deriveNicMac,
  explainNetdevRefusal,
  guestLinksCommand,
  netdevAdd,
  netdevDel,
  nicDeviceAdd,
  nicModelOfDriver,
  parseGuestLinks,
  parseQomChildren,
  parseRxFilter,
  qmpNicMac,
  queryRxFilter,
  setLink,
  slirpNet,
} from "../../../provider/src/vocab/qmp-net";

// Replies recorded from QEMU 7.2.22 (vlan-table cut short).
const RX_FILTER_REPLY = [
  { promiscuous: true, name: "nic1", "main-mac": "52:54:00:AA:bb:cc", unicast: "normal", vlan: "all", "vlan-table": [4095, 4094], "unicast-table": [], multicast: "normal", "multicast-overflow": false, "unicast-overflow": false, "multicast-table": [], "broadcast-allowed": false },
  { promiscuous: true, name: "net0", "main-mac": "52:54:00:12:34:56", unicast: "normal", vlan: "all" },
];
const QOM_LIST_REPLY = [
  { name: "type", type: "string" },
  { name: "rp1", type: "child<pcie-root-port>" },
  { name: "v1", type: "child<virtio-net-pci>" },
  { name: "e1", type: "child<e1000e>" },
];

describe("vocab/qmp-net", () => {
  describe("netdev_add", () => {
    it("user: the subnet goes as slirp's net=NETWORK/PREFIX (host bits cleared), restrict as asked", () => {
      assert.deepEqual(netdevAdd({ type: "user", id: "lvnd-a", ipv4: { address: "198.18.250.7", prefixLength: 24 }, restrict: true }), {
        execute: "netdev_add",
        arguments: { type: "user", id: "lvnd-a", net: "198.18.250.0/24", restrict: true },
      });
      assert.equal(slirpNet({ address: "198.19.1.200", prefixLength: 25 }), "198.19.1.128/25");
      assert.deepEqual(netdevAdd({ type: "user", id: "n" }).arguments, { type: "user", id: "n" }, "no net: QEMU's own default");
    });

    it("user: refuses subnets slirp cannot use and addresses that are not IPv4, naming the field", () => {
      for (const prefixLength of [0, 7, 29, 32, 24.5]) {
        assert.throws(() => slirpNet({ address: "198.18.0.0", prefixLength }), (e: unknown) => e instanceof SpecError && e.field === "ipv4.prefixLength", String(prefixLength));
      }
      for (const address of ["198.18.0", "198.18.0.256", "198.018.0.1", "a.b.c.d", "198.18.0.0/24", ""]) {
        assert.throws(() => slirpNet({ address, prefixLength: 24 }), (e: unknown) => e instanceof SpecError && e.field === "ipv4.address", address);
      }
    });

    it("bridge and tap: the interface name as given; a tap runs no script", () => {
      assert.deepEqual(netdevAdd({ type: "bridge", id: "nb", bridge: "lvtbr0" }).arguments, { type: "bridge", id: "nb", br: "lvtbr0" });
      assert.deepEqual(netdevAdd({ type: "tap", id: "nt", ifname: "tap-1.a" }).arguments, { type: "tap", id: "nt", ifname: "tap-1.a", script: "no", downscript: "no" });
    });

    it("refuses interface names Linux or a shell would not take as they are", () => {
      for (const bad of ["", "x".repeat(16), "br 0", "br;rm", "$(id)", "br/0", "-br", ".", "..", "br,x", "bré", "br<a>"]) {
        assert.throws(() => netdevAdd({ type: "bridge", id: "nb", bridge: bad }), (e: unknown) => e instanceof SpecError && e.field === "bridge", bad);
        assert.throws(() => netdevAdd({ type: "tap", id: "nt", ifname: bad }), (e: unknown) => e instanceof SpecError && e.field === "ifname", bad);
      }
      assert.doesNotThrow(() => netdevAdd({ type: "bridge", id: "nb", bridge: "x".repeat(15) }));
    });

    it("refuses netdev ids QEMU would not take", () => {
      for (const bad of ["", "1nd", "nd x", "nd/1"]) {
        assert.throws(() => netdevAdd({ type: "user", id: bad }), SpecError, bad);
        assert.throws(() => netdevDel(bad), SpecError, bad);
      }
      assert.deepEqual(netdevDel("lvnd-a"), { execute: "netdev_del", arguments: { id: "lvnd-a" } });
    });
  });

  describe("device_add", () => {
    it("maps each model to its QEMU device, with netdev, MAC (lower-cased), bus, addr and bootindex as numbers", () => {
      const drivers = { virtio: "virtio-net-pci", e1000: "e1000", e1000e: "e1000e", rtl8139: "rtl8139" } as const;
      for (const [model, driver] of Object.entries(drivers)) {
        assert.deepEqual(nicDeviceAdd({ id: "lvn-a", model: model as keyof typeof drivers, netdev: "lvnd-a", mac: "52:54:00:AB:cd:EF", bus: "pci.0", addr: "0x1f", bootIndex: 3 }), {
          execute: "device_add",
          arguments: { driver, id: "lvn-a", netdev: "lvnd-a", mac: "52:54:00:ab:cd:ef", bus: "pci.0", addr: "0x1f", bootindex: 3 },
        });
        assert.equal(nicModelOfDriver(driver), model);
      }
      assert.equal(nicModelOfDriver("virtio-net-pci-non-transitional"), "virtio");
      assert.equal(nicModelOfDriver("pcnet"), null);
    });

    it("refuses multicast, broadcast, zero and malformed MACs, naming mac", () => {
      for (const bad of ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "53:54:00:00:00:01", "00:00:00:00:00:00", "52:54:00:00:00", "52-54-00-00-00-01", "52:54:00:00:00:0g", ""]) {
        assert.throws(() => qmpNicMac(bad), (e: unknown) => e instanceof SpecError && e.field === "mac", bad);
        assert.throws(() => nicDeviceAdd({ id: "n", model: "virtio", netdev: "nd", mac: bad }), SpecError, bad);
      }
    });

    it("mtu goes as host_mtu on virtio only, within 68–65535", () => {
      assert.equal(nicDeviceAdd({ id: "n", model: "virtio", netdev: "nd", mac: "52:54:00:00:00:01", mtu: 1400 }).arguments?.host_mtu, 1400);
      assert.throws(() => nicDeviceAdd({ id: "n", model: "e1000", netdev: "nd", mac: "52:54:00:00:00:01", mtu: 1400 }), /mtu: only a virtio NIC/);
      for (const mtu of [67, 65536, 1500.5]) assert.throws(() => nicDeviceAdd({ id: "n", model: "virtio", netdev: "nd", mac: "52:54:00:00:00:01", mtu }), /mtu: must be 68–65535/);
    });

    it("refuses unknown models, odd addresses and negative boot orders", () => {
      assert.throws(() => nicDeviceAdd({ id: "n", model: "ne2k" as never, netdev: "nd", mac: "52:54:00:00:00:01" }), /model: must be one of/);
      for (const addr of ["31", "0x1f.8", "0x123", "1f"]) assert.throws(() => nicDeviceAdd({ id: "n", model: "virtio", netdev: "nd", mac: "52:54:00:00:00:01", addr }), /addr:/, addr);
      assert.throws(() => nicDeviceAdd({ id: "n", model: "virtio", netdev: "nd", mac: "52:54:00:00:00:01", bootIndex: -1 }), /bootOrder:/);
    });
  });

  it("set_link and query-rx-filter name the NIC by its qdev id", () => {
    assert.deepEqual(setLink("lvn-a", false), { execute: "set_link", arguments: { name: "lvn-a", up: false } });
    assert.deepEqual(queryRxFilter(), { execute: "query-rx-filter" });
    assert.deepEqual(queryRxFilter("lvn-a"), { execute: "query-rx-filter", arguments: { name: "lvn-a" } });
    assert.throws(() => setLink("a b", true), SpecError);
  });

  it("reads query-rx-filter as id and lower-case MAC; a reply of another shape is a protocol error", () => {
    assert.deepEqual(parseRxFilter(RX_FILTER_REPLY), [
      { id: "nic1", mac: "52:54:00:aa:bb:cc" },
      { id: "net0", mac: "52:54:00:12:34:56" },
    ]);
    assert.deepEqual(parseRxFilter([]), []);
    assert.throws(() => parseRxFilter({}), ProtocolShapeError);
    assert.throws(() => parseRxFilter([{ name: "x" }]), ProtocolShapeError);
  });

  it("reads qom-list's children with their types, leaving properties out", () => {
    assert.deepEqual(parseQomChildren(QOM_LIST_REPLY), [
      { name: "rp1", type: "pcie-root-port" },
      { name: "v1", type: "virtio-net-pci" },
      { name: "e1", type: "e1000e" },
    ]);
    assert.throws(() => parseQomChildren(null), ProtocolShapeError);
  });

  describe("deriveNicMac", () => {
    it("is stable per seed, in 52:54:00, unicast and locally administered", () => {
      const mac = deriveNicMac("urn:pulumi:dev::app::libvirt:Interface::eth1");
      assert.equal(mac, deriveNicMac("urn:pulumi:dev::app::libvirt:Interface::eth1"));
      assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
      const first = parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 1, 0, "unicast");
      assert.equal(first & 2, 2, "locally administered");
      assert.doesNotThrow(() => qmpNicMac(mac));
    });

    it("gives distinct seeds distinct MACs, and steps past the ones taken", () => {
      const macs = new Set(Array.from({ length: 200 }, (_, i) => deriveNicMac(`owner-${i}`)));
      assert.equal(macs.size, 200);
      const taken = deriveNicMac("seed");
      const next = deriveNicMac("seed", new Set([taken]));
      assert.notEqual(next, taken);
      assert.equal(deriveNicMac("seed", new Set([taken])), next, "stable too");
    });
  });

  describe("explainNetdevRefusal", () => {
    it("turns the bridge helper's refusal into the file and the line to add", () => {
      const message = explainNetdevRefusal({ type: "bridge", id: "nb", bridge: "lvtbr7" }, "bridge helper failed");
      assert.ok(message?.includes(BRIDGE_CONF), message ?? "");
      assert.ok(message?.includes('"allow lvtbr7"'), message ?? "");
    });

    it("says why a tap cannot be opened under libvirt's private /dev", () => {
      assert.match(explainNetdevRefusal({ type: "tap", id: "nt", ifname: "tap0" }, "could not open /dev/net/tun: No such file or directory") ?? "", /via: "libvirt"/);
      assert.match(explainNetdevRefusal({ type: "tap", id: "nt", ifname: "tap0" }, "could not configure /dev/net/tun (tap0): Operation not permitted") ?? "", /ip tuntap add dev tap0/);
    });

    it("leaves other errors as QEMU said them", () => {
      assert.equal(explainNetdevRefusal({ type: "user", id: "n" }, "Duplicate ID 'n'"), null);
      assert.equal(explainNetdevRefusal({ type: "bridge", id: "nb", bridge: "br0" }, "Duplicate ID 'nb'"), null);
    });
  });

  it("reads the guest's links: name, MAC and carrier (unknown while the interface is down)", () => {
    const cmd = guestLinksCommand();
    assert.equal(cmd.path, "/bin/sh");
    assert.match(cmd.args.join(" "), /\/sys\/class\/net/);
    assert.deepEqual(parseGuestLinks("eth0 52:54:00:AA:bb:cc 1\neth1 52:54:00:00:00:02 0\neth2 52:54:00:00:00:03 -\nnoise\n"), [
      { name: "eth0", mac: "52:54:00:aa:bb:cc", carrier: true },
      { name: "eth1", mac: "52:54:00:00:00:02", carrier: false },
      { name: "eth2", mac: "52:54:00:00:00:03", carrier: null },
    ]);
  });
});
