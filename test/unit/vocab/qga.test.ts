import { strict as assert } from "node:assert";
import { ProtocolShapeError, SpecError } from "../../../provider/src/vocab/errors";
import {
  AgentError,
  agentErrorFromLibvirtMessage,
  guestExec,
  guestExecStatus,
  guestInfo,
  guestPing,
  parseAgentReply,
  parseGuestExecStarted,
  parseGuestExecStatus,
  parseGuestInfo,
} from "../../../provider/src/vocab/qga";
import { fixtureJson } from "./helpers";

function statusFixture(name: string) {
  return parseGuestExecStatus(parseAgentReply(fixtureJson(name), "guest-exec-status"));
}

describe("vocab/qga", () => {
  it("builds ping and info", () => {
    assert.deepEqual(guestPing(), { execute: "guest-ping" });
    assert.deepEqual(guestInfo(), { execute: "guest-info" });
  });

  it("builds guest-exec with args, KEY=VALUE env, base64 stdin and captured output", () => {
    const command = guestExec({ path: "/bin/sh", args: ["-c", "cat; echo $GREETING"], env: { GREETING: "hi=there", LANG: "C.UTF-8" }, input: "héllo\n" });
    assert.deepEqual(command, {
      execute: "guest-exec",
      arguments: {
        path: "/bin/sh",
        arg: ["-c", "cat; echo $GREETING"],
        env: ["GREETING=hi=there", "LANG=C.UTF-8"],
        "input-data": Buffer.from("héllo\n", "utf8").toString("base64"),
        "capture-output": true,
      },
    });
    assert.equal(Buffer.from(command.arguments?.["input-data"] ?? "", "base64").toString("utf8"), "héllo\n");
  });

  it("sends binary stdin byte for byte and leaves out what was not given", () => {
    const bytes = new Uint8Array([0, 255, 10, 13]);
    const command = guestExec({ path: "true", input: bytes, captureOutput: false });
    assert.deepEqual(command.arguments, { path: "true", "input-data": "AP8KDQ==", "capture-output": false });
  });

  it("refuses malformed env entries", () => {
    assert.throws(() => guestExec({ path: "/bin/true", env: ["NOVALUE"] }), SpecError);
    assert.throws(() => guestExec({ path: "/bin/true", env: { "A=B": "c" } }), SpecError);
    assert.throws(() => guestExec({ path: "" }), SpecError);
  });

  it("reads the pid and builds the status poll", () => {
    const { pid } = parseGuestExecStarted(parseAgentReply(fixtureJson("guest-exec-started.json"), "guest-exec"));
    assert.equal(pid, 1042);
    assert.deepEqual(guestExecStatus(pid), { execute: "guest-exec-status", arguments: { pid: 1042 } });
  });

  it("reports a still-running process", () => {
    const status = statusFixture("guest-exec-status-running.json");
    assert.equal(status.exited, false);
    assert.equal(status.exitCode, null);
    assert.equal(status.stdout, "");
  });

  it("decodes base64 stdout as UTF-8", () => {
    const status = statusFixture("guest-exec-status-ok.json");
    assert.equal(status.exited, true);
    assert.equal(status.exitCode, 0);
    assert.equal(status.stdout, "hello, 世界\n");
    assert.equal(status.stderr, "");
    assert.equal(status.stdoutTruncated, false);
  });

  it("reports a failing exit code with both streams", () => {
    const status = statusFixture("guest-exec-status-failed.json");
    assert.equal(status.exitCode, 3);
    assert.equal(status.stdout, "partial\n");
    assert.equal(status.stderr, "sh: missing: not found\n");
  });

  it("reports truncated output", () => {
    const status = statusFixture("guest-exec-status-truncated.json");
    assert.equal(status.stdoutTruncated, true);
    assert.equal(status.stderrTruncated, false);
    assert.equal(status.stdout, "x".repeat(64));
  });

  it("reports a process killed by a signal", () => {
    const status = statusFixture("guest-exec-status-killed.json");
    assert.equal(status.exited, true);
    assert.equal(status.exitCode, null);
    assert.equal(status.signal, 9);
  });

  it("keeps raw bytes that are not UTF-8", () => {
    const status = parseGuestExecStatus({ exited: true, exitcode: 0, "out-data": "/w==" });
    assert.deepEqual([...status.stdoutBytes], [0xff]);
  });

  it("rejects output that is not base64", () => {
    assert.throws(() => parseGuestExecStatus({ exited: true, "out-data": "not base64!" }), ProtocolShapeError);
  });

  it("turns an agent error reply into a typed AgentError", () => {
    assert.throws(
      () => parseAgentReply(JSON.stringify(fixtureJson("guest-exec-error.json")), "guest-exec"),
      (error: unknown) =>
        error instanceof AgentError && error.command === "guest-exec" && error.errorClass === "GenericError" && error.desc.includes("/nonexistent"),
    );
  });

  it("recovers the command and description from libvirt's agent error message", () => {
    const error = agentErrorFromLibvirtMessage("internal error: unable to execute QEMU agent command 'guest-exec': Guest agent command failed, error was 'x'");
    assert.ok(error instanceof AgentError);
    assert.equal(error.command, "guest-exec");
    assert.equal(error.desc, "Guest agent command failed, error was 'x'");
    assert.equal(agentErrorFromLibvirtMessage("Guest agent is not responding: QEMU guest agent is not connected"), null);
  });

  it("reads guest-info", () => {
    const info = parseGuestInfo({ version: "7.2.0", supported_commands: [{ enabled: true, name: "guest-exec", "success-response": true }, { enabled: false, name: "guest-fsfreeze-freeze" }] });
    assert.equal(info.version, "7.2.0");
    assert.deepEqual(info.commands, [{ name: "guest-exec", enabled: true }, { name: "guest-fsfreeze-freeze", enabled: false }]);
  });
});
