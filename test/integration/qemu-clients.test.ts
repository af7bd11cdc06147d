// The QMP and guest-agent clients against QEMU run without libvirt (the test starts it as the seeds do).
import { strict as assert } from "node:assert";
import * as net from "node:net";
import { AgentClient, QmpClient } from "../../provider/src/qemu";
import { guestExec, guestExecStatus, parseAgentReply, parseGuestExecStarted, parseGuestExecStatus } from "../../provider/src/vocab/qga";
import { parseQmpReply, QmpError } from "../../provider/src/vocab/qmp";
import { parseQueryBlock } from "../../provider/src/vocab/query-block";
import { makeImage } from "../support/host";
import { startBareQemu, type BareQemu } from "../support/bare-qemu";
import * as path from "node:path";
import { eventually } from "../support/wait";

const pollUntil = (what: string, ok: () => Promise<boolean>, timeoutMs = 120_000) => eventually(what, ok, timeoutMs, 250);

describe("QMP and guest-agent clients against a QEMU started without libvirt", function () {
  this.timeout(180_000);
  let qemu: BareQemu;
  let qmp: QmpClient;
  before(async () => {
    qemu = await startBareQemu({ tcpQmp: true });
    qmp = new QmpClient(qemu.qmp, { callTimeoutMs: 10_000 });
  });
  after(async () => {
    await qmp?.close();
    await qemu?.stop();
  });

  it("greets, negotiates capabilities and answers commands by id, many in flight", async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, () => qmp.execute({ execute: "query-status" })));
    for (const r of replies) assert.equal((parseQmpReply(r, "query-status") as { status: string }).status, "running");
    const err = await qmp.execute({ execute: "device_del", arguments: { id: "no-such-device" } });
    assert.throws(() => parseQmpReply(err, "device_del"), (e: unknown) => e instanceof QmpError && /not found/i.test(e.desc));
  });

  it("the seed's hotplug: blockdev-add + device_add, read back with query-block, removal ends on DEVICE_DELETED", async () => {
    const image = path.join(qemu.dir, "disk.raw");
    makeImage(image, 4);
    const deleted: string[] = [];
    const stop = qmp.onEvent("DEVICE_DELETED", (e) => deleted.push(String(e.data?.["device"])));
    parseQmpReply(await qmp.execute({ execute: "blockdev-add", arguments: { "node-name": "seed-disk", driver: "raw", file: { driver: "file", filename: image } } }), "blockdev-add");
    parseQmpReply(await qmp.execute({ execute: "device_add", arguments: { driver: "usb-storage", id: "seed-usb", drive: "seed-disk", bus: "usb.0" } }), "device_add");
    const blocks = parseQueryBlock(parseQmpReply(await qmp.execute({ execute: "query-block" }), "query-block"));
    assert.equal(blocks.find((b) => b.qdevId === "seed-usb")?.inserted?.file, image);
    parseQmpReply(await qmp.execute({ execute: "device_del", arguments: { id: "seed-usb" } }), "device_del");
    await pollUntil("DEVICE_DELETED", async () => deleted.includes("seed-usb"), 30_000);
    stop();
    parseQmpReply(await qmp.execute({ execute: "blockdev-del", arguments: { "node-name": "seed-disk" } }), "blockdev-del");
  });

  it("the TCP monitor (tcp:127.0.0.1:PORT) works the same", async () => {
    const tcp = new QmpClient(qemu.qmpTcp!);
    try {
      assert.equal((parseQmpReply(await tcp.execute({ execute: "query-status" }), "query-status") as { status: string }).status, "running");
    } finally {
      await tcp.close();
    }
  });

  it("a connection dropped under it is replaced on the next call", async () => {
    await qmp.execute({ execute: "query-status" });
    // Drop the socket from our side as a crash would: the next call dials again.
    (qmp as unknown as { session: Promise<{ peer: { close(): void } }> }).session.then((s) => s.peer.close());
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((parseQmpReply(await qmp.execute({ execute: "query-status" }), "query-status") as { status: string }).status, "running");
  });

  it("a call past its deadline fails, and closes the connection so no late reply is read as another's", async () => {
    await qmp.execute({ execute: "query-status" });
    // QEMU frozen (SIGSTOP: it is our own process) answers nothing until it is thawed.
    process.kill(qemu.pid, "SIGSTOP");
    try {
      await assert.rejects(qmp.execute({ execute: "query-block" }, 500), /did not answer query-block within 500 ms/);
    } finally {
      process.kill(qemu.pid, "SIGCONT");
    }
    // The frozen connection was torn down: this call runs on a new one and gets its own reply.
    assert.equal((parseQmpReply(await qmp.execute({ execute: "query-status" }), "query-status") as { status: string }).status, "running");
  });

  it("a socket nobody listens on fails with a message naming it", async () => {
    const client = new QmpClient("unix:/nonexistent/qmp.sock", { dialTimeoutMs: 2_000 });
    await assert.rejects(client.execute({ execute: "query-status" }), /cannot connect to the QMP socket at unix:\/nonexistent\/qmp\.sock/);
  });

  describe("guest agent", () => {
    let agent: AgentClient;
    before(async function () {
      agent = new AgentClient(qemu.agent, { syncTimeoutMs: 2_000 });
      // The guest boots (TCG: a few seconds) before qemu-ga answers the sync.
      await pollUntil("qemu-ga", () => agent.execute({ execute: "guest-ping" }, 5_000).then(() => true, () => false));
    });
    after(() => agent?.close());

    it("runs a command in the guest with output and exit code (guest-exec, guest-exec-status)", async () => {
      const started = parseGuestExecStarted(parseAgentReply(await agent.execute(guestExec({ path: "/bin/sh", args: ["-c", "echo hello; echo oops >&2; exit 3"], captureOutput: true }), 10_000), "guest-exec"));
      let status = { exited: false } as ReturnType<typeof parseGuestExecStatus>;
      // The agent forgets a pid once it reported it exited: ask until then, not after.
      await pollUntil("the command to exit", async () => {
        status = parseGuestExecStatus(parseAgentReply(await agent.execute(guestExecStatus(started.pid), 10_000), "guest-exec-status"));
        return status.exited;
      }, 30_000);
      assert.equal(status.exitCode, 3);
      assert.equal(status.stdout, "hello\n");
      assert.equal(status.stderr, "oops\n");
    });

    it("a reply an earlier client left in the channel is never taken for ours (guest-sync-delimited)", async () => {
      await agent.close();
      // Another tool asks for guest-info and leaves without reading the answer.
      const [, socketPath] = qemu.agent.split("unix:");
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(socketPath!, () => {
          s.write(`${JSON.stringify({ execute: "guest-info" })}\n`);
          setTimeout(() => {
            s.destroy();
            resolve();
          }, 300);
        });
        s.on("error", reject);
      });
      // A new client (the next provider process) on the channel the other tool left dirty.
      agent = new AgentClient(qemu.agent, { syncTimeoutMs: 2_000 });
      const reply = parseAgentReply(await agent.execute({ execute: "guest-ping" }, 10_000), "guest-ping");
      assert.deepEqual(reply, {}, "guest-ping's own empty reply, not the stale guest-info");
    });
  });
});
