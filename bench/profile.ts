// Where the provider's time goes: wraps LibvirtClient's methods to count calls and their wall time (QMP calls by
// their "execute"), so a bench can say which calls dominate an operation. Off until enable(); nested calls
// (a method calling another, a polling loop and the calls in it) are counted at each level, so read totals per
// row, not as a sum. "fn pollUntil checks" counts the checks of a polling loop and the time spent in them; the
// rest of the loop's time is waiting (for the change, or for the event that ends the wait).
import { InterfaceAddressSource, LibvirtClient } from "../provider/src/libvirt";
import * as qemuHelpers from "../provider/src/resources/qemu";
import * as validate from "../provider/src/resources/validate";
import * as domainXml from "../provider/src/vocab/domain-xml";
import { formatTable } from "./stats";

interface Entry {
  calls: number;
  ms: number;
}

let enabled = false;
let entries = new Map<string, Entry>();
let installed = false;

const WRAPPED = [
  "lookupDomain",
  "lookupDomainByName",
  "lookupDomainByUuid",
  "domainXml",
  "domainState",
  "getAutostart",
  "attachDevice",
  "detachDevice",
  "detachDeviceAlias",
  "updateDevice",
  "qemuMonitorCommand",
  "onDomainEvent",
  "onQemuMonitorEvent",
  "domainMetadata",
  "setDomainMetadata",
  "isPersistent",
  "defineDomain",
  "domainInterfaceAddresses",
  "qemuAgentCommand",
  "lookupNetworkByName",
  "isNetworkActive",
] as const;

/** virDomainInterfaceAddressesSource, for the row names. */
const ADDRESS_SOURCES: Record<number, string> = {
  [InterfaceAddressSource.Lease]: "lease",
  [InterfaceAddressSource.Agent]: "agent",
  [InterfaceAddressSource.Arp]: "arp",
};

function record(key: string, start: bigint): void {
  const e = entries.get(key) ?? { calls: 0, ms: 0 };
  e.calls++;
  e.ms += Number(process.hrtime.bigint() - start) / 1e6;
  entries.set(key, e);
}

/**
 * Provider helpers outside the client (rows named "fn …"): polling loops (their time includes the client calls
 * they make), XML parsing and ajv validation. The compiled modules call these through their exports object, so
 * replacing the export reaches every caller.
 */
function installHelpers(): void {
  const q = qemuHelpers as any;
  const poll = q.pollUntil;
  q.pollUntil = async (done: () => Promise<boolean>, options: unknown) => {
    if (!enabled) return poll(done, options);
    const start = process.hrtime.bigint();
    try {
      return await poll(async () => {
        const e = entries.get("fn pollUntil checks") ?? { calls: 0, ms: 0 };
        e.calls++;
        entries.set("fn pollUntil checks", e);
        const checkStart = process.hrtime.bigint();
        try {
          return await done();
        } finally {
          e.ms += Number(process.hrtime.bigint() - checkStart) / 1e6;
        }
      }, options);
    } finally {
      record(`fn pollUntil (whole loop)`, start);
    }
  };
  for (const [mod, name] of [[domainXml, "parseDomainXml"], [validate, "validateInputs"]] as const) {
    const m = mod as any;
    const original = m[name];
    m[name] = (...args: any[]) => {
      if (!enabled) return original(...args);
      const start = process.hrtime.bigint();
      try {
        return original(...args);
      } finally {
        record(`fn ${name}`, start);
      }
    };
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  installHelpers();
  const proto = LibvirtClient.prototype as any;
  for (const name of WRAPPED) {
    const original = proto[name];
    if (typeof original !== "function") continue;
    proto[name] = async function (this: unknown, ...args: any[]) {
      if (!enabled) return original.apply(this, args);
      let key: string = name;
      if (name === "qemuMonitorCommand") {
        try {
          key = `qmp ${JSON.parse(args[1]).execute}`;
        } catch {
          key = "qmp ?";
        }
      } else if (name === "domainXml") {
        key = args[1]?.inactive ? "domainXml(inactive)" : "domainXml(live)";
      } else if (name === "domainInterfaceAddresses") {
        key = `domainInterfaceAddresses(${ADDRESS_SOURCES[args[1]] ?? args[1]})`;
      }
      const start = process.hrtime.bigint();
      try {
        return await original.apply(this, args);
      } finally {
        record(key, start);
      }
    };
  }
}

export function enableProfile(): void {
  install();
  enabled = true;
}

export function disableProfile(): void {
  enabled = false;
}

export function resetProfile(): void {
  entries = new Map();
}

/** Time per operation spent inside client calls (lookupDomain, which calls a lookupDomainBy*, not counted twice). */
export function clientMsPerOp(operations: number): number {
  let ms = 0;
  for (const [k, e] of entries) if (k !== "lookupDomain" && !k.startsWith("fn ")) ms += e.ms;
  return ms / operations;
}

/** A table of calls per operation and wall time per operation, for `operations` operations profiled. */
export function profileTable(operations: number): string {
  const rows = [...entries.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([k, e]) => [k, (e.calls / operations).toFixed(1), (e.ms / operations).toFixed(2) + " ms", e.calls ? (e.ms / e.calls).toFixed(2) + " ms" : "-"]);
  return formatTable(["client call", "calls/op", "time/op", "time/call"], rows);
}
