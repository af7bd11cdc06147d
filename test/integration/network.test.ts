// The Network resource through the dynamic-provider path against the real daemon, cross-checked with virsh, the
// daemon's own files (dnsmasq's pid and hosts file) and the links in the daemon's network namespace. Isolated
// networks only (no forwarding, no NAT), on a free /24 of 198.18.0.0/15 (test/support/network.ts), all inside the
// namespace of the daemon scripts/setup-host.sh starts.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { XMLBuilder } from "fast-xml-parser";
import { domainType, removeDomain, uniqueName, virsh } from "../support/host";
import { libvirtdInItsNetns } from "../support/libvirtd";
import { bridgeInHostNamespace, freeSubnets, removeNetwork } from "../support/network";
import { checked, create, diff, read, remove, update } from "../support/provider";
import { skipMissing } from "../support/skip";
import { eventually, notesOf } from "../support/wait";

type Props = Record<string, any>;

/** `ip` inside the daemon's namespace. */
function ipIn(netns: string, ...args: string[]): string {
  return spawnSync("ip", ["-n", netns, ...args], { encoding: "utf8" }).stdout ?? "";
}

/** dnsmasq of the network: its pid (from libvirt's pid file) when the process runs. */
function dnsmasqPid(name: string): number | null {
  try {
    const pid = Number(fs.readFileSync(`/run/libvirt/network/${name}.pid`, "utf8").trim());
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "dnsmasq" ? pid : null;
  } catch {
    return null;
  }
}

/** What dnsmasq serves as fixed addresses: libvirt's hosts file for the network, one "mac,ip[,name]" a line. */
function servedHosts(name: string): string[] {
  return fs.readFileSync(`/var/lib/libvirt/dnsmasq/${name}.hostsfile`, "utf8").split("\n").filter(Boolean).sort();
}

const hostLines = (xml: string): string[] => [...xml.matchAll(/<host [^>]*\/>/g)].map((m) => m[0]);
const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true, suppressEmptyNode: true });

/** A no-OS domain with one virtio NIC on the network (defined; started when `start`). */
function defineDomainOn(network: string, name: string, mac: string, start: boolean): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-netdom-"));
  try {
    const file = path.join(dir, "d.xml");
    fs.writeFileSync(
      file,
      builder.build({
        domain: {
          "@type": domainType(),
          name,
          memory: { "@unit": "MiB", "#text": "64" },
          vcpu: "1",
          os: { type: { "@arch": "x86_64", "@machine": "pc", "#text": "hvm" } },
          devices: { interface: { "@type": "network", source: { "@network": network }, mac: { "@address": mac }, model: { "@type": "virtio" } } },
        },
      }),
    );
    virsh("define", file);
    if (start) virsh("start", name);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("Network against the real daemon", function () {
  this.timeout(120_000);
  let netns: string;
  const name = uniqueName("net");
  const bridge = `lvtn${process.pid % 100000}`;
  let base = "";
  let net: { id: string; outs: Props } | undefined;
  const made: string[] = [];
  const guests: string[] = [];
  const running = uniqueName("netvm");
  const stopped = uniqueName("netoff");

  const hosts = () => [
    { mac: "52:54:00:4e:00:01", ip: `${base}.10`, hostname: "web-1" },
    { mac: "52:54:00:4e:00:02", ip: `${base}.11` },
  ];
  const inputs = (extra: Props = {}, dhcp: Props = {}): Props => ({
    name,
    mode: "isolated",
    bridgeName: bridge,
    ipv4: { address: `${base}.1`, prefixLength: 24, dhcp: { start: `${base}.100`, end: `${base}.199`, hosts: hosts(), ...dhcp } },
    ...extra,
  });

  before(async function () {
    const ns = libvirtdInItsNetns();
    if (ns === null) skipMissing(this, "the libvirt daemon scripts/setup-host.sh runs in its own network namespace (networks are made only there)");
    netns = ns;
    // Another process may take the same /24 between the pick and the start: libvirt then refuses, and the next is tried.
    const failures: string[] = [];
    for (const candidate of freeSubnets().slice(0, 5)) {
      base = candidate;
      try {
        net = await create("Network", inputs());
        made.push(name);
        return;
      } catch (error) {
        failures.push(`${candidate}.0/24: ${(error as Error).message}`);
      }
    }
    throw new Error(`no free /24 for the test network:\n${failures.join("\n")}`);
  });

  after(() => {
    for (const guest of guests) removeDomain(guest);
    for (const n of made) removeNetwork(n);
  });

  it("creates it running and persistent, with its DHCP hosts served by dnsmasq inside the daemon's namespace", () => {
    const outs = net!.outs;
    assert.equal(outs.uuid, virsh("net-uuid", name).trim());
    assert.equal(net!.id, outs.uuid);
    assert.deepEqual([outs.active, outs.persistent, outs.configInSync, outs.bridgeName, outs.autostart], [true, true, true, bridge, false]);
    assert.match(virsh("net-info", name), /Active:\s+yes[\s\S]*Persistent:\s+yes/);
    assert.deepEqual(servedHosts(name), [`52:54:00:4e:00:01,${base}.10,web-1`, `52:54:00:4e:00:02,${base}.11`]);
    const pid = dnsmasqPid(name);
    assert.ok(pid, "dnsmasq runs for the network");
    assert.ok(spawnSync("ip", ["netns", "identify", String(pid)], { encoding: "utf8" }).stdout.split("\n").includes(netns), "dnsmasq is in the daemon's namespace");
    assert.match(ipIn(netns, "-4", "-o", "addr", "show", "dev", bridge), new RegExp(`inet ${base.replace(/\./g, "\\.")}\\.1/24`));
    assert.equal(bridgeInHostNamespace(bridge), false, "the bridge is not in the host's namespace");
  });

  it("an unchanged network has no diff after a refresh, whatever the order of its host entries", async () => {
    const refreshed = await read("Network", net!.id, net!.outs);
    assert.deepEqual(await diff("Network", net!.id, refreshed.props, inputs()), { changes: false, replaces: [] });
    assert.deepEqual(await diff("Network", net!.id, refreshed.props, inputs({}, { hosts: [...hosts()].reverse() })), { changes: false, replaces: [] });
  });

  it("host entries are added, changed (same MAC: in place) and removed live: same dnsmasq, same bridge, a guest's NIC stays plugged", async () => {
    defineDomainOn(name, running, "52:54:00:4e:00:aa", true);
    guests.push(running);
    const pid = dnsmasqPid(name);
    const ifindex = ipIn(netns, "-o", "link", "show", "dev", bridge).split(":")[0];
    const tapOnBridge = () => ipIn(netns, "-o", "link", "show", "master", bridge).includes("vnet");
    assert.ok(tapOnBridge(), "the guest's tap is on the bridge");

    const changed = [{ mac: "52:54:00:4e:00:01", ip: `${base}.20`, hostname: "web-1" }, { mac: "52:54:00:4e:00:03", ip: `${base}.12`, hostname: "db" }];
    const d = await diff("Network", net!.id, net!.outs, inputs({}, { hosts: changed }));
    assert.deepEqual(d, { changes: true, replaces: [] });
    const notes = await notesOf(() => diff("Network", net!.id, net!.outs, inputs({}, { hosts: changed })));
    assert.match(notes, /ipv4 → live \(DHCP host entries added, changed or removed on the running network/);

    const outs = await update("Network", net!.id, net!.outs, inputs({}, { hosts: changed }));
    assert.deepEqual(outs.ipv4.dhcp.hosts, changed);
    assert.equal(dnsmasqPid(name), pid, "dnsmasq was not restarted");
    assert.equal(ipIn(netns, "-o", "link", "show", "dev", bridge).split(":")[0], ifindex, "the same bridge");
    assert.ok(tapOnBridge(), "the guest's tap is still on the bridge");
    assert.deepEqual(servedHosts(name), [`52:54:00:4e:00:01,${base}.20,web-1`, `52:54:00:4e:00:03,${base}.12,db`]);
    // The changed entry kept its place (MODIFY); the new one came last; both copies agree.
    const expected = [`<host mac='52:54:00:4e:00:01' name='web-1' ip='${base}.20'/>`, `<host mac='52:54:00:4e:00:03' name='db' ip='${base}.12'/>`];
    assert.deepEqual(hostLines(virsh("net-dumpxml", name)), expected);
    assert.deepEqual(hostLines(virsh("net-dumpxml", "--inactive", name)), expected);
    assert.equal(outs.configInSync, true);
    net = { id: net!.id, outs };
  });

  it("an entry deleted by hand is drift (live), and update puts it back without a restart", async () => {
    const pid = dnsmasqPid(name);
    virsh("net-update", name, "delete", "ip-dhcp-host", `<host mac='52:54:00:4e:00:03' name='db' ip='${base}.12'/>`, "--live", "--config");
    const refreshed = await read("Network", net!.id, net!.outs);
    assert.deepEqual(refreshed.props.ipv4.dhcp.hosts.map((h: Props) => h.mac), ["52:54:00:4e:00:01"]);
    const want = inputs({}, { hosts: net!.outs.ipv4.dhcp.hosts });
    assert.match(await notesOf(() => diff("Network", net!.id, refreshed.props, want)), /ipv4 → live/);
    const outs = await update("Network", net!.id, refreshed.props, want);
    assert.deepEqual(outs.ipv4.dhcp.hosts, net!.outs.ipv4.dhcp.hosts);
    assert.equal(dnsmasqPid(name), pid);
    assert.equal(hostLines(virsh("net-dumpxml", "--inactive", name)).length, 2);
    net = { id: net!.id, outs };
  });

  it("a config changed by hand alone reads configInSync false; update writes it again, the running network untouched", async () => {
    const pid = dnsmasqPid(name);
    virsh("net-update", name, "delete", "ip-dhcp-host", `<host mac='52:54:00:4e:00:03' name='db' ip='${base}.12'/>`, "--config");
    const refreshed = await read("Network", net!.id, net!.outs);
    assert.equal(refreshed.props.configInSync, false);
    assert.deepEqual(refreshed.props.ipv4, net!.outs.ipv4, "the running network still has it");
    const want = inputs({}, { hosts: net!.outs.ipv4.dhcp.hosts });
    assert.match(await notesOf(() => diff("Network", net!.id, refreshed.props, want)), /configInSync → live \(the persistent config differs/);
    const outs = await update("Network", net!.id, refreshed.props, want);
    assert.equal(outs.configInSync, true);
    assert.equal(hostLines(virsh("net-dumpxml", "--inactive", name)).length, 2);
    assert.equal(dnsmasqPid(name), pid);
    net = { id: net!.id, outs };
  });

  it("a restart-class change names the attached domains; update redefines and restarts it, and running guests' taps are left off the bridge", async () => {
    defineDomainOn(name, stopped, "52:54:00:4e:00:bb", false);
    guests.push(stopped);
    const want = inputs({}, { hosts: net!.outs.ipv4.dhcp.hosts, end: `${base}.150` });
    const notes = await notesOf(() => diff("Network", net!.id, net!.outs, want));
    assert.match(notes, /ipv4 → restart \(.*the network stops and starts again; guests attached to it lose their link/);
    assert.match(notes, new RegExp(`attached: (?=.*${running} \\(running\\))(?=.*${stopped} \\(stopped\\))`));
    const pid = dnsmasqPid(name);
    const outs = await update("Network", net!.id, net!.outs, want);
    assert.equal(outs.ipv4.dhcp.end, `${base}.150`);
    assert.match(virsh("net-dumpxml", "--inactive", name), new RegExp(`<range start='${base}\\.100' end='${base}\\.150'/>`));
    assert.notEqual(dnsmasqPid(name), pid, "dnsmasq was restarted");
    assert.equal(outs.active, true);
    // libvirt 9.0 leaves the running guest's tap where it was: not on the new bridge (the note says so).
    assert.equal(ipIn(netns, "-o", "link", "show", "master", bridge).includes("vnet"), false);
    net = { id: net!.id, outs };
  });

  it("a network stopped by hand reads active: false, diff plans a live start, update starts it", async () => {
    virsh("net-destroy", name);
    const refreshed = await read("Network", net!.id, net!.outs);
    assert.equal(refreshed.props.active, false);
    const want = inputs({}, { hosts: net!.outs.ipv4.dhcp.hosts, end: `${base}.150` });
    assert.deepEqual(await diff("Network", net!.id, refreshed.props, want), { changes: true, replaces: [] });
    assert.match(await notesOf(() => diff("Network", net!.id, refreshed.props, want)), /active → live \(the network is not running \(stopped outside Pulumi\): it is started\)/);
    const outs = await update("Network", net!.id, refreshed.props, want);
    assert.equal(outs.active, true);
    assert.match(virsh("net-info", name), /Active:\s+yes/);
    await eventually("dnsmasq runs again", () => dnsmasqPid(name) !== null, 10_000);
    net = { id: net!.id, outs };
  });

  it("a running network undefined by hand (transient now) reads persistent: false; update defines it again without a restart", async () => {
    const pid = dnsmasqPid(name);
    virsh("net-undefine", name);
    const refreshed = await read("Network", net!.id, net!.outs);
    assert.deepEqual([refreshed.id, refreshed.props.active, refreshed.props.persistent], [net!.id, true, false]);
    const want = inputs({}, { hosts: net!.outs.ipv4.dhcp.hosts, end: `${base}.150` });
    assert.match(await notesOf(() => diff("Network", net!.id, refreshed.props, want)), /persistent → live \(the network has no persistent config/);
    const outs = await update("Network", net!.id, refreshed.props, want);
    assert.deepEqual([outs.persistent, outs.configInSync], [true, true]);
    assert.match(virsh("net-info", name), /Persistent:\s+yes/);
    assert.equal(hostLines(virsh("net-dumpxml", "--inactive", name)).length, 2);
    assert.equal(dnsmasqPid(name), pid);
    net = { id: net!.id, outs };
  });

  it("autostart changes live; a new name or mode is a replace", async () => {
    const want = inputs({ autostart: true }, { hosts: net!.outs.ipv4.dhcp.hosts, end: `${base}.150` });
    const pid = dnsmasqPid(name);
    const outs = await update("Network", net!.id, net!.outs, want);
    assert.equal(outs.autostart, true);
    assert.match(virsh("net-info", name), /Autostart:\s+yes/);
    assert.equal(dnsmasqPid(name), pid);
    net = { id: net!.id, outs };
    assert.deepEqual((await diff("Network", net!.id, outs, { ...want, name: `${name}-x` })).replaces, ["name"]);
    assert.deepEqual((await diff("Network", net!.id, outs, { ...want, mode: "nat" })).replaces, ["mode"]);
  });

  it("a second network of the same name is refused unless adopted; adopting keeps the network (same uuid)", async () => {
    const want = inputs({ autostart: true }, { hosts: net!.outs.ipv4.dhcp.hosts, end: `${base}.150` });
    await assert.rejects(create("Network", want), /a network named ".*" already exists; set adopt: true/);
    const adopted = await create("Network", { ...want, adopt: true });
    assert.equal(adopted.id, net!.id);
    const routed = { ...want, mode: "route", adopt: true };
    assert.match(await notesOf(() => checked("Network", routed)), /the existing network's mode is isolated, the inputs say route: up will refuse to adopt it/);
    await assert.rejects(create("Network", routed), /adopt: mode: the existing network's mode is isolated, the inputs say route/);
  });

  it("a create libvirt refuses to start (its subnet is taken) leaves no network behind", async () => {
    const other = uniqueName("netdup");
    await assert.rejects(
      create("Network", { name: other, ipv4: { address: `${base}.2`, prefixLength: 24 } }),
      new RegExp(`Network ${other}: libvirt did not start it: .*`),
    );
    assert.ok(!virsh("net-list", "--all", "--name").split("\n").includes(other), "the refused network is not left defined");
  });

  it("delete refuses while a running domain has a NIC on it; then stops and undefines it, bridge and all", async () => {
    await assert.rejects(remove("Network", net!.id, net!.outs), new RegExp(`still used by running domain ${running}; stop it or detach its NIC`));
    removeDomain(running);
    await remove("Network", net!.id, net!.outs);
    assert.ok(!virsh("net-list", "--all", "--name").split("\n").includes(name), "no network left");
    assert.equal(ipIn(netns, "-o", "link", "show", "dev", bridge).trim(), "", "no bridge left in the daemon's namespace");
    // libvirt stops dnsmasq with a signal and returns; the process is gone a moment later (its pid file stays).
    await eventually("the network's dnsmasq has exited", () => dnsmasqPid(name) === null, 10_000);
    const gone = await read("Network", net!.id, net!.outs);
    assert.equal(gone.id, "", "read finds it gone");
    await remove("Network", net!.id, net!.outs); // and a second delete is a no-op
  });

  it("a network undefined by hand reads as gone", async () => {
    const other = uniqueName("netgone");
    const third = freeSubnets()[0]!;
    const made2 = await create("Network", { name: other, ipv4: { address: `${third}.1`, prefixLength: 24 } });
    made.push(other);
    assert.match(made2.outs.bridgeName, /^virbr\d+$/, "libvirt picked the bridge");
    virsh("net-destroy", other);
    virsh("net-undefine", other);
    assert.equal((await read("Network", made2.id, made2.outs)).id, "");
  });
});
