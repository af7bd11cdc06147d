// IPv4 addresses as numbers, and the subnet arithmetic a network's checks and XML need. Pure.

/** A dotted quad without leading zeros ("198.18.0.1"); what every IPv4 input must look like. */
export const IPV4_PATTERN = /^(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

/** The address as an unsigned 32-bit number, or null when it is not a dotted quad. */
export function ipv4ToNumber(text: string): number | null {
  if (!IPV4_PATTERN.test(text)) return null;
  return text.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

export interface Subnet {
  /** The network address (host bits zero). */
  network: number;
  /** The broadcast address (host bits one). */
  broadcast: number;
  prefixLength: number;
}

/** The subnet `address/prefixLength` lies in. */
export function subnetOf(address: number, prefixLength: number): Subnet {
  const size = 2 ** (32 - prefixLength);
  const network = Math.floor(address / size) * size;
  return { network, broadcast: network + size - 1, prefixLength };
}

export function inSubnet(address: number, subnet: Subnet): boolean {
  return address >= subnet.network && address <= subnet.broadcast;
}

/** "198.18.1.0/24". */
export function describeSubnet(subnet: Subnet): string {
  return `${numberToIpv4(subnet.network)}/${subnet.prefixLength}`;
}

/** The prefix length of a netmask such as 255.255.255.0; null when the mask's ones are not contiguous. */
export function prefixFromNetmask(mask: string): number | null {
  const n = ipv4ToNumber(mask);
  if (n === null) return null;
  const bits = n.toString(2).padStart(32, "0");
  return /^1*0*$/.test(bits) ? bits.indexOf("0") === -1 ? 32 : bits.indexOf("0") : null;
}
