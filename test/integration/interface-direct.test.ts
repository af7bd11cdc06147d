// Interface on a QEMU run without libvirt (`qmp` instead of `domain`, issue 13): netdev_add + device_add over QEMU's
// own socket, set_link, read back from QEMU's own view (query-rx-filter), device_del ended by DEVICE_DELETED and the
// netdev freed. QEMU runs the project's test guest inside the daemon's network namespace (a guest with a NIC never
// runs in the host's), on user-mode networking with a 198.18 subnet; the test asks QEMU itself what it has (over the
// one QMP connection a provider process keeps per socket) and looks inside the guest through its agent socket.
import { strict as assert } from "node:assert";
import { sharedQmp, type QmpClient } from "../../provider/src/qemu";
import { parseQmpReply } from "../../provider/src/vocab/qmp";
import { startBareQemu, type BareQemu } from "../support/bare-qemu";
import { libvirtdNetns } from "../support/libvirtd";
import { create, diff, providers, read, remove, update } from "../support/provider";
import { skipMissing } from "../support/skip";
import { eventually, notesOf } from "../support/wait";

type Props = Record<string, any>;
const urn = (name: string) => `urn:pulumi:direct::nics::pulumi-nodejs:dynamic/libvirt:Interface::${name}`;

describe("Interface on a QEMU run without libvirt", function () {
  this.timeout(300_000);
  let qemu: BareQemu;
  let probe: QmpClient;
  const nic = (name: string, extra: Props = {}): Props => ({
    resourceName: name,
    owner: urn(name),
    qmp: qemu.qmp,
    user: true,
    ipv4: { address: "198.18.252.0", prefixLength: 24 },
    ...extra,
  });
  const ask = async (execute: string, args?: object) => parseQmpReply(await probe.execute(args ? { execute, arguments: args } : { execute }), execute);
  const peripherals = async () => ((await ask("qom-list", { path: "/machine/peripheral" })) as Array<{ name: string }>).map((c) => c.name);
  const netdevs = async () => String(await ask("human-monitor-command", { "command-line": "info network" }));

  /** The guest's view of the NIC with this MAC: "<name> <carrier> <ipv4,...>", through the agent (a GuestExec). */
  async function inGuest(mac: string): Promise<{ carrier: string; ipv4: string[] } | undefined> {
    const script =
      `for d in /sys/class/net/*; do [ "$(cat $d/address)" = ${mac} ] || continue; n=\${d##*/}; ` +
      `echo "$(cat $d/carrier 2>/dev/null || echo -) $(ip -4 -o addr show dev $n | awk '{print $4}' | tr '\\n' ,)"; done`;
    const ran = await create("GuestExec", { agent: qemu.agent, path: "/bin/sh", args: ["-c", script], agentTimeoutSeconds: 150 });
    const line = String(ran.outs.stdout).trim();
    if (line === "") return undefined;
    const [carrier, ipv4] = line.split(" ");
    return { carrier: carrier!, ipv4: (ipv4 ?? "").split(",").filter((a) => a !== "") };
  }

  before(async function () {
    const netns = libvirtdNetns();
    if (!netns) skipMissing(this, "the network namespace of scripts/setup-host.sh's libvirt daemon (guests with NICs run only there)");
    qemu = await startBareQemu({ netns: netns! });
    // A QMP socket serves one client at a time: the test asks over the provider's own connection to it.
    probe = sharedQmp(qemu.qmp);
  });
  after(async () => {
    await qemu?.stop();
  });

  it("plugs in a NIC over the socket: the guest sees it and gets its lease from QEMU; query-rx-filter reads it back", async () => {
    const args = nic("slirp");
    assert.match(await notesOf(() => providers.Interface.check({}, args)), /live hot-plug of a virtio NIC over QMP/);
    const made = await create("Interface", args);
    assert.match(made.outs.alias, /^lvn-slirp-[0-9a-f]{12}$/);
    assert.match(made.outs.mac, /^52:54:00(:[0-9a-f]{2}){3}$/, "derived from the owner");
    assert.ok((await peripherals()).includes(made.outs.alias));
    assert.match(await netdevs(), new RegExp(`lvnd-slirp-[0-9a-f]{12}: .*type=user,net=198\\.18\\.252\\.0`));
    const rx = (await ask("query-rx-filter")) as Array<{ name: string; "main-mac": string }>;
    assert.equal(rx.find((n) => n.name === made.outs.alias)?.["main-mac"], made.outs.mac);
    await eventually("the guest holds a 198.18.252.x address", async () => ((await inGuest(made.outs.mac))?.ipv4 ?? []).some((a) => a.startsWith("198.18.252.")), 120_000, 1_000);

    const refreshed = await read("Interface", made.id, made.outs);
    assert.equal(refreshed.id, made.id);
    assert.deepEqual(await diff("Interface", made.id, refreshed.props, args), { changes: false, replaces: [] });

    // linkState is set_link: live, both ways, as the guest sees it.
    assert.deepEqual(await diff("Interface", made.id, refreshed.props, { ...args, linkState: "down" }), { changes: true, replaces: [] });
    const down = await update("Interface", made.id, refreshed.props, { ...args, linkState: "down" });
    assert.equal(down.linkState, "down");
    await eventually("the guest sees no carrier", async () => (await inGuest(made.outs.mac))?.carrier === "0", 60_000, 500);
    const up = await update("Interface", made.id, down, args);
    await eventually("the guest sees its carrier again", async () => (await inGuest(made.outs.mac))?.carrier === "1", 60_000, 500);

    // Delete: device_del until DEVICE_DELETED, then the netdev goes too.
    await remove("Interface", made.id, up);
    assert.ok(!(await peripherals()).includes(made.outs.alias));
    assert.doesNotMatch(await netdevs(), /lvnd-slirp-/);
    assert.equal(await inGuest(made.outs.mac), undefined, "gone from the guest");
  });

  it("a NIC removed behind Pulumi's back reads as gone; up plugs it in again with its MAC; an interrupted create is adopted", async () => {
    const args = nic("drift");
    const first = await create("Interface", args);
    await ask("device_del", { id: first.outs.alias });
    await eventually("QEMU let go of it", async () => !(await peripherals()).includes(first.outs.alias), 30_000);
    assert.equal((await read("Interface", first.id, first.outs)).id, "", "drift: gone");
    // The netdev that device_del left behind is freed and made again by the next create.
    const again = await create("Interface", args);
    assert.equal(again.outs.mac, first.outs.mac, "the same derived MAC");
    const adopted = await create("Interface", args);
    assert.equal(adopted.id, again.id);
    const rx = (await ask("query-rx-filter")) as Array<{ name: string }>;
    assert.equal(rx.filter((n) => n.name === again.outs.alias).length, 1, "one NIC, not two");
    await remove("Interface", adopted.id, adopted.outs);
  });

  it("a model or subnet change is a replace; a libvirt network is refused at check", async () => {
    const made = await create("Interface", nic("shape"));
    try {
      assert.deepEqual(await diff("Interface", made.id, made.outs, nic("shape", { model: "e1000" })), { changes: true, replaces: ["model"], deleteBeforeReplace: true });
      const moved = nic("shape", { ipv4: { address: "198.18.253.0", prefixLength: 24 } });
      assert.deepEqual((await diff("Interface", made.id, made.outs, moved)).replaces, ["ipv4"]);
    } finally {
      await remove("Interface", made.id, made.outs);
    }
    const r = await providers.Interface.check({}, { qmp: qemu.qmp, network: "lan" });
    assert.match(JSON.stringify(r.failures), /no libvirt networks/);
  });
});
