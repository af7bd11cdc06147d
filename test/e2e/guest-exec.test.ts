// GuestExec under the real Pulumi CLI: the seed's commands run in the real guest, and what is secret stays
// secret in the stack's state file (only ciphertext there, the plaintext only with --show-secrets).
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { guestArtifacts } from "../support/guest";
import { TestStack } from "./support/stack";

function program(prefix: string, kernel: string, initrd: string): string {
  return `const virt = require("pulumi-libvirt-live");
const vm = new virt.Domain("vm", {
  name: ${JSON.stringify(`${prefix}vm`)}, memoryMiB: 256, vcpus: 1, shutdownTimeoutSeconds: 5, waitForAgentSeconds: 180,
  boot: { kernel: ${JSON.stringify(kernel)}, initrd: ${JSON.stringify(initrd)}, cmdline: "console=ttyS0 quiet panic=-1" },
});
const uname = new virt.GuestExec("uname", { domain: vm.name, path: "uname", args: ["-a"] });
const ip = new virt.GuestExec("ip", { domain: vm.name, path: "ip", args: ["addr", "list"] });
const secret = new virt.GuestExec("secret", { domain: vm.name, path: "cat", input: "token-5f0c2e-input" }, { secretOutput: true });
exports.uname = uname.stdout;
exports.ip = ip.stdout;
exports.secret = secret.stdout;
`;
}

/** Secret values the program marks with pulumi.secret; none may be printed or stored in plaintext. */
const TOKENS = ["tok-ARG-7c1d", "tok-ENV-93b0", "tok-INPUT-e42f", "tok-SEALED-55a1"];

/** A GuestExec that fails quoting its secret arg, env and input on stderr, and one that succeeds with secrets. */
const SECRET_EXECS = `
const pulumi = require("@pulumi/pulumi");
new virt.GuestExec("leaky", {
  domain: vm.name, path: "/bin/sh",
  args: ["-c", pulumi.secret("echo TOKEN=tok-ARG-7c1d >&2; echo \\"$LEAK\\" >&2; cat >&2; exit 3")],
  env: [pulumi.secret("LEAK=tok-ENV-93b0")],
  input: pulumi.secret("tok-INPUT-e42f"),
});
const sealed = new virt.GuestExec("sealed", {
  domain: vm.name, path: "/bin/sh",
  args: ["-c", pulumi.secret("test \\"$S\\" = tok-SEALED-55a1 && echo sealed ok")], env: [pulumi.secret("S=tok-SEALED-55a1")],
});
exports.sealed = sealed.stdout;
`;

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full) : e.isFile() ? [full] : [];
  });
}

describe("e2e: GuestExec under the real pulumi CLI", function () {
  this.timeout(300_000);
  let stack: TestStack;

  before(async () => {
    const { kernel, initrd } = guestArtifacts();
    stack = new TestStack(`lvt-e2e-ge-${process.pid}-`, (prefix) => program(prefix, kernel, initrd));
    await stack.init();
  });

  after(async () => {
    const problems = await stack?.cleanup();
    assert.deepEqual(problems ?? [], []);
  });

  it("never prints secret args, env or input of a failing GuestExec, and keeps them ciphertext in the state", async () => {
    const { kernel, initrd } = guestArtifacts();
    stack.write(program(stack.prefix, kernel, initrd) + SECRET_EXECS);
    const up = await stack.pulumi(["up", "--yes", "--skip-preview"]);
    stack.write(program(stack.prefix, kernel, initrd));
    const printed = up.stdout + up.stderr;
    assert.notEqual(up.code, 0, `the failing command fails the up\n${printed}`);
    assert.match(printed, /exited with 3, expected 0/, printed);
    assert.match(printed, /\[secret\]/, "secret values are shown as [secret]");
    for (const token of TOKENS) assert.ok(!printed.includes(token), `${token} was printed:\n${printed}`);
    const plain = JSON.parse((await stack.ok(["stack", "export", "--show-secrets"])).stdout);
    const ran = plain.deployment.resources.find((r: any) => r.urn.endsWith("::sealed"));
    assert.equal(JSON.parse(ran?.outputs?.stdout?.plaintext ?? "null"), "sealed ok\n", "the command with secret args and env ran");
    const state = (await stack.ok(["stack", "export"])).stdout;
    for (const token of TOKENS) assert.ok(!state.includes(token), `${token} is in the state in plaintext`);
    for (const file of filesUnder(stack.file("backend"))) {
      const text = fs.readFileSync(file, "utf8");
      for (const token of TOKENS) assert.ok(!text.includes(token), `${token} is in ${file} in plaintext`);
    }
    const sealed = JSON.parse(state).deployment.resources.find((r: any) => r.urn.endsWith("::sealed"));
    for (const field of ["args", "env", "stdout"]) {
      assert.equal(sealed.outputs[field]?.["4dabf18193072939515e22adb298388d"], "1b47061264138c4ac30d75fd1eb44270", `${field} is a secret in the state`);
    }
  });

  it("runs the seed's uname -a and ip addr list in the guest, and keeps input and the asked-for output secret in the state", async () => {
    await stack.ok(["up", "--yes", "--skip-preview"]);
    const outputs = await stack.outputs();
    assert.match(outputs.uname, /^Linux guest /);
    assert.match(outputs.ip, /^1: lo: /);
    assert.equal(outputs.secret, "token-5f0c2e-input", "stdin reached cat and came back");
    const state = (await stack.ok(["stack", "export"])).stdout;
    assert.ok(!state.includes("token-5f0c2e-input"), "the secret input and output are not in the state in plaintext");
    assert.match(state, /"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"/, "secret values are stored as Pulumi secrets");
    assert.ok(state.includes("Linux guest"), "outputs not asked to be secret stay readable");
    assert.ok(fs.existsSync(path.join(stack.dir, "backend")));
  });
});
