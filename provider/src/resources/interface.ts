// Interface: a NIC on a domain, the sibling of Disk. Through libvirt (default): the <interface> attached with
// LIVE|CONFIG (CONFIG only on a stopped domain), link state and a network/bridge change applied live with
// update-device, detach ended by the device-removed event. Over QMP (`via: "qmp"` on a libvirt domain, or `qmp`
// instead of `domain` for a QEMU run without libvirt): netdev_add + device_add, set_link, read back from QEMU's own
// view (qmp-nics.ts). Found again by a user alias (or QMP id) derived from the owner, claimed in the domain's
// metadata like a disk, so an interrupted create is adopted rather than duplicated.
//
// The MAC: the one the program gives, else the one libvirt assigns (read back from the live XML) or, over QMP, one
// derived from the device's name; then kept. A config copy and a NIC plugged again after a by-hand detach take the
// MAC their other copy has; a replace takes the MAC the replaced NIC had (the delete leaves it here for the create
// that follows in the same run).
import { Affect, DomainRef, LibvirtClient, LibvirtError, uuidToString } from "../libvirt";
import { acceptsDeviceBootOrder, type InterfaceSpec } from "../vocab/domain-xml";
import { bootByDeviceOrder } from "../vocab/boot-order";
import { buildInterfaceXml, interfaceByAlias, nicSpecFromParsed, normalizeMac } from "../vocab/interface-xml";
import type { ParsedInterface } from "../vocab/domain-xml";
import { deriveNicMac } from "../vocab/qmp-net";
import { QemuSocketError, sharedQmp } from "../qemu";
import { addressesByMac, waitForAddresses, type InterfaceAddress } from "./addresses";
import { addClaim, dropClaim } from "./claims";
import { changedInputs, classifyField, classifyNicAttach } from "./classify";
import { nicConvertsBootOrder, nicCreateRefusals, nicNotOurs, planNicSlot, type PlannedNic, type Refusal } from "./device-checks";
import { deviceNameFor, legacyDeviceName, nicNetdevId, ownedDeviceName } from "./device-names";
import { createDevice, deleteDevice, detachXml } from "./devices";
import { DomainView, forgetSharedViews, freshView, lookupOrNull, viewDomainForRead } from "./domain-view";
import { clientFor, isUnknown, planDiff, ResourceError, ResourceHandlers } from "./handler";
import type { InterfaceInputs } from "./inputs";
import { withDomainLock } from "./locks";
import { directMonitor, libvirtMonitor, type QemuMonitor } from "./monitor";
import { attachNic, detachNic, listNics, nicRefusal, setNicLink, type LiveNic, type QmpNic, type QmpNicBackend } from "./qmp-nics";
import { inputFields } from "./validate";
import { otherClaims, withClaim, type DeviceClaim } from "../vocab/device-claims";

const KIND = "Interface" as const;
/** libvirt's virErrorNumber for a network that does not exist (VIR_ERR_NO_NETWORK). */
const NO_NETWORK = 43;

export interface InterfaceOutputs extends InterfaceInputs {
  /** The MAC the NIC has (given, assigned by libvirt, or derived over QMP); kept for good. */
  mac: string;
  /** libvirt's user alias (via libvirt) or QEMU's device id (via qmp). */
  alias: string;
  /** The host tap device (live XML <target dev>), the netdev's ifname over QMP; null for user-mode or while stopped. */
  target: string | null;
  /** From the guest agent and the network's DHCP leases; an output that changes with the guest's life, never drift. */
  addresses: InterfaceAddress[];
  /** The domain's uuid, or the QMP socket of a QEMU run without libvirt. */
  domainUuid: string;
}

type Backend = { type: "network" | "bridge"; source: string } | { type: "user"; source: null };

function backendOf(inputs: InterfaceInputs): Backend {
  if (inputs.user === true) return { type: "user", source: null };
  if (inputs.bridge !== undefined) return { type: "bridge", source: inputs.bridge };
  return { type: "network", source: inputs.network ?? "" };
}

function describeBackend(b: Backend): string {
  return b.type === "user" ? "user-mode networking" : `${b.type} ${b.source}`;
}

function label(inputs: InterfaceInputs): string {
  return `Interface ${inputs.resourceName ?? describeBackend(backendOf(inputs))} on ${inputs.domain ?? inputs.qmp}`;
}

function fail(inputs: InterfaceInputs, error: unknown): ResourceError {
  return new ResourceError(label(inputs), (error as Error).message, { cause: error });
}

/** The NIC's device name: libvirt alias `ua-nic-<name>-<hash>`, or QMP id `lvn-<name>-<hash>` (its netdev `lvnd-…`). */
function deviceName(inputs: InterfaceInputs): string {
  if (inputs.qmp !== undefined) {
    return inputs.owner ? ownedDeviceName(KIND, inputs.owner, inputs.resourceName, "qmp") : legacyDeviceName(KIND, inputs.resourceName, `${inputs.qmp}\0${KIND}`, "qmp");
  }
  return deviceNameFor(KIND, inputs, `${inputs.domain}\0${describeBackend(backendOf(inputs))}`);
}

/** What a claim records as the device's "source": where the NIC is plugged. */
function claimSource(inputs: InterfaceInputs): string {
  const b = backendOf(inputs);
  return b.type === "user" ? "user" : `${b.type}:${b.source}`;
}

// ---- the MAC a replace hands on -----------------------------------------------------------------------------

/**
 * MACs of NICs this process deleted, by resource: a replace deletes the old NIC first, then creates the new one in
 * the same run (one provider process serves a run), which takes the MAC back when the program gives none.
 */
const releasedMacs = new Map<string, string>();

function macKey(inputs: { owner?: string; resourceName?: string; domain?: string; qmp?: string }): string {
  return inputs.owner ?? `${inputs.domain ?? inputs.qmp}\0${inputs.resourceName ?? ""}`;
}

function macToReuse(inputs: InterfaceInputs): string | undefined {
  return inputs.mac ?? releasedMacs.get(macKey(inputs));
}

// ---- addresses ----------------------------------------------------------------------------------------------

/** A refresh reads every NIC of a domain at once: they share one address query for a moment. */
const SHARED_ADDRESSES_MS = 500;
const sharedAddresses = new Map<string, { at: number; value: Promise<Map<string, InterfaceAddress[]>> }>();

function addressesOf(client: LibvirtClient, dom: DomainRef): Promise<Map<string, InterfaceAddress[]>> {
  const key = `${client.uri.uri}\0${uuidToString(dom.uuid)}`;
  const hit = sharedAddresses.get(key);
  if (hit && Date.now() - hit.at < SHARED_ADDRESSES_MS) return hit.value;
  const value = addressesByMac(client, dom);
  sharedAddresses.set(key, { at: Date.now(), value });
  value.catch(() => sharedAddresses.delete(key));
  return value;
}

/** The outputs with the NIC's addresses (none while the domain is stopped); `waitSeconds` > 0 waits for one. */
async function withAddresses(client: LibvirtClient, view: Pick<DomainView, "dom" | "running">, outs: InterfaceOutputs, waitSeconds = 0): Promise<InterfaceOutputs> {
  if (!view.running) return { ...outs, addresses: [] };
  const byMac = waitSeconds > 0 ? await waitForAddresses(client, view.dom, [outs.mac], waitSeconds) : await addressesOf(client, view.dom);
  return { ...outs, addresses: byMac.get(normalizeMac(outs.mac)) ?? [] };
}

// ---- through libvirt ----------------------------------------------------------------------------------------

function nicSpec(inputs: InterfaceInputs, alias: string, mac: string | undefined): InterfaceSpec {
  const common = { model: inputs.model, mac, alias, linkState: inputs.linkState, mtu: inputs.mtu, bootOrder: inputs.bootOrder };
  if (inputs.user === true) return { type: "user", ipv4: inputs.ipv4 ? { address: inputs.ipv4.address, prefixLength: inputs.ipv4.prefixLength } : undefined, ...common };
  if (inputs.bridge !== undefined) return { type: "bridge", bridge: inputs.bridge, ...common };
  return { type: "network", network: inputs.network ?? "", ...common };
}

/** The NIC, from the running domain (the truth while it runs) or its config; null when neither has it. */
async function observe(view: DomainView, inputs: InterfaceInputs, alias: string): Promise<InterfaceOutputs | null> {
  const inLive = interfaceByAlias(view.live, alias);
  const inConfig = interfaceByAlias(view.config, alias);
  const nic = inLive ?? inConfig;
  if (!nic) return null;
  const wanted = backendOf(inputs);
  // Where it is really plugged, under the input names, so a NIC moved behind Pulumi's back shows in the diff.
  const samePlace = nic.type === wanted.type && (wanted.source === null || nic.source === wanted.source);
  const where = samePlace
    ? {}
    : {
        network: nic.type === "network" ? (nic.source ?? undefined) : undefined,
        bridge: nic.type === "bridge" ? (nic.source ?? undefined) : undefined,
        user: nic.type === "user" ? true : undefined,
      };
  // A transient domain has no config: the NIC is as persistent as it can be.
  const persistent = inConfig !== undefined || (inputs.persistent && !(await view.persistent()));
  return {
    ...inputs,
    ...where,
    model: (nic.model ?? inputs.model) as InterfaceInputs["model"],
    mac: nic.mac ?? inputs.mac ?? "",
    linkState: nic.linkState,
    mtu: inputs.mtu === undefined ? undefined : (nic.mtu ?? undefined),
    bootOrder: inputs.bootOrder === undefined ? undefined : ((inConfig ?? nic).bootOrder ?? undefined),
    persistent,
    alias,
    target: inLive?.target ?? null,
    addresses: [],
    domainUuid: view.uuid,
  };
}

/**
 * Attaches through libvirt what is still missing: the running NIC (when the domain runs) and the config copy (when
 * persistent), each only where it is not there yet. A copy that exists gives the other its MAC; a boot order goes
 * only where libvirt accepts it (a config booting by libvirt's default <os><boot dev='hd'> is converted first).
 */
async function attachXml(client: LibvirtClient, view: DomainView, inputs: InterfaceInputs, alias: string): Promise<void> {
  const inLive = interfaceByAlias(view.live, alias);
  const inConfig = interfaceByAlias(view.config, alias);
  const live = view.running && !inLive;
  const config = inputs.persistent && (await view.persistent()) && !inConfig;
  // An adopted running NIC (an interrupted create's) gets the link state asked for, as a new one would.
  if (inLive && inLive.linkState !== inputs.linkState) await client.updateDevice(view.dom, buildInterfaceXml(updatedSpec(inLive, inputs)), Affect.Live);
  if (!live && !config) return;
  let mac = macToReuse(inputs) ?? inConfig?.mac ?? inLive?.mac ?? undefined;
  const spec = nicSpec(inputs, alias, mac);
  const liveSpec = spec.bootOrder !== undefined && view.live && !acceptsDeviceBootOrder(view.live) ? { ...spec, bootOrder: undefined } : spec;
  const convert = config && spec.bootOrder !== undefined && !acceptsDeviceBootOrder(view.config);
  const together = live && config && !convert && liveSpec === spec;
  if (live) await client.attachDevice(view.dom, buildInterfaceXml(liveSpec), Affect.Live | (together ? Affect.Config : 0));
  if (!config || together) return;
  // The config copy carries the MAC libvirt gave the running one.
  if (mac === undefined && live) mac = interfaceByAlias((await view.refresh({ xml: true })).live, alias)?.mac ?? undefined;
  if (convert) {
    // Read under the domain's lock, just before the define: nothing else of ours changes the config meanwhile. The
    // NIC goes in with the same define (validated as an attach would be).
    buildInterfaceXml({ ...spec, mac });
    await client.defineDomain(bootByDeviceOrder(await client.domainXml(view.dom, { inactive: true }), { interface: { ...spec, mac } }));
    return;
  }
  await client.attachDevice(view.dom, buildInterfaceXml({ ...spec, mac }), Affect.Config);
}

/** Network checks the domain's XML cannot answer: it exists, and (for a live attach) runs. */
async function networkRefusals(client: LibvirtClient, inputs: InterfaceInputs, running: boolean): Promise<Refusal[]> {
  if (inputs.network === undefined || inputs.qmp !== undefined || inputs.via === "qmp" || isUnknown(inputs.network)) return [];
  try {
    const net = await client.lookupNetworkByName(inputs.network);
    if (running && !(await client.isNetworkActive(net))) {
      return [{ field: "network", message: `network ${inputs.network} is not running, and a NIC is plugged only into a running network: start it (a Network resource keeps it active)` }];
    }
    return [];
  } catch (error) {
    if (error instanceof LibvirtError && error.code === NO_NETWORK) {
      return [{ field: "network", message: `there is no libvirt network ${inputs.network}: create it (a Network resource), or name an existing one (virsh net-list --all)` }];
    }
    throw error;
  }
}

function plannedNic(inputs: InterfaceInputs): PlannedNic {
  return { domain: inputs.domain!, via: inputs.via, model: inputs.model, mac: macToReuse(inputs), bootOrder: inputs.bootOrder };
}

/** Everything up would refuse on this domain as it is now, before anything is touched. */
async function refusalsOn(client: LibvirtClient, view: DomainView, inputs: InterfaceInputs, alias: string, planned: boolean): Promise<Refusal[]> {
  const refusals = nicCreateRefusals(view, plannedNic(inputs), alias, planned);
  if (!view.running && inputs.via === "libvirt" && !inputs.persistent) {
    refusals.push({ field: "persistent", message: `domain ${inputs.domain} is stopped and persistent: false keeps the NIC out of its config, so it would be nowhere: start the domain, or set persistent: true` });
  }
  if (inputs.via === "qmp" && view.running) {
    const refusal = nicRefusal(libvirtMonitor(client, view.dom), { backend: qmpBackend(inputs) });
    if (refusal) refusals.push({ field: "bridge", message: refusal });
  }
  refusals.push(...(await networkRefusals(client, inputs, view.running)));
  return refusals;
}

function refusalError(refusals: Refusal[]): Error {
  return new Error(refusals.map((r) => `${r.field}: ${r.message}`).join("; "));
}

// ---- over QMP -----------------------------------------------------------------------------------------------

function qmpBackend(inputs: InterfaceInputs): QmpNicBackend {
  if (inputs.bridge !== undefined) return { type: "bridge", bridge: inputs.bridge };
  return { type: "user", ipv4: inputs.ipv4 ? { address: inputs.ipv4.address, prefixLength: inputs.ipv4.prefixLength } : undefined };
}

/** The NIC to add: its MAC given, handed on by a replace, kept from one already under our id, or derived from the id. */
function qmpNic(inputs: InterfaceInputs, id: string, nics: readonly LiveNic[]): QmpNic {
  const ours = nics.find((n) => n.id === id);
  const taken = new Set(nics.filter((n) => n.id !== id).map((n) => n.mac));
  const mac = macToReuse(inputs) ?? ours?.mac ?? deriveNicMac(id, taken);
  return { id, netdevId: nicNetdevId(id), model: inputs.model, mac: normalizeMac(mac), backend: qmpBackend(inputs), linkUp: inputs.linkState !== "down", bootOrder: inputs.bootOrder };
}

/** The outputs from QEMU's view; the link state QEMU cannot report is the one last set. */
function observeQmp(live: LiveNic | undefined, inputs: InterfaceInputs, id: string, machine: string): InterfaceOutputs | null {
  if (!live) return null;
  const linkState = live.linkUp === null ? inputs.linkState : live.linkUp ? "up" : "down";
  // QEMU names no host device for user-mode networking, and the bridge helper's tap is its own.
  return { ...inputs, mac: live.mac, linkState, alias: id, target: null, addresses: [], domainUuid: machine, persistent: inputs.persistent };
}

function directMonitorFor(inputs: InterfaceInputs): QemuMonitor {
  return directMonitor(sharedQmp(inputs.qmp!));
}

/** QEMU gone (stopped, or its socket removed): nothing of ours can be on it any more. */
function unreachable(error: unknown): boolean {
  return error instanceof QemuSocketError && /cannot connect/.test(error.message);
}

/** Attach over a monitor (the machine's lock held); outputs from QEMU's view after it. */
async function attachOverMonitor(monitor: QemuMonitor, inputs: InterfaceInputs, id: string, machine: string): Promise<{ outs: InterfaceOutputs; attachedNow: boolean }> {
  const before = await listNics(monitor);
  const nic = qmpNic(inputs, id, before);
  const { attached } = await attachNic(monitor, nic);
  const outs = observeQmp((await listNics(monitor)).find((n) => n.id === id), inputs, id, machine);
  if (!outs) {
    if (attached) await detachNic(monitor, id, nic.netdevId, inputs.detachTimeoutSeconds).catch(() => undefined);
    throw new Error(`QEMU reports no NIC ${id} after the attach`);
  }
  if (normalizeMac(outs.mac) !== nic.mac) {
    if (attached) await detachNic(monitor, id, nic.netdevId, inputs.detachTimeoutSeconds).catch(() => undefined);
    throw new Error(`QEMU shows NIC ${id} with MAC ${outs.mac}, expected ${nic.mac}`);
  }
  return { outs: { ...outs, linkState: inputs.linkState }, attachedNow: attached };
}

const direct = {
  async create(inputs: InterfaceInputs): Promise<{ id: string; outs: InterfaceOutputs }> {
    const monitor = directMonitorFor(inputs);
    const id = deviceName(inputs);
    try {
      const { outs } = await withDomainLock(monitor.key, () => attachOverMonitor(monitor, inputs, id, inputs.qmp!));
      releasedMacs.delete(macKey(inputs));
      return { id: `${inputs.qmp}/${id}`, outs };
    } catch (error) {
      throw fail(inputs, error);
    }
  },

  async read(id: string, props: InterfaceOutputs): Promise<{ id: string; props: InterfaceOutputs }> {
    let nics: LiveNic[];
    try {
      nics = await listNics(directMonitorFor(props));
    } catch (error) {
      if (unreachable(error)) return { id: "", props };
      throw error;
    }
    const outs = observeQmp(nics.find((n) => n.id === props.alias), props, props.alias, props.qmp!);
    return outs ? { id, props: outs } : { id: "", props };
  },

  async update(olds: InterfaceOutputs, news: InterfaceInputs): Promise<{ outs: InterfaceOutputs }> {
    const monitor = directMonitorFor(news);
    try {
      const outs = await withDomainLock(monitor.key, async () => {
        if (olds.linkState !== news.linkState) await setNicLink(monitor, olds.alias, news.linkState !== "down");
        return observeQmp((await listNics(monitor)).find((n) => n.id === olds.alias), { ...news, linkState: news.linkState }, olds.alias, news.qmp!);
      });
      if (!outs) throw new Error(`NIC ${olds.alias} is no longer on ${monitor.label}: refresh, then up plugs it in again`);
      return { outs: { ...outs, linkState: news.linkState } };
    } catch (error) {
      throw fail(news, error);
    }
  },

  async delete(props: InterfaceOutputs): Promise<void> {
    const monitor = directMonitorFor(props);
    try {
      await withDomainLock(monitor.key, () => detachNic(monitor, props.alias, nicNetdevId(props.alias), props.detachTimeoutSeconds));
      releasedMacs.set(macKey(props), props.mac);
    } catch (error) {
      if (unreachable(error)) return;
      throw fail(props, error);
    }
  },

  async describeCreate(inputs: InterfaceInputs): Promise<string> {
    const monitor = directMonitorFor(inputs);
    try {
      await listNics(monitor);
      return `${label(inputs)}: ${classifyNicAttach(inputs, { running: true, restart: "never", transient: true }).reason}`;
    } catch (error) {
      return `${label(inputs)}: up would refuse qmp: ${(error as Error).message} (start QEMU with -qmp ${inputs.qmp},server=on,wait=off, or fix the address)`;
    }
  },
};

// ---- update through libvirt ---------------------------------------------------------------------------------

function sameSpec(a: InterfaceSpec, b: InterfaceSpec): boolean {
  return buildInterfaceXml(a) === buildInterfaceXml(b);
}

/** A copy of the NIC as it is, with the link state and place the inputs want (all update-device may change). */
function updatedSpec(copy: ParsedInterface, news: InterfaceInputs): InterfaceSpec {
  const current = nicSpecFromParsed(copy);
  const wanted = backendOf(news);
  const base = { model: current.model, mac: current.mac, alias: current.alias, mtu: current.mtu, bootOrder: current.bootOrder, linkState: news.linkState };
  if (wanted.type === "user") return { type: "user", ipv4: current.type === "user" ? current.ipv4 : undefined, ...base };
  return wanted.type === "bridge" ? { type: "bridge", bridge: wanted.source, ...base } : { type: "network", network: wanted.source, ...base };
}

function needsUpdate(copy: ParsedInterface, news: InterfaceInputs): boolean {
  const wanted = backendOf(news);
  return copy.linkState !== news.linkState || copy.type !== wanted.type || (wanted.source !== null && copy.source !== wanted.source);
}

/**
 * Brings the NIC's copies to the inputs: link state and place by update-device (one call for both copies when they
 * agree), the config copy added (from the wanted state, with the running NIC's MAC) or removed by `persistent`.
 * Returns whether libvirt's XML changed.
 */
async function updateXml(client: LibvirtClient, view: DomainView, olds: InterfaceOutputs, news: InterfaceInputs): Promise<boolean> {
  const alias = olds.alias;
  const inLive = view.running ? interfaceByAlias(view.live, alias) : undefined;
  const inConfig = interfaceByAlias(view.config, alias);
  if (!inLive && !inConfig) throw new Error(`NIC ${alias} is no longer on domain ${news.domain}: refresh, then up plugs it in again`);
  if (!view.running && !news.persistent) {
    throw new Error(`domain ${news.domain} is stopped, and persistent: false would take the NIC out of its config, leaving it nowhere: start the domain first, or keep persistent: true`);
  }
  const persistentDomain = await view.persistent();
  let changed = false;
  const liveUpdate = inLive && needsUpdate(inLive, news) ? updatedSpec(inLive, news) : undefined;
  const keepConfig = inConfig && news.persistent;
  const configUpdate = keepConfig && needsUpdate(inConfig, news) ? updatedSpec(inConfig, news) : undefined;
  if (liveUpdate && configUpdate && sameSpec(liveUpdate, configUpdate)) {
    await client.updateDevice(view.dom, buildInterfaceXml(liveUpdate), Affect.Live | Affect.Config);
    changed = true;
  } else {
    if (liveUpdate) await client.updateDevice(view.dom, buildInterfaceXml(liveUpdate), Affect.Live);
    if (configUpdate) await client.updateDevice(view.dom, buildInterfaceXml(configUpdate), Affect.Config);
    changed = liveUpdate !== undefined || configUpdate !== undefined;
  }
  if (news.persistent && !inConfig && persistentDomain) {
    // Removed from the config behind Pulumi's back (or persistent turned on): the config gets the NIC as wanted,
    // with the MAC the running one has.
    await client.attachDevice(view.dom, buildInterfaceXml(nicSpec(news, alias, inLive?.mac ?? olds.mac)), Affect.Config);
    changed = true;
  }
  if (!news.persistent && inConfig && inLive) {
    await client.detachDeviceAlias(view.dom, alias, Affect.Config);
    changed = true;
  }
  return changed;
}

// ---- the handlers -------------------------------------------------------------------------------------------

export const networkInterface: ResourceHandlers<InterfaceInputs, InterfaceOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    const fields = changedInputs(KIND, olds, news, inputFields(KIND));
    const classified = fields.map((f) => classifyField(KIND, f, olds, news, { running: true, restart: "never" }));
    if (!olds.owner && typeof news.owner === "string" && !isUnknown(news.owner)) {
      classified.push({ field: "owner", class: "live", reason: `NIC ${olds.alias} is recorded as this resource's in the domain's metadata (no change to the device)` });
    }
    return planDiff(label(news), classified);
  },

  async create(inputs) {
    if (inputs.qmp !== undefined) return direct.create(inputs);
    const client = await clientFor(inputs.uri);
    const alias = deviceName(inputs);
    let claims: DeviceClaim[] = [];
    let plugged: Pick<DomainView, "dom" | "running"> | undefined;
    const claim = () => ({ device: alias, owner: inputs.owner!, source: claimSource(inputs) });
    try {
      const { uuid, outs } = await createDevice<InterfaceOutputs>(
        client,
        inputs.domain!,
        {
          attach: async (view) => {
            const refusals = await refusalsOn(client, view, inputs, alias, false);
            if (refusals.length > 0) throw refusalError(refusals);
            claims = view.claims;
            if (inputs.via === "qmp") {
              const attached = await attachOverMonitor(libvirtMonitor(client, view.dom), inputs, alias, view.uuid);
              return attached.attachedNow;
            }
            const held = interfaceByAlias(view.live, alias) ?? interfaceByAlias(view.config, alias);
            if (held) {
              const holders = otherClaims(claims, alias, inputs.owner);
              if (holders.length > 0) {
                throw new Error(`NIC ${alias} on domain ${inputs.domain} is held by ${holders.map((c) => c.owner).join(", ")}; nothing was changed: give this resource another name`);
              }
              const b = backendOf(inputs);
              const foreign = nicNotOurs(alias, inputs.domain!, held, { mac: macToReuse(inputs), type: b.type, source: b.source });
              if (foreign) throw new Error(foreign);
            }
            await attachXml(client, view, inputs, alias);
            return held === undefined;
          },
          record: async (view) => {
            if (inputs.owner) await addClaim(client, view, claims, claim());
          },
          unrecord: async (view) => {
            if (!inputs.owner) return;
            const recorded = withClaim(claims, claim());
            const earlier = claims.find((c) => c.device === alias && c.owner === inputs.owner);
            if (earlier) await addClaim(client, view, recorded, earlier);
            else await dropClaim(client, view, recorded, alias, inputs.owner);
          },
          // The running domain must have the NIC as asked; otherwise undo what this call plugged in.
          verify: async (after, attachedNow) => {
            if (!after.running || inputs.via === "qmp") return;
            const nic = interfaceByAlias(after.live, alias);
            const wanted = macToReuse(inputs);
            const problem = !nic
              ? `the running domain has no NIC ${alias} after the attach`
              : wanted !== undefined && normalizeMac(nic.mac ?? "") !== normalizeMac(wanted)
                ? `the running NIC ${alias} has MAC ${nic.mac}, expected ${normalizeMac(wanted)}`
                : nic.linkState !== inputs.linkState
                  ? `the running NIC ${alias} has its link ${nic.linkState}, expected ${inputs.linkState}`
                  : null;
            if (!problem) return;
            if (attachedNow) await detachXml(client, after, alias, inputs.detachTimeoutSeconds).catch(() => undefined);
            throw new Error(problem);
          },
          observe: async (after) => {
            plugged = after;
            if (inputs.via === "qmp") {
              return observeQmp((await listNics(libvirtMonitor(client, after.dom))).find((n) => n.id === alias), inputs, alias, after.uuid);
            }
            return observe(after, inputs, alias);
          },
        },
        { before: { persistent: true }, xml: inputs.via === "libvirt" },
      );
      releasedMacs.delete(macKey(inputs));
      // The address comes from the guest's DHCP client, seconds later: waited for outside the domain's lock, so the
      // other NICs and disks of the domain are not held up meanwhile.
      return { id: `${uuid}/${alias}`, outs: await withAddresses(client, plugged!, outs, inputs.waitForAddressSeconds) };
    } catch (error) {
      throw fail(inputs, error);
    }
  },

  async read(id, props) {
    if (props.qmp !== undefined) return direct.read(id, props);
    const client = await clientFor(props.uri);
    const view = await viewDomainForRead(client, props.domainUuid ?? props.domain!);
    if (!view) return { id: "", props };
    if (props.via === "qmp") {
      if (!view.running) return { id: "", props };
      const outs = observeQmp((await listNics(libvirtMonitor(client, view.dom))).find((n) => n.id === props.alias), props, props.alias, view.uuid);
      return outs ? { id, props: await withAddresses(client, view, outs) } : { id: "", props };
    }
    const outs = await observe(view, props, props.alias);
    // Gone with its domain, or unplugged from the running domain behind Pulumi's back (a config copy alone is
    // plugged in again by the next up, with its MAC).
    if (!outs || (view.running && !interfaceByAlias(view.live, props.alias))) return { id: "", props };
    return { id, props: await withAddresses(client, view, outs) };
  },

  async update(_id, olds, news) {
    if (news.qmp !== undefined) return direct.update(olds, news);
    const client = await clientFor(news.uri);
    try {
      const dom = await lookupOrNull(client, olds.domainUuid);
      if (!dom) throw new Error(`domain "${news.domain}" not found`);
      forgetSharedViews();
      const { outs, view } = await withDomainLock(uuidToString(dom.uuid), async () => {
        let view = await freshView(client, dom, { persistent: true });
        if (!olds.owner && news.owner) {
          await addClaim(client, view, view.claims, { device: olds.alias, owner: news.owner, source: claimSource(news) });
        }
        if (news.via === "qmp") {
          const monitor = libvirtMonitor(client, view.dom);
          if (olds.linkState !== news.linkState) await setNicLink(monitor, olds.alias, news.linkState !== "down");
          const found = observeQmp((await listNics(monitor)).find((n) => n.id === olds.alias), news, olds.alias, view.uuid);
          if (!found) throw new Error(`NIC ${olds.alias} is no longer on domain ${news.domain}: refresh, then up plugs it in again`);
          return { outs: { ...found, linkState: news.linkState }, view };
        }
        if (await updateXml(client, view, olds, news)) view = await view.refresh({ xml: true });
        return { outs: await observe(view, news, olds.alias), view };
      });
      if (!outs) throw new Error(`NIC ${olds.alias} is no longer on domain ${news.domain}: refresh, then up plugs it in again`);
      return { outs: await withAddresses(client, view, outs) };
    } catch (error) {
      throw fail(news, error);
    }
  },

  async delete(_id, props) {
    if (props.qmp !== undefined) return direct.delete(props);
    try {
      const client = await clientFor(props.uri);
      await deleteDevice(
        client,
        props,
        props.via === "qmp" ? (view, onAsked) => detachNic(libvirtMonitor(client, view.dom), props.alias, nicNetdevId(props.alias), props.detachTimeoutSeconds, onAsked) : undefined,
      );
      releasedMacs.set(macKey(props), props.mac);
    } catch (error) {
      throw fail(props, error);
    }
  },

  async describeCreate(inputs) {
    if (inputs.qmp !== undefined) return direct.describeCreate(inputs);
    const client = await clientFor(inputs.uri);
    // Shared: a preview asks this for every device of a domain at once.
    const view = await viewDomainForRead(client, inputs.domain!, { prefetch: false }).catch(() => null);
    if (!view) return `${label(inputs)}: plugged in when the domain exists`;
    const alias = deviceName(inputs);
    planNicSlot(view, plannedNic(inputs), alias);
    const refusals = await refusalsOn(client, view, inputs, alias, true);
    if (refusals.length > 0) return refusals.map((r) => `${label(inputs)}: up would refuse ${r.field}: ${r.message}`).join("\n");
    const lines = [`${label(inputs)}: ${classifyNicAttach(inputs, { running: view.running, restart: "never" }).reason}`];
    if (view.running && nicConvertsBootOrder(view, plannedNic(inputs))) {
      lines.push(
        `${label(inputs)}: bootOrder → next-boot (the domain boots by libvirt's default <os><boot dev='${view.config.os.bootDevices.join("','")}'>: ` +
          `its config changes to equivalent per-device boot orders, and this NIC's order counts from the next boot)`,
      );
    }
    if (inputs.waitForAddressSeconds > 0 && view.running) lines.push(`${label(inputs)}: up waits up to ${inputs.waitForAddressSeconds} s for the NIC's IP address`);
    return lines.join("\n");
  },
};
