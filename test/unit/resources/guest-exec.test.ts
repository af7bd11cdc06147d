// GuestExec's pure parts against hand-written guest-exec-status replies (test/fixtures/vocab/guest-*.json, not
// recorded: shaped like qemu-ga 7.2's, see that folder's README). Truncation is tested here, not live:
// qemu-ga truncates at 16 MiB per stream, but libvirt's RPC strings stop at 4 MiB, so a reply that large
// never reaches the provider (measured: 3 MiB of output already fails with "Unable to encode message payload").
import { strict as assert } from "node:assert";
import { commandLine, exitProblem, resultFrom } from "../../../provider/src/resources/guest-exec";
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
});
