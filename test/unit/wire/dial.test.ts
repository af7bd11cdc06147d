import { strict as assert } from "node:assert";
import { parseLibvirtUri } from "../../../provider/src/wire/dial";
import { shellQuote, sshArgs } from "../../../provider/src/wire/transports/ssh";

describe("libvirt URIs", () => {
  it("maps qemu:///system to the local socket and opens qemu:///system", () => {
    const u = parseLibvirtUri("qemu:///system");
    assert.equal(u.transport, "unix");
    assert.equal(u.remoteName, "qemu:///system");
  });

  it("reads user, host, port and params of an ssh URI, and opens only driver and path remotely", () => {
    const u = parseLibvirtUri("qemu+ssh://ops@10.0.0.5:2222/system?keyfile=/k/id&no_verify=1");
    assert.deepEqual([u.transport, u.user, u.host, u.port], ["ssh", "ops", "10.0.0.5", 2222]);
    assert.equal(u.params.get("keyfile"), "/k/id");
    assert.equal(u.remoteName, "qemu:///system");
  });

  it("takes a socket param for qemu+unix and a port for qemu+tcp", () => {
    assert.equal(parseLibvirtUri("qemu+unix:///system?socket=/tmp/s").params.get("socket"), "/tmp/s");
    const tcp = parseLibvirtUri("qemu+tcp://[::1]:16510/system");
    assert.deepEqual([tcp.transport, tcp.host, tcp.port], ["tcp", "::1", 16510]);
  });

  it("follows libvirt: a host with no transport means TLS", () => {
    assert.equal(parseLibvirtUri("qemu://host/system").transport, "tls");
  });

  it("rejects malformed URIs and unknown transports with the URI in the message", () => {
    assert.throws(() => parseLibvirtUri("system"), /"system".*qemu:\/\/\/system/);
    assert.throws(() => parseLibvirtUri("qemu+carrier://h/system"), /unknown transport "carrier"/);
    assert.throws(() => parseLibvirtUri("qemu+ssh:///system"), /needs a host/);
  });
});

describe("ssh transport command line", () => {
  it("runs virt-ssh-helper with nc as the fallback, the URI quoted for the remote shell", () => {
    const args = sshArgs({ host: "h", user: "u", port: 22, remoteUri: "qemu:///system", remoteSocket: "/run/s" });
    assert.deepEqual(args.slice(0, 5), ["-T", "-e", "none", "-o", "BatchMode=yes"]);
    const script = args[args.length - 1];
    assert.match(script, /virt-ssh-helper/);
    assert.match(script, /nc -U/);
    assert.deepEqual(args.slice(args.indexOf("--"), args.indexOf("--") + 4), ["--", "h", "sh", "-c"]);
  });

  it("asks ssh to find a dead link itself (ServerAliveInterval / ServerAliveCountMax), 5 s x 3 unless told", () => {
    const option = (args: string[], name: string) => args.find((a) => a.startsWith(`${name}=`));
    const plain = sshArgs({ host: "h", remoteUri: "qemu:///system", remoteSocket: "/run/s" });
    assert.equal(option(plain, "ServerAliveInterval"), "ServerAliveInterval=5");
    assert.equal(option(plain, "ServerAliveCountMax"), "ServerAliveCountMax=3");
    assert.equal(plain[plain.indexOf("ServerAliveInterval=5") - 1], "-o");
    const tuned = sshArgs({ host: "h", remoteUri: "qemu:///system", remoteSocket: "/run/s", serverAliveIntervalSeconds: 2, serverAliveCountMax: 4 });
    assert.equal(option(tuned, "ServerAliveInterval"), "ServerAliveInterval=2");
    assert.equal(option(tuned, "ServerAliveCountMax"), "ServerAliveCountMax=4");
    // Both come before the host: after it they would be the remote command.
    assert.ok(tuned.indexOf("ServerAliveCountMax=4") < tuned.indexOf("--"));
  });

  it("quotes single quotes so a path cannot end the word", () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
  });
});
