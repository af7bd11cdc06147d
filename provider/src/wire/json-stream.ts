// QEMU's monitor (QMP) and guest agent (QGA) speak JSON objects over a byte stream, one per line. This turns
// the stream into messages and knows nothing of what they mean (like framing.ts for libvirt's RPC).

/** The byte qemu-ga writes before its reply to guest-sync-delimited: everything before it is stale. */
export const AGENT_SYNC_DELIMITER = 0xff;

export class JsonStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonStreamError";
  }
}

/** The longest message we hold while waiting for its end (query-block on a busy machine is a few hundred KiB). */
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

export class JsonStreamDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /**
   * Feeds bytes; returns the complete messages they finish. `onDelimiter` (QGA) is told when a 0xFF byte arrives:
   * the partial message before it is dropped, since it belongs to a reply we no longer wait for.
   */
  push(chunk: Buffer, onDelimiter?: () => void): unknown[] {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const delimiter = data.lastIndexOf(AGENT_SYNC_DELIMITER);
    if (delimiter >= 0) {
      data = data.subarray(delimiter + 1);
      onDelimiter?.();
    }
    const messages: unknown[] = [];
    let start = 0;
    for (let newline = data.indexOf(0x0a, start); newline >= 0; newline = data.indexOf(0x0a, start)) {
      const line = data.subarray(start, newline).toString("utf8").trim();
      start = newline + 1;
      if (line === "") continue;
      try {
        messages.push(JSON.parse(line));
      } catch {
        throw new JsonStreamError(`not a JSON message: ${line.slice(0, 200)}`);
      }
    }
    this.pending = Buffer.from(data.subarray(start));
    if (this.pending.length > MAX_MESSAGE_BYTES) throw new JsonStreamError(`a message longer than ${MAX_MESSAGE_BYTES} bytes`);
    return messages;
  }
}

/** One message as QEMU reads it: compact JSON and a newline. */
export function encodeJsonMessage(message: object): Buffer {
  return Buffer.from(`${JSON.stringify(message)}\n`, "utf8");
}
