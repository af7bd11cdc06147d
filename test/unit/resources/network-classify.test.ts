import { strict as assert } from "node:assert";
import { changedInputs, classifyField, networkStateDrift } from "../../../provider/src/resources/classify";
import { explainPlan } from "../../../provider/src/explain/plan";
import { renderPlan } from "../../../provider/src/explain/render";
import { ourStep, preview } from "../explain/fixtures";

const active = { running: true, restart: "allow" as const };
const stopped = { running: false, restart: "allow" as const };

const IPV4 = {
  address: "198.18.7.1",
  prefixLength: 24,
  dhcp: { start: "198.18.7.100", end: "198.18.7.199", hosts: [{ mac: "52:54:00:aa:00:01", ip: "198.18.7.10" }] },
};
const OLDS = { name: "lab", mode: "isolated", bridgeName: "virbr3", ipv4: IPV4, autostart: false, uuid: "u", active: true, persistent: true, configInSync: true };
const withIpv4 = (change: (v: any) => void) => {
  const copy = JSON.parse(JSON.stringify(IPV4));
  change(copy);
  return { ...OLDS, ipv4: copy };
};

describe("classify: how a Network change lands", () => {
  it("DHCP host entries added, changed or removed are live (no restart)", () => {
    for (const news of [
      withIpv4((v) => v.dhcp.hosts.push({ mac: "52:54:00:aa:00:02", ip: "198.18.7.11" })),
      withIpv4((v) => (v.dhcp.hosts[0].ip = "198.18.7.12")),
      withIpv4((v) => (v.dhcp.hosts = [])),
    ]) {
      const c = classifyField("Network", "ipv4", OLDS, news, active);
      assert.equal(c.class, "live", JSON.stringify(news.ipv4));
      assert.match(c.reason, /virNetworkUpdate/);
    }
  });

  it("the subnet, the DHCP range, adding or removing DHCP, the bridge and the MTU restart a running network", () => {
    const changes: [string, object][] = [
      ["ipv4", withIpv4((v) => (v.address = "198.18.7.2"))],
      ["ipv4", withIpv4((v) => (v.prefixLength = 25))],
      ["ipv4", withIpv4((v) => (v.dhcp.end = "198.18.7.200"))],
      ["ipv4", withIpv4((v) => delete v.dhcp)],
      ["ipv4", { ...OLDS, ipv4: undefined }],
      ["bridgeName", { ...OLDS, bridgeName: "lab0" }],
      ["mtu", { ...OLDS, mtu: 9000 }],
    ];
    for (const [field, news] of changes) {
      const c = classifyField("Network", field, OLDS, news, active);
      assert.equal(c.class, "restart", `${field}: ${JSON.stringify(news)}`);
      assert.match(c.reason, /the network stops and starts again; guests attached to it lose their link to the bridge until they restart \(libvirt 9\.0 does not plug their taps into it again\)/);
    }
  });

  it("a network that does not run takes such a change in its config and starts: live", () => {
    assert.equal(classifyField("Network", "mtu", OLDS, { ...OLDS, mtu: 9000 }, stopped).class, "live");
  });

  it("name and mode replace it; autostart, uri and adopt are live", () => {
    assert.equal(classifyField("Network", "name", OLDS, { ...OLDS, name: "lab2" }, active).class, "replace");
    assert.equal(classifyField("Network", "mode", OLDS, { ...OLDS, mode: "nat" }, active).class, "replace");
    for (const f of ["autostart", "uri", "adopt"]) assert.equal(classifyField("Network", f, OLDS, OLDS, active).class, "live", f);
  });

  it("the bridge libvirt picked is kept when the program gives none", () => {
    assert.deepEqual(changedInputs("Network", OLDS, { ...OLDS, bridgeName: undefined }, ["bridgeName"]), []);
    assert.deepEqual(changedInputs("Network", OLDS, { ...OLDS, bridgeName: "lab0" }, ["bridgeName"]), ["bridgeName"]);
  });

  it("a network stopped, undefined or edited by hand is a live change, though those are outputs", () => {
    assert.deepEqual(networkStateDrift(OLDS, []), []);
    assert.deepEqual(networkStateDrift({ ...OLDS, active: false }, []).map((c) => [c.field, c.class]), [["active", "live"]]);
    assert.deepEqual(networkStateDrift({ ...OLDS, persistent: false }, []).map((c) => c.field), ["persistent"]);
    assert.deepEqual(networkStateDrift({ ...OLDS, configInSync: false }, []).map((c) => c.field), ["configInSync"]);
    // A restart starts it and writes its config anyway.
    assert.deepEqual(networkStateDrift({ ...OLDS, active: false, configInSync: false }, [{ class: "restart" }]), []);
  });
});

describe("explain: Network rows", () => {
  const vmNews = { name: "vm", memoryMiB: 64, vcpus: 1, networks: [{ network: "lab" }] };
  const vmOuts = { ...vmNews, running: true, state: "running" };

  it("a restart-class change names the domains the plan puts on the network, and says the guests lose their link", () => {
    const plan = explainPlan(
      preview(
        ourStep("update", "Network", "lab", { olds: OLDS, outputs: OLDS, news: { ...OLDS, mtu: 9000 } }),
        ourStep("same", "Domain", "vm", { olds: vmNews, outputs: vmOuts, news: vmNews }),
      ),
    );
    const net = plan.resources.find((r) => r.kind === "Network")!;
    assert.deepEqual(net.domains, ["vm"]);
    assert.deepEqual(net.changes.map((c) => [c.field, c.class]), [["mtu", "restart"]]);
    const text = renderPlan(plan);
    assert.match(text, /\| lab \| Network \| vm \| update \| mtu: \(unset\) → 9000 \| restart \| /);
    assert.match(text, /1 restart/);
  });

  it("host entries are a live row; a network found stopped at refresh is a live start; create and delete say what happens", () => {
    const plan = explainPlan(
      preview(
        ourStep("update", "Network", "lab", { olds: OLDS, outputs: { ...OLDS, active: false }, news: withIpv4((v) => (v.dhcp.hosts = [])) }),
        ourStep("create", "Network", "new", { news: { name: "new", mode: "isolated" } }),
        ourStep("delete", "Network", "old", { olds: { name: "old" }, outputs: { name: "old" } }),
      ),
    );
    const [lab, created, deleted] = plan.resources;
    assert.deepEqual(lab!.changes.map((c) => [c.field, c.class]), [["ipv4", "live"], ["active", "live"]]);
    assert.match(created!.changes[0]!.reason, /defined and started/);
    assert.match(deleted!.changes[0]!.reason, /stopped and undefined \(refused while a running domain has a NIC on it\)/);
  });
});
