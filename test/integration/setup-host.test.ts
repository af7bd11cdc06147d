// scripts/setup-host.sh on a host where libvirt is installed but no daemon answers, and the daemon is not the
// script's own: it must refuse and leave the host exactly as it was (the sandbox settings in the system-wide
// qemu.conf weaken every VM there), naming the settings and the opt-in. Run against scratch paths (a copy of
// qemu.conf, a socket path nobody listens on, a state dir and a "daemon" command of its own), never against
// the real daemon, which other tests use. The last suite only looks at the real daemon: which namespace it runs in.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { libvirtdIsOurs, libvirtdNetns, libvirtdPid } from "../support/libvirtd";
import { skipMissing } from "../support/skip";

const REPO = path.resolve(__dirname, "../../..");
const SCRIPT = path.join(REPO, "scripts/setup-host.sh");

describe("scripts/setup-host.sh with libvirt installed but not answering", function () {
  this.timeout(120_000);
  let tmp: string;
  let conf: string;
  let started: string;
  const original = '# a host\'s own qemu.conf\nuser = "libvirt-qemu"\nsecurity_driver = "apparmor"\ncgroup_controllers = [ "cpu",\n  "memory" ]\n';

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-setup-host-"));
    conf = path.join(tmp, "qemu.conf");
    fs.writeFileSync(conf, original, { mode: 0o600 });
    started = path.join(tmp, "daemon-started");
    fs.writeFileSync(path.join(tmp, "fake-libvirtd"), `#!/bin/sh\necho "$@" >> ${started}\n`, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function run(env: Record<string, string>, args: string[] = []) {
    return spawnSync("bash", [SCRIPT, ...args], {
      encoding: "utf8",
      env: {
        ...process.env,
        CI: "",
        SETUP_HOST_STATE_DIR: path.join(tmp, "state"),
        SETUP_HOST_SOCK: path.join(tmp, "libvirt-sock"),
        SETUP_HOST_QEMU_CONF: conf,
        SETUP_HOST_LIBVIRTD: path.join(tmp, "fake-libvirtd"),
        SETUP_HOST_LOG: path.join(tmp, "libvirtd.log"),
        SETUP_HOST_PIDFILE: path.join(tmp, "libvirtd.pid"),
        LIBVIRTD_START_TIMEOUT_S: "1",
        ...env,
      },
    });
  }

  for (const sandbox of ["", "0"]) {
    it(`refuses and changes nothing (PULUMI_LIBVIRT_LIVE_SANDBOX=${JSON.stringify(sandbox)})`, () => {
      const before = fs.statSync(conf);
      const r = run({ PULUMI_LIBVIRT_LIVE_SANDBOX: sandbox });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(fs.readFileSync(conf, "utf8"), original, "qemu.conf is byte-identical");
      assert.equal(fs.statSync(conf).mtimeMs, before.mtimeMs);
      assert.deepEqual(fs.readdirSync(tmp).sort(), ["fake-libvirtd", "qemu.conf", "state"], "no backup, no other file");
      assert.ok(!fs.existsSync(started), "no daemon was started");
      assert.ok(!fs.existsSync(path.join(tmp, "state/libvirtd-started-by-setup-host")), "not marked as ours");
      for (const setting of ['user = "root"', 'security_driver = "none"', "dynamic_ownership = 0", "cgroup_controllers = [ ]"]) {
        assert.ok(r.stderr.includes(setting), `the message names ${setting}:\n${r.stderr}`);
      }
      assert.match(r.stderr, /PULUMI_LIBVIRT_LIVE_SANDBOX=1/);
      assert.match(r.stderr, /--sandbox/);
      assert.match(r.stderr, /Nothing was changed/);
      assert.ok(r.stderr.includes(conf), "the message names the file");
    });
  }

  it("with --sandbox, writes its settings block (keeping a backup) and starts a daemon of its own", () => {
    const r = run({ PULUMI_LIBVIRT_LIVE_SANDBOX: "0" }, ["--sandbox"]);
    // The fake daemon never answers: the run ends in an error after writing the configuration.
    assert.notEqual(r.status, 0);
    const written = fs.readFileSync(conf, "utf8");
    assert.match(written, /# BEGIN pulumi-libvirt-live[\s\S]*security_driver = "none"[\s\S]*# END pulumi-libvirt-live/);
    assert.match(written, /^#security_driver = "apparmor"$/m, "the host's own assignment is commented out");
    assert.equal(fs.readFileSync(`${conf}.orig-pulumi-libvirt-live`, "utf8"), original, "the original is kept");
    assert.match(fs.readFileSync(started, "utf8"), /^-d/, "the daemon command ran");
    assert.match(r.stderr, /did not answer/);
  });
});

describe("scripts/setup-host.sh's own daemon", () => {
  it("runs in a network namespace of its own, named in the state dir, while its socket serves this namespace", function () {
    const netns = libvirtdNetns();
    const pid = libvirtdPid();
    if (netns === null || pid === null || !libvirtdIsOurs()) {
      skipMissing(this, "a libvirtd started by scripts/setup-host.sh (someone else's daemon runs in whatever namespace it has)");
    }
    assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync("/proc/self/ns/net"), "libvirtd shares the host's network namespace");
    assert.equal(fs.readlinkSync(`/proc/${pid}/ns/net`), readNetnsId(netns), `libvirtd is not in the namespace ${netns} that the state dir names`);
    assert.match(execFileSync("virsh", ["-c", "qemu:///system", "version"], { encoding: "utf8" }), /Running hypervisor/);
  });
});

/** The namespace id (net:[N]) of a named namespace, as a process inside it sees its own. */
function readNetnsId(netns: string): string {
  return execFileSync("ip", ["netns", "exec", netns, "readlink", "/proc/self/ns/net"], { encoding: "utf8" }).trim();
}
