import { strict as assert } from "node:assert";
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  Header,
  MAX_FRAME_BYTES,
  MessageStatus,
  MessageType,
} from "../../../provider/src/wire/framing";

const header = (serial: number): Header => ({
  program: 0x20008086,
  version: 1,
  procedure: 14,
  type: MessageType.Reply,
  serial,
  status: MessageStatus.Ok,
});

describe("RPC framing", () => {
  it("writes the length word (counting itself) and the 24-byte header", () => {
    const frame = encodeFrame(header(7), Buffer.from([9, 9, 9, 9]));
    assert.equal(frame.length, 32);
    assert.equal(frame.readUInt32BE(0), 32);
    assert.equal(frame.readUInt32BE(4), 0x20008086);
    assert.equal(frame.readUInt32BE(20), 7);
  });

  it("decodes frames split at every possible byte boundary", () => {
    const stream = Buffer.concat([encodeFrame(header(1), Buffer.from("abcd")), encodeFrame(header(2), Buffer.alloc(0))]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => [f.header.serial, f.payload.toString()]),
        [
          [1, "abcd"],
          [2, ""],
        ],
        `cut at ${cut}`,
      );
      assert.equal(decoder.pendingBytes, 0);
    }
  });

  it("decodes a stream fed one byte at a time", () => {
    const stream = Buffer.concat([1, 2, 3].map((s) => encodeFrame(header(s), Buffer.alloc(s * 4, s))));
    const decoder = new FrameDecoder();
    const serials: number[] = [];
    for (const byte of stream) for (const f of decoder.push(Buffer.from([byte]))) serials.push(f.header.serial);
    assert.deepEqual(serials, [1, 2, 3]);
  });

  it("keeps a partial frame until the rest arrives", () => {
    const frame = encodeFrame(header(5), Buffer.alloc(100));
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(frame.subarray(0, 50)), []);
    assert.equal(decoder.pendingBytes, 50);
    assert.equal(decoder.push(frame.subarray(50)).length, 1);
  });

  it("rejects an oversized frame from its length word alone", () => {
    const word = Buffer.alloc(4);
    word.writeUInt32BE(MAX_FRAME_BYTES + 1);
    assert.throws(() => new FrameDecoder().push(word), FrameError);
    assert.throws(() => encodeFrame(header(1), Buffer.alloc(MAX_FRAME_BYTES)), /exceeds/);
  });

  it("rejects a length word too short to hold a header", () => {
    const word = Buffer.alloc(4);
    word.writeUInt32BE(12);
    assert.throws(() => new FrameDecoder().push(word), /shorter than a header/);
  });
});
