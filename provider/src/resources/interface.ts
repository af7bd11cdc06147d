// Interface: a NIC on a domain, the sibling of Disk. Through libvirt (default): the <interface> attached with
// LIVE|CONFIG (CONFIG only on a stopped domain), link state and a network/bridge change applied live with
// update-device, detach ended by the device-removed event. Over QMP (`via: "qmp"` on a libvirt domain, or `qmp`
// instead of `domain` for a QEMU run without libvirt): netdev_add + device_add, set_link, read back from QEMU's own
// view (qmp-nics.ts). Found again by a user alias (or QMP id) derived from the owner, claimed in the domain's
// metadata like a disk, so an interrupted create is adopted rather than duplicated.
//
// The MAC: the one the program gives, else one derived from the owner (interface-identity.ts), so a replace, a NIC
// plugged again after a by-hand detach or a new stack run plug in with the same MAC; only a program without the SDK's
// owner lets libvirt assign one (read back from the live XML), which a config copy and a replace then take over. The
// QMP path and a QEMU without libvirt are in interface-qmp.ts.
import { Affect, ERR_NO_NETWORK, LibvirtClient, LibvirtError, uuidToString } from "../libvirt";
import { bootByDeviceOrder } from "../vocab/boot-order";
import { otherClaims, withClaim, type DeviceClaim } from "../vocab/device-claims";
import { acceptsDeviceBootOrder, type InterfaceSpec, type ParsedInterface } from "../vocab/domain-xml";
import { buildInterfaceXml, interfaceByAlias, nicSpecFromParsed, normalizeMac } from "../vocab/interface-xml";
import { sharedGuestNetworkView, waitForAddresses } from "./addresses";
import { addClaim, claimScope, dropClaim } from "./claims";
import { changedInputs, classifyField, classifyNicAttach } from "./classify";
import { nicConvertsBootOrder, nicCreateRefusals, nicNotOurs, planNicSlot, type PlannedNic, type Refusal } from "./device-checks";
import { nicNetdevId } from "./device-names";
import { createDevice, deleteDevice, detachXml } from "./devices";
import { DomainView, forgetSharedViews, freshView, lookupOrNull, viewDomainForRead } from "./domain-view";
import { clientFor, isUnknown, planDiff, ResourceHandlers } from "./handler";
import type { InterfaceInputs } from "./inputs";
import { backendOf, claimSource, deviceName, fail, forgetReleasedMac, KIND, label, macToReuse, releaseMac, type InterfaceOutputs } from "./interface-identity";
import { attachOverMonitor, directInterface, observeQmp, qmpBackend } from "./interface-qmp";
import { withDomainLock } from "./locks";
import { libvirtMonitor } from "./monitor";
import { detachNic, listNics, nicRefusal, setNicLink } from "./qmp-nics";
import { inputFields } from "./validate";

export type { InterfaceOutputs } from "./interface-identity";


// ---- addresses ----------------------------------------------------------------------------------------------

/**
 * The outputs with the NIC's addresses (none while the domain is stopped); `waitSeconds` > 0 waits for one, except on
 * a NIC whose link is down: no DHCP answer can reach it, so there is nothing to wait for.
 */
async function withAddresses(client: LibvirtClient, view: Pick<DomainView, "dom" | "running">, outs: InterfaceOutputs, waitSeconds = 0): Promise<InterfaceOutputs> {
  if (!view.running) return { ...outs, addresses: [] };
  const wait = waitSeconds > 0 && outs.linkState !== "down";
  const byMac = wait ? await waitForAddresses(client, view.dom, [outs.mac], waitSeconds) : (await sharedGuestNetworkView(client, view.dom)).addresses;
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
  // The config copy carries the MAC the running one has (libvirt's, for a NIC without an owner or a given MAC).
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
    if (error instanceof LibvirtError && error.code === ERR_NO_NETWORK) {
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
    if (inputs.qmp !== undefined) return directInterface.create(inputs);
    const client = await clientFor(inputs.uri);
    const alias = deviceName(inputs);
    let claims: DeviceClaim[] = [];
    let plugged: Pick<DomainView, "dom" | "running"> | undefined;
    // Over QMP, what QEMU reported right after the attach: the outputs need no second look (libvirt saw nothing).
    let qmpOuts: InterfaceOutputs | undefined;
    const claim = () => ({ device: alias, owner: inputs.owner!, source: claimSource(inputs) });
    const scope = claimScope(inputs);
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
              qmpOuts = attached.outs;
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
            if (inputs.owner) await addClaim(client, view, claims, claim(), scope);
          },
          unrecord: async (view) => {
            if (!inputs.owner) return;
            const recorded = withClaim(claims, claim());
            const earlier = claims.find((c) => c.device === alias && c.owner === inputs.owner);
            if (earlier) await addClaim(client, view, recorded, earlier, scope);
            else await dropClaim(client, view, recorded, alias, inputs.owner, scope);
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
            if (inputs.via === "qmp") return qmpOuts ?? null;
            return observe(after, inputs, alias);
          },
        },
        // A NIC needs no block devices: the read-back after the attach leaves query-block out.
        { before: { persistent: true }, xml: inputs.via === "libvirt", blocksAfter: false },
      );
      forgetReleasedMac(inputs);
      // The address comes from the guest's DHCP client, seconds later: waited for outside the domain's lock, so the
      // other NICs and disks of the domain are not held up meanwhile.
      return { id: `${uuid}/${alias}`, outs: await withAddresses(client, plugged!, outs, inputs.waitForAddressSeconds) };
    } catch (error) {
      throw fail(inputs, error);
    }
  },

  async read(id, props) {
    if (props.qmp !== undefined) return directInterface.read(id, props);
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
    if (news.qmp !== undefined) return directInterface.update(olds, news);
    const client = await clientFor(news.uri);
    try {
      const dom = await lookupOrNull(client, olds.domainUuid);
      if (!dom) throw new Error(`domain "${news.domain}" not found`);
      forgetSharedViews();
      const { outs, view } = await withDomainLock(uuidToString(dom.uuid), async () => {
        let view = await freshView(client, dom, { persistent: true });
        if (!olds.owner && news.owner) {
          await addClaim(client, view, view.claims, { device: olds.alias, owner: news.owner, source: claimSource(news) }, claimScope(news));
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
    if (props.qmp !== undefined) return directInterface.delete(props);
    try {
      const client = await clientFor(props.uri);
      await deleteDevice(
        client,
        props,
        props.via === "qmp" ? (view, onAsked) => detachNic(libvirtMonitor(client, view.dom), props.alias, nicNetdevId(props.alias), props.detachTimeoutSeconds, onAsked) : undefined,
      );
      releaseMac(props);
    } catch (error) {
      throw fail(props, error);
    }
  },

  async describeCreate(inputs) {
    if (inputs.qmp !== undefined) return directInterface.describeCreate(inputs);
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
    if (inputs.waitForAddressSeconds > 0 && view.running && inputs.linkState !== "down") lines.push(`${label(inputs)}: up waits up to ${inputs.waitForAddressSeconds} s for the NIC's IP address`);
    return lines.join("\n");
  },
};
