// From a libvirt connection URI to a Transport: one dialer per transport, chosen here and nowhere else.
// URI grammar as libvirt documents it: driver[+transport]://[user@][host][:port]/path[?params].
import { Transport } from "./transport";
import { DEFAULT_SYSTEM_SOCKET, dialUnix } from "./transports/unix";
import { DEFAULT_TCP_PORT, dialTcp } from "./transports/tcp";
import { dialSsh } from "./transports/ssh";
import { DEFAULT_TLS_PORT, dialTls, tlsFiles } from "./transports/tls";

export type TransportKind = "unix" | "tcp" | "ssh" | "tls";

export interface ParsedUri {
  /** The URI as the user gave it. */
  uri: string;
  transport: TransportKind;
  user?: string;
  host?: string;
  port?: number;
  /** What the daemon is asked to open (CONNECT_OPEN): driver and path only, e.g. "qemu:///system". */
  remoteName: string;
  params: URLSearchParams;
}

export class UriError extends Error {
  constructor(uri: string, reason: string) {
    super(`libvirt URI "${uri}": ${reason}`);
  }
}

export function parseLibvirtUri(uri: string): ParsedUri {
  const match = /^([a-z][a-z0-9]*)(?:\+([a-z]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(uri);
  if (!match) throw new UriError(uri, "expected driver[+transport]://[user@][host][:port]/path, e.g. qemu:///system");
  const [, driver, explicitTransport, authority, path = "/", query = ""] = match;
  let user: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    user = decodeURIComponent(authority.slice(0, at));
    hostPort = authority.slice(at + 1);
  }
  let host: string | undefined = hostPort;
  let port: number | undefined;
  const portMatch = /^(.*):(\d+)$/.exec(hostPort);
  if (portMatch) {
    host = portMatch[1];
    port = Number(portMatch[2]);
  }
  host = host?.replace(/^\[(.*)\]$/, "$1") || undefined;
  // libvirt's rule: no transport and no host means the local socket; a host with no transport means TLS.
  const transport = (explicitTransport ?? (host ? "tls" : "unix")) as TransportKind;
  if (!["unix", "tcp", "ssh", "tls"].includes(transport)) {
    throw new UriError(uri, `unknown transport "${transport}" (use unix, tcp, ssh or tls)`);
  }
  if ((transport === "tcp" || transport === "ssh" || transport === "tls") && !host) {
    throw new UriError(uri, `the ${transport} transport needs a host, e.g. qemu+${transport}://host/system`);
  }
  return { uri, transport, user, host, port, remoteName: `${driver}://${path}`, params: new URLSearchParams(query) };
}

export interface DialOptions {
  timeoutMs: number;
  /** Extra ssh `-o` options (tests use them for their own known_hosts). */
  sshOptions?: string[];
  /** ssh's own dead-link detection (ServerAliveInterval, rounded up to whole seconds; ServerAliveCountMax). */
  keepaliveIntervalMs?: number;
  keepaliveCount?: number;
}

export function dial(parsed: ParsedUri, options: DialOptions): Promise<Transport> {
  const socketPath = parsed.params.get("socket") ?? DEFAULT_SYSTEM_SOCKET;
  switch (parsed.transport) {
    case "unix":
      return dialUnix(socketPath, options.timeoutMs);
    case "tcp":
      return dialTcp(parsed.host!, parsed.port ?? DEFAULT_TCP_PORT, options.timeoutMs);
    case "ssh":
      return dialSsh(
        {
          host: parsed.host!,
          user: parsed.user,
          port: parsed.port,
          keyfile: parsed.params.get("keyfile") ?? undefined,
          noVerify: parsed.params.get("no_verify") === "1",
          remoteUri: parsed.remoteName,
          remoteSocket: socketPath,
          sshOptions: options.sshOptions,
          serverAliveIntervalSeconds:
            options.keepaliveIntervalMs && options.keepaliveIntervalMs > 0 ? Math.ceil(options.keepaliveIntervalMs / 1000) : undefined,
          serverAliveCountMax: options.keepaliveCount,
        },
        options.timeoutMs,
      );
    case "tls":
      return dialTls(
        {
          host: parsed.host!,
          port: parsed.port ?? DEFAULT_TLS_PORT,
          files: tlsFiles(parsed.params.get("pkipath") ?? undefined),
          noVerify: parsed.params.get("no_verify") === "1",
        },
        options.timeoutMs,
      );
  }
}
