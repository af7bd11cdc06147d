// libvirt RPC framing: u32 total length (counting itself), a 24-byte header, then the XDR payload.

export const HEADER_BYTES = 24;
export const LENGTH_BYTES = 4;
/** libvirt's VIR_NET_MESSAGE_MAX (32 MiB of payload) plus the length word and header. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024 + LENGTH_BYTES + HEADER_BYTES;

export enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

export enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export interface Header {
  program: number;
  version: number;
  procedure: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export interface Frame {
  header: Header;
  payload: Buffer;
}

export class FrameError extends Error {}

export function encodeFrame(header: Header, payload: Uint8Array): Buffer {
  const total = LENGTH_BYTES + HEADER_BYTES + payload.length;
  if (total > MAX_FRAME_BYTES) throw new FrameError(`message of ${total} bytes exceeds libvirt's limit of ${MAX_FRAME_BYTES}`);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(header.program >>> 0, 4);
  out.writeUInt32BE(header.version >>> 0, 8);
  out.writeInt32BE(header.procedure, 12);
  out.writeInt32BE(header.type, 16);
  out.writeUInt32BE(header.serial >>> 0, 20);
  out.writeInt32BE(header.status, 24);
  out.set(payload, 28);
  return out;
}

function decodeHeader(buf: Buffer, at: number): Header {
  return {
    program: buf.readUInt32BE(at),
    version: buf.readUInt32BE(at + 4),
    procedure: buf.readInt32BE(at + 8),
    type: buf.readInt32BE(at + 12),
    serial: buf.readUInt32BE(at + 16),
    status: buf.readInt32BE(at + 20),
  };
}

/**
 * Turns a byte stream cut anywhere into whole frames. Keeps at most one partial frame; rejects a length word
 * that is too small to hold a header or larger than libvirt ever sends, since either means the stream is lost.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.buffered >= LENGTH_BYTES) {
      const head = this.peek(LENGTH_BYTES);
      const total = head.readUInt32BE(0);
      if (total < LENGTH_BYTES + HEADER_BYTES) throw new FrameError(`frame length ${total} is shorter than a header`);
      if (total > MAX_FRAME_BYTES) throw new FrameError(`frame length ${total} exceeds libvirt's limit of ${MAX_FRAME_BYTES}`);
      if (this.buffered < total) break;
      const whole = this.take(total);
      frames.push({ header: decodeHeader(whole, LENGTH_BYTES), payload: whole.subarray(LENGTH_BYTES + HEADER_BYTES) });
    }
    return frames;
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const frame = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return frame;
  }
}
