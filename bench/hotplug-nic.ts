// bench:hotplug lines (e) and (f): a NIC attach+detach on the project's test guest, three sides as in hotplug.ts
// (provider, a virsh script, the floor). A PCI NIC leaves only when the guest answers QEMU's ACPI unplug request,
// which the bare no-OS domain of (a)–(c) never does, so these lines boot the test guest (scripts/build-guest.sh).
//   (e) through libvirt XML, the NIC on an isolated test network (198.18.0.0/15, in the daemon's namespace):
//       Interface create+delete  vs  virsh attach-device --live --config, domiflist shows the MAC, detach-device
//       --live --config, domiflist until the MAC is gone  vs  the floor: attachDevice LIVE|CONFIG, one live XML
//       read, detachDeviceAlias LIVE|CONFIG, the device-removed event.
//   (f) over QMP through libvirt's passthrough, user-mode backend on 198.18.252.0/24 (the only backend that works
//       there, see provider/src/resources/qmp-nics.ts): Interface via "qmp"  vs  virsh qemu-monitor-command
//       processes (netdev_add, device_add, query-rx-filter, device_del, query-rx-filter until gone, netdev_del)
//       vs  the floor: the same commands over one connection, the wait ended by DEVICE_DELETED.
// The guest's unplug takes 300–700 ms here and is slower when asked right after a plug or a previous unplug (it is
// still bringing the NIC up, or reaping its DHCP client), so every operation starts after an idle pause (not
// counted) and the run also prints each operation's two halves: attach (to attached and checked) and detach.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Affect, LibvirtClient } from "../provider/src/libvirt";
import { buildInterfaceXml } from "../provider/src/vocab/interface-xml";
import { deviceDel } from "../provider/src/vocab/qmp";
import { netdevAdd, netdevDel, nicDeviceAdd, queryRxFilter } from "../provider/src/vocab/qmp-net";
import { bootGuest, destroyGuest, type BootedGuest } from "../test/support/guest";
import { removeDomain, uniqueName } from "../test/support/host";
import { libvirtdNetns } from "../test/support/libvirtd";
import { createIsolatedNetwork, removeNetwork, type TestNetwork } from "../test/support/network";
import { create, remove } from "../test/support/provider";
import { cleanUpOnAnyExit } from "./cleanup";
import { clientMsPerOp, disableProfile, enableProfile, profileTable, resetProfile } from "./profile";
import { formatTable, median, quiet } from "./stats";

export type NicLine = "e" | "f";

export interface NicBenchOptions {
  lines: ReadonlySet<NicLine>;
  /** Samples per side and line. */
  n: number;
  rounds: number;
  profileOps: number;
  /** Idle time before each timed operation (not counted), so every one starts with a guest done with the last. */
  settleMs: number;
}

/** QEMU's slirp subnet for (f): never its default 10.0.2.0/24. Inside QEMU only: no host interface gets it. */
const USER_SUBNET = { address: "198.18.252.0", prefixLength: 24 };
/** How long any side waits for the guest to let a NIC go before the run fails. */
const UNPLUG_TIMEOUT_MS = 30_000;

const virsh = (...args: string[]): string => execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8", stdio: "pipe" });
const sleepSync = (seconds: string) => execFileSync("sleep", [seconds]);
const load1 = () => os.loadavg()[0].toFixed(2);
const urn = (resource: string) => `urn:pulumi:bench::hotplug::pulumi-nodejs:dynamic/libvirt:Interface::${resource}`;

interface Samples {
  whole: number[];
  /** From the start until the NIC is attached and checked. */
  attach: number[];
  /** From there until it is gone: the unplug request, the guest letting go, the check. */
  detach: number[];
}
const samples = (): Samples => ({ whole: [], attach: [], detach: [] });

/** Every operation calls attached() between its two halves, so a timed run also says which half costs what. */
let attachedAt = 0;
const attached = () => {
  attachedAt = performance.now();
};

async function timeHalves(times: number, settleMs: number, op: () => unknown, into: Samples): Promise<void> {
  for (let i = 0; i < times; i++) {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    attachedAt = 0;
    const start = performance.now();
    await op();
    const end = performance.now();
    if (attachedAt === 0) throw new Error("an operation did not mark the end of its attach");
    into.whole.push(end - start);
    into.attach.push(attachedAt - start);
    into.detach.push(end - attachedAt);
  }
}

export async function benchNics(options: NicBenchOptions): Promise<void> {
  // A guest NIC on a libvirt network puts a tap on its bridge: only beside the daemon setup-host.sh keeps in its own
  // network namespace, never in the host's.
  if (!libvirtdNetns()) throw new Error("lines e/f need the libvirt daemon of scripts/setup-host.sh in its own network namespace (run scripts/setup-host.sh)");
  const { lines, n, rounds, profileOps, settleMs } = options;
  const perRound = Math.ceil(n / rounds);
  const name = uniqueName("bnic");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvb-nic-"));
  let network: TestNetwork | undefined;
  let guest: BootedGuest | undefined;
  cleanUpOnAnyExit(() => {
    removeDomain(name);
    if (network) removeNetwork(network.name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const loadBefore = load1();
  const client = await LibvirtClient.connect("qemu:///system");
  let stopDeleted: (() => void) | undefined;
  try {
    network = createIsolatedNetwork("bnic");
    guest = await bootGuest(name);
    const dom = await client.lookupDomainByName(name);
    const lan = network.name;

    // ---- (e) libvirt XML: the script's and the floor's NIC, the XML a file as a script would keep it ----
    const alias = "ua-lvb-vnic";
    const mac = "52:54:00:b7:00:01";
    const nicXml = buildInterfaceXml({ type: "network", network: lan, model: "virtio", mac, alias });
    const nicXmlFile = path.join(tmp, "nic.xml");
    fs.writeFileSync(nicXmlFile, nicXml);
    const xmlInputs = { resourceName: "lvb-pn", owner: urn("lvb-pn"), domain: name, network: lan };
    const providerXml = async () => {
      const nic = await create("Interface", xmlInputs);
      attached();
      await remove("Interface", nic.id, nic.outs);
    };
    const inDomiflist = () => virsh("domiflist", name).toLowerCase().includes(mac);
    const virshXml = () => {
      virsh("attach-device", name, nicXmlFile, "--live", "--config");
      if (!inDomiflist()) throw new Error("virsh attach: the MAC is not in domiflist");
      attached();
      // detach-device waits up to 5 s for the unplug itself; a careful script still checks it is gone.
      virsh("detach-device", name, nicXmlFile, "--live", "--config");
      for (let i = 0; inDomiflist(); i++) {
        if (i > UNPLUG_TIMEOUT_MS / 25) throw new Error("virsh detach: still in domiflist");
        sleepSync("0.025");
      }
    };

    // ---- (f) QMP: the commands the provider sends, as virsh qemu-monitor-command processes ----
    const qid = "lvb-vq";
    const qnetdev = "lvbd-vq";
    const qmac = "52:54:00:b7:00:02";
    const qNetdevAdd = JSON.stringify(netdevAdd({ type: "user", id: qnetdev, ipv4: USER_SUBNET }));
    // A fixed free slot, as a script would write it (the provider asks query-pci and takes pci.0's highest free one).
    const qDeviceAdd = JSON.stringify(nicDeviceAdd({ id: qid, model: "virtio", netdev: qnetdev, mac: qmac, bus: "pci.0", addr: "0x1e" }));
    const qRxFilter = JSON.stringify(queryRxFilter(qid));
    const qDeviceDel = JSON.stringify(deviceDel(qid));
    const qNetdevDel = JSON.stringify(netdevDel(qnetdev));
    const qmpInputs = { resourceName: "lvb-pq", owner: urn("lvb-pq"), domain: name, user: true, ipv4: USER_SUBNET, via: "qmp" };
    const providerQmp = async () => {
      const nic = await create("Interface", qmpInputs);
      attached();
      await remove("Interface", nic.id, nic.outs);
    };
    type QmpReply = { return?: any; error?: { class: string; desc: string } };
    const monitor = (json: string): QmpReply => JSON.parse(virsh("qemu-monitor-command", name, json));
    const must = (json: string, reply: QmpReply) => {
      if (reply.error) throw new Error(`QMP ${json}: ${JSON.stringify(reply.error)}`);
      return reply.return;
    };
    const virshQmp = () => {
      must(qNetdevAdd, monitor(qNetdevAdd));
      must(qDeviceAdd, monitor(qDeviceAdd));
      if (must(qRxFilter, monitor(qRxFilter))?.[0]?.["main-mac"] !== qmac) throw new Error("virsh qmp attach: not in query-rx-filter");
      attached();
      must(qDeviceDel, monitor(qDeviceDel));
      // query-rx-filter refuses a NIC that is gone: the device is unplugged once it does.
      for (let i = 0; !monitor(qRxFilter).error; i++) {
        if (i > UNPLUG_TIMEOUT_MS / 25) throw new Error("virsh qmp detach: still in query-rx-filter");
        sleepSync("0.025"); // as the provider polls
      }
      must(qNetdevDel, monitor(qNetdevDel));
    };

    // ---- the floor: the same device work as the fewest daemon calls over one connection, no provider logic ----
    const releaseWait = { xml: [] as number[], qmp: [] as number[] };
    const floorXml = async () => {
      await client.attachDevice(dom, nicXml, Affect.Live | Affect.Config);
      if (!(await client.domainXml(dom)).includes(`<mac address='${mac}'/>`)) throw new Error("floor attach: the MAC is not in the live XML");
      attached();
      const removed = await client.expectDomainEvent((e) => e.kind === "device-removed" && e.alias === alias);
      await client.detachDeviceAlias(dom, alias, Affect.Live | Affect.Config);
      const asked = performance.now();
      if (!(await removed.wait(UNPLUG_TIMEOUT_MS))) throw new Error("floor detach: no device-removed event");
      releaseWait.xml.push(performance.now() - asked);
    };
    // One subscription for the whole run (a client that does this often keeps it), so no op pays for it.
    let onDeleted: (() => void) | null = null;
    stopDeleted = await client.onQemuMonitorEvent(dom, "DEVICE_DELETED", (e) => {
      if ((e.details as Record<string, unknown> | null)?.["device"] === qid) onDeleted?.();
    });
    const floorQmp = async (json: string) => must(json, JSON.parse(await client.qemuMonitorCommand(dom, json)));
    const floorQmpOp = async () => {
      await floorQmp(qNetdevAdd);
      await floorQmp(qDeviceAdd);
      if ((await floorQmp(qRxFilter))?.[0]?.["main-mac"] !== qmac) throw new Error("floor qmp attach: not in query-rx-filter");
      attached();
      let timer: NodeJS.Timeout | undefined;
      const deleted = new Promise<boolean>((resolve) => {
        onDeleted = () => resolve(true);
        timer = setTimeout(() => resolve(false), UNPLUG_TIMEOUT_MS);
      });
      await floorQmp(qDeviceDel);
      const asked = performance.now();
      const heard = await deleted;
      clearTimeout(timer);
      onDeleted = null;
      if (!heard) throw new Error("floor qmp detach: no DEVICE_DELETED");
      releaseWait.qmp.push(performance.now() - asked);
      await floorQmp(qNetdevDel);
    };

    // Warm-up: JIT, the daemon's caches, the guest's first hotplug of each kind (its NIC driver binds, the slot's
    // ACPI state settles). The guest loads its NIC drivers only after its agent runs, so this also waits for that.
    const want = (line: NicLine) => lines.has(line);
    const warmupStart = Date.now();
    if (want("e")) {
      await quiet(providerXml);
      virshXml();
      await floorXml();
    }
    if (want("f")) {
      await quiet(providerQmp);
      virshQmp();
      await floorQmpOp();
    }
    const warmupMs = Date.now() - warmupStart;

    interface Side {
      xml: () => unknown;
      qmp: () => unknown;
      samples: { xml: Samples; qmp: Samples };
    }
    const side = (xml: Side["xml"], qmp: Side["qmp"]): Side => ({ xml, qmp, samples: { xml: samples(), qmp: samples() } });
    const provider = side(providerXml, providerQmp);
    const script = side(virshXml, virshQmp);
    const floor = side(floorXml, floorQmpOp);
    const started = Date.now();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [provider, script, floor] : [floor, script, provider];
      for (const { xml, qmp, samples } of order) {
        if (want("e")) await quiet(() => timeHalves(perRound, settleMs, xml, samples.xml));
        if (want("f")) await quiet(() => timeHalves(perRound, settleMs, qmp, samples.qmp));
      }
      process.stderr.write(`nic round ${round + 1}/${rounds} done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }

    const ms = (samples: number[]) => `${median(samples).toFixed(1)} ms (n=${samples.length})`;
    const ratio = (a: number[], b: number[]) => `${(median(a) / median(b)).toFixed(2)}x`;
    const row = (what: string, ours: number[], theirs: number[], least: number[]) => [
      what,
      ms(ours),
      ms(theirs),
      ratio(theirs, ours),
      ms(least),
      ratio(theirs, least),
      ratio(ours, least),
    ];
    const WHAT = { xml: "(e) virtio NIC attach+detach, libvirt XML", qmp: "(f) virtio NIC attach+detach, QMP (user)" };
    const chosen = (["xml", "qmp"] as const).filter((k) => want(k === "xml" ? "e" : "f"));
    const rows = chosen.map((k) => row(WHAT[k], provider.samples[k].whole, script.samples[k].whole, floor.samples[k].whole));
    const halfMs = (s: number[]) => `${median(s).toFixed(1)} ms`;
    const halves = chosen.flatMap((k) =>
      (["attach", "detach"] as const).map((half) => [
        `${WHAT[k].slice(0, 3)} ${half}`,
        halfMs(provider.samples[k][half]),
        halfMs(script.samples[k][half]),
        halfMs(floor.samples[k][half]),
        ratio(provider.samples[k][half], floor.samples[k][half]),
      ]),
    );
    console.log(
      `\nbench:hotplug (e)/(f) — ${new Date().toISOString()}, ${os.cpus().length} cores, libvirt ${await client.libVersion()}, node ${process.version}, ` +
        `N=${perRound * rounds} per side and operation in ${rounds} alternating rounds, ${settleMs} ms idle before each; load (1 min) before ${loadBefore}, after ${load1()}; ` +
        `guest booted to its agent in ${(guest.bootToAgentMs / 1000).toFixed(1)} s, warm-up ${(warmupMs / 1000).toFixed(1)} s`,
    );
    console.log(
      formatTable(
        ["operation (the test guest, TCG)", "provider median", "virsh script median", "virsh/provider", "floor: fewest calls, one connection", "virsh/floor (best possible)", "provider/floor"],
        rows,
      ),
    );
    console.log("\nthe same operations' two halves (medians of each half: attach = until attached and checked; detach = from there until gone)");
    console.log(formatTable(["half", "provider", "virsh script", "floor", "provider/floor"], halves));
    const waits: string[] = [];
    if (want("e")) waits.push(`libvirt detach → device-removed event ${ms(releaseWait.xml)}`);
    if (want("f")) waits.push(`QMP device_del → DEVICE_DELETED ${ms(releaseWait.qmp)}`);
    console.log(`\nunplug wait inside the floor (a request answered, until the guest let the NIC go): ${waits.join("; ")}. Every side pays it once per attach+detach.`);

    // Where the provider's time goes: a separate, profiled pass (not part of the medians above).
    const profiled: Array<[string, () => Promise<void>]> = [];
    if (want("e")) profiled.push(["(e) Interface create+delete, libvirt", providerXml]);
    if (want("f")) profiled.push(["(f) Interface create+delete, qmp", providerQmp]);
    for (const [what, op] of profiled) {
      resetProfile();
      enableProfile();
      const timed = samples();
      await quiet(() => timeHalves(profileOps, settleMs, op, timed));
      const wall = median(timed.whole);
      disableProfile();
      console.log(
        `\nprofile ${what} (${profileOps} ops): wall median ${wall.toFixed(1)} ms/op; in libvirt calls ${clientMsPerOp(profileOps).toFixed(1)} ms/op (mean); ` +
          `the rest is waiting for the guest to let the NIC go, validation, XML parsing and other JS`,
      );
      console.log(profileTable(profileOps));
    }
  } finally {
    disableProfile();
    stopDeleted?.();
    if (guest) await destroyGuest(guest).catch(() => undefined);
    await client.close().catch(() => undefined);
    removeDomain(name);
    if (network) removeNetwork(network.name);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
