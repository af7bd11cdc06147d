// Domain: a libvirt/QEMU virtual machine, defined persistently and started when `running`. Memory and vcpus
// within their maximums change live; what QEMU reads only at start goes to the config (pendingRestart) or,
// with restart: "allow", through a shutdown and start.
import { Affect, DomainRef, isNotFound, LibvirtClient, UndefineFlags, uuidToString } from "../libvirt";
import { DomainEdit, editDomainXml, inlineDiskAlias, inlineNicAlias, isDomainNic, isInlineDiskAlias, matchInlineDisks, sameMachine } from "../vocab/domain-edit";
import {
  buildDomainXml,
  DEFAULT_HOTPLUG_SLOTS,
  DomainBoot,
  DomainDiskSpec,
  DomainSpec,
  InterfaceSpec,
  ParsedDomain,
  ParsedOs,
} from "../vocab/domain-xml";
import type { ParsedDisk } from "../vocab/disk-xml";
import { changedInputs, Classified, classifyField, overall, ResourceKind, Situation } from "./classify";
import { detectDomainType } from "./host-facts";
import { clientFor, planDiff, ResourceError, ResourceHandlers } from "./handler";
import { inputFields } from "./validate";
import type { DomainDiskInputs, DomainGraphicsInputs, DomainInputs, DomainNetworkInputs } from "./inputs";
import { waitForAgent } from "./agent";
import { DomainView, forgetSharedViews, freshView, lookupOrNull, viewDomainForRead } from "./domain-view";
import { stopDomain } from "./domain-state";
import { withDomainLock } from "./locks";
import { defaultUri } from "../libvirt/pool";
import { isLibvirtDefaultBoot } from "../vocab/boot-order";
import { sharedGuestNetworkView, waitForAddresses, type InterfaceAddress } from "./addresses";

const KIND: ResourceKind = "Domain";

export interface DomainOutputs extends DomainInputs {
  uuid: string;
  /** libvirt's runtime id (-1 when not running). */
  domainId: number;
  state: string;
  /** The persistent config differs from what runs: a change waits for the next boot. */
  pendingRestart: boolean;
  /** What the balloon reports now; differs from memoryMiB until a guest driver gives the memory back. */
  liveMemoryMiB: number | null;
  /** The Domain's own NICs (`networks`), in order: MAC, the guest's name for it, its addresses. */
  interfaces: DomainNic[];
}

export interface DomainNic {
  mac: string;
  /** The guest's interface name (eth0 …) as the agent reports it; null without an agent answer. */
  name: string | null;
  addresses: InterfaceAddress[];
}

const MIB = 1024;

function bootOf(inputs: DomainInputs): DomainBoot | undefined {
  const boot = inputs.boot;
  if (boot?.kernel) return { kernel: boot.kernel, initrd: boot.initrd, cmdline: boot.cmdline };
  return boot?.devices ? { devices: boot.devices } : undefined;
}

/** Per-device boot order (no boot.devices and no disk's own order): the first inline disk boots first. */
function firstDiskBoots(inputs: DomainInputs): boolean {
  return inputs.boot?.devices === undefined && !inputs.disks.some((d) => d.bootOrder !== undefined);
}

function diskSpec(d: DomainDiskInputs): DomainDiskSpec {
  return { device: "disk", bus: d.bus, target: d.target, source: d.source, format: d.format, readonly: d.readonly, serial: d.serial, bootOrder: d.bootOrder };
}

function inlineDisks(inputs: DomainInputs): DomainDiskSpec[] {
  return inputs.disks.map((d, i) => ({
    ...diskSpec(d),
    // Per-device boot order keeps later Disk/Cdrom resources free to carry one (libvirt forbids mixing it
    // with <os><boot dev>), so the first disk boots first unless the user said otherwise.
    bootOrder: d.bootOrder ?? (firstDiskBoots(inputs) && i === 0 ? 1 : undefined),
    alias: inlineDiskAlias(i),
  }));
}

/** A NIC names a libvirt network or a host bridge; with neither, QEMU's user-mode networking (as schema.json says). */
function interfaces(inputs: DomainInputs): InterfaceSpec[] {
  return inputs.networks.map((n, i) => {
    const common = { model: n.model, mac: n.mac, alias: inlineNicAlias(i) };
    if (n.network) return { type: "network" as const, network: n.network, ...common };
    if (n.bridge) return { type: "bridge" as const, bridge: n.bridge, ...common };
    return { type: "user" as const, ...common };
  });
}

function domainSpec(inputs: DomainInputs, chosen: { type: "kvm" | "qemu" }): DomainSpec {
  return {
    name: inputs.name,
    type: chosen.type,
    memoryKiB: inputs.memoryMiB * MIB,
    maxMemoryKiB: (inputs.maxMemoryMiB ?? inputs.memoryMiB) * MIB,
    vcpus: inputs.vcpus,
    maxVcpus: inputs.maxVcpus ?? inputs.vcpus,
    machine: inputs.machine ?? "pc",
    arch: inputs.arch ?? "x86_64",
    boot: bootOf(inputs),
    disks: inlineDisks(inputs),
    interfaces: interfaces(inputs),
    guestAgent: inputs.guestAgent,
    graphics: inputs.graphics ? { type: "vnc", listen: inputs.graphics.listen } : { type: "vnc", listen: "127.0.0.1" },
    pcieHotplugPorts: inputs.hotplugSlots ?? DEFAULT_HOTPLUG_SLOTS,
  };
}

/**
 * What a redefine changes in the current config: the parts the Domain owns, as the new inputs say. The console
 * is touched only when the inputs name one or dropped theirs (an adopted domain keeps its own).
 */
function domainEdit(news: DomainInputs, olds: DomainOutputs): DomainEdit {
  return {
    memoryKiB: news.memoryMiB * MIB,
    maxMemoryKiB: (news.maxMemoryMiB ?? news.memoryMiB) * MIB,
    vcpus: news.vcpus,
    maxVcpus: news.maxVcpus ?? news.vcpus,
    machine: news.machine,
    boot: bootOf(news) ?? null,
    inlineDisks: news.disks.map(diskSpec),
    firstDiskBoots: firstDiskBoots(news),
    interfaces: interfaces(news),
    guestAgent: news.guestAgent,
    graphics: news.graphics ? { type: "vnc", listen: news.graphics.listen } : olds.graphics ? { type: "vnc", listen: "127.0.0.1" } : undefined,
    hotplugSlots: news.hotplugSlots ?? DEFAULT_HOTPLUG_SLOTS,
  };
}

/**
 * Whether what runs differs from the config in anything QEMU reads only at start: what the Domain owns, and
 * devices that wait in the config for the next boot (a sata Disk on a running domain). A device that runs but
 * differs from its config entry (removed from the config, another medium) is its Disk's or Cdrom's drift: they read
 * it back and `up` repairs it after this domain's read, so counting it here left a stale `pendingRestart` in the
 * state after `up --refresh` (the next preview showed `pendingRestart: true => false`).
 */
function configDiffersFromLive(live: ParsedDomain, config: ParsedDomain): boolean {
  const key = (d: ParsedDomain) =>
    JSON.stringify({
      max: d.maxMemoryKiB,
      vcpuMax: d.vcpus?.max,
      os: d.os,
      disks: d.disks.filter((x) => isInlineDiskAlias(x.alias)).map((x) => [x.target, x.bus, x.source, x.readonly]).sort(),
      nics: d.interfaces.filter((x) => isDomainNic(x.alias)).map((x) => [x.type, x.source, x.model]),
      agent: d.hasGuestAgentChannel,
    });
  const running = (d: ParsedDisk) => live.disks.some((l) => (d.alias !== null ? l.alias === d.alias : l.target === d.target));
  return key(live) !== key(config) || config.disks.some((d) => !isInlineDiskAlias(d.alias) && !running(d));
}

/** The read value under an input the inputs give; left out where they leave it out. */
const kept = <T>(input: T | undefined, value: T): T | undefined => (input === undefined ? undefined : value);

/** The Domain's own NICs with what the guest and the networks' leases say about them (nothing while stopped). */
async function domainNics(client: LibvirtClient, view: DomainView): Promise<DomainNic[]> {
  const nics = (view.live ?? view.config).interfaces.filter((n) => isDomainNic(n.alias) && n.mac !== null);
  if (nics.length === 0) return [];
  // Shared with the reads of the domain's Interfaces in the same refresh.
  const guest = view.live ? await sharedGuestNetworkView(client, view.dom) : null;
  return nics.map((n) => {
    const mac = n.mac!.toLowerCase();
    return { mac, name: guest?.guestNames.get(mac) ?? null, addresses: guest?.addresses.get(mac) ?? [] };
  });
}

/** The MACs of the NICs on a libvirt network: the ones `waitForAddressSeconds` waits for. */
function networkNicMacs(view: DomainView): string[] {
  return (view.live ?? view.config).interfaces.filter((n) => isDomainNic(n.alias) && n.type === "network" && n.mac !== null).map((n) => n.mac!);
}

/** Waits for the guest's addresses when the inputs ask for it and the domain runs. */
async function awaitAddresses(client: LibvirtClient, dom: DomainRef, inputs: DomainInputs): Promise<void> {
  if (!inputs.waitForAddressSeconds || dom.id === -1) return;
  const macs = networkNicMacs(await freshView(client, dom));
  if (macs.length > 0) await waitForAddresses(client, dom, macs, inputs.waitForAddressSeconds);
}

/** The outputs, from a view of the domain (fresh after a change; shared with its devices' reads in a refresh). */
async function observe(client: LibvirtClient, view: DomainView, recorded: DomainInputs): Promise<DomainOutputs> {
  const { dom: fresh, config, live, running } = view;
  const [{ autostart, state }, interfaces] = await Promise.all([view.lifecycle(), domainNics(client, view)]);
  return {
    ...recorded,
    // Read back under the input names, so refresh + diff shows changes made behind Pulumi's back.
    name: config.name,
    type: config.type as DomainInputs["type"],
    memoryMiB: Math.round((config.memoryKiB ?? 0) / MIB),
    maxMemoryMiB: kept(recorded.maxMemoryMiB, Math.round((config.maxMemoryKiB ?? 0) / MIB)),
    vcpus: (live ?? config).vcpus?.current ?? recorded.vcpus,
    maxVcpus: kept(recorded.maxVcpus, config.vcpus?.max ?? recorded.vcpus),
    running,
    autostart,
    uuid: uuidToString(fresh.uuid),
    domainId: fresh.id,
    state,
    pendingRestart: live !== null && configDiffersFromLive(live, config),
    liveMemoryMiB: live ? Math.round((live.memoryKiB ?? 0) / MIB) : null,
    interfaces,
  };
}

function situation(olds: DomainOutputs, news: DomainInputs): Situation {
  return { running: olds.running, restart: news.restart, machine: olds.machine, transient: olds.persistent === false };
}

/**
 * Recorded outputs hold `maxMemoryMiB` and `maxVcpus` only where the inputs gave them. A program that starts
 * declaring a ceiling equal to the one the domain has changes nothing: the recorded side gets the domain's real
 * ceiling from its config, so only a different value is a change.
 */
async function withRealCeilings(uri: string | undefined, id: string, olds: DomainOutputs, news: DomainInputs): Promise<DomainOutputs> {
  const memory = olds.maxMemoryMiB === undefined && typeof news.maxMemoryMiB === "number";
  const vcpus = olds.maxVcpus === undefined && typeof news.maxVcpus === "number";
  if (!memory && !vcpus) return olds;
  const view = await viewDomainForRead(await clientFor(uri), id, { prefetch: false }).catch(() => null);
  if (!view) return olds;
  return {
    ...olds,
    maxMemoryMiB: memory && view.config.maxMemoryKiB ? Math.round(view.config.maxMemoryKiB / MIB) : olds.maxMemoryMiB,
    maxVcpus: vcpus ? (view.config.vcpus?.max ?? olds.maxVcpus) : olds.maxVcpus,
  };
}

function classifyDomainChanges(olds: DomainOutputs, news: DomainInputs): Classified[] {
  const fields = changedInputs(KIND, olds, news, inputFields(KIND));
  return fields.map((f) => classifyField(KIND, f, olds, news, situation(olds, news)));
}

// ---------------------------------------------------------------------------------------------
// Adoption: an existing domain read back in the inputs' terms, so the diff's own classification says what
// taking it over changes.

const orUndefined = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function readBoot(os: ParsedOs): DomainInputs["boot"] {
  if (os.kernel !== null) return { kernel: os.kernel, initrd: orUndefined(os.initrd), cmdline: orUndefined(os.cmdline) };
  // libvirt writes <boot dev='hd'/> by itself when nothing else says how to boot: that is no boot input.
  if (isLibvirtDefaultBoot(os.bootDevices)) return undefined;
  return { devices: os.bootDevices as ("hd" | "cdrom" | "network")[] };
}

function readDisks(config: ParsedDomain, inputs: readonly DomainDiskInputs[]): DomainDiskInputs[] {
  const found = matchInlineDisks(config.disks, inputs.map((d) => d.source));
  const matched = inputs.flatMap((d, i) => {
    const j = found[i];
    const disk = j === null || j === undefined ? undefined : config.disks[j];
    if (disk === undefined) return [];
    return [
      {
        source: disk.source ?? "",
        format: (disk.format ?? "raw") as DomainDiskInputs["format"],
        bus: disk.bus as DomainDiskInputs["bus"],
        target: kept(d.target, disk.target),
        readonly: disk.readonly,
        serial: kept(d.serial, disk.serial ?? ""),
        bootOrder: kept(d.bootOrder, disk.bootOrder ?? 0),
      },
    ];
  });
  // Inline disks the inputs no longer list: a redefine removes them, so they count as a change.
  const taken = new Set(found);
  const leftover = config.disks
    .filter((d, j) => !taken.has(j) && isInlineDiskAlias(d.alias))
    .map((d) => ({ source: d.source ?? "", format: (d.format ?? "raw") as DomainDiskInputs["format"], bus: d.bus as DomainDiskInputs["bus"], readonly: d.readonly }));
  return [...matched, ...leftover];
}

function readNetworks(config: ParsedDomain, inputs: readonly DomainNetworkInputs[]): DomainNetworkInputs[] {
  return config.interfaces
    .filter((n) => isDomainNic(n.alias))
    .map((n, i) => {
      const model = (n.model ?? "virtio") as DomainNetworkInputs["model"];
      const mac = kept(inputs[i]?.mac, n.mac ?? "");
      if (n.type === "network") return { network: n.source ?? "", model, mac };
      if (n.type === "bridge") return { bridge: n.source ?? "", model, mac };
      if (n.type === "user") return { model, mac };
      // A kind the inputs cannot express (direct, vhostuser, …) never equals an input: it shows as a change.
      return { model, mac, [n.type]: n.source } as DomainNetworkInputs;
    });
}

function readGraphics(config: ParsedDomain, input: DomainGraphicsInputs | undefined): DomainGraphicsInputs | undefined {
  const g = config.graphics[0];
  if (g === undefined) return undefined;
  return { type: g.type as "vnc", listen: g.listen ?? "127.0.0.1", port: input?.port };
}

/** An existing domain as if this stack had recorded it: the "olds" an adoption is diffed against. */
async function adoptedOlds(client: LibvirtClient, view: DomainView, inputs: DomainInputs): Promise<DomainOutputs> {
  const { config } = view;
  const machine = inputs.machine !== undefined && sameMachine(config.machine ?? undefined, inputs.machine) ? inputs.machine : orUndefined(config.machine);
  const outs = await observe(client, view, {
    // uri, restart, timeouts, adopt, hotplugSlots: how this stack handles the domain, not part of it.
    ...inputs,
    machine,
    arch: orUndefined(config.arch) as DomainInputs["arch"],
    boot: readBoot(config.os),
    disks: readDisks(config, inputs.disks),
    networks: readNetworks(config, inputs.networks),
    guestAgent: config.hasGuestAgentChannel,
    graphics: readGraphics(config, inputs.graphics),
  });
  // observe reads the ceilings only where the inputs give them; one the domain has and the inputs leave out
  // would be lowered, which is a change too.
  const maxMemoryMiB = Math.round((config.maxMemoryKiB ?? 0) / MIB);
  const maxVcpus = config.vcpus?.max ?? outs.vcpus;
  return {
    ...outs,
    maxMemoryMiB: inputs.maxMemoryMiB !== undefined || maxMemoryMiB !== outs.memoryMiB ? maxMemoryMiB : undefined,
    maxVcpus: inputs.maxVcpus !== undefined || maxVcpus !== (config.vcpus?.current ?? maxVcpus) ? maxVcpus : undefined,
  };
}

/** What taking over `view` would change; a change that needs a new domain cannot be adopted. */
async function adoptionChanges(client: LibvirtClient, view: DomainView, inputs: DomainInputs): Promise<{ olds: DomainOutputs; changes: Classified[] }> {
  const olds = await adoptedOlds(client, view, inputs);
  const changes = classifyDomainChanges(olds, inputs);
  const replaces = changes.filter((c) => c.class === "replace");
  if (replaces.length > 0) {
    const value = (v: object, field: string) => JSON.stringify((v as Record<string, unknown>)[field]);
    const what = replaces.map((c) => `${c.field}: ${value(olds, c.field)} → ${value(inputs, c.field)}`);
    throw new ResourceError(`${KIND} ${inputs.name}`, `cannot adopt the existing domain: ${what.join(", ")} cannot change in place (${replaces[0]!.reason})`);
  }
  return { olds, changes };
}

// ---------------------------------------------------------------------------------------------
// Changing a domain: update, and an adoption that found differences

/**
 * Applies the changes from `olds` to `news` to the domain: live where they can be, in the config otherwise (a
 * redefine from the current persistent XML that touches only what the Domain owns), then stop/start as needed.
 * Under the domain's lock, so a Disk or Cdrom changing the config at the same moment is not overwritten.
 */
async function applyChanges(client: LibvirtClient, uuid: string, olds: DomainOutputs, news: DomainInputs): Promise<DomainOutputs> {
  forgetSharedViews();
  const classified = classifyDomainChanges(olds, news);
  const byField = new Map(classified.map((c) => [c.field, c.class]));
  const deferred = classified.filter((c) => c.class === "next-boot" || c.class === "restart");
  const type = (olds.type ?? news.type ?? "qemu") as "kvm" | "qemu";
  const tunables = ["memoryMiB", "vcpus", "running", "autostart"];
  const restartNow = overall(classified) === "restart";

  const transient = olds.persistent === false;
  const { dom, started } = await withDomainLock(uuid, async () => {
    let dom = await client.lookupDomainByUuid(uuid);
    const running = dom.id !== -1;
    // A transient domain has no config to redefine: what cannot change live recreates it from its new XML.
    if (transient) return restartTransient(client, dom, restartNow ? domainEdit({ ...news, type }, olds) : null, byField, news);
    const redefine = deferred.length > 0 || (!running && classified.some((c) => !tunables.includes(c.field)));
    if (redefine) {
      const current = await client.domainXml(dom, { inactive: true });
      dom = await client.defineDomain(editDomainXml(current, domainEdit({ ...news, type }, olds)));
    }
    // The config already holds the new values after a redefine; a running domain still needs them live.
    const flags = (running ? Affect.Live : 0) | (redefine ? 0 : Affect.Config);
    if (flags !== 0) {
      if (byField.get("memoryMiB") === "live") await client.setMemory(dom, BigInt(news.memoryMiB * MIB), flags);
      if (byField.get("vcpus") === "live") await client.setVcpus(dom, news.vcpus, flags);
    }
    if (byField.has("autostart")) await client.setAutostart(dom, news.autostart);
    if (running && (restartNow || !news.running)) await stopDomain(client, dom, news.shutdownTimeoutSeconds, news.guestAgent);
    const start = news.running && (restartNow || !running);
    if (start) dom = await client.startDomain(dom);
    return { dom, started: start };
  });
  if (started && news.waitForAgentSeconds) await waitForAgent(client, dom, news.waitForAgentSeconds);
  if (started) await awaitAddresses(client, dom, news);
  return observe(client, await freshView(client, dom), { ...news, type, machine: news.machine ?? olds.machine, arch: news.arch ?? olds.arch });
}

/**
 * Changes a transient domain: live tunables on the running copy only; with `edit`, a stop and a new create from
 * its current XML with the edit applied (the same name, a new QEMU).
 */
async function restartTransient(
  client: LibvirtClient,
  dom: DomainRef,
  edit: DomainEdit | null,
  byField: Map<string, string>,
  news: DomainInputs,
): Promise<{ dom: DomainRef; started: boolean }> {
  if (edit) {
    const current = await client.domainXml(dom, { inactive: true });
    await stopDomain(client, dom, news.shutdownTimeoutSeconds, news.guestAgent);
    return { dom: await client.createDomainXml(editDomainXml(current, edit)), started: true };
  }
  if (byField.get("memoryMiB") === "live") await client.setMemory(dom, BigInt(news.memoryMiB * MIB), Affect.Live);
  if (byField.get("vcpus") === "live") await client.setVcpus(dom, news.vcpus, Affect.Live);
  return { dom, started: false };
}

async function lookupByName(client: LibvirtClient, name: string): Promise<DomainRef | null> {
  return client.lookupDomainByName(name).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
}

/** Removes a domain this create defined, so the next up finds no unrecorded domain of that name. */
async function discard(client: LibvirtClient, dom: DomainRef): Promise<void> {
  // Undefining a running domain only makes it transient, so it is destroyed first.
  await client.destroyDomain(dom).catch(() => undefined);
  await client.undefineDomain(dom, UndefineFlags.ManagedSave | UndefineFlags.SnapshotsMetadata | UndefineFlags.Nvram).catch(() => undefined);
}

export const domain: ResourceHandlers<DomainInputs, DomainOutputs> = {
  kind: KIND,

  async diff(id, olds, news) {
    return planDiff(`Domain ${news.name}`, classifyDomainChanges(await withRealCeilings(olds.uri, id, olds, news), news));
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const subject = `${KIND} ${inputs.name}`;
    const existing = await lookupByName(client, inputs.name);
    if (existing) {
      if (!inputs.adopt) {
        throw new ResourceError(subject, `a domain named "${inputs.name}" already exists; set adopt: true to take it over, pick another name, or remove it (virsh undefine)`);
      }
      // Taken over as it is: what differs from the inputs is applied exactly as an update would.
      forgetSharedViews();
      const { olds } = await adoptionChanges(client, await freshView(client, existing), inputs);
      const outs = await applyChanges(client, uuidToString(existing.uuid), olds, inputs);
      return { id: outs.uuid, outs };
    }
    const type = inputs.type ?? detectDomainType(inputs.uri ?? defaultUri());
    const xml = buildDomainXml(domainSpec(inputs, { type }));
    // Transient: created running from its XML, with no config; it is gone once it stops.
    const defined = inputs.persistent === false ? await client.createDomainXml(xml) : await client.defineDomain(xml);
    const uuid = uuidToString(defined.uuid);
    return withDomainLock(uuid, async () => {
      let dom = defined;
      try {
        if (inputs.autostart) await client.setAutostart(dom, true);
        if (inputs.running && inputs.persistent !== false) dom = await client.startDomain(dom);
        // So GuestExec and anything else that needs the guest can depend on this resource.
        if (inputs.running && inputs.waitForAgentSeconds) await waitForAgent(client, dom, inputs.waitForAgentSeconds);
        if (inputs.running) await awaitAddresses(client, dom, inputs);
        const outs = await observe(client, await freshView(client, dom), { ...inputs, type, machine: inputs.machine ?? "pc", arch: inputs.arch ?? "x86_64" });
        return { id: outs.uuid, outs };
      } catch (error) {
        // Leave nothing half-made behind: the next up must not find an unrecorded domain of the same name.
        await discard(client, dom);
        throw new ResourceError(subject, (error as Error).message, { cause: error });
      }
    });
  },

  async read(id, props) {
    const client = await clientFor(props.uri);
    const view = await viewDomainForRead(client, id);
    if (!view) return { id: "", props };
    return { id, props: await observe(client, view, props) };
  },

  async update(id, olds, news) {
    const client = await clientFor(news.uri);
    return { outs: await applyChanges(client, id, await withRealCeilings(olds.uri, id, olds, news), news) };
  },

  async delete(id, props) {
    const client = await clientFor(props.uri);
    const dom = await lookupOrNull(client, id);
    if (!dom) return;
    forgetSharedViews();
    await withDomainLock(uuidToString(dom.uuid), async () => {
      await stopDomain(client, dom, props.shutdownTimeoutSeconds, props.guestAgent);
      // A transient domain is gone once it stops; there is no config to undefine.
      if (props.persistent === false) return;
      // Nothing left behind: managed-save image, snapshot and checkpoint metadata, nvram.
      await client.undefineDomain(
        dom,
        UndefineFlags.ManagedSave | UndefineFlags.SnapshotsMetadata | UndefineFlags.CheckpointsMetadata | UndefineFlags.Nvram,
      );
    });
  },

  async describeCreate(inputs) {
    const subject = `${KIND} ${inputs.name}`;
    const define = inputs.persistent === false ? `${subject}: create and start, transient (gone when it stops)` : `${subject}: define${inputs.running ? " and start" : ""}`;
    if (typeof inputs.name !== "string") return define;
    const client = await clientFor(inputs.uri);
    const existing = await lookupByName(client, inputs.name);
    if (!existing) return define;
    if (!inputs.adopt) return `${subject}: a domain of this name already exists; up will fail unless the Domain sets adopt: true`;
    const view = await viewDomainForRead(client, uuidToString(existing.uuid), { prefetch: false });
    if (!view) return define;
    const { changes } = await adoptionChanges(client, view, inputs);
    if (changes.length === 0) return `${subject}: adopt existing domain (no restart)`;
    return `${subject}: adopt existing domain; ${changes.map((c) => `${c.field} → ${c.class} (${c.reason})`).join("; ")}`;
  },
};
