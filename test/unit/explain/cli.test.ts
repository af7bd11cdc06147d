import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePath, fixtureText, packageRoot } from "./fixtures";

const CLI = join(packageRoot(), "dist", "provider", "src", "cli.js");

function run(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [CLI, ...args], { input: input ?? "", encoding: "utf8", timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("pulumi-libvirt-live explain (the command, end to end)", function () {
  this.timeout(30_000);

  it("is a node script", () => {
    assert.ok(readFileSync(CLI, "utf8").startsWith("#!/usr/bin/env node\n"));
  });

  it("prints its usage for --help, at the top and after explain", () => {
    for (const args of [["--help"], ["-h"], ["explain", "--help"]]) {
      const { code, stdout } = run(args);
      assert.equal(code, 0, args.join(" "));
      assert.ok(stdout.startsWith("Usage: pulumi-libvirt-live explain [--check] [FILE]\n"), stdout);
      assert.match(stdout, /--check/);
      assert.match(stdout, /Exit codes: 0 ok; 1 /);
    }
  });

  it("prints the table for a file and exits 0", () => {
    const { code, stdout } = run(["explain", fixturePath("cdrom-scsi-media.json")]);
    assert.equal(code, 0);
    assert.match(stdout, /^\| Resource \| Kind \| Domain \| Operation \| Change \| Class \| Why \|$/m);
    assert.match(stdout, /^\| install \| Cdrom \| vm \| update \| media: .*debian-13\.iso \| live \| media change in the tray \|$/m);
  });

  it("reads stdin when no file is named, or for -", () => {
    for (const args of [["explain"], ["explain", "--check", "-"]]) {
      const { code, stdout } = run(args, fixtureText("disk-attach-running.json"));
      assert.equal(code, 0, args.join(" "));
      assert.match(stdout, /^\| data \| Disk \| vm \| create \| \(attach\) \| live \| live attach on scsi \(no restart\) \|$/m);
    }
  });

  it("--check passes a plan without restarts or replaces of running domains", () => {
    for (const name of ["disk-attach-running.json", "cdrom-scsi-media.json", "cdrom-usb-media.json", "domain-memory-next-boot.json", "non-libvirt.json"]) {
      const { code, stderr } = run(["explain", "--check", fixturePath(name)]);
      assert.equal(code, 0, `${name}: ${stderr}`);
      assert.match(stderr, /explain --check: passed/);
    }
  });

  it("--check exits 1 on a restart of a running domain, naming it on stderr, table still on stdout", () => {
    const { code, stdout, stderr } = run(["explain", "--check", fixturePath("domain-memory-restart.json")]);
    assert.equal(code, 1);
    assert.match(stdout, /\| vm \| Domain \| vm \| update \| memoryMiB: 1024 → 4096 \| restart \|/);
    assert.match(stderr, /^explain --check: Domain vm: memoryMiB → restart of a running domain/m);
  });

  it("--check exits 1 on a replace of a running domain (in any argument order)", () => {
    const { code, stderr } = run(["explain", fixturePath("domain-rename.json"), "--check"]);
    assert.equal(code, 1);
    assert.match(stderr, /Domain web: name → replace of a running domain/);
  });

  it("without --check, the same plan exits 0", () => {
    assert.equal(run(["explain", fixturePath("domain-memory-restart.json")]).code, 0);
  });

  const failures: [string, string[], string, RegExp][] = [
    ["no command", [], "", /missing command: explain/],
    ["an unknown command", ["plan"], "", /unknown command "plan"/],
    ["an unknown option", ["explain", "--strict"], "", /unknown option --strict/],
    ["two files", ["explain", "a.json", "b.json"], "", /one FILE at most, got a\.json and b\.json/],
    ["a file that is not there", ["explain", "/nonexistent/preview.json"], "", /cannot read \/nonexistent\/preview\.json: ENOENT/],
    ["text that is not JSON", ["explain"], "Previewing update (dev):\n", /unreadable JSON/],
    ["JSON that is not a preview", ["explain", "--check"], '{"resources": []}', /not pulumi preview --json output: no steps array/],
    ["empty stdin", ["explain"], "", /the input is empty/],
  ];
  for (const [what, args, input, message] of failures) {
    it(`exits 2 for ${what}, saying what was wrong`, () => {
      const { code, stdout, stderr } = run(args, input);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      assert.match(stderr, message);
    });
  }
});
