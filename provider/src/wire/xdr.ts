// XDR (RFC 4506) as libvirt's RPC uses it: big-endian, every item padded to 4 bytes.
// A codec with no socket code: writers build payloads, readers walk them.

export class XdrDecodeError extends Error {}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

export class XdrWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  int(v: number): this {
    this.reserve(4);
    this.buf.writeInt32BE(v, this.len);
    this.len += 4;
    return this;
  }

  uint(v: number): this {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  hyper(v: bigint): this {
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.len);
    this.len += 8;
    return this;
  }

  uhyper(v: bigint): this {
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.len);
    this.len += 8;
    return this;
  }

  /** Fixed-length opaque: no length prefix (libvirt's uuid is opaque[16]). */
  fixedOpaque(bytes: Uint8Array, size: number): this {
    if (bytes.length !== size) throw new RangeError(`fixed opaque needs ${size} bytes, got ${bytes.length}`);
    this.reserve(size + pad4(size));
    this.buf.set(bytes, this.len);
    this.len += size;
    this.zeroPad(pad4(size));
    return this;
  }

  opaque(bytes: Uint8Array): this {
    this.uint(bytes.length);
    this.reserve(bytes.length + pad4(bytes.length));
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    this.zeroPad(pad4(bytes.length));
    return this;
  }

  string(s: string): this {
    return this.opaque(Buffer.from(s, "utf8"));
  }

  /** XDR optional (`type *name`): a bool flag, then the value when present. */
  optional<T>(v: T | null | undefined, write: (w: this, v: T) => void): this {
    if (v === null || v === undefined) return this.bool(false);
    this.bool(true);
    write(this, v);
    return this;
  }

  /** Writes a struct through its encoder, keeping calls chainable. */
  put<T>(write: (w: XdrWriter, v: T) => void, v: T): this {
    write(this, v);
    return this;
  }

  array<T>(items: readonly T[], write: (w: this, v: T) => void): this {
    this.uint(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  private zeroPad(n: number): void {
    for (let i = 0; i < n; i++) this.buf[this.len++] = 0;
  }

  get length(): number {
    return this.len;
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer, private readonly maxItemBytes = 32 * 1024 * 1024) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new XdrDecodeError(`XDR underrun: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`);
    }
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrDecodeError(`XDR bool must be 0 or 1, got ${v} at offset ${this.pos - 4}`);
    return v === 1;
  }

  hyper(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  fixedOpaque(size: number): Buffer {
    this.need(size + pad4(size));
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + size));
    this.pos += size + pad4(size);
    return out;
  }

  opaque(): Buffer {
    const n = this.uint();
    if (n > this.maxItemBytes) throw new XdrDecodeError(`XDR item of ${n} bytes exceeds the limit of ${this.maxItemBytes}`);
    return this.fixedOpaque(n);
  }

  string(): string {
    return this.opaque().toString("utf8");
  }

  optional<T>(read: (r: this) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  array<T>(read: (r: this) => T, maxItems = 1 << 20): T[] {
    const n = this.uint();
    if (n > maxItems) throw new XdrDecodeError(`XDR array of ${n} items exceeds the limit of ${maxItems}`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(read(this));
    return out;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }
}
