// qemu+tcp:// against libvirtd's plain TCP listener on loopback (listen_tcp, auth_tcp = "none"), which only
// scripts/setup-host.sh can configure. Where nothing listens on 127.0.0.1:16509 these tests skip, naming that.
// That daemon listens inside its own network namespace, so the client runs there (test/support/in-netns.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bareDomainXml, removeDomain, uniqueName, virsh } from "../support/host";
import { inDaemonNetns } from "../support/in-netns";
import { skipMissing } from "../support/skip";

const PORT = 16509;
const HOST = require.resolve("../support/host");
const REMOTE = require.resolve("../support/remote");

describe("tcp transport (qemu+tcp) against libvirtd's loopback TCP listener", function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-tcp-"));
  const name = uniqueName("tcp");
  const uri = `qemu+tcp://127.0.0.1:${PORT}/system`;

  before(async function () {
    if (!(await inDaemonNetns<boolean>(REMOTE, "listening", PORT))) {
      skipMissing(this, `a libvirtd TCP listener on 127.0.0.1:${PORT} (scripts/setup-host.sh adds one to the daemon it starts)`);
    }
    fs.writeFileSync(path.join(dir, "dom.xml"), bareDomainXml(name));
    virsh("define", path.join(dir, "dom.xml"));
  });

  after(() => {
    removeDomain(name);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("speaks RPC over plain TCP and reads what virsh reads", async () => {
    await inDaemonNetns(HOST, "assertReadsWhatVirshReads", uri, {}, name);
  });

  it("creates, changes and deletes resources through a qemu+tcp:// uri (Volume grown, Cdrom media swapped)", async () => {
    await inDaemonNetns(REMOTE, "resourceRoundTrip", uri, name, dir);
  });
});
