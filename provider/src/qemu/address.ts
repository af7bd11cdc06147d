// Where a QEMU monitor or guest agent socket is, in QEMU's own notation (the seeds' `-qmp unix:/path,server`
// and `-qmp tcp:127.0.0.1:4444,server`): "unix:/abs/path" or "tcp:host:port".

export type SocketAddress = { kind: "unix"; path: string; text: string } | { kind: "tcp"; host: string; port: number; text: string };

export class SocketAddressError extends Error {
  constructor(text: string, reason: string) {
    super(`socket address ${JSON.stringify(text)}: ${reason}`);
    this.name = "SocketAddressError";
  }
}

/** A path QEMU would take as one file name: absolute, no control characters, no ',' (QEMU's option separator). */
const SAFE_PATH = /^\/[^\u0000-\u001f\u007f,]*$/;
/** A host name or an IPv4/IPv6 literal, nothing that reads as an option. */
const SAFE_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

export function parseSocketAddress(text: string): SocketAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (!SAFE_PATH.test(path)) throw new SocketAddressError(text, "expected unix:/absolute/path (no commas or control characters)");
    if (path.split("/").includes("..")) throw new SocketAddressError(text, "the path must not contain '..'");
    return { kind: "unix", path, text };
  }
  if (text.startsWith("tcp:")) {
    const match = /^tcp:(.+):([0-9]{1,5})$/.exec(text);
    if (!match || !SAFE_HOST.test(match[1]!)) throw new SocketAddressError(text, "expected tcp:host:port, e.g. tcp:127.0.0.1:4444");
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw new SocketAddressError(text, `port ${port} is out of range`);
    return { kind: "tcp", host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port, text };
  }
  throw new SocketAddressError(text, 'expected "unix:/path" or "tcp:host:port" (QEMU\'s notation)');
}
