// bench:hotplug — one device change through the provider (the registry the SDK uses: check, then create/delete
// or update) next to a shell script doing the same work with virsh processes, including the read-back.
// A third side, the floor, does the same device work as the fewest daemon calls over one connection with no
// provider logic: no client can beat it, so virsh/floor is the best ratio reachable on this machine.
// The sides take turns, one operation each (e–f: in alternating rounds), so machine noise lands on all of them.
//   (a) scsi disk attach + detach through libvirt XML   vs  virsh attach-device/detach-device + query-block checks
//   (b) scsi disk attach + detach through QMP           vs  virsh qemu-monitor-command blockdev-add … blockdev-del
//   (c) scsi cdrom media change                          vs  virsh change-media --update + query-block
//   (d) scsi disk attach + detach on a QEMU without libvirt, over its own QMP socket, vs the fewest QMP calls
//   (e) virtio NIC attach + detach through libvirt XML on the test guest  vs  virsh attach-device/detach-device
//   (f) virtio NIC attach + detach over QMP (user-mode) on the test guest  vs  virsh qemu-monitor-command netdev_add …
//       (e) and (f): bench/hotplug-nic.ts; they boot the test guest (a PCI NIC leaves only when a guest answers
//       the unplug request) and need the daemon of scripts/setup-host.sh in its own network namespace.
// Env: BENCH_LINES (which lines, e.g. "e,f" for the NIC lines alone, a few minutes; default all: a,b,c,d,e,f),
// BENCH_N (repetitions per side and operation of a–d, default 50), BENCH_NIC_N (of e–f, default 20: one takes
// 0.5–1.5 s, most of it the guest's unplug), BENCH_NIC_SETTLE_MS (idle time before each e–f operation, not counted,
// default 500: the guest's NIC watcher runs every 0.5 s), BENCH_ROUNDS (rounds of e–f, default 5), BENCH_WARMUP
// (operations per side and line of a–d before the counted ones, default 20), BENCH_PROFILE_OPS (provider operations
// in each profiled pass, default 10).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Affect, DomainRef, LibvirtClient } from "../provider/src/libvirt";
import { closeSharedClients } from "../provider/src/libvirt/pool";
import { buildDiskXml } from "../provider/src/vocab/disk-xml";
import { parseDomainXml } from "../provider/src/vocab/domain-xml";
import { blockdevAdd } from "../provider/src/vocab/qmp";
import { blockNodeNames, deriveUserAlias, libvirtScsiBus } from "../provider/src/vocab/qmp-names";
import { bareDomainXml, removeDomain } from "../test/support/host";
import { startBareQemu } from "../test/support/bare-qemu";
import { closeSharedQemuClients, QmpClient } from "../provider/src/qemu";
import { create, remove, update } from "../test/support/provider";
import { cleanUpOnAnyExit } from "./cleanup";
import { benchNics, type NicLine } from "./hotplug-nic";
import { clientMsPerOp, disableProfile, enableProfile, profileTable, resetProfile } from "./profile";
import { formatTable, median, quiet, timeEach } from "./stats";

const N = Number(process.env.BENCH_N ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20);
const PROFILE_OPS = Number(process.env.BENCH_PROFILE_OPS ?? 10);
const NIC_N = Number(process.env.BENCH_NIC_N ?? 20);
const NIC_SETTLE_MS = Number(process.env.BENCH_NIC_SETTLE_MS ?? 500);
const LINES = new Set((process.env.BENCH_LINES ?? "a,b,c,d,e,f").split(",").map((line) => line.trim().toLowerCase()));
const want = (line: string) => LINES.has(line);

const virsh = (...args: string[]): string => execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { encoding: "utf8", stdio: "pipe" });

type Block = { qdev?: string; device?: string; inserted?: { file: string } };
const QUERY_BLOCK = JSON.stringify({ execute: "query-block" });
const queryBlockVirsh = (dom: string): Block[] => JSON.parse(virsh("qemu-monitor-command", dom, QUERY_BLOCK)).return;
const byQdev = (blocks: Block[] | undefined, id: string) => blocks?.find((b) => b.qdev === id || String(b.qdev).startsWith(`/machine/peripheral/${id}/`));


/** (a)–(c): one bare domain, the lines of BENCH_LINES among them. */
async function benchBareDomain(): Promise<void> {
  const stamp = `${process.pid}`;
  const name = `lvb-hotplug-${stamp}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvb-hotplug-"));
  const cdAlias = deriveUserAlias("cdrom-lvb-cd");
  cleanUpOnAnyExit(() => {
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const client = await LibvirtClient.connect("qemu:///system");
  try {
    const img = path.join(tmp, "disk.img");
    const isoA = path.join(tmp, "a.iso");
    const isoB = path.join(tmp, "b.iso");
    for (const f of [img, isoA, isoB]) fs.writeFileSync(f, Buffer.alloc(1024 * 1024));

    // The bare domain, its boot-time scsi cdrom carrying the alias the Cdrom resource derives, so the
    // provider adopts it and both sides change media on the same device (a hot-plugged scsi-cd needs its tray
    // opened over QMP first, which would make the two sides do different work).
    const xml = bareDomainXml(name).replace(/(<target dev="sda" bus="scsi"><\/target>|<target dev="sda" bus="scsi"\/>)/, `$1<alias name="${cdAlias}"/>`);
    if (!xml.includes(cdAlias)) throw new Error(`could not place the cdrom alias in:\n${xml}`);
    const xmlFile = path.join(tmp, "domain.xml");
    fs.writeFileSync(xmlFile, xml);
    virsh("define", xmlFile);
    virsh("start", name);

    // ---- (a) libvirt XML: the shell side's device XML, a file as a script would keep it ----
    const virshAlias = "ua-lvb-vdisk";
    const diskXml = path.join(tmp, "disk.xml");
    fs.writeFileSync(
      diskXml,
      `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${img}'/>` +
        `<target dev='sdb' bus='scsi'/><alias name='${virshAlias}'/><address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>\n`,
    );
    // With the owner the SDK always passes (its URN), so creates and deletes record and drop their claim.
    const urn = (kind: string, resource: string) => `urn:pulumi:bench::hotplug::pulumi-nodejs:dynamic/libvirt:${kind}::${resource}`;
    const diskInputs = { resourceName: "lvb-pd", owner: urn("Disk", "lvb-pd"), domain: name, source: img, bus: "scsi", via: "libvirt", format: "raw", readonly: false };
    const providerXml = async () => {
      const d = await create("Disk", diskInputs);
      await remove("Disk", d.id, d.outs);
    };
    const virshXml = () => {
      virsh("attach-device", name, diskXml, "--live", "--config");
      const b = byQdev(queryBlockVirsh(name), virshAlias);
      if (b?.inserted?.file !== img) throw new Error("virsh attach: not in query-block");
      virsh("detach-device", name, diskXml, "--live", "--config");
      if (byQdev(queryBlockVirsh(name), virshAlias)) throw new Error("virsh detach: still in query-block");
    };

    // ---- (b) QMP: the same commands the provider sends, as virsh qemu-monitor-command processes ----
    const qid = "lvb-vq";
    const nodes = blockNodeNames(qid);
    const qBlockdevAdd = JSON.stringify(blockdevAdd({ blockId: qid, filename: img, format: "raw", readOnly: false }));
    const qDeviceAdd = JSON.stringify({ execute: "device_add", arguments: { driver: "scsi-hd", id: qid, drive: nodes.format, bus: libvirtScsiBus(0), "scsi-id": 0, lun: 200 } });
    const qDeviceDel = JSON.stringify({ execute: "device_del", arguments: { id: qid } });
    const qBlockdevDel = JSON.stringify({ execute: "blockdev-del", arguments: { "node-name": nodes.format } });
    const qmpInputs = { ...diskInputs, resourceName: "lvb-pq", owner: urn("Disk", "lvb-pq"), via: "qmp" };
    const providerQmp = async () => {
      const d = await create("Disk", qmpInputs);
      await remove("Disk", d.id, d.outs);
    };
    const monitor = (json: string) => {
      const reply = JSON.parse(virsh("qemu-monitor-command", name, json));
      if (reply.error) throw new Error(`QMP ${json}: ${JSON.stringify(reply.error)}`);
      return reply;
    };
    const virshQmp = () => {
      monitor(qBlockdevAdd);
      monitor(qDeviceAdd);
      if (byQdev(queryBlockVirsh(name), qid)?.inserted?.file !== img) throw new Error("virsh qmp attach: not in query-block");
      monitor(qDeviceDel);
      for (let i = 0; byQdev(queryBlockVirsh(name), qid); i++) {
        if (i > 400) throw new Error("virsh qmp detach: still in query-block");
        execFileSync("sleep", ["0.025"]); // as the provider polls
      }
      monitor(qBlockdevDel);
    };

    // ---- (c) cdrom media change on the same scsi cdrom ----
    const cdBase = { resourceName: "lvb-cd", domain: name, bus: "scsi", target: "sda", bootOrder: 1 };
    let cdOuts: Record<string, any> = {};
    let cdId = "";
    await quiet(async () => {
      const cd = await create("Cdrom", { ...cdBase, media: null }); // adopts the boot-time drive
      cdId = cd.id;
      cdOuts = await update("Cdrom", cd.id, cd.outs, { ...cdBase, media: isoA });
    });
    const providerMedia = async (media: string) => {
      cdOuts = await update("Cdrom", cdId, cdOuts, { ...cdBase, media });
      if (cdOuts.inserted !== media) throw new Error(`provider media change: inserted ${cdOuts.inserted}`);
    };
    const virshMedia = (media: string) => {
      virsh("change-media", name, "sda", media, "--update", "--live", "--config");
      if (byQdev(queryBlockVirsh(name), cdAlias)?.inserted?.file !== media) throw new Error("virsh change-media: not in query-block");
    };

    // ---- the floor: the same device work as the fewest daemon calls over one connection, no provider logic ----
    // Nothing can do this work faster through libvirt, so virsh/floor is the best ratio any client could reach.
    const dom: DomainRef = await client.lookupDomainByName(name);
    const floorBlocks = async (): Promise<Block[]> => JSON.parse(await client.qemuMonitorCommand(dom, QUERY_BLOCK)).return;
    const floorQmp = async (json: string) => {
      const reply = JSON.parse(await client.qemuMonitorCommand(dom, json));
      if (reply.error) throw new Error(`QMP ${json}: ${JSON.stringify(reply.error)}`);
    };
    const floorXmlText = fs.readFileSync(diskXml, "utf8");
    // How long QEMU and libvirt take to finish an unplug after it was asked for: no client can skip this wait.
    const releaseWait = { xml: [] as number[], qmp: [] as number[] };
    const floorXml = async () => {
      await client.attachDevice(dom, floorXmlText, Affect.Live | Affect.Config);
      if (byQdev(await floorBlocks(), virshAlias)?.inserted?.file !== img) throw new Error("floor attach: not in query-block");
      const removed = await client.expectDomainEvent((e) => e.kind === "device-removed" && e.alias === virshAlias);
      await client.detachDeviceAlias(dom, virshAlias, Affect.Live | Affect.Config);
      const asked = performance.now();
      if (!(await removed.wait(10_000))) throw new Error("floor detach: no device-removed event");
      releaseWait.xml.push(performance.now() - asked);
      if (byQdev(await floorBlocks(), virshAlias)) throw new Error("floor detach: still in query-block");
    };
    const floorQmpOp = async () => {
      await floorQmp(qBlockdevAdd);
      await floorQmp(qDeviceAdd);
      if (byQdev(await floorBlocks(), qid)?.inserted?.file !== img) throw new Error("floor qmp attach: not in query-block");
      await floorQmp(qDeviceDel);
      const asked = performance.now();
      // blockdev-del succeeds the moment QEMU has let go of the device: the earliest "gone" there is.
      for (let i = 0; ; i++) {
        const reply = JSON.parse(await client.qemuMonitorCommand(dom, qBlockdevDel));
        if (!reply.error) break;
        if (i > 5000) throw new Error(`floor qmp detach: ${JSON.stringify(reply.error)}`);
        await new Promise((r) => setTimeout(r, 1));
      }
      releaseWait.qmp.push(performance.now() - asked);
    };
    const bootCdrom = parseDomainXml(await client.domainXml(dom)).disks.find((d) => d.alias === cdAlias)!;
    const floorMedia = async (media: string) => {
      const xml = buildDiskXml({ device: "cdrom", bus: "scsi", target: bootCdrom.target, source: media, readonly: true, alias: cdAlias, address: bootCdrom.address ?? undefined, bootOrder: bootCdrom.bootOrder ?? undefined });
      await client.updateDevice(dom, xml, Affect.Live | Affect.Config);
      if (byQdev(await floorBlocks(), cdAlias)?.inserted?.file !== media) throw new Error("floor change-media: not in query-block");
    };

    // The three sides do the same three operations; each keeps its own samples.
    interface Side {
      xml: () => unknown;
      qmp: () => unknown;
      media: (file: string) => unknown;
      samples: { xml: number[]; qmp: number[]; media: number[] };
    }
    const side = (xml: Side["xml"], qmp: Side["qmp"], media: Side["media"]): Side => ({ xml, qmp, media, samples: { xml: [], qmp: [], media: [] } });
    const provider = side(providerXml, providerQmp, providerMedia);
    const script = side(virshXml, virshQmp, virshMedia);
    const floor = side(floorXml, floorQmpOp, floorMedia);
    const lines = [
      { line: "a", run: (s: Side) => timeEach(1, s.xml), samples: (s: Side) => s.samples.xml },
      { line: "b", run: (s: Side) => timeEach(1, s.qmp), samples: (s: Side) => s.samples.qmp },
      // There and back, each change timed: every side's turn starts from the same medium.
      { line: "c", run: async (s: Side) => [...(await timeEach(1, () => s.media(isoB))), ...(await timeEach(1, () => s.media(isoA)))], samples: (s: Side) => s.samples.media },
    ].filter((l) => want(l.line));
    const sides = [provider, script, floor];

    // Line by line, one operation per side in turn, the order rotating: drift in the machine (a noisy neighbour, the
    // daemon's caches) lands on every side alike, and no line's operation runs right after another line's. Each
    // line starts with WARMUP operations per side, not counted: the JIT, the daemon's caches, QEMU's first hotplug
    // on the bus.
    const started = Date.now();
    for (const { line, run, samples } of lines) {
      for (let i = 0; i < WARMUP; i++) for (const each of sides) await quiet(() => run(each));
      for (let i = 0; samples(provider).length < N; i++) {
        for (let k = 0; k < sides.length; k++) {
          const each = sides[(i + k) % sides.length]!;
          // quiet: the provider prints its preview notes on every create.
          samples(each).push(...(await quiet(() => run(each))));
        }
      }
      process.stderr.write(`(${line}) done (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    }

    const row = (what: string, ours: number[], theirs: number[], floor: number[]) => [
      what,
      `${median(ours).toFixed(1)} ms (n=${ours.length})`,
      `${median(theirs).toFixed(1)} ms (n=${theirs.length})`,
      `${(median(theirs) / median(ours)).toFixed(2)}x`,
      `${median(floor).toFixed(1)} ms (n=${floor.length})`,
      `${(median(theirs) / median(floor)).toFixed(2)}x`,
    ];
    console.log(
      `bench:hotplug — ${new Date().toISOString()}, ${os.cpus().length} cores, libvirt ${await client.libVersion()}, node ${process.version}, ` +
        `N=${N} per side and operation, one of each side in turn (order rotating); load (1 min) ${os.loadavg()[0].toFixed(2)}`,
    );
    console.log(
      formatTable(
        ["operation (one bare TCG domain)", "provider median", "virsh script median", "virsh/provider", "floor: fewest calls, one connection", "virsh/floor (best possible)"],
        [
          ...(want("a") ? [row("(a) scsi disk attach+detach, libvirt XML", provider.samples.xml, script.samples.xml, floor.samples.xml)] : []),
          ...(want("b") ? [row("(b) scsi disk attach+detach, QMP", provider.samples.qmp, script.samples.qmp, floor.samples.qmp)] : []),
          ...(want("c") ? [row("(c) scsi cdrom media change", provider.samples.media, script.samples.media, floor.samples.media)] : []),
        ],
      ),
    );

    const waits = [
      ...(want("a") ? [`libvirt detach → device-removed event ${median(releaseWait.xml).toFixed(1)} ms (n=${releaseWait.xml.length})`] : []),
      ...(want("b") ? [`QMP device_del → blockdev-del accepted ${median(releaseWait.qmp).toFixed(1)} ms (n=${releaseWait.qmp.length})`] : []),
    ];
    if (waits.length > 0) console.log(`\nunplug wait inside the floor (a request answered, until it is done): ${waits.join("; ")}. Every side pays it once per attach+detach.`);

    // Where the provider's time goes: a separate, profiled pass (not part of the medians above).
    const profiled = ([
      ["a", "(a) Disk create+delete, libvirt", providerXml],
      ["b", "(b) Disk create+delete, qmp", providerQmp],
      ["c", "(c) Cdrom media change", () => providerMedia(cdOuts.inserted === isoA ? isoB : isoA)],
    ] as Array<[string, string, () => Promise<void>]>)
      .filter(([line]) => want(line))
      .map(([, what, op]) => [what, op] as const);
    for (const [what, op] of profiled) {
      resetProfile();
      enableProfile();
      const wall = median(await quiet(() => timeEach(PROFILE_OPS, op)));
      disableProfile();
      const inClient = clientMsPerOp(PROFILE_OPS);
      console.log(
        `\nprofile ${what} (${PROFILE_OPS} ops): wall median ${wall.toFixed(1)} ms/op; in libvirt calls ${inClient.toFixed(1)} ms/op (mean); ` +
          `the rest is waiting for QEMU to finish the unplug, validation, XML parsing and other JS`,
      );
      console.log(profileTable(PROFILE_OPS));
    }
    if (cdOuts.inserted !== isoA) await quiet(() => providerMedia(isoA));
  } finally {
    disableProfile();
    await client.close().catch(() => undefined);
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * (d) A scsi disk attach+detach on a QEMU run without libvirt, over its own QMP socket: the provider (Disk with
 * `qmp`) next to the floor, the same five QMP commands over one connection with nothing else. There is no virsh
 * for a QEMU libvirt does not know, so the script side is absent.
 */
async function benchDirectSocket(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvb-direct-"));
  cleanUpOnAnyExit(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const img = path.join(tmp, "disk.img");
  fs.writeFileSync(img, Buffer.alloc(1024 * 1024));
  // Two monitors: the provider holds the unix socket (a QMP socket serves one client at a time), the floor the tcp one.
  const qemu = await startBareQemu({ tcpQmp: true });
  const floorClient = new QmpClient(qemu.qmpTcp!);
  try {
    const inputs = { resourceName: "lvb-direct", owner: "urn:pulumi:bench::hotplug::pulumi-nodejs:dynamic/libvirt:Disk::lvb-direct", qmp: qemu.qmp, source: img, bus: "scsi", format: "raw", readonly: false };
    const provider = async () => {
      const d = await create("Disk", inputs);
      await remove("Disk", d.id, d.outs);
    };
    const id = "lvb-fq";
    const nodes = blockNodeNames(id);
    const run = async (command: object) => {
      const reply = await floorClient.execute(command as { execute: string });
      if ("error" in reply) throw new Error(`QMP ${JSON.stringify(command)}: ${JSON.stringify(reply.error)}`);
      return reply;
    };
    const floor = async () => {
      await run(blockdevAdd({ blockId: id, filename: img, format: "raw", readOnly: false }));
      await run({ execute: "device_add", arguments: { driver: "scsi-hd", id, drive: nodes.format, bus: "scsi0.0", "scsi-id": 0, lun: 100 } });
      const deleted = new Promise<void>((resolve) => {
        const stop = floorClient.onEvent("DEVICE_DELETED", (e) => {
          if (e.data?.["device"] === id) {
            stop();
            resolve();
          }
        });
      });
      await run({ execute: "device_del", arguments: { id } });
      await deleted;
      await run({ execute: "blockdev-del", arguments: { "node-name": nodes.format } });
    };
    for (let i = 0; i < WARMUP; i++) {
      await quiet(provider);
      await floor();
    }
    const samples = { provider: [] as number[], floor: [] as number[] };
    for (let i = 0; i < N; i++) {
      const order = i % 2 === 0 ? (["provider", "floor"] as const) : (["floor", "provider"] as const);
      for (const which of order) samples[which].push(...(await quiet(() => timeEach(1, which === "provider" ? provider : floor))));
    }
    console.log("\n(d) the same scsi disk attach+detach on a QEMU run without libvirt, over its own QMP socket:");
    console.log(
      formatTable(
        ["operation (one bare TCG QEMU, no libvirt)", "provider median", "floor: fewest QMP calls, one connection", "provider/floor"],
        [[
          "(d) scsi disk attach+detach, QMP socket",
          `${median(samples.provider).toFixed(1)} ms (n=${samples.provider.length})`,
          `${median(samples.floor).toFixed(1)} ms (n=${samples.floor.length})`,
          `${(median(samples.provider) / median(samples.floor)).toFixed(2)}x`,
        ]],
      ),
    );
  } finally {
    await floorClient.close();
    await closeSharedQemuClients();
    await qemu.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const unknown = [...LINES].filter((line) => !["a", "b", "c", "d", "e", "f"].includes(line));
  if (unknown.length > 0) throw new Error(`BENCH_LINES: no line ${unknown.join(", ")} (the lines are a, b, c, d, e, f)`);
  try {
    if (want("a") || want("b") || want("c")) await benchBareDomain();
    if (want("d")) await benchDirectSocket();
    const nicLines = (["e", "f"] as NicLine[]).filter(want);
    if (nicLines.length > 0) await benchNics({ lines: new Set(nicLines), n: NIC_N, rounds: ROUNDS, profileOps: PROFILE_OPS, settleMs: NIC_SETTLE_MS });
  } finally {
    await closeSharedClients().catch(() => undefined);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
