import { strict as assert } from "node:assert";
import { providers } from "../../../provider/src/resources/registry";
import { UNKNOWN, validateInputs } from "../../../provider/src/resources/validate";

// Network inputs at check: every hostile value is refused before anything is touched, with a failure that names
// the field and says what to write instead. Each case starts from a valid network and breaks one thing.

const NET = {
  name: "lab",
  mode: "isolated",
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

type Net = typeof NET & Record<string, unknown>;
const dhcp = NET.ipv4.dhcp;
/** NET with `change` applied to a deep copy. */
function net(change: (n: any) => void): Net {
  const copy = JSON.parse(JSON.stringify(NET)) as Net;
  change(copy);
  return copy;
}
const withHosts = (...hosts: Record<string, unknown>[]) => net((n) => (n.ipv4.dhcp.hosts = hosts));

interface Case {
  title: string;
  inputs: Record<string, unknown>;
  property: string;
  /** What the reason must say: the rule, the value, and the way out. */
  reason: RegExp;
}

const cases: Case[] = [
  // MAC addresses
  { title: "a multicast MAC (odd first octet)", inputs: withHosts({ mac: "01:00:5e:00:00:01", ip: "198.18.7.10" }), property: "ipv4.dhcp.hosts[0].mac", reason: /unicast MAC address \(the first byte even.*"01:00:5e:00:00:01" is a multicast address/ },
  { title: "a malformed MAC (five octets)", inputs: withHosts({ mac: "52:54:00:aa:01", ip: "198.18.7.10" }), property: "ipv4.dhcp.hosts[0].mac", reason: /six colon-separated hex pairs, e.g\. 52:54:00:12:34:56: got "52:54:00:aa:01"/ },
  { title: "a MAC with XML in it", inputs: withHosts({ mac: "52:54:00:aa:00:01'/><x", ip: "198.18.7.10" }), property: "ipv4.dhcp.hosts[0].mac", reason: /six colon-separated hex pairs/ },
  { title: "the same MAC twice (in another case)", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10" }, { mac: "52:54:00:AA:00:01", ip: "198.18.7.11" }), property: "ipv4.dhcp.hosts[1].mac", reason: /"52:54:00:AA:00:01" is already used by ipv4\.dhcp\.hosts\[0\]: each host entry needs its own/ },
  // host addresses
  { title: "the same IP for two MACs", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10" }, { mac: "52:54:00:aa:00:02", ip: "198.18.7.10" }), property: "ipv4.dhcp.hosts[1].ip", reason: /"198\.18\.7\.10" is already given to ipv4\.dhcp\.hosts\[0\]/ },
  { title: "a host IP outside the subnet", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.8.10" }), property: "ipv4.dhcp.hosts[0].ip", reason: /"198\.18\.8\.10" is outside the network's subnet 198\.18\.7\.0\/24: use an address in 198\.18\.7\.1-198\.18\.7\.254/ },
  { title: "a host IP that is the network's own address", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.1" }), property: "ipv4.dhcp.hosts[0].ip", reason: /is the network's own address \(ipv4\.address\): give the host another address/ },
  { title: "a host IP that is the broadcast address", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.255" }), property: "ipv4.dhcp.hosts[0].ip", reason: /is the broadcast address of 198\.18\.7\.0\/24/ },
  { title: "a host IP that is not an address", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.300" }), property: "ipv4.dhcp.hosts[0].ip", reason: /IPv4 address of four dot-separated numbers 0-255.*got "198\.18\.7\.300"/ },
  // host names
  { title: "a host name with shell metacharacters", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "web;rm -rf" }), property: "ipv4.dhcp.hosts[0].hostname", reason: /must be a host name .*"web;rm -rf" contains ';'/ },
  { title: "a host name with XML metacharacters", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "a'b<c>" }), property: "ipv4.dhcp.hosts[0].hostname", reason: /contains "'"/ },
  { title: "a host name ending with '-'", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "web-" }), property: "ipv4.dhcp.hosts[0].hostname", reason: /each not starting or ending with '-'/ },
  { title: "the same host name twice", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", hostname: "web" }, { mac: "52:54:00:aa:00:02", ip: "198.18.7.11", hostname: "WEB" }), property: "ipv4.dhcp.hosts[1].hostname", reason: /"WEB" is already the name of ipv4\.dhcp\.hosts\[0\]/ },
  // the DHCP range
  { title: "a DHCP range outside the subnet", inputs: net((n) => (n.ipv4.dhcp.end = "198.18.8.199")), property: "ipv4.dhcp.end", reason: /"198\.18\.8\.199" is outside the network's subnet 198\.18\.7\.0\/24/ },
  { title: "a DHCP range that starts above its end", inputs: net((n) => Object.assign(n.ipv4.dhcp, { start: "198.18.7.199", end: "198.18.7.100" })), property: "ipv4.dhcp.end", reason: /must not be below dhcp\.start \("198\.18\.7\.199"\), got "198\.18\.7\.100": swap start and end/ },
  { title: "a DHCP range containing the network's own address", inputs: net((n) => (n.ipv4.dhcp.start = "198.18.7.1")), property: "ipv4.dhcp", reason: /the range 198\.18\.7\.1-198\.18\.7\.199 contains the network's own address 198\.18\.7\.1: start the range above it/ },
  { title: "a DHCP range starting at the network address", inputs: net((n) => (n.ipv4.dhcp.start = "198.18.7.0")), property: "ipv4.dhcp.start", reason: /is the network address of 198\.18\.7\.0\/24: use an address in 198\.18\.7\.1-198\.18\.7\.254/ },
  { title: "a DHCP range ending at the broadcast address", inputs: net((n) => (n.ipv4.dhcp.end = "198.18.7.255")), property: "ipv4.dhcp.end", reason: /is the broadcast address of 198\.18\.7\.0\/24/ },
  { title: "a DHCP range without an end", inputs: net((n) => delete n.ipv4.dhcp.end), property: "ipv4.dhcp.end", reason: /is required/ },
  // the subnet
  { title: "prefix length 0", inputs: net((n) => (n.ipv4.prefixLength = 0)), property: "ipv4.prefixLength", reason: /must be at least 8 \(got 0\)/ },
  { title: "prefix length above 32", inputs: net((n) => (n.ipv4.prefixLength = 33)), property: "ipv4.prefixLength", reason: /must be at most 32 \(got 33\)/ },
  { title: "prefix length 31 with DHCP", inputs: net((n) => (n.ipv4.prefixLength = 31)), property: "ipv4.prefixLength", reason: /must be at most 30 with dhcp \(got 31: a \/31 leaves no address for a guest\): lower prefixLength, or remove dhcp/ },
  { title: "prefix length 32 with DHCP", inputs: net((n) => (n.ipv4.prefixLength = 32)), property: "ipv4.prefixLength", reason: /must be at most 30 with dhcp/ },
  { title: "prefix length as a string", inputs: net((n) => (n.ipv4.prefixLength = "24")), property: "ipv4.prefixLength", reason: /must be an integer \(got the string "24"\)/ },
  { title: "the network address as the host's address", inputs: net((n) => (n.ipv4.address = "198.18.7.0")), property: "ipv4.address", reason: /"198\.18\.7\.0" is the network address of 198\.18\.7\.0\/24: give the host an address inside it, e.g\. 198\.18\.7\.1/ },
  { title: "the broadcast address as the host's address", inputs: { name: "lab", ipv4: { address: "198.18.7.255", prefixLength: 24 } }, property: "ipv4.address", reason: /is the broadcast address of 198\.18\.7\.0\/24/ },
  { title: "an IPv6 address", inputs: { name: "lab", ipv4: { address: "fd00::1", prefixLength: 24 } }, property: "ipv4.address", reason: /IPv4 address .*got "fd00::1"/ },
  { title: "a host name as the address", inputs: { name: "lab", ipv4: { address: "gateway.lan", prefixLength: 24 } }, property: "ipv4.address", reason: /IPv4 address/ },
  { title: "a CIDR in the address", inputs: { name: "lab", ipv4: { address: "198.18.7.1/24", prefixLength: 24 } }, property: "ipv4.address", reason: /IPv4 address/ },
  // bridge names
  { title: "a bridge name over 15 characters", inputs: { ...NET, bridgeName: "a-very-long-bridge" }, property: "bridgeName", reason: /at most 15 characters long \(got 18\)/ },
  ...([";", "$", "<", "&", " ", "'", '"', "/"] as const).map((ch) => ({
    title: `a bridge name with ${JSON.stringify(ch)}`,
    inputs: { ...NET, bridgeName: `br${ch}x` },
    property: "bridgeName",
    reason: /must be a bridge name of 1-15 letters, digits, '\.', '_' or '-'.* contains /,
  })),
  // mode bridge
  { title: "ipv4 with mode bridge", inputs: { ...NET, mode: "bridge", bridgeName: "br0" }, property: "ipv4", reason: /does not apply with mode "bridge" .*remove ipv4, or use mode "isolated"/ },
  { title: "mode bridge without bridgeName", inputs: { name: "lab", mode: "bridge" }, property: "bridgeName", reason: /is required with mode "bridge": the name of an existing host bridge, e\.g\. br0/ },
  { title: "mtu with mode bridge", inputs: { name: "lab", mode: "bridge", bridgeName: "br0", mtu: 9000 }, property: "mtu", reason: /does not apply with mode "bridge"/ },
  { title: "an unknown mode", inputs: { ...NET, mode: "vepa" }, property: "mode", reason: /must be one of "isolated", "nat", "route", "open", "bridge" \(got "vepa"\)/ },
  // names and the rest
  { title: "a network name with '/'", inputs: { ...NET, name: "../../etc" }, property: "name", reason: /starts with '\.'/ },
  { title: "a network name with a slash inside", inputs: { ...NET, name: "lab/1" }, property: "name", reason: /"lab\/1" contains '\/'/ },
  { title: "a network name with XML metacharacters", inputs: { ...NET, name: "lab<x>&" }, property: "name", reason: /contains '<'/ },
  { title: "mtu 0", inputs: { ...NET, mtu: 0 }, property: "mtu", reason: /must be at least 68 \(got 0\)/ },
  { title: "mtu above 65535", inputs: { ...NET, mtu: 65536 }, property: "mtu", reason: /must be at most 65535 \(got 65536\)/ },
  { title: "an unknown host property", inputs: withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.10", name: "web" }), property: "ipv4.dhcp.hosts[0].name", reason: /is not a property of ipv4\.dhcp\.hosts\[0\]; known: mac, ip, hostname/ },
];

describe("Network inputs refused at check", () => {
  it(`has at least 20 hostile inputs (${cases.length})`, () => assert.ok(cases.length >= 20));

  for (const c of cases) {
    it(`refuses ${c.title}`, () => {
      const { failures } = validateInputs("Network", c.inputs);
      const at = failures.filter((f) => f.property === c.property);
      assert.ok(at.length > 0, `no failure at ${c.property}: ${JSON.stringify(failures)}`);
      assert.ok(at.some((f) => c.reason.test(f.reason)), `${c.property}: ${JSON.stringify(at.map((f) => f.reason))} does not match ${c.reason}`);
    });
  }

  it("refuses through the provider's check, before anything is touched", async () => {
    const result = await providers.Network.check({}, { ...withHosts({ mac: "01:00:5e:00:00:01", ip: "198.18.9.10" }), __provider: "x" });
    assert.deepEqual(result.failures?.map((f) => f.property).sort(), ["ipv4.dhcp.hosts[0].ip", "ipv4.dhcp.hosts[0].mac"]);
  });
});

describe("Network inputs accepted at check", () => {
  it("a valid network, with the schema's defaults applied", () => {
    const { inputs, failures } = validateInputs("Network", { name: "lab", ipv4: { address: "198.18.7.1", prefixLength: 24, dhcp: { start: dhcp.start, end: dhcp.end } } });
    assert.deepEqual(failures, []);
    assert.equal(inputs.mode, "isolated");
    assert.equal(inputs.autostart, false);
    assert.deepEqual(inputs.ipv4?.dhcp?.hosts, []);
  });

  it("the full example, a /30 with DHCP, a /32 without, a host bridge, and host IPs inside and outside the range", () => {
    for (const inputs of [
      NET,
      { name: "p2p", ipv4: { address: "198.18.7.1", prefixLength: 30, dhcp: { start: "198.18.7.2", end: "198.18.7.2" } } },
      { name: "lone", ipv4: { address: "198.18.7.1", prefixLength: 32 } },
      { name: "lan", mode: "bridge", bridgeName: "br0", autostart: true },
      { name: "nat", mode: "nat", bridgeName: "virbr9", mtu: 9000 },
      withHosts({ mac: "52:54:00:aa:00:01", ip: "198.18.7.150" }, { mac: "52:54:00:aa:00:02", ip: "198.18.7.20" }),
    ]) {
      assert.deepEqual(validateInputs("Network", inputs).failures, [], JSON.stringify(inputs));
    }
  });

  it("values not known yet (preview) are not judged, nor the rules that need them", () => {
    const unknownAddress = net((n) => (n.ipv4.address = UNKNOWN));
    assert.deepEqual(validateInputs("Network", unknownAddress).failures, []);
    const unknownMac = withHosts({ mac: UNKNOWN, ip: "198.18.7.10" }, { mac: UNKNOWN, ip: "198.18.7.11" });
    assert.deepEqual(validateInputs("Network", unknownMac).failures, []);
  });
});
