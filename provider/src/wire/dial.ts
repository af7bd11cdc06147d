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
  constructor(uri: string, readonly reason: string) {
    super(`libvirt URI "${uri}": ${reason}`);
    this.name = "UriError";
  }
}

// The user and host end up on ssh's command line, and ssh may expand them into its ProxyCommand, which a shell
// runs: decoded, they may hold only these characters (no control characters, quotes, spaces, shell
// metacharacters or '%'), and may not start with '-' (it would read as an option).
const USER_CHARS = /[^A-Za-z0-9._~+@-]/u;
const HOST_CHARS = /[^A-Za-z0-9._:-]/u;
/** In query values (keyfile, socket, pkipath): anything printable; paths with spaces are fine. */
const PARAM_CHARS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/u;

/** A value quoted for an error message, with anything that could disturb a terminal escaped. */
function quoted(v: string): string {
  return JSON.stringify(v).replace(/[\x7f-\x9f\u2028\u2029]/gu, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  if (ch === "\n") return "a newline";
  if (ch === "\0") return "a NUL character";
  if (ch === " ") return "a space";
  if (ch === "'") return `"'"`;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) return `the control character ${hex}`;
  if (cp > 0x7e) return `'${ch}' (${hex})`;
  return `'${ch}'`;
}

/**
 * Percent-decodes one part of a URI; a malformed escape (`%zz`, a lone `%`) or bytes that are not UTF-8 are a
 * UriError naming the part, never the bare URIError decodeURIComponent would throw.
 */
function decodePart(uri: string, what: string, raw: string, plusIsSpace = false): string {
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(raw);
  if (bad) {
    const escape = raw.slice(bad.index, bad.index + 3).replace(/^(%[^%]{0,2}).*$/su, "$1");
    throw new UriError(uri, `malformed percent-escape ${quoted(escape)} in the ${what}: '%' must be followed by two hex digits`);
  }
  try {
    return decodeURIComponent(plusIsSpace ? raw.replace(/\+/g, " ") : raw);
  } catch {
    throw new UriError(uri, `the percent-escapes in the ${what} ${quoted(raw)} do not decode to UTF-8 text`);
  }
}

function checkName(uri: string, what: "user" | "host", decoded: string, raw: string, chars: RegExp): void {
  const from = decoded === raw ? "" : ` (decoded from ${quoted(raw)})`;
  if (decoded.startsWith("-")) throw new UriError(uri, `the ${what} ${quoted(decoded)}${from} starts with '-'`);
  const bad = chars.exec(decoded);
  if (bad) {
    throw new UriError(
      uri,
      `the ${what} ${quoted(decoded)}${from} contains ${describeChar(bad[0])}; ` +
        `a ${what} may hold only letters, digits and ${what === "user" ? "'.', '_', '~', '+', '@', '-'" : "'.', '_', '-' (':' in [IPv6])"}`,
    );
  }
}

/** The query's parameters, decoded with the same care as the user and host. */
function parseParams(uri: string, query: string): URLSearchParams {
  const params = new URLSearchParams();
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodePart(uri, "query", eq < 0 ? pair : pair.slice(0, eq), true);
    const value = decodePart(uri, "query", eq < 0 ? "" : pair.slice(eq + 1), true);
    const bad = PARAM_CHARS.exec(name + value);
    if (bad) throw new UriError(uri, `the query parameter ${quoted(name)} contains ${describeChar(bad[0])}`);
    params.append(name, value);
  }
  return params;
}

export function parseLibvirtUri(uri: string): ParsedUri {
  const match = /^([a-z][a-z0-9]*)(?:\+([a-z]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(uri);
  if (!match) throw new UriError(uri, "expected driver[+transport]://[user@][host][:port]/path, e.g. qemu:///system");
  const [, driver, explicitTransport, authority, path = "/", query = ""] = match;
  let user: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const raw = authority.slice(0, at);
    user = decodePart(uri, "user", raw);
    checkName(uri, "user", user, raw, USER_CHARS);
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
  if (host !== undefined) {
    const raw = host;
    host = decodePart(uri, "host", raw);
    checkName(uri, "host", host, raw, HOST_CHARS);
  }
  // libvirt's rule: no transport and no host means the local socket; a host with no transport means TLS.
  const transport = (explicitTransport ?? (host ? "tls" : "unix")) as TransportKind;
  if (!["unix", "tcp", "ssh", "tls"].includes(transport)) {
    throw new UriError(uri, `unknown transport "${transport}" (use unix, tcp, ssh or tls)`);
  }
  if ((transport === "tcp" || transport === "ssh" || transport === "tls") && !host) {
    throw new UriError(uri, `the ${transport} transport needs a host, e.g. qemu+${transport}://host/system`);
  }
  return { uri, transport, user, host, port, remoteName: `${driver}://${path}`, params: parseParams(uri, query) };
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
