import { strict as assert } from "node:assert";
import { parseLibvirtUri, UriError } from "../../../provider/src/wire/dial";
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

describe("libvirt URIs with percent-escapes", () => {
  it("decodes the user (j%2Edoe is j.doe)", () => {
    assert.equal(parseLibvirtUri("qemu+ssh://j%2Edoe@h/system").user, "j.doe");
  });

  it("refuses a malformed escape with a UriError naming it, never a bare URIError", () => {
    for (const [uri, escape] of [["qemu+ssh://%zz@h/system", "%zz"], ["qemu+ssh://a%@h/system", "%"], ["qemu+ssh://h/system?keyfile=%", "%"]]) {
      assert.throws(
        () => parseLibvirtUri(uri),
        (e: unknown) => e instanceof UriError && !(e instanceof URIError) && e.message.includes(`malformed percent-escape "${escape}"`),
        uri,
      );
    }
  });

  it("never hands ssh a user or host with control characters, quotes or shell metacharacters", () => {
    const hostile = ["a%0Ab", "a%00", "a%27b", "a%22b", "a%60id%60", "x%3Bid", "x%7Cid", "x%24(id)", "x%26", "a%20b", "-oProxyCommand%3Dx"];
    for (const user of hostile) assert.throws(() => parseLibvirtUri(`qemu+ssh://${user}@h/system`), UriError, user);
    for (const host of ["h%3Bid", "h%0A", "-oProxyCommand", "h%27"]) assert.throws(() => parseLibvirtUri(`qemu+ssh://${host}/system`), UriError, host);
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
