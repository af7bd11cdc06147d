import { Transport } from "../transport";
import { connectSocket } from "./socket";

/** libvirtd's plain-TCP port (listen_tcp). Unencrypted: meant for loopback or a trusted network. */
export const DEFAULT_TCP_PORT = 16509;

export function dialTcp(host: string, port: number, timeoutMs: number): Promise<Transport> {
  return connectSocket({ host, port }, `tcp:${host}:${port}`, timeoutMs);
}
