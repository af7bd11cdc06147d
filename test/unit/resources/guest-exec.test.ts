// GuestExec's pure parts against hand-written guest-exec-status replies (test/fixtures/vocab/guest-*.json, not
// recorded: shaped like qemu-ga 7.2's, see that folder's README). Truncation is tested here, not live:
// qemu-ga truncates at 16 MiB per stream, but libvirt's RPC strings stop at 4 MiB, so a reply that large
// never reaches the provider (measured: 3 MiB of output already fails with "Unable to encode message payload").
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readRecord, recordFile, removeRecord, writeRecord } from "../../../provider/src/resources/exec-records";
import { commandLine, exitProblem, guestExec, resultFrom } from "../../../provider/src/resources/guest-exec";
import { providers } from "../../../provider/src/resources/registry";
import { masker } from "../../../provider/src/resources/secrets";
import { parseAgentReply, parseGuestExecStatus } from "../../../provider/src/vocab/qga";
import { fixtureJson } from "../vocab/helpers";

function recorded(name: string) {
  return parseGuestExecStatus(parseAgentReply(fixtureJson(name), "guest-exec-status"));
}

describe("resources/guest-exec", () => {
  it("carries qemu-ga's truncation flags into the outputs", () => {
    const result = resultFrom(42, recorded("guest-exec-status-truncated.json"), 7);
    assert.equal(result.stdoutTruncated, true);
    assert.equal(result.stderrTruncated, false);
    assert.equal(result.stdout, "x".repeat(64));
    assert.deepEqual([result.pid, result.exitCode, result.durationMs], [42, 0, 7]);
  });

  it("accepts the expected exit code, and any exit when expectExitCode is null", () => {
    const ok = resultFrom(1, recorded("guest-exec-status-ok.json"), 1);
    assert.equal(exitProblem(ok, ok.exitCode), null);
    const failed = resultFrom(1, recorded("guest-exec-status-failed.json"), 1);
    assert.equal(exitProblem(failed, null), null);
    assert.match(exitProblem(failed, 0) ?? "", /^exited with \d+, expected 0 \(pid 1\); /);
  });

  it("fails a command ended by a signal unless any exit is accepted", () => {
    const killed = resultFrom(9, recorded("guest-exec-status-killed.json"), 1);
    assert.equal(killed.exitCode, null);
    assert.match(exitProblem(killed, 0) ?? "", /^was killed by signal 9, expected 0 \(pid 9\); no stderr$/);
    assert.match(exitProblem(killed, null) ?? "", /^was killed by signal 9 \(pid 9\)/);
  });

  it("quotes only the last lines of stderr", () => {
    const stderr = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const result = { pid: 5, exitCode: 2, signal: null, stdout: "", stderr, stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
    const message = exitProblem(result, 0) ?? "";
    assert.match(message, /stderr \(last 10 lines\):\nline 21\n[\s\S]*\nline 30$/);
    assert.doesNotMatch(message, /line 20\n/);
  });

  it("shows commands as typed, quoting what a shell would split", () => {
    assert.equal(commandLine({ path: "/bin/sh", args: ["-c", "echo hi; exit 3"] }), '/bin/sh -c "echo hi; exit 3"');
    assert.equal(commandLine({ path: "ls", args: ["-l", "/tmp"] }), "ls -l /tmp");
    assert.ok(commandLine({ path: "/bin/echo", args: ["x".repeat(500)] }).length <= 160);
  });

  describe("secrets (secretInputs, set by the SDK)", () => {
    const inputs = {
      domain: "vm", path: "/bin/sh", args: ["-c", "echo TOKEN=tok-1234 >&2; exit 3"], env: ["A=plain", "KEY=tok-env-5678"],
      input: "tok-input-90", secretInputs: ["args[1]", "env[1]", "input"],
    };

    it("shows secret args as [secret] in the command line, and any text equal to a secret value", () => {
      const mask = masker(inputs);
      assert.equal(commandLine({ path: inputs.path, args: inputs.args }, mask), "/bin/sh -c [secret]");
      assert.equal(mask.text("got tok-env-5678 and KEY=tok-env-5678 and tok-input-90"), "got [secret] and [secret] and [secret]");
      assert.equal(mask.isSecret("args[0]"), false);
      assert.equal(masker({ ...inputs, secretInputs: ["args"] }).isSecret("args[0]"), true);
    });

    it("never quotes stderr of a command with secret inputs", () => {
      const result = { pid: 5, exitCode: 3, signal: null, stdout: "", stderr: "TOKEN=tok-1234\n", stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };
      const message = exitProblem(result, 0, masker(inputs)) ?? "";
      assert.match(message, /^exited with 3, expected 0 \(pid 5\); stderr: \[secret\] \(1 line; /);
      assert.ok(!message.includes("tok-1234"));
      assert.match(exitProblem(result, 0, masker({ ...inputs, secretInputs: [] })) ?? "", /TOKEN=tok-1234/, "without secrets, stderr is quoted");
    });

    it("masks the preview note of a new GuestExec and check failures", async () => {
      const note = (await guestExec.describeCreate!({ ...inputs, delete: { path: "rm", args: ["tok-del-1"], env: [] }, secretInputs: [...inputs.secretInputs, "delete.args[0]"] } as any)) ?? "";
      assert.equal(note, "GuestExec /bin/sh -c [secret] on vm: run once through the guest agent; on delete: rm [secret]");
      const lines: string[] = [];
      const log = console.log;
      console.log = (line: string) => void lines.push(line);
      try {
        const bad = { ...inputs, args: ["-c", "tok-nul\u0000x"], secretInputs: ["args[1]"] };
        const { failures } = await providers.GuestExec.check({}, bad);
        assert.ok(failures && failures.length > 0, "a NUL in an argument fails check");
        assert.ok(!JSON.stringify(failures).includes("tok-nul"), JSON.stringify(failures));
        await providers.GuestExec.check({}, inputs);
      } finally {
        console.log = log;
      }
      assert.ok(!lines.join("\n").includes("tok-"), lines.join("\n"));
    });
  });

  describe("records of runs in flight", () => {
    let dir: string;
    const saved = process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-records-"));
      process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR = dir;
    });
    after(() => {
      if (saved === undefined) delete process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR;
      else process.env.PULUMI_LIBVIRT_LIVE_STATE_DIR = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("keys a run by domain and command, and names no secret in the file name or contents", () => {
      const identity = { domainUuid: "u-1", path: "/bin/sh", args: ["-c", "tok-secret-1"], env: [], captureOutput: true };
      const file = recordFile(identity);
      assert.equal(recordFile(identity), file, "the same command on the same domain is the same run");
      assert.notEqual(recordFile({ ...identity, triggers: [1] }), file, "other triggers are another run");
      assert.notEqual(recordFile({ ...identity, domainUuid: "u-2" }), file);
      assert.ok(file.startsWith(path.join(dir, "guest-exec")));
      writeRecord(file, { pid: 42, domainId: 7, startedAt: 1, command: "/bin/sh -c [secret]" });
      assert.deepEqual(readRecord(file), { pid: 42, domainId: 7, startedAt: 1, command: "/bin/sh -c [secret]" });
      assert.ok(!fs.readFileSync(file, "utf8").includes("tok-secret"));
      removeRecord(file);
      assert.equal(readRecord(file), null);
    });
  });
});
