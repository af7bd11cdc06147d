// Network: a libvirt virtual network, defined persistently and started. DHCP host entries change on the running
// network (virNetworkUpdate, live and config) without a restart; what dnsmasq and the bridge start with (subnet,
// DHCP range, bridge, MTU) is applied by defining the network again and restarting it; name and mode replace it.
// Refresh reads both copies: the running network (what guests see) and the persistent config (what the next start
// brings), so an entry removed by hand, a network stopped by hand or a config edited by hand all show as drift.
import { DomainRef, ErrorCode, ERR_NO_NETWORK, LibvirtClient, LibvirtError, NetworkRef, NetworkUpdateCommand, NetworkUpdateFlags, NetworkUpdateSection, uuidToString } from "../libvirt";
import { parseDomainXml } from "../vocab/domain-xml";
import { describeSubnet, ipv4ToNumber, subnetOf } from "../vocab/ipv4";
import {
  buildNetworkXml,
  DhcpHost,
  DhcpHostChange,
  dhcpHostXml,
  NetworkSpec,
  ParsedNetwork,
  parseNetworkXml,
  planDhcpHostChanges,
} from "../vocab/network-xml";
import { canonical, changedInputs, Classified, classifyField, networkStateDrift, ResourceKind, Situation } from "./classify";
import { clientFor, isUnknown, planDiff, ResourceError, ResourceHandlers } from "./handler";
import type { NetworkDhcpHostInputs, NetworkInputs, NetworkIpv4Inputs } from "./inputs";
import { containsUnknown, inputFields } from "./validate";

const KIND: ResourceKind = "Network";

export interface NetworkOutputs extends NetworkInputs {
  uuid: string;
  /** The bridge the network has: the one given, or the virbrN libvirt picked; with mode bridge, the host's. */
  bridgeName: string;
  /** The network runs (its bridge is up and dnsmasq serves it). */
  active: boolean;
  /** libvirt keeps a persistent config of it (false: it was undefined by hand while running). */
  persistent: boolean;
  /** The persistent config says what the running network does (false: one of them was changed by hand). */
  configInSync: boolean;
}

const subject = (name: string): string => `${KIND} ${name}`;

function isNoNetwork(error: unknown): boolean {
  return error instanceof LibvirtError && error.code === ERR_NO_NETWORK;
}

async function findNetwork(client: LibvirtClient, nameOrUuid: string): Promise<NetworkRef | null> {
  return client.lookupNetwork(nameOrUuid).catch((e) => (isNoNetwork(e) ? null : Promise.reject(e)));
}

// ---------------------------------------------------------------------------------------------------------
// what the network has, and what the inputs want

interface Copies {
  active: boolean;
  persistent: boolean;
  /** The running network; the config when it does not run. */
  live: ParsedNetwork;
  /** The persistent config; null for a network without one. */
  config: ParsedNetwork | null;
}

async function readCopies(client: LibvirtClient, net: NetworkRef): Promise<Copies> {
  const [active, persistent] = await Promise.all([client.isNetworkActive(net), client.isNetworkPersistent(net)]);
  const [liveXml, configXml] = await Promise.all([
    client.networkXml(net),
    active && persistent ? client.networkXml(net, { inactive: true }) : null,
  ]);
  const live = parseNetworkXml(liveXml);
  return { active, persistent, live, config: persistent ? (configXml === null ? live : parseNetworkXml(configXml)) : null };
}

/** The definition the inputs ask for; what they leave to libvirt (the bridge's name and MAC) is kept as it is. */
function wantedSpec(inputs: NetworkInputs, current: ParsedNetwork | null, uuid?: string): NetworkSpec {
  const ipv4 = inputs.ipv4;
  return {
    name: inputs.name,
    uuid,
    mode: inputs.mode,
    bridgeName: inputs.bridgeName ?? current?.bridgeName ?? undefined,
    bridgeMac: current?.bridgeMac ?? undefined,
    mtu: inputs.mtu,
    ipv4: ipv4 && {
      address: ipv4.address,
      prefixLength: ipv4.prefixLength,
      dhcp: ipv4.dhcp && { start: ipv4.dhcp.start, end: ipv4.dhcp.end, hosts: ipv4.dhcp.hosts.map(plainHost) },
    },
  };
}

function plainHost(host: NetworkDhcpHostInputs): DhcpHost {
  return host.hostname === undefined ? { mac: host.mac.toLowerCase(), ip: host.ip } : { mac: host.mac.toLowerCase(), ip: host.ip, hostname: host.hostname };
}

/** What the network is started with: everything but the DHCP host entries, which change in place. */
function atStart(n: Pick<ParsedNetwork, "mode" | "bridgeName" | "mtu"> & { ipv4: NetworkSpec["ipv4"] | ParsedNetwork["ipv4"] | null }): string {
  const ipv4 = n.ipv4 ?? null;
  const dhcp = ipv4?.dhcp ?? null;
  return canonical({
    mode: n.mode,
    bridgeName: n.bridgeName ?? null,
    mtu: n.mtu ?? null,
    ipv4: ipv4 && { address: ipv4.address, prefixLength: ipv4.prefixLength, dhcp: dhcp && { start: dhcp.start, end: dhcp.end } },
  });
}

const specAtStart = (spec: NetworkSpec): string => atStart({ ...spec, bridgeName: spec.bridgeName ?? null, mtu: spec.mtu ?? null, ipv4: spec.ipv4 ?? null });

/** The host entries as a set: order means nothing to dnsmasq. */
const hostSet = (hosts: readonly DhcpHost[]): string => canonical([...hosts].map(plainHost).map(canonical).sort());
const hostsOf = (n: { ipv4: ParsedNetwork["ipv4"] } | null): DhcpHost[] => n?.ipv4?.dhcp?.hosts ?? [];

/**
 * The read-back entries in the order (and MAC spelling) of `given`, so an unchanged list compares equal; entries
 * the inputs do not have follow, in the network's order.
 */
function alignHosts(read: readonly DhcpHost[], given: readonly NetworkDhcpHostInputs[] | undefined): NetworkDhcpHostInputs[] {
  const rest = [...read];
  const out: NetworkDhcpHostInputs[] = [];
  for (const want of given ?? []) {
    const i = rest.findIndex((h) => h.mac === want.mac.toLowerCase());
    if (i < 0) continue;
    const [h] = rest.splice(i, 1);
    out.push({ mac: want.mac, ip: h.ip, ...(h.hostname !== undefined ? { hostname: h.hostname } : {}) });
  }
  return [...out, ...rest];
}

function readIpv4(parsed: ParsedNetwork, given: NetworkIpv4Inputs | undefined): NetworkIpv4Inputs | undefined {
  const ipv4 = parsed.ipv4;
  if (ipv4 === null) return undefined;
  const out: NetworkIpv4Inputs = { address: ipv4.address, prefixLength: ipv4.prefixLength };
  if (ipv4.dhcp) out.dhcp = { start: ipv4.dhcp.start, end: ipv4.dhcp.end, hosts: alignHosts(ipv4.dhcp.hosts, given?.dhcp?.hosts) };
  return out;
}

/** The outputs: the running network under the input names (so refresh + diff shows what changed), and its state. */
async function observe(client: LibvirtClient, net: NetworkRef, inputs: NetworkInputs): Promise<NetworkOutputs> {
  const [copies, autostart] = await Promise.all([readCopies(client, net), client.networkAutostart(net)]);
  const { live, config } = copies;
  return {
    ...inputs,
    name: live.name,
    mode: live.mode as NetworkInputs["mode"],
    bridgeName: live.bridgeName ?? "",
    ipv4: readIpv4(live, inputs.ipv4),
    mtu: live.mtu ?? undefined,
    autostart,
    uuid: uuidToString(net.uuid),
    active: copies.active,
    persistent: copies.persistent,
    configInSync: config !== null && atStart(config) === atStart(live) && hostSet(hostsOf(config)) === hostSet(hostsOf(live)),
  };
}

// ---------------------------------------------------------------------------------------------------------
// changing it

const COMMANDS: Record<DhcpHostChange["command"], number> = {
  add: NetworkUpdateCommand.AddLast,
  modify: NetworkUpdateCommand.Modify,
  delete: NetworkUpdateCommand.Delete,
};

async function applyHostChanges(client: LibvirtClient, net: NetworkRef, changes: DhcpHostChange[], flags: number): Promise<void> {
  // One at a time, in the planned order: each step must not meet an entry a later one removes.
  for (const change of changes) {
    await client.updateNetwork(net, COMMANDS[change.command], NetworkUpdateSection.IpDhcpHost, -1, dhcpHostXml(change.host), flags);
  }
}

/** Starts the network; a refusal (an address or bridge in use) keeps libvirt's words and names the resource. */
async function start(client: LibvirtClient, net: NetworkRef, name: string): Promise<void> {
  await client.startNetwork(net).catch((e) => {
    throw new ResourceError(subject(name), `libvirt did not start it: ${(e as Error).message}`, { cause: e });
  });
}

/**
 * Brings an existing network to what the inputs say: DHCP host entries in place on a running network (one call
 * for both copies when they agree, else each copy its own); anything the network starts with by defining it
 * again and restarting it (a stopped network is defined and started). A restart that fails to start the new
 * definition puts the old one back and starts that, then reports the refusal.
 */
async function converge(client: LibvirtClient, net: NetworkRef, inputs: NetworkInputs): Promise<void> {
  const copies = await readCopies(client, net);
  const spec = wantedSpec(inputs, copies.config ?? copies.live, uuidToString(net.uuid));
  const xml = buildNetworkXml(spec);
  if (!copies.active) {
    await client.defineNetwork(xml);
    await start(client, net, inputs.name);
  } else if (atStart(copies.live) !== specAtStart(spec)) {
    const before = await client.networkXml(net, { inactive: copies.persistent });
    await client.defineNetwork(xml);
    await client.destroyNetwork(net);
    try {
      await start(client, net, inputs.name);
    } catch (error) {
      await client.defineNetwork(before).then(() => client.startNetwork(net)).catch(() => undefined);
      throw new ResourceError(subject(inputs.name), `${(error as Error).message}; the previous definition was put back`, { cause: error });
    }
  } else {
    const wanted = spec.ipv4?.dhcp?.hosts ?? [];
    const liveChanges = planDhcpHostChanges(hostsOf(copies.live), wanted);
    const config = copies.config;
    const configChanges = config !== null && atStart(config) === specAtStart(spec) ? planDhcpHostChanges(hostsOf(config), wanted) : null;
    if (configChanges !== null && canonical(configChanges) === canonical(liveChanges)) {
      await applyHostChanges(client, net, liveChanges, NetworkUpdateFlags.AffectLive | NetworkUpdateFlags.AffectConfig);
    } else {
      await applyHostChanges(client, net, liveChanges, NetworkUpdateFlags.AffectLive);
      // A config that differs in more than its host entries (or is gone) is written whole.
      if (configChanges !== null) await applyHostChanges(client, net, configChanges, NetworkUpdateFlags.AffectConfig);
      else await client.defineNetwork(xml);
    }
  }
  if ((await client.networkAutostart(net)) !== inputs.autostart) await client.setNetworkAutostart(net, inputs.autostart);
}

/** Defines and starts a new network; anything failing after the define removes it again. */
async function createNew(client: LibvirtClient, inputs: NetworkInputs): Promise<NetworkOutputs> {
  const net = await client.defineNetwork(buildNetworkXml(wantedSpec(inputs, null))).catch((e) => {
    throw new ResourceError(subject(inputs.name), `libvirt refused the definition: ${(e as Error).message}`, { cause: e });
  });
  try {
    await start(client, net, inputs.name);
    if (inputs.autostart) await client.setNetworkAutostart(net, true);
    return await observe(client, net, inputs);
  } catch (error) {
    try {
      if (await client.isNetworkActive(net)) await client.destroyNetwork(net);
      await client.undefineNetwork(net);
    } catch (cleanup) {
      throw new ResourceError(
        subject(inputs.name),
        `${(error as Error).message}; removing the half-made network failed too (${(cleanup as Error).message}): remove it (virsh net-undefine ${inputs.name}), or set adopt: true`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** `adopt: true` over an existing network: its mode must be the one asked for; the rest is changed as an update would. */
async function adopt(client: LibvirtClient, net: NetworkRef, inputs: NetworkInputs): Promise<NetworkOutputs> {
  const { live, config } = await readCopies(client, net);
  const mode = (config ?? live).mode;
  if (mode !== inputs.mode) {
    throw new ResourceError(subject(inputs.name), `adopt: mode: the existing network's mode is ${mode}, the inputs say ${inputs.mode}; set mode: "${mode}" (a mode change replaces a network)`);
  }
  await converge(client, net, inputs);
  return observe(client, net, inputs);
}

// ---------------------------------------------------------------------------------------------------------
// the domains on it

interface Attachment {
  domain: string;
  running: boolean;
}

/** The domain went away, or stopped, between the listing and this read. */
function vanished(error: unknown): boolean {
  return error instanceof LibvirtError && (error.code === ErrorCode.NoDomain || error.code === ErrorCode.OperationInvalid);
}

/** Whether a domain XML has an interface on network `name`. */
function hasNicOn(xml: string | null, name: string): boolean {
  return xml !== null && parseDomainXml(xml).interfaces.some((nic) => nic.type === "network" && nic.source === name);
}

/** Domains with a NIC on the network in their running XML or their persistent config. */
async function domainsOnNetwork(client: LibvirtClient, name: string): Promise<Attachment[]> {
  const read = (p: Promise<string>) => p.catch((e) => (vanished(e) ? null : Promise.reject(e)));
  const on = async (dom: DomainRef): Promise<Attachment | null> => {
    const running = dom.id !== -1;
    const [live, config] = await Promise.all([running ? read(client.domainXml(dom)) : null, read(client.domainXml(dom, { inactive: true }))]);
    return hasNicOn(live, name) || hasNicOn(config, name) ? { domain: dom.name, running: running && hasNicOn(live, name) } : null;
  };
  const found = await Promise.all((await client.listAllDomains()).map(on));
  return found.filter((a): a is Attachment => a !== null).sort((a, b) => a.domain.localeCompare(b.domain));
}

const describeAttachments = (list: readonly Attachment[]): string =>
  list.map((a) => `${a.domain} (${a.running ? "running" : "stopped"})`).join(", ");

/** The preview names the domains a restart or a replace touches (best effort: a note is worth no failed preview). */
async function withAttachedNotes(olds: NetworkOutputs, classified: Classified[]): Promise<Classified[]> {
  if (!classified.some((c) => c.class === "restart" || c.class === "replace") || typeof olds.name !== "string") return classified;
  const attached = await clientFor(olds.uri)
    .then((client) => domainsOnNetwork(client, olds.name))
    .catch(() => []);
  if (attached.length === 0) return classified;
  const running = attached.filter((a) => a.running);
  return classified.map((c) => {
    if (c.class === "restart") return { ...c, reason: `${c.reason}; attached: ${describeAttachments(attached)}` };
    if (c.class === "replace" && running.length > 0) {
      return { ...c, reason: `${c.reason}; running domain ${running.map((a) => a.domain).join(", ")} has a NIC on it, so up will refuse the delete` };
    }
    return c;
  });
}

/** New host entries that are the recorded ones in another order compare as the recorded list. */
function inRecordedOrder(olds: NetworkOutputs, news: NetworkInputs): NetworkInputs {
  const had = olds.ipv4?.dhcp?.hosts;
  const given = news.ipv4?.dhcp;
  if (!had || !given || containsUnknown(given.hosts) || hostSet(had.map(plainHost)) !== hostSet(given.hosts.map(plainHost))) return news;
  return { ...news, ipv4: { ...news.ipv4!, dhcp: { ...given, hosts: had } } };
}

/** A preview note when the new network's subnet overlaps one libvirt already has: it would refuse to start it. */
async function overlapNote(client: LibvirtClient, inputs: NetworkInputs): Promise<string | null> {
  const own = inputs.ipv4 && !containsUnknown(inputs.ipv4) ? ipv4ToNumber(inputs.ipv4.address) : null;
  if (own === null || !inputs.ipv4) return null;
  const mine = subnetOf(own, inputs.ipv4.prefixLength);
  for (const net of await client.listAllNetworks()) {
    const ipv4 = parseNetworkXml(await client.networkXml(net)).ipv4;
    const address = ipv4 ? ipv4ToNumber(ipv4.address) : null;
    if (!ipv4 || address === null) continue;
    const theirs = subnetOf(address, ipv4.prefixLength);
    if (theirs.network <= mine.broadcast && mine.network <= theirs.broadcast) {
      return `${subject(inputs.name)}: its subnet ${describeSubnet(mine)} overlaps network ${net.name}'s ${describeSubnet(theirs)}; libvirt refuses to start two networks on one subnet`;
    }
  }
  return null;
}

export const network: ResourceHandlers<NetworkInputs, NetworkOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    const situation: Situation = { running: olds.active !== false, restart: "allow" };
    const compared = inRecordedOrder(olds, news);
    const classified = changedInputs(KIND, olds, compared, inputFields(KIND)).map((f) => classifyField(KIND, f, olds, compared, situation));
    classified.push(...networkStateDrift(olds, classified));
    return planDiff(subject(news.name), await withAttachedNotes(olds, classified));
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const existing = await findNetwork(client, inputs.name);
    if (existing && inputs.adopt) {
      const outs = await adopt(client, existing, inputs);
      return { id: outs.uuid, outs };
    }
    if (existing) {
      // Never take over a network Pulumi did not make unless told to: deleting the stack would delete it.
      throw new ResourceError(
        subject(inputs.name),
        `a network named "${inputs.name}" already exists; set adopt: true to take it over (the stack then deletes it with the rest), pick another name, or remove it`,
      );
    }
    const outs = await createNew(client, inputs);
    return { id: outs.uuid, outs };
  },

  async read(id, props) {
    const client = await clientFor(props.uri);
    const net = await findNetwork(client, props.uuid ?? id);
    if (net === null) return { id: "", props };
    return { id, props: await observe(client, net, props) };
  },

  async update(id, olds, news) {
    const client = await clientFor(news.uri);
    const net = await findNetwork(client, olds.uuid ?? id);
    if (net === null) throw new ResourceError(subject(news.name), "the network is gone (undefined outside Pulumi): run `pulumi refresh`, then `pulumi up` creates it again");
    await converge(client, net, news);
    return { outs: await observe(client, net, news) };
  },

  async delete(id, props) {
    const client = await clientFor(props.uri);
    const net = await findNetwork(client, props.uuid ?? id);
    if (net === null) return;
    const running = (await domainsOnNetwork(client, net.name)).filter((a) => a.running);
    if (running.length > 0) {
      throw new ResourceError(
        subject(props.name),
        `still used by running domain ${running.map((a) => a.domain).join(", ")}; stop it or detach its NIC (its Interface resource) first: deleting the network would leave the NIC without a bridge`,
      );
    }
    if (await client.isNetworkActive(net)) await client.destroyNetwork(net);
    if (await client.isNetworkPersistent(net).catch((e) => (isNoNetwork(e) ? false : Promise.reject(e)))) await client.undefineNetwork(net);
  },

  async describeCreate(inputs) {
    const plain = `${subject(inputs.name)}: define and start (${inputs.mode}${inputs.ipv4 && !containsUnknown(inputs.ipv4) ? ` ${inputs.ipv4.address}/${inputs.ipv4.prefixLength}` : ""})`;
    if ([inputs.uri, inputs.name].some(isUnknown)) return plain;
    const client = await clientFor(inputs.uri);
    const existing = await findNetwork(client, inputs.name);
    if (existing) {
      if (!inputs.adopt) return `${subject(inputs.name)}: a network of that name already exists; up will fail unless the Network sets adopt: true`;
      const { live, config } = await readCopies(client, existing);
      const mode = (config ?? live).mode;
      return mode === inputs.mode
        ? `${subject(inputs.name)}: adopt the existing network (DHCP host entries change live; a different subnet, DHCP range, bridge or MTU restarts it)`
        : `${subject(inputs.name)}: the existing network's mode is ${mode}, the inputs say ${inputs.mode}: up will refuse to adopt it`;
    }
    return (await overlapNote(client, inputs)) ?? plain;
  },
};
