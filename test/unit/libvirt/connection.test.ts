// RpcConnection over an in-memory pipe: the daemon's side of each exchange is written by hand, byte for byte.
import { strict as assert } from "node:assert";
import { ConnectionLostError, ErrorCode, LibvirtError } from "../../../provider/src/libvirt/errors";
import { RpcConnection } from "../../../provider/src/libvirt/connection";
import { KeepaliveProc, Program } from "../../../provider/src/libvirt/protocol";
import { encodeFrame, FrameDecoder, MessageStatus, MessageType } from "../../../provider/src/wire/framing";
import { Transport } from "../../../provider/src/wire/transport";
import { XdrWriter } from "../../../provider/src/wire/xdr";

class Pipe implements Transport {
  readonly description = "pipe";
  readonly sent = new FrameDecoder();
  readonly frames: ReturnType<FrameDecoder["push"]> = [];
  private dataListener: (chunk: Buffer) => void = () => undefined;
  private closeListener: (error?: Error) => void = () => undefined;
  send(bytes: Buffer): void {
    this.frames.push(...this.sent.push(bytes));
  }
  onData(listener: (chunk: Buffer) => void): void {
    this.dataListener = listener;
  }
  onClose(listener: (error?: Error) => void): void {
    this.closeListener = listener;
  }
  close(): void {
    this.closeListener();
  }
  fromDaemon(bytes: Buffer): void {
    this.dataListener(bytes);
  }
}

const reply = (serial: number, status: MessageStatus, payload: Buffer) =>
  encodeFrame({ program: Program.Remote, version: 1, procedure: 157, type: MessageType.Reply, serial, status }, payload);

describe("RpcConnection", () => {
  it("answers the daemon's keepalive PING with a PONG, so long idle runs are not dropped", () => {
    const pipe = new Pipe();
    new RpcConnection(pipe);
    pipe.fromDaemon(
      encodeFrame({ program: Program.Keepalive, version: 1, procedure: KeepaliveProc.Ping, type: MessageType.Message, serial: 0, status: 0 }, Buffer.alloc(0)),
    );
    assert.equal(pipe.frames.length, 1);
    assert.equal(pipe.frames[0].header.program, Program.Keepalive);
    assert.equal(pipe.frames[0].header.procedure, KeepaliveProc.Pong);
    assert.equal(pipe.frames[0].header.type, MessageType.Message);
  });

  it("matches replies to calls by serial, in whatever order they come", async () => {
    const pipe = new Pipe();
    const conn = new RpcConnection(pipe);
    const first = conn.call(Program.Remote, 157, Buffer.alloc(0), { name: "A", timeoutMs: 1000 });
    const second = conn.call(Program.Remote, 157, Buffer.alloc(0), { name: "B", timeoutMs: 1000 });
    const [a, b] = pipe.frames.map((f) => f.header.serial);
    assert.notEqual(a, b);
    pipe.fromDaemon(Buffer.concat([reply(b, MessageStatus.Ok, Buffer.from("bbbb")), reply(a, MessageStatus.Ok, Buffer.from("aaaa"))]));
    assert.equal((await first).toString(), "aaaa");
    assert.equal((await second).toString(), "bbbb");
  });

  it("turns remote_error into a LibvirtError with libvirt's code, domain and message", async () => {
    const pipe = new Pipe();
    const conn = new RpcConnection(pipe);
    const call = conn.call(Program.Remote, 23, Buffer.alloc(0), { name: "DOMAIN_LOOKUP_BY_NAME", timeoutMs: 1000 });
    const error = new XdrWriter()
      .int(ErrorCode.NoDomain)
      .int(10)
      .optional("Domain not found: no domain with matching name 'x'", (w, v) => w.string(v))
      .int(2)
      .optional(null, () => undefined)
      .optional("x", (w, v) => w.string(v))
      .optional(null, () => undefined)
      .optional(null, () => undefined)
      .int(0)
      .int(0)
      .optional(null, () => undefined)
      .bytes();
    pipe.fromDaemon(reply(pipe.frames[0].header.serial, MessageStatus.Error, Buffer.from(error)));
    await assert.rejects(call, (e: unknown) => {
      assert.ok(e instanceof LibvirtError);
      assert.equal(e.code, ErrorCode.NoDomain);
      assert.equal(e.errorDomain, 10);
      assert.ok(e.isNotFound);
      assert.match(e.message, /no domain with matching name 'x'/);
      return true;
    });
  });

  it("fails every waiting call when a corrupt frame arrives, instead of leaving them to hang", async () => {
    const pipe = new Pipe();
    const conn = new RpcConnection(pipe);
    const call = conn.call(Program.Remote, 157, Buffer.alloc(0), { name: "GET_LIB_VERSION", timeoutMs: 60_000 });
    const bogus = Buffer.alloc(4);
    bogus.writeUInt32BE(8);
    pipe.fromDaemon(bogus);
    await assert.rejects(call, ConnectionLostError);
    assert.equal(conn.isOpen, false);
  });
});
