import { strict as assert } from "node:assert";
import { describeSubnet, ipv4ToNumber, numberToIpv4, prefixFromNetmask, subnetOf } from "../../../provider/src/vocab/ipv4";
import {
  buildNetworkXml,
  DhcpHost,
  dhcpHostXml,
  NetworkSpec,
  parseNetworkXml,
  planDhcpHostChanges,
} from "../../../provider/src/vocab/network-xml";
import { skipMissing } from "../../support/skip";
import { fixtureText, virtXmlValidate } from "./helpers";

const SPEC: NetworkSpec = {
  name: "lab",
  mode: "isolated",
  bridgeName: "labbr0",
  mtu: 1400,
  ipv4: {
    address: "198.18.7.1",
    prefixLength: 24,
    dhcp: {
      start: "198.18.7.100",
      end: "198.18.7.199",
      hosts: [
        { mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "web-1" },
        { mac: "52:54:00:aa:00:02", ip: "198.18.7.11" },
      ],
    },
  },
};

describe("network XML", () => {
  it("builds what the spec says, and reads back the same spec", () => {
    const parsed = parseNetworkXml(buildNetworkXml(SPEC));
    assert.equal(parsed.name, "lab");
    assert.equal(parsed.mode, "isolated");
    assert.equal(parsed.bridgeName, "labbr0");
    assert.equal(parsed.mtu, 1400);
    assert.deepEqual(parsed.ipv4, { address: "198.18.7.1", prefixLength: 24, dhcp: SPEC.ipv4!.dhcp });
  });

  it("writes a forward element for nat, route, open and bridge, none for isolated", () => {
    const forward = (mode: NetworkSpec["mode"]) => /<forward mode="([a-z]+)"\/>/.exec(buildNetworkXml({ name: "n", mode, bridgeName: "br0" }))?.[1] ?? null;
    assert.equal(forward("isolated"), null);
    for (const mode of ["nat", "route", "open", "bridge"] as const) assert.equal(forward(mode), mode);
  });

  it("keeps a uuid and bridge MAC it is given, but never a MAC on a host bridge (libvirt refuses it)", () => {
    const xml = buildNetworkXml({ ...SPEC, uuid: "5c17819f-def9-42a0-a8c8-bdadc17da799", bridgeMac: "52:54:00:33:77:00" });
    assert.match(xml, /<uuid>5c17819f-def9-42a0-a8c8-bdadc17da799<\/uuid>/);
    assert.match(xml, /<mac address="52:54:00:33:77:00"\/>/);
    assert.doesNotMatch(buildNetworkXml({ name: "b", mode: "bridge", bridgeName: "br0", bridgeMac: "52:54:00:33:77:00" }), /<mac/);
  });

  it("escapes what it writes (a host name cannot break out of its attribute)", () => {
    const xml = dhcpHostXml({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "a'b\"<c>&" });
    assert.match(xml, /name="a&apos;b&quot;&lt;c&gt;&amp;"/);
    assert.equal(parseNetworkXml(`<network><name>n</name><ip address='198.18.7.1' prefix='24'><dhcp><range start='198.18.7.2' end='198.18.7.3'/>${xml}</dhcp></ip></network>`).ipv4?.dhcp?.hosts[0]?.hostname, "a'b\"<c>&");
  });

  it("what it builds passes libvirt's own network schema", function () {
    for (const spec of [SPEC, { name: "n", mode: "nat" as const }, { name: "b", mode: "bridge" as const, bridgeName: "br0" }]) {
      const check = virtXmlValidate(buildNetworkXml(spec), "network");
      if (!check.available) skipMissing(this, "virt-xml-validate (libvirt-clients and libxml2-utils)");
      assert.ok(check.valid, `${spec.name}: ${check.output}`);
    }
  });

  describe("reads what libvirt 9.0 writes (recorded)", () => {
    it("a running isolated network with DHCP hosts, live and config alike", () => {
      for (const file of ["recorded-network-isolated-live.xml", "recorded-network-isolated-inactive.xml"]) {
        const parsed = parseNetworkXml(fixtureText(file));
        assert.equal(parsed.mode, "isolated", file);
        assert.equal(parsed.uuid, "5c17819f-def9-42a0-a8c8-bdadc17da799");
        assert.equal(parsed.bridgeName, "hbrec0");
        assert.equal(parsed.bridgeMac, "52:54:00:33:77:00");
        assert.equal(parsed.mtu, 1400);
        assert.deepEqual(parsed.ipv4, {
          address: "198.19.251.1",
          prefixLength: 24,
          dhcp: {
            start: "198.19.251.100",
            end: "198.19.251.199",
            hosts: [
              { mac: "52:54:00:aa:00:01", ip: "198.19.251.10", hostname: "web-1" },
              { mac: "52:54:00:aa:00:02", ip: "198.19.251.11" },
            ],
          },
        });
      }
    });

    it("nat and route networks: the mode, the bridge libvirt picked, an address without DHCP", () => {
      const nat = parseNetworkXml(fixtureText("recorded-network-nat-defined.xml"));
      assert.equal(nat.mode, "nat");
      assert.equal(nat.bridgeName, "virbr0");
      assert.equal(nat.mtu, null);
      assert.deepEqual(nat.ipv4, { address: "198.19.252.1", prefixLength: 24, dhcp: null });
      const route = parseNetworkXml(fixtureText("recorded-network-route-defined.xml"));
      assert.equal(route.mode, "route");
      assert.equal(route.ipv4?.prefixLength, 28);
    });

    it("a host bridge network: mode bridge, the host's bridge, no address", () => {
      const parsed = parseNetworkXml(fixtureText("recorded-network-bridge-defined.xml"));
      assert.deepEqual([parsed.mode, parsed.bridgeName, parsed.ipv4, parsed.bridgeMac], ["bridge", "br-hbrec", null, null]);
    });

    it("an address given with a netmask reads as its prefix length", () => {
      assert.equal(parseNetworkXml(fixtureText("recorded-network-netmask-defined.xml")).ipv4?.prefixLength, 24);
    });
  });

  it("a forward element without a mode is nat (libvirt's default)", () => {
    assert.equal(parseNetworkXml("<network><name>n</name><forward/></network>").mode, "nat");
  });
});

describe("DHCP host changes on a running network", () => {
  const a: DhcpHost = { mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "a" };
  const b: DhcpHost = { mac: "52:54:00:aa:00:02", ip: "198.18.7.11" };
  const c: DhcpHost = { mac: "52:54:00:aa:00:03", ip: "198.18.7.12" };
  const commands = (changes: ReturnType<typeof planDhcpHostChanges>) => changes.map((ch) => `${ch.command} ${ch.host.mac.slice(-2)} ${ch.host.ip}`);

  it("nothing to do when the entries are the same, in any order and MAC case", () => {
    assert.deepEqual(planDhcpHostChanges([a, b], [b, { ...a, mac: a.mac.toUpperCase() }]), []);
  });

  it("adds new MACs, deletes gone ones (as the network has them), and modifies an IP or name in place", () => {
    const changes = planDhcpHostChanges([a, b], [{ ...a, ip: "198.18.7.20" }, c]);
    assert.deepEqual(commands(changes), ["delete 02 198.18.7.11", "modify 01 198.18.7.20", "add 03 198.18.7.12"]);
    assert.deepEqual(changes[0]!.host, b, "a delete names the entry exactly as the network has it");
    assert.deepEqual(commands(planDhcpHostChanges([a], [{ mac: a.mac, ip: a.ip }])), ["modify 01 198.18.7.10"], "dropping the host name");
  });

  it("deletes before it adds, so an IP moving from one MAC to another never meets itself", () => {
    assert.deepEqual(commands(planDhcpHostChanges([a], [{ ...c, ip: a.ip }])), ["delete 01 198.18.7.10", "add 03 198.18.7.10"]);
  });

  it("two entries swapping IPs: deleted and added again, since libvirt refuses a duplicate at every step", () => {
    const changes = planDhcpHostChanges([a, b], [{ ...a, ip: b.ip }, { ...b, ip: a.ip }]);
    assert.deepEqual(commands(changes), ["delete 01 198.18.7.10", "delete 02 198.18.7.11", "add 01 198.18.7.11", "add 02 198.18.7.10"]);
  });

  it("a name moving to another MAC: the one taking it is deleted and added after the other changed", () => {
    const changes = planDhcpHostChanges([a, b], [{ ...a, hostname: undefined }, { ...b, hostname: "a" }]);
    assert.deepEqual(commands(changes), ["delete 02 198.18.7.11", "modify 01 198.18.7.10", "add 02 198.18.7.11"]);
  });
});

describe("IPv4 arithmetic", () => {
  it("reads dotted quads strictly and writes them back", () => {
    assert.equal(ipv4ToNumber("198.18.7.1"), 198 * 2 ** 24 + 18 * 2 ** 16 + 7 * 256 + 1);
    assert.equal(numberToIpv4(ipv4ToNumber("255.255.255.255")!), "255.255.255.255");
    for (const junk of ["198.18.7", "198.18.07.1", "256.1.1.1", "::1", "198.18.7.1 ", "a.b.c.d"]) assert.equal(ipv4ToNumber(junk), null, junk);
  });

  it("finds the subnet, and prefix lengths from netmasks", () => {
    const s = subnetOf(ipv4ToNumber("198.18.7.77")!, 26);
    assert.equal(describeSubnet(s), "198.18.7.64/26");
    assert.equal(numberToIpv4(s.broadcast), "198.18.7.127");
    assert.equal(prefixFromNetmask("255.255.255.0"), 24);
    assert.equal(prefixFromNetmask("255.255.255.255"), 32);
    assert.equal(prefixFromNetmask("255.0.255.0"), null);
  });
});
