// Disk: an image attached to a domain. Live on virtio, scsi and usb (XML attach with LIVE|CONFIG, or QMP
// blockdev-add + device_add); sata waits for the next boot. Found again by a user alias derived from the
// resource's owner and name (device-names.ts), so an interrupted create is adopted rather than duplicated.
import { attachesLive } from "./classify";
import {
  attachXml,
  deviceHandlers,
  diskByAlias,
  findBlockById,
  LiveBlock,
  liveBlockOf,
  placeDevice,
  recordOwner,
  xmlAttachPlan,
} from "./devices";
import { deviceNameFor } from "./device-names";
import { directDeviceHandlers } from "./direct-devices";
import type { QmpDevice } from "./qmp-devices";
import type { BlockDeviceInfo } from "../vocab/query-block";
import { DomainView, forgetSharedViews, freshView, lookupOrNull } from "./domain-view";
import { clientFor, ResourceError, ResourceHandlers } from "./handler";
import { withDomainLock } from "./locks";
import { Affect, LibvirtClient, uuidToString } from "../libvirt";
import { diskSpecFromParsed } from "../vocab/disk-xml";
import type { DiskInputs } from "./inputs";

const KIND = "Disk" as const;
const direct = directDeviceHandlers({ kind: KIND, label, qmpDevice, observeBlock });

export interface DiskOutputs extends DiskInputs {
  target: string;
  /** libvirt's user alias (via libvirt) or QEMU's device id (via qmp). */
  alias: string;
  domainUuid: string;
  /** What QEMU has open, from query-block; null while the domain is not running. */
  live: LiveBlock | null;
}

/** Deterministic device names carrying the owner: the same resource always finds its own device, never another's. */
function deviceName(inputs: DiskInputs): string {
  return deviceNameFor(KIND, inputs, `${inputs.domain}\0${inputs.source}`);
}

function label(inputs: DiskInputs): string {
  return `Disk ${inputs.resourceName ?? inputs.source} on ${inputs.domain ?? inputs.qmp}`;
}

/** A device added over QMP, from QEMU's view of it; it lives only as long as the QEMU process. */
function observeBlock(block: BlockDeviceInfo | undefined, inputs: DiskInputs, alias: string, machine: string): DiskOutputs | null {
  if (!block || block.qdevId !== alias) return null;
  const live = liveBlockOf(block)!;
  return { ...inputs, target: inputs.target ?? alias, alias, domainUuid: machine, source: live.file ?? "", readonly: live.readonly, live };
}

function qmpDevice(inputs: DiskInputs, id: string): QmpDevice {
  return { id, bus: inputs.bus, cdrom: false, file: inputs.source, format: inputs.format, readonly: inputs.readonly, bootOrder: inputs.bootOrder, serial: inputs.serial };
}

async function observe(view: DomainView, inputs: DiskInputs, alias: string): Promise<DiskOutputs | null> {
  // A restarted domain no longer has what was added over QMP.
  if (inputs.via === "qmp") return observeBlock(findBlockById(await view.blocks(), alias), inputs, alias, view.uuid);
  // Look in the config too: a device on a bus that does not hot-plug waits there for the next boot.
  const inLive = diskByAlias(view.live, alias);
  const inConfig = diskByAlias(view.config, alias);
  const disk = inLive ?? inConfig;
  if (!disk) return null;
  const live = inLive ? liveBlockOf(findBlockById(await view.blocks(), alias)) : null;
  return {
    ...inputs,
    // What is really attached, under the input names, so refresh + diff shows media swapped behind our back.
    source: live?.file ?? disk.source ?? "",
    readonly: live?.readonly ?? disk.readonly,
    bus: (disk.bus ?? inputs.bus) as DiskInputs["bus"],
    // The config holds the order that counts at boot (a running guest may carry none: see attachXml).
    bootOrder: inputs.bootOrder === undefined ? undefined : (inConfig ?? disk).bootOrder ?? undefined,
    // Read back, so a disk removed from the config only (virsh detach-disk --config), gone at the next boot, is drift.
    persistent: inConfig !== undefined,
    target: disk.target,
    alias,
    domainUuid: view.uuid,
    live,
  };
}

/** Through libvirt's XML (over QMP, devices.ts adds `qmpDevice`). */
async function attach(view: DomainView, inputs: DiskInputs, alias: string): Promise<void> {
  // A transient domain has no config to keep the disk in.
  const plan = xmlAttachPlan(view, alias, { live: attachesLive(inputs, KIND), persistent: inputs.persistent && (await view.persistent()), target: inputs.target });
  if (!plan) return;
  await attachXml(await clientFor(inputs.uri), view, {
    device: "disk", bus: inputs.bus, source: inputs.source, format: inputs.format, readonly: inputs.readonly,
    serial: inputs.serial, bootOrder: inputs.bootOrder, alias, ...placeDevice(view, inputs.bus, plan.target),
  }, plan);
}

/**
 * Puts the running device's copy into the persistent config, or takes it out, so the next boot has the disk
 * exactly when `persistent` says, without touching the running device. Returns whether the config changed.
 */
export async function setPersistent(client: LibvirtClient, view: DomainView, alias: string, persistent: boolean): Promise<boolean> {
  const inConfig = diskByAlias(view.config, alias);
  if (persistent && !inConfig) {
    const running = diskByAlias(view.live, alias);
    if (!running) throw new Error(`device ${alias} is not on the running domain, so there is nothing to keep in its config: refresh, then up attaches it again`);
    await attachXml(client, view, diskSpecFromParsed(running), { live: false, config: true });
    return true;
  }
  if (!persistent && inConfig) {
    await client.detachDeviceAlias(view.dom, alias, Affect.Config);
    return true;
  }
  return false;
}

function expected(inputs: DiskInputs): { file: string | null; readonly: boolean } {
  return { file: inputs.source, readonly: inputs.readonly };
}

export const disk: ResourceHandlers<DiskInputs, DiskOutputs> = {
  kind: KIND,
  ...deviceHandlers({ kind: KIND, label, deviceName, attach, expected, observe, qmpDevice, observeBlock }),

  async update(id, olds, news) {
    // On a QEMU without libvirt nothing that reaches update changes the device (the rest replace).
    if (news.qmp) return { outs: (await direct.read(id, { ...news, target: olds.target, alias: olds.alias })).props as DiskOutputs };
    // Only `persistent` changes the machine here, and a device from before owners gets its claim recorded (the other
    // fields that reach update are bookkeeping; the rest replace).
    const client = await clientFor(news.uri);
    const dom = await lookupOrNull(client, olds.domainUuid);
    if (!dom) return { outs: { ...olds, ...news, target: olds.target } };
    forgetSharedViews();
    try {
      const outs = await withDomainLock(uuidToString(dom.uuid), async () => {
        const view = await freshView(client, dom);
        if (!olds.owner && news.owner) await recordOwner(client, view, olds, news.owner, olds.source);
        if (news.via === "libvirt" && (await setPersistent(client, view, olds.alias, news.persistent))) return observe(await view.refresh({ xml: true }), { ...news, target: olds.target }, olds.alias);
        return observe(view, { ...news, target: olds.target }, olds.alias);
      });
      return { outs: outs ?? { ...olds, ...news, target: olds.target } };
    } catch (error) {
      throw new ResourceError(label(news), (error as Error).message, { cause: error });
    }
  },
};
