// GuestExec and guest-visible disk hotplug against a real guest (busybox + qemu-ga, booted under TCG here)
// and the real libvirt daemon. One guest serves the whole file; everything is removed in `after`.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { closeSharedClients } from "../../provider/src/libvirt";
import { disk, DiskOutputs } from "../../provider/src/resources/disk";
import { guestExec, GuestExecOutputs } from "../../provider/src/resources/guest-exec";
import { agentCall } from "../../provider/src/resources/agent";
import { readRecord, recordFile, removeRecord, writeRecord } from "../../provider/src/resources/exec-records";
import { clientFor } from "../../provider/src/resources/handler";
import { guestExec as guestExecRequest, parseGuestExecStarted } from "../../provider/src/vocab/qga";
import { validateInputs } from "../../provider/src/resources/validate";
import { bootGuest, BootedGuest, destroyGuest, guestBlockDevices, runInGuest } from "../support/guest";
import { makeImage, removeDomain, uniqueName, virsh } from "../support/host";

function execInputs(fields: Record<string, unknown>) {
  const { inputs, failures } = validateInputs("GuestExec", fields);
  if (failures.length > 0) throw new Error(`invalid GuestExec inputs: ${JSON.stringify(failures)}`);
  return inputs;
}

function diskInputs(fields: Record<string, unknown>) {
  const { inputs, failures } = validateInputs("Disk", fields);
  if (failures.length > 0) throw new Error(`invalid Disk inputs: ${JSON.stringify(failures)}`);
  return inputs;
}

/** Polls until `check` returns true; hot-plugged devices take a moment to reach the guest's /sys/block. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const newDevices = (before: string[], now: string[]) => now.filter((name) => !before.includes(name));

describe("GuestExec and hotplug in a real guest", function () {
  this.timeout(120_000);
  const name = uniqueName("gexec");
  let guest: BootedGuest;
  let tmp: string;
  const timings: string[] = [];

  const savedStateDir = process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR;

  before(async function () {
    this.timeout(180_000);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-gexec-"));
    // Records of runs in flight go to this test's own directory.
    process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR = path.join(tmp, "state");
    guest = await bootGuest(name);
    timings.push(`boot to agent: ${guest.bootToAgentMs} ms`);
  });

  after(async function () {
    this.timeout(60_000);
    if (guest) await destroyGuest(guest).catch(() => undefined);
    removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
    if (savedStateDir === undefined) delete process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR;
    else process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR = savedStateDir;
    await closeSharedClients();
    if (timings.length > 0) console.log(`      timings: ${timings.join("; ")}`);
  });

  const exec = (fields: Record<string, unknown>) => execInputs({ domain: name, ...fields });

  describe("GuestExec", () => {
    it("runs a command and records exit code, stdout, pid and duration", async () => {
      const started = Date.now();
      const { id, outs } = await guestExec.create(exec({ path: "/bin/uname", args: ["-a"] }));
      timings.push(`GuestExec create of uname -a: ${Date.now() - started} ms (command ${outs.durationMs} ms)`);
      assert.match(outs.stdout, /^Linux guest /);
      assert.equal(outs.exitCode, 0);
      assert.equal(outs.stderr, "");
      assert.ok(outs.pid > 0);
      assert.ok(outs.durationMs >= 0 && outs.durationMs < 10_000);
      assert.equal(outs.stdoutTruncated, false);
      assert.equal(outs.domainUuid, guest.uuid);
      assert.match(id, new RegExp(`^${guest.uuid}/exec/${outs.pid}/\\d+$`));

      const ip = await guestExec.create(exec({ path: "ip", args: ["addr", "list"] }));
      assert.match(ip.outs.stdout, /\blo: <LOOPBACK/);
    });

    it("passes args as an array: nothing is interpreted by a shell", async () => {
      const args = ["$(id)", "; rm -rf /tmp", "*", "a b", "'\"", "\\n"];
      const { outs } = await guestExec.create(exec({ path: "/bin/echo", args }));
      assert.equal(outs.stdout, `${args.join(" ")}\n`);
    });

    it("fails on an unexpected exit code, quoting the last lines of stderr", async () => {
      const script = "i=1; while [ $i -le 15 ]; do echo problem-$i >&2; i=$((i+1)); done; exit 3";
      await assert.rejects(guestExec.create(exec({ path: "/bin/sh", args: ["-c", script] })), (error: Error) => {
        assert.match(error.message, new RegExp(`^GuestExec /bin/sh -c .* on ${name}: `));
        assert.match(error.message, /exited with 3, expected 0 \(pid \d+\)/);
        assert.match(error.message, /problem-6\n[\s\S]*problem-15$/);
        assert.doesNotMatch(error.message, /problem-5\n/);
        return true;
      });
      const { outs } = await guestExec.create(exec({ path: "/bin/sh", args: ["-c", "exit 3"], expectExitCode: 3 }));
      assert.equal(outs.exitCode, 3);
    });

    it("writes input to stdin (round trip through cat)", async () => {
      const input = "héllo\nworld\twith tabs and ünïcode ✓\n".repeat(100);
      const { outs } = await guestExec.create(exec({ path: "/bin/cat", input }));
      assert.equal(outs.stdout, input);
    });

    it("passes env entries to the command", async () => {
      const { outs } = await guestExec.create(
        exec({ path: "/bin/sh", args: ["-c", 'printf "%s|%s" "$GREETING" "$OTHER"'], env: ["GREETING=hi there", "OTHER=a=b"] }),
      );
      assert.equal(outs.stdout, "hi there|a=b");
    });

    it("stops a command that outlives its timeout in the guest (children too), and the next create does not start it again", async () => {
      const sleeper = () => runInGuest(guest, "/bin/ps", []).then((r) => /sleep 37/.test(r.stdout));
      const inputs = exec({ path: "/bin/sh", args: ["-c", "sleep 37; echo late"], timeoutSeconds: 2 });
      let pid = 0;
      const started = Date.now();
      await assert.rejects(guestExec.create(inputs), (error: Error) => {
        assert.match(error.message, new RegExp(`^GuestExec /bin/sh -c "sleep 37; echo late" on ${name}: timed out after 2 s and was stopped in the guest \\(guest pid \\d+, SIGTERM`));
        pid = Number(/guest pid (\d+)/.exec(error.message)![1]);
        return true;
      });
      assert.ok(Date.now() - started < 15_000, "the timeout is kept");
      assert.equal(await sleeper(), false, "neither the shell nor its sleep child runs in the guest any more");
      assert.equal((await runInGuest(guest, "/bin/kill", ["-0", String(pid)])).exitCode, 1, "the pid is gone");
      await assert.rejects(guestExec.create(inputs), (error: Error) => {
        assert.match(error.message, new RegExp(`an earlier run of this command \\(guest pid ${pid}, started [^)]+\\) timed out and was stopped in the guest at [^;]+; it is not started again; .*change \`triggers\``));
        return true;
      });
      assert.equal(await sleeper(), false, "the second create did not start it again");
    });

    it("recovers the result of a run whose status was never read, instead of running it again", async () => {
      const marker = `/run/lvt-runs-${process.pid}`;
      const inputs = exec({ path: "/bin/sh", args: ["-c", `echo run >> ${marker}; echo recovered`] });
      // A run started as create starts it, whose guest-exec-status never came back (agent gone quiet, connection
      // dropped, provider killed): its pid is recorded, its result still held by the agent.
      const client = await clientFor(guest.uri);
      const dom = await client.lookupDomainByUuid(guest.uuid);
      const { pid } = parseGuestExecStarted(await agentCall(client, dom, guestExecRequest({ path: inputs.path, args: inputs.args, captureOutput: true }), 10));
      const file = recordFile({ domainUuid: guest.uuid, path: inputs.path, args: inputs.args, env: inputs.env, captureOutput: inputs.captureOutput });
      writeRecord(file, { pid, domainId: dom.id, startedAt: Date.now(), command: "test" });
      const { outs } = await guestExec.create(inputs);
      assert.equal(outs.pid, pid, "the earlier run's result");
      assert.equal(outs.stdout, "recovered\n");
      assert.equal((await runInGuest(guest, "/bin/cat", [marker])).stdout, "run\n", "the command ran once");
      assert.equal(readRecord(file), null, "the record is gone once the result is read");

      // A record whose pid the agent does not know (its result read elsewhere, qemu-ga restarted), or from an
      // earlier boot of the domain: no second run, a message naming the pid.
      writeRecord(file, { pid: 999_999, domainId: dom.id, startedAt: Date.now(), command: "test" });
      await assert.rejects(guestExec.create(inputs), /an earlier run of this command \(guest pid 999999, .*the guest agent no longer knows that pid/);
      writeRecord(file, { pid, domainId: dom.id + 1000, startedAt: Date.now(), command: "test" });
      await assert.rejects(guestExec.create(inputs), new RegExp(`guest pid ${pid}, .*domain ${name} has been restarted since`));
      assert.equal((await runInGuest(guest, "/bin/cat", [marker])).stdout, "run\n", "still one run");
      removeRecord(file);
    });

    it("waits out a pause while the command runs, and reports an agent kept away by a pause", async () => {
      let resolvedAt = 0;
      const running = guestExec.create(exec({ path: "/bin/sleep", args: ["1"], timeoutSeconds: 30 })).then((r) => ((resolvedAt = Date.now()), r));
      await new Promise((resolve) => setTimeout(resolve, 300));
      virsh("suspend", name);
      let resumedAt = 0;
      await new Promise((resolve) => setTimeout(resolve, 2_000)).finally(() => ((resumedAt = Date.now()), virsh("resume", name)));
      const { outs } = await running;
      assert.equal(outs.exitCode, 0);
      // Whenever the agent got to start it, the create waited the pause out instead of failing during it.
      assert.ok(resolvedAt >= resumedAt, "the create ended only after the guest was resumed");
      assert.ok(outs.durationMs >= 1_000, "sleep 1 ran to its end");

      virsh("suspend", name);
      try {
        await assert.rejects(
          guestExec.create(exec({ path: "/bin/true", agentTimeoutSeconds: 1 })),
          new RegExp(`the guest agent on domain ${name} did not answer guest-ping within 1 s`),
        );
      } finally {
        virsh("resume", name);
      }
    });

    it("turns agent errors into messages naming the domain and the command", async () => {
      await assert.rejects(guestExec.create(exec({ path: "/nonexistent/prog", args: ["x"] })), (error: Error) => {
        assert.match(error.message, new RegExp(`guest agent on domain ${name} refused guest-exec /nonexistent/prog x: .*No such file or directory`));
        return true;
      });
      await assert.rejects(guestExec.create(exec({ domain: "lvt-no-such-domain", path: "/bin/true" })), /domain "lvt-no-such-domain" not found/);
    });

    it("explains output too large for libvirt's agent passthrough", async () => {
      // qemu-ga would keep 16 MiB, but libvirt's RPC strings stop at 4 MiB (base64 included).
      const big = exec({ path: "head", args: ["-c", String(3 * 1024 * 1024), "/dev/zero"] });
      await assert.rejects(guestExec.create(big), /too large for libvirt's agent passthrough/);
    });

    it("diffs: command changes replace, delete/timeouts change only the record", async () => {
      const { outs } = await guestExec.create(exec({ path: "/bin/true" }));
      assert.deepEqual(await guestExec.diff("", outs, exec({ path: "/bin/true" })), { changes: false, replaces: [] });
      assert.deepEqual(await guestExec.diff("", outs, exec({ path: "/bin/true", args: ["x"] })), { changes: true, replaces: ["args"], deleteBeforeReplace: true });
      assert.deepEqual(await guestExec.diff("", outs, exec({ path: "/bin/true", triggers: [1] })), { changes: true, replaces: ["triggers"], deleteBeforeReplace: true });
      const news = exec({ path: "/bin/true", timeoutSeconds: 5, delete: { path: "/bin/true" } });
      assert.deepEqual(await guestExec.diff("", outs, news), { changes: true, replaces: [] });
      const updated = (await guestExec.update("", outs, news)).outs;
      assert.equal(updated.pid, outs.pid, "update runs nothing: the recorded result stays");
      assert.equal(updated.durationMs, outs.durationMs);
      assert.deepEqual(updated.delete, { path: "/bin/true", args: [], env: [] });
      assert.equal(updated.timeoutSeconds, 5);
    });

    it("runs the delete command on delete, and read keeps the recorded result", async () => {
      const marker = `/run/lvt-deleted-${process.pid}`;
      const { id, outs } = await guestExec.create(exec({ path: "/bin/true", delete: { path: "/bin/touch", args: [marker] } }));
      assert.equal((await runInGuest(guest, "/bin/ls", [marker])).exitCode, 1, "nothing ran the delete command yet");
      assert.deepEqual(await guestExec.read(id, outs), { id, props: outs });
      await guestExec.delete(id, outs);
      assert.equal((await runInGuest(guest, "/bin/ls", [marker])).exitCode, 0, "the delete command made the marker");
    });

    it("fails a delete whose command fails, naming it", async () => {
      const { id, outs } = await guestExec.create(exec({ path: "/bin/true", delete: { path: "/bin/false" } }));
      await assert.rejects(guestExec.delete(id, outs), /GuestExec \/bin\/true on lvt-\S+: delete command \/bin\/false: exited with 1, expected 0 \(pid \d+\); no stderr; /);
    });
  });

  describe("Disk hotplug seen by the guest", () => {
    for (const bus of ["virtio", "scsi", "usb"] as const) {
      it(`a ${bus} disk appears in /sys/block when attached and leaves when deleted`, async () => {
        const source = path.join(tmp, `${bus}.img`);
        makeImage(source, 8);
        const before = await guestBlockDevices(guest);
        const inputs = diskInputs({ domain: name, source, bus, resourceName: `lvt-hp-${bus}` });
        const attached = Date.now();
        const { outs } = await disk.create(inputs);
        let seen: string[] = [];
        await eventually(`the guest sees the ${bus} disk`, async () => (seen = newDevices(before, await guestBlockDevices(guest))).length === 1);
        timings.push(`${bus} attach → guest sees ${seen[0]}: ${Date.now() - attached} ms`);
        const size = await runInGuest(guest, "/bin/cat", [`/sys/block/${seen[0]}/size`]);
        assert.equal(Number(size.stdout.trim()) * 512, 8 * 1024 * 1024, "the guest sees the image's size");

        await disk.delete("", outs);
        await eventually(`the ${bus} disk leaves the guest`, async () => !(await guestBlockDevices(guest)).includes(seen[0]));
      });
    }

    it("a paused guest makes a virtio detach time out clearly; after resume a retried delete succeeds", async () => {
      const source = path.join(tmp, "paused.img");
      makeImage(source, 8);
      const before = await guestBlockDevices(guest);
      const { outs } = await disk.create(diskInputs({ domain: name, source, bus: "virtio", resourceName: "lvt-hp-paused", detachTimeoutSeconds: 3 }));
      let seen: string[] = [];
      await eventually("the guest sees the virtio disk", async () => (seen = newDevices(before, await guestBlockDevices(guest))).length === 1);
      const listed = () => virsh("domblklist", name).includes(outs.target);

      virsh("suspend", name);
      try {
        const started = Date.now();
        await assert.rejects(disk.delete("", outs), (error: Error) => {
          assert.match(error.message, /did not release .* within 3 s/);
          return true;
        });
        assert.ok(Date.now() - started < 8_000, "the detach timeout is kept");
        assert.ok(listed(), "the disk stays attached");
      } finally {
        virsh("resume", name);
      }
      await disk.delete("", outs as DiskOutputs);
      assert.ok(!listed(), "the retried delete detached it");
      await eventually("the disk leaves the guest", async () => !(await guestBlockDevices(guest)).includes(seen[0]));
    });
  });

  describe("once the domain is gone", () => {
    it("read reports the GuestExec as gone and delete is a no-op", async () => {
      const { id, outs } = await guestExec.create(exec({ path: "/bin/true", delete: { path: "/bin/false" } }));
      await destroyGuest(guest);
      const read = await guestExec.read(id, outs as GuestExecOutputs);
      assert.equal(read.id, "");
      await guestExec.delete(id, outs); // the failing delete command is not run: no guest to run it in
    });
  });
});
