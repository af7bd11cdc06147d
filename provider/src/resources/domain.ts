// Domain: a libvirt/QEMU virtual machine, defined persistently and started when `running`. Memory and vcpus
// within their maximums change live; what QEMU reads only at start goes to the config (pendingRestart) or,
// with restart: "allow", through a shutdown and start.
import { Affect, isNotFound, UndefineFlags, uuidToString } from "../libvirt";
import { diskSpecFromParsed } from "../vocab/disk-xml";
import { buildDomainXml, DomainDiskSpec, DomainSpec, parseDomainXml, ParsedDomain } from "../vocab/domain-xml";
import { changedInputs, Classified, classifyField, overall, ResourceKind, Situation } from "./classify";
import { detectDomainType } from "./host-facts";
import { clientFor, planDiff, ResourceError, ResourceHandlers } from "./handler";
import { inputFields } from "./validate";
import type { DomainInputs } from "./inputs";
import { waitForAgent } from "./agent";
import { DomainView, forgetSharedViews, freshView, lookupOrNull, viewDomainForRead } from "./domain-view";
import { stopDomain } from "./domain-state";
import { defaultUri } from "../libvirt/pool";

const KIND: ResourceKind = "Domain";
/** Inline disks carry these aliases, so a redefine can tell them from disks that Disk/Cdrom resources attached. */
const INLINE_ALIAS_PREFIX = "ua-inline-";

export interface DomainOutputs extends DomainInputs {
  uuid: string;
  /** libvirt's runtime id (-1 when not running). */
  domainId: number;
  state: string;
  /** The persistent config differs from what runs: a change waits for the next boot. */
  pendingRestart: boolean;
  /** What the balloon reports now; differs from memoryMiB until a guest driver gives the memory back. */
  liveMemoryMiB: number | null;
}

const MIB = 1024;

function inlineDisks(inputs: DomainInputs): DomainDiskSpec[] {
  const usesDeviceBoot = inputs.boot?.devices !== undefined;
  const anyBootOrder = inputs.disks.some((d) => d.bootOrder !== undefined);
  return inputs.disks.map((d, i) => ({
    device: "disk",
    bus: d.bus,
    target: d.target,
    source: d.source,
    format: d.format,
    readonly: d.readonly,
    serial: d.serial,
    // Per-device boot order keeps later Disk/Cdrom resources free to carry one (libvirt forbids mixing it
    // with <os><boot dev>), so the first disk boots first unless the user said otherwise.
    bootOrder: d.bootOrder ?? (!usesDeviceBoot && !anyBootOrder && i === 0 ? 1 : undefined),
    alias: `${INLINE_ALIAS_PREFIX}${i}`,
  }));
}

function domainSpec(inputs: DomainInputs, chosen: { type: "kvm" | "qemu"; uuid?: string }, keepDisks: DomainDiskSpec[] = []): DomainSpec {
  const boot = inputs.boot;
  return {
    name: inputs.name,
    uuid: chosen.uuid,
    type: chosen.type,
    memoryKiB: inputs.memoryMiB * MIB,
    maxMemoryKiB: (inputs.maxMemoryMiB ?? inputs.memoryMiB) * MIB,
    vcpus: inputs.vcpus,
    maxVcpus: inputs.maxVcpus ?? inputs.vcpus,
    machine: inputs.machine ?? "pc",
    arch: inputs.arch ?? "x86_64",
    boot: boot?.kernel ? { kernel: boot.kernel, initrd: boot.initrd, cmdline: boot.cmdline } : boot?.devices ? { devices: boot.devices } : undefined,
    disks: [...inlineDisks(inputs), ...keepDisks],
    interfaces: inputs.networks.map((n) =>
      n.network ? { type: "network" as const, network: n.network, model: n.model, mac: n.mac } : { type: "bridge" as const, bridge: n.bridge!, model: n.model, mac: n.mac },
    ),
    guestAgent: inputs.guestAgent,
    graphics: inputs.graphics ? { type: "vnc", listen: inputs.graphics.listen } : { type: "vnc", listen: "127.0.0.1" },
  };
}

/** Disks in the config that Disk and Cdrom resources attached: a redefine must keep them. */
function attachedDisks(config: ParsedDomain): DomainDiskSpec[] {
  return config.disks.filter((d) => !d.alias?.startsWith(INLINE_ALIAS_PREFIX)).map(diskSpecFromParsed);
}

/** Whether what runs differs from the config in anything QEMU reads only at start. */
function configDiffersFromLive(live: ParsedDomain, config: ParsedDomain): boolean {
  const key = (d: ParsedDomain) =>
    JSON.stringify({
      max: d.maxMemoryKiB,
      vcpuMax: d.vcpus?.max,
      os: d.os,
      disks: d.disks.map((x) => [x.target, x.bus, x.source, x.readonly]).sort(),
      nics: d.interfaces.map((x) => [x.type, x.source, x.model]),
      agent: d.hasGuestAgentChannel,
    });
  return key(live) !== key(config);
}

/** The outputs, from a view of the domain (fresh after a change; shared with its devices' reads in a refresh). */
async function observe(view: DomainView, recorded: DomainInputs): Promise<DomainOutputs> {
  const { dom: fresh, config, live, running } = view;
  const kept = <T>(input: T | undefined, value: T): T | undefined => (input === undefined ? undefined : value);
  const { autostart, state } = await view.lifecycle();
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
  };
}

function situation(olds: DomainOutputs, news: DomainInputs): Situation {
  return { running: olds.running, restart: news.restart, machine: olds.machine };
}

function classifyDomainChanges(olds: DomainOutputs, news: DomainInputs): Classified[] {
  const fields = changedInputs(KIND, olds, news, inputFields(KIND));
  return fields.map((f) => classifyField(KIND, f, olds, news, situation(olds, news)));
}

export const domain: ResourceHandlers<DomainInputs, DomainOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    return planDiff(`Domain ${news.name}`, classifyDomainChanges(olds, news));
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const type = inputs.type ?? detectDomainType(inputs.uri ?? defaultUri());
    const existing = await client.lookupDomainByName(inputs.name).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
    if (existing) {
      throw new ResourceError(`${KIND} ${inputs.name}`, `a domain named "${inputs.name}" already exists; pick another name or remove it (virsh undefine)`);
    }
    let dom = await client.defineDomain(buildDomainXml(domainSpec(inputs, { type })));
    try {
      if (inputs.autostart) await client.setAutostart(dom, true);
      if (inputs.running) dom = await client.startDomain(dom);
      // So GuestExec and anything else that needs the guest can depend on this resource.
      if (inputs.running && inputs.waitForAgentSeconds) await waitForAgent(client, dom, inputs.waitForAgentSeconds);
    } catch (error) {
      // Leave nothing half-made behind: the next up must not find an unrecorded domain of the same name.
      // (Undefining a running domain only makes it transient, so it is destroyed first.)
      await client.destroyDomain(dom).catch(() => undefined);
      await client.undefineDomain(dom, UndefineFlags.ManagedSave | UndefineFlags.SnapshotsMetadata | UndefineFlags.Nvram).catch(() => undefined);
      throw new ResourceError(`${KIND} ${inputs.name}`, (error as Error).message, { cause: error });
    }
    const outs = await observe(await freshView(client, dom), { ...inputs, type, machine: inputs.machine ?? "pc", arch: inputs.arch ?? "x86_64" });
    return { id: outs.uuid, outs };
  },

  async read(id, props) {
    const client = await clientFor(props.uri);
    const view = await viewDomainForRead(client, id);
    if (!view) return { id: "", props };
    return { id, props: await observe(view, props) };
  },

  async update(id, olds, news) {
    const client = await clientFor(news.uri);
    let dom = await client.lookupDomainByUuid(id);
    forgetSharedViews();
    const classified = classifyDomainChanges(olds, news);
    const byField = new Map(classified.map((c) => [c.field, c.class]));
    const running = dom.id !== -1;
    const deferred = classified.filter((c) => c.class === "next-boot" || c.class === "restart");
    const type = (olds.type ?? news.type ?? "qemu") as "kvm" | "qemu";
    const tunables = ["memoryMiB", "vcpus", "running", "autostart"];
    const redefine = deferred.length > 0 || (!running && classified.some((c) => !tunables.includes(c.field)));

    if (redefine) {
      // Rewrite the config, keeping the uuid and every disk that Disk/Cdrom resources attached.
      const config = parseDomainXml(await client.domainXml(dom, { inactive: true }));
      const spec = domainSpec({ ...news, type }, { type, uuid: id }, attachedDisks(config));
      dom = await client.defineDomain(buildDomainXml(spec));
    }
    // The config already holds the new values after a redefine; a running domain still needs them live.
    const flags = (running ? Affect.Live : 0) | (redefine ? 0 : Affect.Config);
    if (flags !== 0) {
      if (byField.get("memoryMiB") === "live") await client.setMemory(dom, BigInt(news.memoryMiB * MIB), flags);
      if (byField.get("vcpus") === "live") await client.setVcpus(dom, news.vcpus, flags);
    }
    if (byField.has("autostart")) await client.setAutostart(dom, news.autostart);

    const restartNow = overall(classified) === "restart";
    if (running && (restartNow || !news.running)) await stopDomain(client, dom, news.shutdownTimeoutSeconds, news.guestAgent);
    if (news.running && (restartNow || !running)) {
      dom = await client.startDomain(dom);
      if (news.waitForAgentSeconds) await waitForAgent(client, dom, news.waitForAgentSeconds);
    }
    return { outs: await observe(await freshView(client, dom), { ...news, type, machine: news.machine ?? olds.machine, arch: news.arch ?? olds.arch }) };
  },

  async delete(id, props) {
    const client = await clientFor(props.uri);
    const dom = await lookupOrNull(client, id);
    if (!dom) return;
    forgetSharedViews();
    await stopDomain(client, dom, props.shutdownTimeoutSeconds, props.guestAgent);
    // Nothing left behind: managed-save image, snapshot and checkpoint metadata, nvram.
    await client.undefineDomain(
      dom,
      UndefineFlags.ManagedSave | UndefineFlags.SnapshotsMetadata | UndefineFlags.CheckpointsMetadata | UndefineFlags.Nvram,
    );
  },

  async describeCreate(inputs) {
    return `Domain ${inputs.name}: define${inputs.running ? " and start" : ""}`;
  },
};
