// qemu+ssh:// against this machine's own sshd, started by the test on loopback with its own keys and config:
// key-only, 127.0.0.1 only, ended by pid afterwards. The user's ssh setup is never read or changed.
import { strict as assert } from "node:assert";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LibvirtClient } from "../../provider/src/libvirt";
import { assertReadsWhatVirshReads, bareDomainXml, removeDomain, uniqueName, virsh } from "../support/host";
import { resourceRoundTrip } from "../support/remote";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitForPort(port: number, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
}

describe("ssh transport (qemu+ssh) against a loopback sshd", function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-ssh-"));
  const name = uniqueName("ssh");
  let sshd: ChildProcess | undefined;
  let port = 0;

  before(async () => {
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host_key")]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "id")]);
    fs.copyFileSync(path.join(dir, "id.pub"), path.join(dir, "authorized_keys"));
    port = await freePort();
    fs.writeFileSync(
      path.join(dir, "sshd_config"),
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${path.join(dir, "host_key")}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",
        `PidFile ${path.join(dir, "sshd.pid")}`,
      ].join("\n") + "\n",
    );
    const hostKey = fs.readFileSync(path.join(dir, "host_key.pub"), "utf8").trim();
    fs.writeFileSync(path.join(dir, "known_hosts"), `[127.0.0.1]:${port} ${hostKey}\n`);
    sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
    await waitForPort(port, 10_000);
    virsh("define", writeTemp("dom.xml", bareDomainXml(name)));
  });

  function writeTemp(file: string, text: string): string {
    fs.writeFileSync(path.join(dir, file), text);
    return path.join(dir, file);
  }

  after(() => {
    if (sshd?.pid) process.kill(sshd.pid, "SIGTERM");
    removeDomain(name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const uri = () => `qemu+ssh://root@127.0.0.1:${port}/system?keyfile=${path.join(dir, "id")}`;
  const options = () => ({ sshOptions: [`UserKnownHostsFile=${path.join(dir, "known_hosts")}`, "StrictHostKeyChecking=yes"] });

  it("speaks RPC through ssh's stdio and reads what virsh reads", async () => {
    await assertReadsWhatVirshReads(uri(), options(), name);
  });

  it("creates, changes and deletes resources through a qemu+ssh:// uri (Volume grown, Cdrom media swapped)", async () => {
    // Resources take only a uri: no_verify=1 is how a program skips the host key check (this sshd is the test's own).
    await resourceRoundTrip(`${uri()}&no_verify=1`, name, dir);
  });

  it("refuses a host whose key is not the known one, saying why", async () => {
    fs.writeFileSync(path.join(dir, "wrong_known_hosts"), `[127.0.0.1]:${port} ${fs.readFileSync(path.join(dir, "id.pub"), "utf8")}`);
    await assert.rejects(
      LibvirtClient.connect(uri(), {
        sshOptions: [`UserKnownHostsFile=${path.join(dir, "wrong_known_hosts")}`, "StrictHostKeyChecking=yes"],
      }),
      /ssh:root@127\.0\.0\.1.*(host key|HOST IDENTIFICATION)/is,
    );
  });
});
