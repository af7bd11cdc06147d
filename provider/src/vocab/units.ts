// libvirt memory sizes carry a `unit` attribute (default KiB). We always write KiB and read any
// unit libvirt accepts, so a hand-written or older XML still reports the right size.

const BYTES_PER_UNIT: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  kb: 1e3,
  k: 1024,
  kib: 1024,
  mb: 1e6,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1e9,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1e12,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  pb: 1e15,
  p: 1024 ** 5,
  pib: 1024 ** 5,
  eb: 1e18,
  e: 1024 ** 6,
  eib: 1024 ** 6,
};

/** Converts a libvirt scaled integer (any unit libvirt accepts, default `defaultUnit`) to bytes; undefined when unreadable. */
export function toBytes(value: string | undefined, unit: string | undefined, defaultUnit = "bytes"): number | undefined {
  if (value === undefined || !/^\s*[0-9]+\s*$/.test(value)) return undefined;
  const key = (unit ?? defaultUnit).toLowerCase();
  if (!Object.hasOwn(BYTES_PER_UNIT, key)) return undefined;
  const factor = BYTES_PER_UNIT[key] ?? Number.NaN;
  const bytes = Number(value) * factor;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Converts a libvirt scaled integer to KiB (default unit KiB, rounded up as libvirt does); undefined when unreadable. */
export function toKiB(value: string | undefined, unit: string | undefined): number | undefined {
  const bytes = toBytes(value, unit, "KiB");
  return bytes === undefined ? undefined : Math.ceil(bytes / 1024);
}

export const KIB_PER_MIB = 1024;
