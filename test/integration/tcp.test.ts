// qemu+tcp:// against libvirtd's plain TCP listener on loopback (listen_tcp, auth_tcp = "none"), which only
// scripts/setup-host.sh can configure. Where nothing listens on 127.0.0.1:16509 these tests skip, naming that.
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { assertReadsWhatVirshReads, bareDomainXml, removeDomain, uniqueName, virsh } from "../support/host";
import { resourceRoundTrip } from "../support/remote";
import { skipMissing } from "../support/skip";

const PORT = 16509;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

describe("tcp transport (qemu+tcp) against libvirtd's loopback TCP listener", function () {
  this.timeout(60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-tcp-"));
  const name = uniqueName("tcp");
  const uri = `qemu+tcp://127.0.0.1:${PORT}/system`;

  before(async function () {
    if (!(await listening(PORT))) {
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
    await assertReadsWhatVirshReads(uri, {}, name);
  });

  it("creates, changes and deletes resources through a qemu+tcp:// uri (Volume grown, Cdrom media swapped)", async () => {
    await resourceRoundTrip(uri, name, dir);
  });
});
