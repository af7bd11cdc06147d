// A tiny stand-in for libvirtd on a unix socket: enough of the handshake for LibvirtClient, keepalive answers,
// and hooks a test uses to misbehave (send a broken frame, swallow a call, go silent). Framing-layer tests only.
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { KeepaliveProc, Program, RemoteProc } from "../../../provider/src/libvirt/protocol";
import { encodeFrame, Frame, FrameDecoder, MessageStatus, MessageType } from "../../../provider/src/wire/framing";
import { XdrWriter } from "../../../provider/src/wire/xdr";

export interface FakePeer {
  socket: net.Socket;
  send(bytes: Buffer): void;
  reply(call: Frame, payload: Uint8Array): void;
}

export interface FakeDaemonHooks {
  /** Return true when the call was handled (or deliberately swallowed); false for the default answer. */
  onCall?: (call: Frame, peer: FakePeer) => boolean;
  /** When true, nothing at all is answered: not calls, not keepalive pings. */
  silent?: boolean;
}

export class FakeDaemon {
  readonly socketPath: string;
  readonly peers: FakePeer[] = [];
  /** Keepalive pings the daemon received. */
  pings = 0;
  private readonly server: net.Server;
  private readonly dir: string | undefined;

  /** `socketPath`: listen where another (stopped) FakeDaemon listened, as a restarted daemon does. */
  constructor(readonly hooks: FakeDaemonHooks = {}, socketPath?: string) {
    this.dir = socketPath ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "fake-libvirtd-"));
    this.socketPath = socketPath ?? path.join(this.dir!, "sock");
    this.server = net.createServer((socket) => this.accept(socket));
  }

  get uri(): string {
    return `qemu+unix:///system?socket=${this.socketPath}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops listening and drops every connection, keeping the directory for a successor. */
  async stop(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Connections the daemon has seen closed from the other side or by itself. */
  get openPeers(): number {
    return this.peers.filter((p) => !p.socket.destroyed).length;
  }

  private accept(socket: net.Socket): void {
    const decoder = new FrameDecoder();
    const peer: FakePeer = {
      socket,
      send: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      reply: (call, payload) =>
        peer.send(encodeFrame({ ...call.header, type: MessageType.Reply, status: MessageStatus.Ok }, payload)),
    };
    this.peers.push(peer);
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      if (this.hooks.silent) return;
      for (const frame of decoder.push(chunk)) this.handle(frame, peer);
    });
  }

  private handle(frame: Frame, peer: FakePeer): void {
    const { header } = frame;
    if (header.program === Program.Keepalive) {
      if (header.procedure === KeepaliveProc.Ping) {
        this.pings++;
        peer.send(encodeFrame({ ...header, procedure: KeepaliveProc.Pong }, Buffer.alloc(0)));
      }
      return;
    }
    if (header.type !== MessageType.Call) return;
    if (this.hooks.onCall?.(frame, peer)) return;
    peer.reply(frame, defaultAnswer(header.procedure));
  }
}

let nextCallbackId = 100;

function defaultAnswer(procedure: number): Uint8Array {
  switch (procedure) {
    case RemoteProc.AuthList:
      return new XdrWriter().uint(0).bytes(); // no auth needed
    case RemoteProc.ConnectSupportsFeature:
      return new XdrWriter().int(1).bytes();
    case RemoteProc.ConnectGetLibVersion:
      return new XdrWriter().uhyper(9_000_000n).bytes();
    case RemoteProc.ConnectDomainEventCallbackRegisterAny:
      return new XdrWriter().int(nextCallbackId++).bytes();
    default:
      return new Uint8Array(0);
  }
}

/** A MESSAGE frame of the remote program: an event whose payload is whatever the test gives. */
export function eventFrame(procedure: number, payload: Uint8Array): Buffer {
  return encodeFrame(
    { program: Program.Remote, version: 1, procedure, type: MessageType.Message, serial: 1, status: MessageStatus.Ok },
    payload,
  );
}
