// The one place that decides how a change lands on a machine. diff, the preview notes and `explain` all ask
// here, so what a reviewer reads is what the provider does.

export type ChangeClass = "live" | "next-boot" | "restart" | "replace";
export type ResourceKind = "Volume" | "Domain" | "Disk" | "Cdrom" | "Interface" | "GuestExec" | "Network";
export type RestartPolicy = "never" | "allow";

export interface Classified {
  field: string;
  class: ChangeClass;
  reason: string;
}

/** What is known about the machine a change lands on (nothing during a first preview). */
export interface Situation {
  /** Whether the domain runs now; a stopped domain takes every change in its config, so nothing waits. */
  running: boolean;
  restart: RestartPolicy;
  machine?: string;
  /** A transient domain (or a QEMU without libvirt) has no config to wait in: no next boot. */
  transient?: boolean;
}

/** Buses QEMU can hot-plug on a running machine. ide never; sata only where an AHCI port allows it, not q35's. */
export function hotpluggable(bus: string, machine = "pc"): boolean {
  if (bus === "ide") return false;
  if (bus === "sata") return false;
  void machine;
  return bus === "virtio" || bus === "scsi" || bus === "usb";
}

/** A change that can't happen live: next boot, or a restart now when the domain allows it. */
function deferred(field: string, why: string, s: Situation): Classified {
  if (s.transient) {
    return s.restart === "allow"
      ? { field, class: "restart", reason: `${why}: the transient domain is created again from its new XML` }
      : { field, class: "replace", reason: `${why}: a transient domain has no next boot, so it is replaced (restart: "allow" recreates it in place)` };
  }
  if (!s.running) return { field, class: "live", reason: `${why}; the domain is stopped, so its config takes it now` };
  return s.restart === "allow"
    ? { field, class: "restart", reason: `${why}: the domain restarts to apply it` }
    : { field, class: "next-boot", reason: `${why}: saved to the config, applies at next boot (pendingRestart)` };
}

const replace = (field: string, reason: string): Classified => ({ field, class: "replace", reason });
const live = (field: string, reason: string): Classified => ({ field, class: "live", reason });

type Values = object;
const get = (v: Values, k: string): unknown => (v as Record<string, unknown>)[k];

function volumeField(field: string, olds: Values, news: Values): Classified {
  if (field === "adopt") return live(field, "no change to the volume itself");
  if (field === "capacityBytes") {
    return Number(get(news, "capacityBytes")) >= Number(get(olds, "capacityBytes"))
      ? live(field, "volume grows in place")
      : replace(field, "shrinking a volume would lose data; it is recreated");
  }
  return replace(field, `a volume's ${field} is fixed at creation`);
}

function domainField(field: string, olds: Values, news: Values, s: Situation): Classified {
  switch (field) {
    case "name":
    case "type":
    case "arch":
      return replace(field, `a domain's ${field} is fixed at definition`);
    case "persistent":
      return replace(field, "a domain is made persistent (defined) or transient (created from its XML) once");
    case "memoryMiB": {
      // A running QEMU is bounded by the ceiling it started with; a new ceiling only counts after a restart.
      const max = Math.min(Number(get(olds, "maxMemoryMiB") ?? get(olds, "memoryMiB")), Number(get(news, "maxMemoryMiB") ?? get(news, "memoryMiB")));
      return Number(get(news, "memoryMiB")) <= max
        ? live(field, "balloon target within maxMemoryMiB")
        : deferred(field, "memory above the running maxMemoryMiB", s);
    }
    case "vcpus": {
      const max = Math.min(Number(get(olds, "maxVcpus") ?? get(olds, "vcpus")), Number(get(news, "maxVcpus") ?? get(news, "vcpus")));
      return Number(get(news, "vcpus")) <= max ? live(field, "vcpu hotplug within maxVcpus") : deferred(field, "vcpus above the running maxVcpus", s);
    }
    case "running":
      return live(field, get(news, "running") === false ? "domain shuts down" : "domain starts");
    case "autostart":
    case "shutdownTimeoutSeconds":
    case "restart":
    case "waitForAgentSeconds":
    case "waitForAddressSeconds":
    case "adopt":
    case "uri":
      return live(field, "no change to the machine itself");
    case "hotplugSlots":
      return deferred(field, "PCIe root ports are created at start", s);
    default:
      return deferred(field, `${field} is read by QEMU at start`, s);
  }
}

function deviceBus(values: Values): string {
  return String(get(values, "bus") ?? "");
}

function diskField(field: string, _olds: Values, news: Values): Classified {
  switch (field) {
    case "persistent":
      return live(field, get(news, "persistent") === false ? "the disk leaves the persistent config; the running guest keeps it until it stops" : "the attached disk is added to the persistent config, so it survives a restart");
    case "detachTimeoutSeconds":
    case "uri":
      return live(field, "no change to the device itself");
    default:
      return replace(field, `a disk's ${field} is fixed while attached: detach and attach again`);
  }
}

function cdromField(field: string, olds: Values, news: Values): Classified {
  switch (field) {
    case "media":
      return deviceBus(news) === "usb"
        ? replace(field, "usb-storage is not removable: media change is detach and attach")
        : live(field, `${get(news, "media") === null ? "eject" : "media change"} in the tray`);
    case "detachTimeoutSeconds":
    case "uri":
      return live(field, "no change to the device itself");
    default:
      void olds;
      return replace(field, `a cdrom's ${field} is fixed while attached: detach and attach again`);
  }
}

/** Where a NIC's traffic goes: a libvirt network, a host bridge, or QEMU's user-mode networking. */
function nicBackend(values: Values): "network" | "bridge" | "user" | "none" {
  if (get(values, "user") === true) return "user";
  if (get(values, "bridge") !== undefined) return "bridge";
  if (get(values, "network") !== undefined) return "network";
  return "none";
}

function nicSourceName(values: Values): string {
  const backend = nicBackend(values);
  return backend === "user" ? "user-mode networking" : `${backend} ${String(get(values, backend))}`;
}

// What libvirt 9.0 changes on a plugged NIC (measured, see vocab/interface-xml.ts): its link state, and its source
// between networks and bridges (the same tap moves); the rest means unplugging it and plugging it in again, with
// the MAC it has.
function interfaceField(field: string, olds: Values, news: Values): Classified {
  const overQmp = get(news, "qmp") !== undefined || get(news, "via") === "qmp";
  switch (field) {
    case "linkState":
      return live(field, `link set ${String(get(news, "linkState") ?? "up")} on the running NIC (${overQmp ? "set_link" : "update-device"}; no unplug)`);
    case "network":
    case "bridge":
    case "user": {
      const from = nicBackend(olds);
      const to = nicBackend(news);
      if (overQmp) return replace(field, "QEMU cannot give a plugged NIC another netdev: it is unplugged and plugged again (same MAC)");
      if (from === "user" || to === "user") {
        return replace(field, "libvirt cannot move a NIC to or from user-mode networking live: it is unplugged and plugged again (same MAC)");
      }
      return live(field, `the NIC's tap moves to ${nicSourceName(news)} without an unplug (update-device); the guest keeps its NIC and MAC, and asks the new network for a lease when its DHCP client renews`);
    }
    case "persistent":
      return live(field, get(news, "persistent") === false ? "the NIC leaves the persistent config; the running guest keeps it until it stops" : "the plugged NIC is added to the persistent config, so it survives a restart");
    case "detachTimeoutSeconds":
    case "waitForAddressSeconds":
    case "uri":
      return live(field, "no change to the device itself");
    case "mtu":
      return replace(field, "libvirt cannot change a plugged NIC's MTU (\"cannot modify MTU\"): it is unplugged and plugged again with the new MTU (same MAC)");
    case "model":
      return replace(field, "the guest sees another device (neither libvirt nor QEMU changes a plugged NIC's model): it is unplugged and plugged again (same MAC)");
    case "ipv4":
      return replace(field, "user-mode networking's subnet is fixed when its netdev is made: the NIC is unplugged and plugged again (same MAC)");
    case "mac":
      return replace(field, "a NIC's MAC is fixed while it is plugged: unplugged and plugged again with the new MAC");
    default:
      return replace(field, `a NIC's ${field} is fixed while it is plugged: unplugged and plugged again (same MAC)`);
  }
}

/** The parts of a network's ipv4 that are set up when it starts: all but the DHCP host entries. */
function ipv4AtStart(ipv4: unknown): unknown {
  if (typeof ipv4 !== "object" || ipv4 === null) return ipv4 ?? null;
  const { dhcp, ...rest } = ipv4 as Record<string, unknown>;
  if (typeof dhcp !== "object" || dhcp === null) return { ...rest, dhcp: dhcp ?? null };
  const { hosts: _live, ...range } = dhcp as Record<string, unknown>;
  return { ...rest, dhcp: range };
}

/** A change a running network takes only by stopping and starting again; a stopped one takes it in its config. */
function networkRestart(field: string, why: string, s: Situation): Classified {
  if (!s.running) return live(field, `${why}; the network is not running, so its config takes it now and it starts`);
  return {
    field,
    class: "restart",
    reason: `${why}: the network stops and starts again; guests attached to it lose their link to the bridge until they restart (libvirt 9.0 does not plug their taps into it again)`,
  };
}

// A network's DHCP host entries change in place (virNetworkUpdate); what dnsmasq and the bridge are started
// with needs a restart; name and forward mode are the network's identity.
function networkField(field: string, olds: Values, news: Values, s: Situation): Classified {
  switch (field) {
    case "name":
      return replace(field, "a network's name is fixed at definition");
    case "mode":
      return replace(field, "a network's forward mode is fixed at definition: it is defined again");
    case "autostart":
      return live(field, "libvirt's autostart flag; the running network is untouched");
    case "uri":
    case "adopt":
      return live(field, "no change to the network itself");
    case "ipv4":
      return canonical(ipv4AtStart(get(olds, "ipv4"))) === canonical(ipv4AtStart(get(news, "ipv4")))
        ? live(field, "DHCP host entries added, changed or removed on the running network (virNetworkUpdate, live and config); no restart")
        : networkRestart(field, "the subnet or the DHCP range is set up when the network starts", s);
    default:
      return networkRestart(field, `${field} is set up when the network starts`, s);
  }
}

/**
 * A Network's drift in what is not an input: a network stopped, undefined or whose config was edited outside
 * Pulumi is a change (live: started, defined, written again), though `active` and the rest are outputs. A restart
 * or replace among `classified` brings all of it back anyway.
 */
export function networkStateDrift(olds: Values, classified: readonly { class: string }[]): Classified[] {
  const out: Classified[] = [];
  const restarts = classified.some((c) => c.class === "restart" || c.class === "replace");
  if (get(olds, "active") === false && !restarts) out.push(live("active", "the network is not running (stopped outside Pulumi): it is started"));
  if (get(olds, "persistent") === false) {
    out.push(live("persistent", "the network has no persistent config (undefined outside Pulumi while it ran): it is defined again"));
  } else if (get(olds, "configInSync") === false && !restarts) {
    out.push(live("configInSync", "the persistent config differs from the running network (changed outside Pulumi): it is written again from the inputs"));
  }
  return out;
}

function guestExecField(field: string): Classified {
  switch (field) {
    case "delete":
    case "timeoutSeconds":
    case "agentTimeoutSeconds":
    case "expectExitCode":
    case "uri":
      return live(field, "recorded only; nothing runs again");
    default:
      return replace(field, "the command runs again");
  }
}

/** Classifies one changed input field of a resource. */
export function classifyField(kind: ResourceKind, field: string, olds: Values, news: Values, s: Situation): Classified {
  switch (kind) {
    case "Volume":
      return volumeField(field, olds, news);
    case "Domain":
      return domainField(field, olds, news, s);
    case "Disk":
      return diskField(field, olds, news);
    case "Cdrom":
      return cdromField(field, olds, news);
    case "Interface":
      return interfaceField(field, olds, news);
    case "GuestExec":
      return guestExecField(field);
    case "Network":
      return networkField(field, olds, news, s);
  }
}

/** Whether an attach of this device reaches the running QEMU (otherwise it waits in the config). */
export function attachesLive(device: { bus: string; via?: string; media?: string | null }, kind: "Disk" | "Cdrom", machine?: string): boolean {
  if (device.via === "qmp") return true;
  // libvirt 9.0 cannot hot-plug a cdrom with no media ("argument key 'filename' must not have null value").
  if (kind === "Cdrom" && !device.media) return false;
  return hotpluggable(device.bus, machine);
}

/** How creating a device lands: live on hot-pluggable buses, otherwise next boot or a restart. */
export function classifyAttach(kind: "Disk" | "Cdrom", device: { bus: string; via?: string; media?: string | null }, s: Situation): Classified {
  if (!s.running) return live("(attach)", "the domain is stopped: the device is added to its config");
  if (attachesLive(device, kind, s.machine)) return live("(attach)", `live attach on ${device.bus} (no restart)`);
  if (hotpluggable(device.bus, s.machine)) return deferred("(attach)", 'libvirt cannot hot-plug an empty cdrom (via: "qmp" can)', s);
  return deferred("(attach)", `${device.bus} does not hot-plug on a running ${s.machine ?? "pc"} machine`, s);
}

/** How plugging in a NIC lands: live on a running domain, in the config of a stopped one. */
export function classifyNicAttach(nic: { via?: string; qmp?: string; model?: string }, s: Situation): Classified {
  if (nic.qmp !== undefined) return live("(attach)", `live hot-plug of a ${nic.model ?? "virtio"} NIC over QMP (no restart; QEMU has no config to wait for)`);
  if (!s.running) return live("(attach)", "the domain is stopped: the NIC is added to its config and appears at its next start");
  return live("(attach)", `live hot-plug of a ${nic.model ?? "virtio"} NIC (no restart)`);
}

const RANK: Record<ChangeClass, number> = { live: 0, "next-boot": 1, restart: 2, replace: 3 };

/** The heaviest class among changes: what the whole update amounts to. */
export function overall(changes: Classified[]): ChangeClass | null {
  let worst: ChangeClass | null = null;
  for (const c of changes) if (worst === null || RANK[c.class] > RANK[worst]) worst = c.class;
  return worst;
}

/** Stable JSON of a value, so {a,b} and {b,a} compare equal. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value as Values)
      .filter((k) => get(value as Values, k) !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(get(value as Values, k))}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Input fields that differ between the recorded inputs and the new ones. */
export function changedFields(olds: Values, news: Values, fields: readonly string[]): string[] {
  return fields.filter((f) => canonical(get(olds, f)) !== canonical(get(news, f)));
}

/**
 * Inputs that name the resource rather than configure it (the SDK sets resourceName and owner): never compared.
 * A device keeps the name it was created with, so a stack made before devices carried their owner keeps working.
 */
export const NOT_COMPARED: ReadonlySet<string> = new Set(["resourceName", "owner", "secretInputs"]);

/**
 * Fields the provider picks at create when the program leaves them out: then an absent new value means
 * "keep what was chosen", not a change.
 */
export const CHOSEN_WHEN_ABSENT: Record<ResourceKind, readonly string[]> = {
  Volume: [],
  Domain: ["type", "machine", "arch"],
  Disk: ["target"],
  Cdrom: ["target"],
  // The MAC libvirt (or the provider) assigned is kept for good: a program that never set one changes nothing.
  Interface: ["mac"],
  GuestExec: [],
  // Without one, libvirt picks a free virbrN; the bridge the network got is kept.
  Network: ["bridgeName"],
};

/** The changed inputs of a resource, as diff and explain both count them. */
export function changedInputs(kind: ResourceKind, olds: Values, news: Values, fields: readonly string[]): string[] {
  const compared = fields.filter((f) => !NOT_COMPARED.has(f) && !(CHOSEN_WHEN_ABSENT[kind].includes(f) && get(news, f) === undefined));
  return changedFields(olds, news, compared);
}
