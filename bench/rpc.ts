// bench:rpc — the RPC client over one connection next to virsh doing the same read, in one run.
// Rounds alternate between the two sides so machine noise lands on both.
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import { LibvirtClient } from "../provider/src/libvirt";
import { bareDomainXml, removeDomain, uniqueName } from "../test/support/host";
import { formatTable, median, timeEach } from "./stats";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CLIENT_CALLS_PER_ROUND = 100;
const VIRSH_CALLS_PER_ROUND = 10;
const QUERY_BLOCK = JSON.stringify({ execute: "query-block" });

const virsh = (...args: string[]) => execFileSync("virsh", ["-q", "-c", "qemu:///system", ...args], { stdio: "pipe" });

async function main(): Promise<void> {
  const name = uniqueName("bench-rpc");
  const client = await LibvirtClient.connect("qemu:///system");
  try {
    const dom = await client.startDomain(await client.defineDomain(bareDomainXml(name)));
    const samples = { xmlClient: [] as number[], xmlVirsh: [] as number[], qmpClient: [] as number[], qmpVirsh: [] as number[] };
    await timeEach(20, () => client.domainXml(dom)); // warm-up: JIT and the daemon's caches
    for (let round = 0; round < ROUNDS; round++) {
      samples.xmlClient.push(...(await timeEach(CLIENT_CALLS_PER_ROUND, () => client.domainXml(dom))));
      samples.xmlVirsh.push(...(await timeEach(VIRSH_CALLS_PER_ROUND, () => virsh("dumpxml", name))));
      samples.qmpClient.push(...(await timeEach(CLIENT_CALLS_PER_ROUND, () => client.qemuMonitorCommand(dom, QUERY_BLOCK))));
      samples.qmpVirsh.push(...(await timeEach(VIRSH_CALLS_PER_ROUND, () => virsh("qemu-monitor-command", name, QUERY_BLOCK))));
    }
    const row = (what: string, ours: number[], theirs: number[]) => [
      what,
      `${median(ours).toFixed(3)} ms (n=${ours.length})`,
      `${median(theirs).toFixed(2)} ms (n=${theirs.length})`,
      `${(median(theirs) / median(ours)).toFixed(1)}x`,
    ];
    console.log(`bench:rpc — ${new Date().toISOString()}, ${os.cpus().length} cores, libvirt ${await client.libVersion()}, node ${process.version}`);
    console.log(
      formatTable(
        ["call", "client median", "virsh median", "ratio"],
        [
          row("DOMAIN_GET_XML_DESC (virsh dumpxml)", samples.xmlClient, samples.xmlVirsh),
          row("QMP query-block (virsh qemu-monitor-command)", samples.qmpClient, samples.qmpVirsh),
        ],
      ),
    );
  } finally {
    await client.close();
    removeDomain(name);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
