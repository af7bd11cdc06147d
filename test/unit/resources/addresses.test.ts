import { strict as assert } from "node:assert";
import { isReachableAddress, mergeAddresses } from "../../../provider/src/resources/addresses";
import { IpAddrType } from "../../../provider/src/libvirt";

const v4 = (addr: string, prefix = 24) => ({ type: IpAddrType.Ipv4, addr, prefix });
const v6 = (addr: string, prefix = 64) => ({ type: IpAddrType.Ipv6, addr, prefix });

describe("guest addresses: the agent's and the leases', by MAC", () => {
  it("matches both sources by MAC, counts an address both report once (as the agent's), and keeps a lease-only one", () => {
    const agent = [
      { name: "lo", mac: "00:00:00:00:00:00", addrs: [v4("127.0.0.1", 8), v6("::1", 128)] },
      { name: "eth0", mac: "52:54:00:aa:bb:01", addrs: [v6("fe80::5054:ff:feaa:bb01"), v4("198.18.7.120"), v6("2001:db8::5")] },
    ];
    const lease = [
      { name: "vnet3", mac: "52:54:00:aa:bb:01", addrs: [v4("198.18.7.120")] },
      { name: "vnet4", mac: "52:54:00:aa:bb:02", addrs: [v4("198.18.7.121")] },
    ];
    const merged = mergeAddresses(agent, lease);
    assert.deepEqual(merged.get("52:54:00:aa:bb:01"), [
      { address: "198.18.7.120", prefixLength: 24, family: "ipv4", source: "agent" },
      { address: "2001:db8::5", prefixLength: 64, family: "ipv6", source: "agent" },
    ]);
    assert.deepEqual(merged.get("52:54:00:aa:bb:02"), [{ address: "198.18.7.121", prefixLength: 24, family: "ipv4", source: "lease" }]);
    // loopback's only addresses are left out, so its entry is empty.
    assert.deepEqual(merged.get("00:00:00:00:00:00"), []);
  });

  it("orders addresses so that two reads of the same guest give the same output", () => {
    const a = mergeAddresses([{ name: "eth0", mac: "m", addrs: [v4("198.18.7.10"), v4("198.18.7.9"), v6("2001:db8::1")] }], []);
    const b = mergeAddresses([{ name: "eth0", mac: "m", addrs: [v6("2001:db8::1"), v4("198.18.7.9"), v4("198.18.7.10")] }], []);
    assert.deepEqual(a.get("m"), b.get("m"));
    assert.deepEqual(a.get("m")!.map((x) => x.address), ["198.18.7.9", "198.18.7.10", "2001:db8::1"]);
  });

  it("leaves out loopback and link-local, keeps everything else", () => {
    for (const [address, family] of [["127.0.0.1", "ipv4"], ["169.254.3.4", "ipv4"], ["::1", "ipv6"], ["FE80::1", "ipv6"], ["febf::1", "ipv6"]] as const) {
      assert.equal(isReachableAddress(address, family), false, address);
    }
    for (const [address, family] of [["198.18.0.5", "ipv4"], ["2001:db8::1", "ipv6"], ["fec0::1", "ipv6"]] as const) {
      assert.equal(isReachableAddress(address, family), true, address);
    }
  });
});
