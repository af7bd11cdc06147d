// XDR shapes of the libvirt structs the client uses, as encode/decode pairs over the wire codec.
import { XdrReader, XdrWriter } from "../wire/xdr";

export const UUID_BYTES = 16;

/** remote_nonnull_domain. `id` is -1 while the domain is not running. */
export interface DomainRef {
  name: string;
  uuid: Buffer;
  id: number;
}

export interface StoragePoolRef {
  name: string;
  uuid: Buffer;
}

/** remote_nonnull_network. */
export interface NetworkRef {
  name: string;
  uuid: Buffer;
}

/** remote_network_dhcp_lease: one lease dnsmasq handed out on a libvirt network. */
export interface DhcpLease {
  /** The network's bridge. */
  iface: string;
  /** Seconds since the epoch when the lease ends. */
  expiryTime: number;
  /** virIPAddrType: 0 IPv4, 1 IPv6. */
  type: number;
  /** Lowercase MAC of the client (null for some DHCPv6 leases). */
  mac: string | null;
  iaid: string | null;
  ipAddress: string;
  prefix: number;
  hostname: string | null;
  clientId: string | null;
}

export interface StorageVolRef {
  pool: string;
  name: string;
  key: string;
}

export interface RemoteErrorFields {
  code: number;
  domain: number;
  message: string | null;
  level: number;
  str1: string | null;
  str2: string | null;
  str3: string | null;
  int1: number;
  int2: number;
}

export function writeDomain(w: XdrWriter, d: DomainRef): void {
  w.string(d.name).fixedOpaque(d.uuid, UUID_BYTES).int(d.id);
}

export function readDomain(r: XdrReader): DomainRef {
  return { name: r.string(), uuid: r.fixedOpaque(UUID_BYTES), id: r.int() };
}

export function writePool(w: XdrWriter, p: StoragePoolRef): void {
  w.string(p.name).fixedOpaque(p.uuid, UUID_BYTES);
}

export function readPool(r: XdrReader): StoragePoolRef {
  return { name: r.string(), uuid: r.fixedOpaque(UUID_BYTES) };
}

export function writeNetwork(w: XdrWriter, n: NetworkRef): void {
  w.string(n.name).fixedOpaque(n.uuid, UUID_BYTES);
}

export function readNetwork(r: XdrReader): NetworkRef {
  return { name: r.string(), uuid: r.fixedOpaque(UUID_BYTES) };
}

/** Field order as remote_protocol.x declares remote_network_dhcp_lease. */
export function readDhcpLease(r: XdrReader): DhcpLease {
  const iface = r.string();
  const expiryTime = Number(r.hyper());
  const type = r.int();
  const mac = readOptString(r)?.toLowerCase() ?? null;
  const iaid = readOptString(r);
  const ipAddress = r.string();
  const prefix = r.uint();
  const hostname = readOptString(r);
  const clientId = readOptString(r);
  return { iface, expiryTime, type, mac, iaid, ipAddress, prefix, hostname, clientId };
}

export function writeVol(w: XdrWriter, v: StorageVolRef): void {
  w.string(v.pool).string(v.name).string(v.key);
}

export function readVol(r: XdrReader): StorageVolRef {
  return { pool: r.string(), name: r.string(), key: r.string() };
}

const readOptString = (r: XdrReader): string | null => r.optional((x) => x.string());

export function readRemoteError(r: XdrReader): RemoteErrorFields {
  const code = r.int();
  const domain = r.int();
  const message = readOptString(r);
  const level = r.int();
  r.optional(readDomain);
  const str1 = readOptString(r);
  const str2 = readOptString(r);
  const str3 = readOptString(r);
  const int1 = r.int();
  const int2 = r.int();
  r.optional((x) => ({ name: x.string(), uuid: x.fixedOpaque(UUID_BYTES) }));
  return { code, domain, message, level, str1, str2, str3, int1, int2 };
}

export function uuidToString(uuid: Buffer): string {
  const h = uuid.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export function uuidFromString(text: string): Buffer {
  if (!UUID_PATTERN.test(text)) throw new RangeError(`not a UUID: "${text}"`);
  return Buffer.from(text.replace(/-/g, ""), "hex");
}
