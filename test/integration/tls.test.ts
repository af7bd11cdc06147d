// qemu+tls:// against libvirtd's own TLS listener on loopback, which scripts/setup-host.sh configures with a test
// CA, a server certificate for localhost/127.0.0.1 and a client certificate (the URI it wrote names them). Where
// setup-host did not start the daemon (someone else's libvirtd), there is no such listener and these tests skip.
// That daemon listens inside its own network namespace, so the client runs there (test/support/in-netns.ts).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DomainState } from "../../provider/src/libvirt";
import { bareDomainXml, removeDomain, uniqueName, virsh } from "../support/host";
import { inDaemonNetns } from "../support/in-netns";
import type { answersInFlight, ConnectOutcome } from "../support/remote";
import { skipMissing } from "../support/skip";

const HOST = require.resolve("../support/host");
const REMOTE = require.resolve("../support/remote");
const connectOutcome = (uri: string) => inDaemonNetns<ConnectOutcome>(REMOTE, "connectOutcome", uri);

const TLS_URI_FILE = "/var/lib/pulumi-libvirt-live/tls-uri";

/** A CA of our own and a client certificate it signed: neither the daemon nor our client trusts them. */
function strangerPki(dir: string): void {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stranger CA", "-keyout", path.join(dir, "cakey.pem"), "-out", path.join(dir, "cacert.pem"));
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=stranger", "-keyout", path.join(dir, "clientkey.pem"), "-out", path.join(dir, "client.csr"));
  openssl("x509", "-req", "-in", path.join(dir, "client.csr"), "-CA", path.join(dir, "cacert.pem"), "-CAkey", path.join(dir, "cakey.pem"), "-CAcreateserial", "-days", "1", "-out", path.join(dir, "clientcert.pem"));
}

describe("tls transport (qemu+tls) against libvirtd's loopback TLS listener", function () {
  this.timeout(60_000);
  const uri = fs.existsSync(TLS_URI_FILE) ? fs.readFileSync(TLS_URI_FILE, "utf8").trim() : "";
  const pki = uri ? new URLSearchParams(uri.split("?")[1]).get("pkipath")! : "";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-tls-"));
  const name = uniqueName("tls");
  const withPki = (folder: string, extra = "") => `qemu+tls://localhost:${new URL(uri.replace(/^qemu\+tls/, "http")).port}/system?pkipath=${folder}${extra}`;

  before(function () {
    if (!uri) {
      skipMissing(this, `${TLS_URI_FILE} (this libvirtd was not started by scripts/setup-host.sh, so its TLS listener is unknown)`);
    }
    virsh("define", writeTemp("dom.xml", bareDomainXml(name)));
  });

  after(() => {
    removeDomain(name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function writeTemp(file: string, text: string): string {
    fs.writeFileSync(path.join(dir, file), text);
    return path.join(dir, file);
  }

  /** A pki folder mixing our files with the stranger's. */
  function mixedPki(folder: string, from: { ca: string; client: string }): string {
    const out = path.join(dir, folder);
    fs.mkdirSync(out, { recursive: true });
    fs.copyFileSync(path.join(from.ca, "cacert.pem"), path.join(out, "cacert.pem"));
    for (const file of ["clientcert.pem", "clientkey.pem"]) fs.copyFileSync(path.join(from.client, file), path.join(out, file));
    return out;
  }

  it("speaks RPC over the TLS session and reads what virsh reads", async () => {
    await inDaemonNetns(HOST, "assertReadsWhatVirshReads", uri, {}, name);
  });

  it("answers many calls in flight at once without waiting for the daemon's next keepalive", async () => {
    // libvirtd 9.0 leaves all but the first message of a TLS record in its buffer until other bytes arrive
    // (its keepalive, whose first ping comes 5 s after the connection negotiated it); one record per message
    // avoids that. So the batch is sent right after connecting and must be answered before that first ping
    // (under 4.5 s; a healthy batch takes well under 1 s). Each call's own deadline is generous (20 s), and a
    // slow batch is tried once more on a new connection: a load spike does not repeat itself, the stall always
    // does. The answers are checked one by one.
    const batch = () => inDaemonNetns<Awaited<ReturnType<typeof answersInFlight>>>(REMOTE, "answersInFlight", uri, name, 200);
    let run = await batch();
    if (run.elapsed >= 4_500) run = await batch();
    assert.ok(run.elapsed < 4_500, `200 calls took ${run.elapsed} ms after the connection, twice: a stall until the daemon's keepalive ping`);
    assert.match(run.version, /^\d+\.\d+\.\d+$/);
    const expectedState = ({ "shut off": DomainState.Shutoff, running: DomainState.Running } as Record<string, number>)[virsh("domstate", name).trim()];
    assert.ok(expectedState !== undefined, `unexpected state of ${name}: ${virsh("domstate", name)}`);
    run.answers.forEach((answer, i) => {
      if (i % 2) assert.equal((answer as { state: number }).state, expectedState, `call ${i}: ${JSON.stringify(answer)}`);
      else assert.equal(answer, run.version, `call ${i}`);
    });
  });

  it("creates, changes and deletes resources through a qemu+tls:// uri (Volume grown, Cdrom media swapped)", async () => {
    await inDaemonNetns(REMOTE, "resourceRoundTrip", uri, name, dir);
  });

  describe("refusals", () => {
    const stranger = path.join(dir, "stranger");
    before(() => {
      fs.mkdirSync(stranger, { recursive: true });
      strangerPki(stranger);
    });

    it("refuses a server whose certificate our CA did not sign; no_verify=1 skips only that check", async () => {
      const wrongCa = mixedPki("wrong-ca", { ca: stranger, client: pki });
      const refused = await connectOutcome(withPki(wrongCa));
      assert.ok(!refused.connected && refused.dialError, JSON.stringify(refused));
      // Our side refused the server: Node's verification error, not the daemon turning us away.
      assert.match(refused.message, /^cannot connect to libvirt at tls:localhost:\d+: unable to verify the first certificate$/);
      assert.equal(refused.causeCode, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
      assert.deepEqual(await connectOutcome(withPki(wrongCa, "&no_verify=1")), { connected: true });
    });

    it("is turned away, with a message saying so, when the daemon does not accept our client certificate", async () => {
      const wrongClient = mixedPki("wrong-client", { ca: pki, client: stranger });
      const refused = await connectOutcome(withPki(wrongClient));
      assert.ok(!refused.connected && refused.dialError, JSON.stringify(refused));
      // The handshake passed on our side (we trust the daemon's CA); libvirtd then closed instead of its verdict byte.
      assert.match(
        refused.message,
        /^cannot connect to libvirt at tls:localhost:\d+: the server (closed the connection after the TLS handshake: it refused our certificate or address|refused our certificate or address \(verdict byte \d+\))$/,
      );
    });

    it("names the missing file and the pkipath fix when the client certificate is absent", async () => {
      const empty = path.join(dir, "empty");
      fs.mkdirSync(empty, { recursive: true });
      const refused = await connectOutcome(withPki(empty));
      assert.ok(!refused.connected && refused.dialError, JSON.stringify(refused));
      assert.match(refused.message, new RegExp(`${empty}/cacert\\.pem`));
      assert.match(refused.message, /pkipath=DIR/);
    });
  });
});
