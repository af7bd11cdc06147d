// One RPC conversation over one Transport: serials, replies matched to calls, deadlines, keepalive answers,
// and unsolicited messages (events) handed to a listener. Knows procedures only by number.
import { encodeFrame, Frame, FrameDecoder, MessageStatus, MessageType } from "../wire/framing";
import { Transport } from "../wire/transport";
import { XdrReader } from "../wire/xdr";
import { CallTimeoutError, ConnectionLostError, LibvirtError } from "./errors";
import { KeepaliveProc, Program, PROTOCOL_VERSION } from "./protocol";
import { readRemoteError } from "./types";

interface PendingCall {
  name: string;
  resolve: (payload: Buffer) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface CallOptions {
  /** Used in error messages, e.g. "DOMAIN_GET_XML_DESC". */
  name: string;
  timeoutMs: number;
}

/** The stream from the daemon cannot be read any more (a broken length, a message that does not decode). */
export class ProtocolError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "ProtocolError";
  }
}

/** The peer stopped answering keepalive pings. */
export class DeadPeerError extends Error {
  constructor(intervalMs: number, count: number) {
    super(`no answer to ${count} keepalive pings sent ${intervalMs} ms apart; the peer is considered gone`);
    this.name = "DeadPeerError";
  }
}

export class RpcConnection {
  private nextSerial = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly decoder = new FrameDecoder();
  private ended = false;
  private endError: Error | undefined;
  private messageListener: (frame: Frame) => void = () => undefined;
  private readonly closeListeners: Array<(error?: Error) => void> = [];
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** Pings sent since the peer last sent anything. */
  private unansweredPings = 0;

  constructor(private readonly transport: Transport) {
    transport.onData((chunk) => this.receive(chunk));
    transport.onClose((error) => this.end(error));
  }

  /**
   * Starts our own keepalive (libvirt's keepalive program; call it once the daemon said it supports feature
   * PROGRAM_KEEPALIVE): every `intervalMs` in which nothing arrived from the peer, a PING is sent; when `count`
   * pings in a row went unanswered, the peer is gone and the connection fails. So a dead link is found within
   * about intervalMs x (count + 1), whether or not a call is waiting.
   */
  startKeepalive(intervalMs: number, count: number): void {
    if (this.ended || this.keepaliveTimer || intervalMs <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (this.unansweredPings >= count) {
        this.fail(new DeadPeerError(intervalMs, count));
        return;
      }
      this.unansweredPings++;
      this.sendKeepalive(KeepaliveProc.Ping);
    }, intervalMs);
    // An idle connection alone must not keep the process alive.
    this.keepaliveTimer.unref();
  }

  get target(): string {
    return this.transport.description;
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** Unsolicited MESSAGE frames of the REMOTE and QEMU programs: domain events. */
  onMessage(listener: (frame: Frame) => void): void {
    this.messageListener = listener;
  }

  onClose(listener: (error?: Error) => void): void {
    if (this.ended) listener(this.endError);
    else this.closeListeners.push(listener);
  }

  call(program: number, procedure: number, payload: Uint8Array, options: CallOptions): Promise<Buffer> {
    if (this.ended) return Promise.reject(new ConnectionLostError(this.target, options.name, this.endError));
    const serial = this.nextSerial;
    this.nextSerial = (this.nextSerial + 1) >>> 0 || 1;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        const error = new CallTimeoutError(this.target, options.name, options.timeoutMs);
        reject(error);
        // A daemon that let a call go unanswered this long is stuck or gone: keeping the connection would only
        // make the next call wait out its own deadline. The next call dials afresh.
        this.fail(error);
      }, options.timeoutMs);
      this.pending.set(serial, { name: options.name, resolve, reject, timer });
      this.transport.send(
        encodeFrame(
          { program, version: PROTOCOL_VERSION, procedure, type: MessageType.Call, serial, status: MessageStatus.Ok },
          payload,
        ),
      );
    });
  }

  /** Ends the conversation from our side; pending calls fail as lost. */
  shutdown(): void {
    this.transport.close();
    this.end();
  }

  /** Closes the transport and fails every waiting call with `error`. */
  private fail(error: Error): void {
    if (this.ended) return;
    this.end(error);
    this.transport.close();
  }

  // Runs in the transport's data handler: nothing may throw out of it, or the process dies.
  private receive(chunk: Buffer): void {
    if (this.ended) return;
    this.unansweredPings = 0; // any bytes at all show the peer is alive
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      // A broken frame means every later byte is misaligned: the stream cannot be trusted any more.
      this.fail(new ProtocolError(`malformed frame from the daemon: ${(error as Error).message}`, error));
      return;
    }
    for (const frame of frames) {
      if (this.ended) return;
      try {
        this.dispatch(frame);
      } catch (error) {
        // A message that does not decode (a truncated event, say): what else it sent cannot be trusted either.
        const { program, procedure, type } = frame.header;
        const what = `program 0x${program.toString(16)} procedure ${procedure} type ${type}`;
        this.fail(new ProtocolError(`malformed message from the daemon (${what}): ${(error as Error).message}`, error));
        return;
      }
    }
  }

  private dispatch(frame: Frame): void {
    const { header } = frame;
    if (header.program === Program.Keepalive) {
      if (header.procedure === KeepaliveProc.Ping) this.sendPong();
      return;
    }
    if (header.type === MessageType.Message) {
      this.messageListener(frame);
      return;
    }
    if (header.type !== MessageType.Reply) return;
    const call = this.pending.get(header.serial);
    if (!call) return; // a reply after its deadline passed
    this.pending.delete(header.serial);
    clearTimeout(call.timer);
    if (header.status === MessageStatus.Ok) {
      call.resolve(frame.payload);
    } else {
      try {
        call.reject(new LibvirtError(readRemoteError(new XdrReader(frame.payload)), call.name));
      } catch (decodeError) {
        call.reject(new Error(`${call.name} failed and its error could not be decoded: ${(decodeError as Error).message}`));
      }
    }
  }

  private sendPong(): void {
    this.sendKeepalive(KeepaliveProc.Pong);
  }

  private sendKeepalive(procedure: number): void {
    if (this.ended) return;
    this.transport.send(
      encodeFrame(
        {
          program: Program.Keepalive,
          version: PROTOCOL_VERSION,
          procedure,
          type: MessageType.Message,
          serial: 0,
          status: MessageStatus.Ok,
        },
        Buffer.alloc(0),
      ),
    );
  }

  private end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    clearInterval(this.keepaliveTimer);
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new ConnectionLostError(this.target, call.name, error));
    }
    this.pending.clear();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}
