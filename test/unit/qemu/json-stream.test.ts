// QEMU's JSON stream split into messages, and socket addresses in QEMU's notation.
import { strict as assert } from "node:assert";
import { JsonStreamDecoder, JsonStreamError } from "../../../provider/src/wire/json-stream";
import { parseSocketAddress, SocketAddressError } from "../../../provider/src/qemu/address";

describe("QEMU JSON stream", () => {
  it("splits messages at newlines, whatever the chunking, and keeps a partial one for later", () => {
    const text = '{"QMP": {"version": {}}}\r\n{"return": {}, "id": "a"}\r\n{"event": "DEVICE_DELETED", "data": {"device": "x"}}\r\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const d = new JsonStreamDecoder();
      const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      assert.equal(got.length, 3, `cut at ${cut}`);
    }
  });

  it("drops what came before the agent's 0xFF delimiter (a reply to someone else)", () => {
    const d = new JsonStreamDecoder();
    let delimiters = 0;
    const got = d.push(Buffer.concat([Buffer.from('{"return": {"stale": tr'), Buffer.from([0xff]), Buffer.from('{"return": 42}\n')]), () => delimiters++);
    assert.deepEqual(got, [{ return: 42 }]);
    assert.equal(delimiters, 1);
  });

  it("a line that is not JSON is an error on the stream, not a crash", () => {
    assert.throws(() => new JsonStreamDecoder().push(Buffer.from("{oops\n")), JsonStreamError);
  });
});

describe("QEMU socket addresses", () => {
  it("reads the seeds' notations", () => {
    assert.deepEqual(parseSocketAddress("unix:/opt/qmp.socket"), { kind: "unix", path: "/opt/qmp.socket", text: "unix:/opt/qmp.socket" });
    assert.deepEqual(parseSocketAddress("tcp:127.0.0.1:4444"), { kind: "tcp", host: "127.0.0.1", port: 4444, text: "tcp:127.0.0.1:4444" });
    assert.equal((parseSocketAddress("tcp:[::1]:4444") as { host: string }).host, "::1");
  });

  for (const bad of ["unix:relative/path", "unix:/a/../etc/x", "unix:/x,server=on", "unix:/x\n", "tcp:127.0.0.1", "tcp:-oProxyCommand=x:22", "tcp:h;rm -rf /:1", "tcp:host:99999", "/run/qmp", "ssh:host:1", ""]) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseSocketAddress(bad), SocketAddressError));
  }
});
