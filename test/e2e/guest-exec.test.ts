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
