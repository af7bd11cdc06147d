import { Transport } from "../transport";
import { connectSocket } from "./socket";

export const DEFAULT_SYSTEM_SOCKET = "/var/run/libvirt/libvirt-sock";

export function dialUnix(path: string, timeoutMs: number): Promise<Transport> {
  return connectSocket({ path }, `unix:${path}`, timeoutMs);
}
