// The quickstart as a new user runs it: `bash scripts/quickstart.sh`, then, in a fresh login shell with nothing
// of the quickstart's environment (env -i bash -l), exactly the next-step lines it printed: preview, explain,
// destroy. Its own state dir, stack and names, so a real quickstart stack on this machine is not touched.
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./support/stack";

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeout = 600_000) {
  const r = spawnSync(command, args, { cwd: os.tmpdir(), env, encoding: "utf8", timeout });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe("e2e: the next steps the quickstart prints work as printed in a new shell", function () {
  this.timeout(900_000);
  const id = `lvt-qs-${process.pid}`;
  let state: string;
  let printed: string[] = [];

  before(() => {
    state = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-quickstart-"));
  });

  after(() => {
    // Whatever the test left: the stack's resources (if destroy did not run), its config file, the plan.
    const env = path.join(state, "env.sh");
    if (fs.existsSync(env)) {
      run("bash", ["-c", `. ${env} && cd ${REPO}/examples/quickstart && pulumi stack select ${id} && pulumi destroy --yes --non-interactive --skip-preview`], process.env);
    }
    fs.rmSync(path.join(REPO, `examples/quickstart/Pulumi.${id}.yaml`), { force: true });
    fs.rmSync(path.join(REPO, "examples/quickstart/plan.json"), { force: true });
    fs.rmSync(state, { recursive: true, force: true });
  });

  it("runs the quickstart and prints lines that need nothing of its environment", () => {
    const r = run("bash", [path.join(REPO, "scripts/quickstart.sh")], {
      // A subnet of its own (198.19.100.0/24), so a real quickstart stack on this machine (198.18.100) is not in the way.
      ...process.env, QUICKSTART_STATE: state, QUICKSTART_STACK: id, QUICKSTART_PREFIX: id, QUICKSTART_SUBNET: "198.19.100",
    });
    assert.equal(r.code, 0, r.out);
    // The VM got its lease from the quickstart network's DHCP before up returned (waitForAddressSeconds).
    assert.match(r.out, /The VM's address on the quickstart network: 198\.19\.100\.(1[0-9][0-9])\n/);
    const tail = r.out.slice(r.out.indexOf("Next steps"));
    printed = tail.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.slice(2));
    assert.ok(printed.length >= 4, tail);
    assert.match(printed.join("\n"), /pulumi preview[\s\S]*npx pulumi-libvirt-live explain[\s\S]*pulumi destroy --yes/);
  });

  it("in `env -i bash -l`, the printed preview, explain and destroy run as printed", () => {
    assert.ok(printed.length > 0, "the quickstart ran");
    const fresh = run("env", ["-i", "bash", "-l", "-c", "command -v pulumi || echo 'pulumi: not on PATH'"], {});
    assert.match(fresh.out, /pulumi: not on PATH/, "the new shell really starts without the quickstart's PATH");
    const script = ["set -e", ...printed].join("\n");
    const r = run("env", ["-i", "bash", "-l", "-c", script], {});
    assert.equal(r.code, 0, r.out);
    // (The machine's own ~/.bashrc may complain about its own tools; none of the printed commands may be missing.)
    assert.doesNotMatch(r.out, /\b(pulumi|npx|node|npm): command not found/);
    assert.match(r.out, /Previewing update \(/);
    assert.match(r.out, /\*\*Summary:\*\*/, "explain printed its table");
    assert.match(r.out, /deleted/, "destroy removed the stack's resources");
    const left = spawnSync("virsh", ["-q", "-c", "qemu:///system", "list", "--all", "--name"], { encoding: "utf8" }).stdout;
    assert.ok(!left.includes(id), `no domain of the test's stack is left:\n${left}`);
    const nets = spawnSync("virsh", ["-q", "-c", "qemu:///system", "net-list", "--all", "--name"], { encoding: "utf8" }).stdout;
    assert.ok(!nets.includes(id), `no network of the test's stack is left:\n${nets}`);
  });
});
