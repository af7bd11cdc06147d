import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { isQemuUnreachable, QmpClient } from "../../../provider/src/qemu";

// A QEMU that is gone means its devices are gone (refresh reads them as such, delete has nothing to do); a QEMU whose
// link broke mid-talk may still hold them. The two errors must be told apart.
describe("QEMU sockets: gone or broken", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-unreach-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("nothing listening at the address is unreachable", async () => {
    const client = new QmpClient(`unix:${path.join(dir, "none.qmp")}`, { dialTimeoutMs: 1_000 });
    const error = await client.execute({ execute: "query-status" }).then(() => null, (e: unknown) => e);
    await client.close();
    assert.ok(error, "the call fails");
    assert.equal(isQemuUnreachable(error), true, String(error));
  });

  it("a peer that answers and then hangs up is not", async () => {
    const socketPath = path.join(dir, "hangup.qmp");
    const server = net.createServer((s) => s.end("garbage that is not a QMP greeting\n"));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const client = new QmpClient(`unix:${socketPath}`, { dialTimeoutMs: 1_000, callTimeoutMs: 2_000 });
      const error = await client.execute({ execute: "query-status" }).then(() => null, (e: unknown) => e);
      await client.close();
      assert.ok(error, "the call fails");
      assert.equal(isQemuUnreachable(error), false, String(error));
    } finally {
      server.close();
    }
  });
});
