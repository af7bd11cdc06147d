// What the RPC layer needs from a byte pipe: send, receive, close, and to hear when it ends.
// Each dialer (unix, tcp, ssh, tls) returns one of these, so the client never knows which it has.

export interface Transport {
  /** A short human description for error messages, e.g. "unix:/var/run/libvirt/libvirt-sock". */
  readonly description: string;
  send(bytes: Buffer): void;
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once when the pipe ends; `error` is set when it ended abnormally. */
  onClose(listener: (error?: Error) => void): void;
  close(): void;
}

export class DialError extends Error {
  constructor(readonly target: string, message: string, cause?: unknown) {
    super(`cannot connect to libvirt at ${target}: ${message}`, { cause });
    this.name = "DialError";
  }
}
