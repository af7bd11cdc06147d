// TLS to libvirtd's tls_port, with x509 certificates on both sides, found where libvirt's own client looks for
// them: cacert.pem, clientcert.pem and clientkey.pem, under /etc/pki for root, ~/.pki/libvirt for other users
// (falling back to /etc/pki when the user has not all three), or in the folder the URI's `pkipath` names.
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { DialError, Transport } from "../transport";
import { openSocket } from "./socket";

/** libvirtd's TLS port (listen_tls, tls_port). */
export const DEFAULT_TLS_PORT = 16514;

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

const SYSTEM_FILES: TlsFiles = {
  ca: "/etc/pki/CA/cacert.pem",
  cert: "/etc/pki/libvirt/clientcert.pem",
  key: "/etc/pki/libvirt/private/clientkey.pem",
};

function filesIn(dir: string): TlsFiles {
  return { ca: path.join(dir, "cacert.pem"), cert: path.join(dir, "clientcert.pem"), key: path.join(dir, "clientkey.pem") };
}

/** The certificate files libvirt's client would use, by its rules. */
export function tlsFiles(pkiPath: string | undefined, user = { isRoot: process.getuid?.() === 0, home: os.homedir() }): TlsFiles {
  if (pkiPath) return filesIn(pkiPath);
  if (user.isRoot) return SYSTEM_FILES;
  const own = filesIn(path.join(user.home, ".pki", "libvirt"));
  return Object.values(own).every((file) => fs.existsSync(file)) ? own : SYSTEM_FILES;
}

export interface TlsTarget {
  host: string;
  port: number;
  files: TlsFiles;
  /** Accept any server certificate (libvirt's `no_verify=1`); the client still presents its own. */
  noVerify?: boolean;
}

export function dialTls(target: TlsTarget, timeoutMs: number): Promise<Transport> {
  const description = `tls:${target.host}:${target.port}`;
  let pem: { ca: Buffer; cert: Buffer; key: Buffer };
  try {
    pem = { ca: read(target.files.ca, "CA certificate"), cert: read(target.files.cert, "client certificate"), key: read(target.files.key, "client key") };
  } catch (error) {
    return Promise.reject(new DialError(description, (error as Error).message, error));
  }
  const open = () =>
    tls.connect({
      host: target.host,
      port: target.port,
      // The server's certificate must name the host we dialled (SNI only for names, never IP addresses).
      servername: net.isIP(target.host) ? undefined : target.host,
      ca: pem.ca,
      cert: pem.cert,
      key: pem.key,
      rejectUnauthorized: !target.noVerify,
      minVersion: "TLSv1.2",
    });
  return openSocket(open, "secureConnect", description, timeoutMs, serverVerdict, { oneMessagePerWrite: true });
}

/**
 * After the handshake libvirtd checks our certificate (and its allowed-DN list) and then sends one byte: 1
 * when we passed. RPC starts after it; anything else means the server turned us away.
 */
export function serverVerdict(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error("the server closed the connection after the TLS handshake: it refused our certificate or address"));
    socket.once("close", closed);
    socket.once("data", (chunk: Buffer) => {
      socket.pause(); // nothing may flow past us before the RPC layer listens
      socket.removeListener("close", closed);
      if (chunk.length > 1) socket.unshift(chunk.subarray(1));
      if (chunk[0] === 1) resolve();
      else reject(new Error(`the server refused our certificate or address (verdict byte ${chunk[0]})`));
    });
  });
}

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new Error(
      `cannot read the ${what} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): create it as for ` +
        `libvirt's own client, or add ?pkipath=DIR to the URI for a folder holding cacert.pem, clientcert.pem and clientkey.pem`,
    );
  }
}
