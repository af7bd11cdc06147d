import { strict as assert } from "node:assert";
import { XdrDecodeError, XdrReader, XdrWriter } from "../../../provider/src/wire/xdr";

describe("XDR codec", () => {
  it("round-trips every primitive libvirt uses, big-endian and 4-byte aligned", () => {
    const w = new XdrWriter(4)
      .int(-1)
      .uint(0xffffffff)
      .bool(true)
      .hyper(-(2n ** 63n))
      .uhyper(2n ** 64n - 1n)
      .string("é<a>")
      .opaque(Buffer.from([1, 2, 3]))
      .fixedOpaque(Buffer.alloc(16, 0xab), 16)
      .optional<string>(null, (x, v) => x.string(v))
      .optional("yes", (x, v) => x.string(v))
      .array([3, 4, 5], (x, v) => x.int(v));
    const bytes = w.bytes();
    assert.equal(bytes.length % 4, 0);
    const r = new XdrReader(bytes);
    assert.equal(r.int(), -1);
    assert.equal(r.uint(), 0xffffffff);
    assert.equal(r.bool(), true);
    assert.equal(r.hyper(), -(2n ** 63n));
    assert.equal(r.uhyper(), 2n ** 64n - 1n);
    assert.equal(r.string(), "é<a>");
    assert.deepEqual([...r.opaque()], [1, 2, 3]);
    assert.deepEqual(r.fixedOpaque(16), Buffer.alloc(16, 0xab));
    assert.equal(r.optional((x) => x.string()), null);
    assert.equal(r.optional((x) => x.string()), "yes");
    assert.deepEqual(r.array((x) => x.int()), [3, 4, 5]);
    assert.equal(r.remaining, 0);
  });

  it("encodes a string exactly as RFC 4506 says: length, bytes, zero padding", () => {
    assert.deepEqual([...new XdrWriter().string("abcde").bytes()], [0, 0, 0, 5, 97, 98, 99, 100, 101, 0, 0, 0]);
    assert.deepEqual([...new XdrWriter().string("").bytes()], [0, 0, 0, 0]);
  });

  it("encodes a uuid as 16 raw bytes with no length word", () => {
    assert.equal(new XdrWriter().fixedOpaque(Buffer.alloc(16), 16).length, 16);
    assert.throws(() => new XdrWriter().fixedOpaque(Buffer.alloc(15), 16), /16 bytes/);
  });

  it("rejects truncated input instead of reading past the end", () => {
    const bytes = new XdrWriter().string("hello").bytes().subarray(0, 6);
    assert.throws(() => new XdrReader(bytes).string(), XdrDecodeError);
    assert.throws(() => new XdrReader(Buffer.alloc(2)).int(), /underrun/);
  });

  it("rejects a length word larger than the limit before allocating", () => {
    const bytes = new XdrWriter().uint(0x7fffffff).bytes();
    assert.throws(() => new XdrReader(bytes, 1024).opaque(), /exceeds the limit/);
    assert.throws(() => new XdrReader(new XdrWriter().uint(10).bytes()).array((x) => x.int(), 5), /exceeds the limit/);
  });

  it("rejects a bool that is neither 0 nor 1", () => {
    assert.throws(() => new XdrReader(new XdrWriter().int(2).bytes()).bool(), /0 or 1/);
  });

  it("grows its buffer across many writes", () => {
    const w = new XdrWriter(8);
    for (let i = 0; i < 10_000; i++) w.uint(i);
    const r = new XdrReader(w.bytes());
    for (let i = 0; i < 10_000; i++) assert.equal(r.uint(), i);
  });
});
