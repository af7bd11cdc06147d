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

export class RpcConnection {
  private nextSerial = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly decoder = new FrameDecoder();
  private ended = false;
  private endError: Error | undefined;
  private messageListener: (frame: Frame) => void = () => undefined;
  private readonly closeListeners: Array<(error?: Error) => void> = [];

  constructor(private readonly transport: Transport) {
    transport.onData((chunk) => this.receive(chunk));
    transport.onClose((error) => this.end(error));
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
        reject(new CallTimeoutError(this.target, options.name, options.timeoutMs));
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

  private receive(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      // A broken frame means every later byte is misaligned: the stream cannot be trusted any more.
      this.transport.close();
      this.end(error as Error);
      return;
    }
    for (const frame of frames) this.dispatch(frame);
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
    if (this.ended) return;
    this.transport.send(
      encodeFrame(
        {
          program: Program.Keepalive,
          version: PROTOCOL_VERSION,
          procedure: KeepaliveProc.Pong,
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
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new ConnectionLostError(this.target, call.name, error));
    }
    this.pending.clear();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}
