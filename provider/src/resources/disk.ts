// Disk: an image attached to a domain. Live on virtio, scsi and usb (XML attach with LIVE|CONFIG, or QMP
// blockdev-add + device_add); sata waits for the next boot. Found again by a user alias derived from the
// resource name, so an interrupted create is adopted rather than duplicated.
import { createHash } from "node:crypto";
import { deriveBlockId, deriveUserAlias } from "../vocab/qmp-names";
import { attachesLive } from "./classify";
import {
  attachQmp,
  attachXml,
  deviceHandlers,
  diskByAlias,
  findBlockById,
  LiveBlock,
  liveBlockOf,
  placeDevice,
  xmlAttachPlan,
} from "./devices";
import { DomainView, viewDomain } from "./domain-view";
import { clientFor, ResourceHandlers } from "./handler";
import type { DiskInputs } from "./inputs";

const KIND = "Disk" as const;

export interface DiskOutputs extends DiskInputs {
  target: string;
  /** libvirt's user alias (via libvirt) or QEMU's device id (via qmp). */
  alias: string;
  domainUuid: string;
  /** What QEMU has open, from query-block; null while the domain is not running. */
  live: LiveBlock | null;
}

/** Deterministic device names: the same resource always finds the same device. */
function deviceName(inputs: DiskInputs): string {
  const seed = inputs.resourceName ?? createHash("sha256").update(`${inputs.domain}\0${inputs.source}`).digest("hex").slice(0, 12);
  return inputs.via === "qmp" ? deriveBlockId(`lvq-disk-${seed}`) : deriveUserAlias(`disk-${seed}`);
}

function label(inputs: DiskInputs): string {
  return `Disk ${inputs.resourceName ?? inputs.source} on ${inputs.domain}`;
}

async function observe(view: DomainView, inputs: DiskInputs, alias: string): Promise<DiskOutputs | null> {
  if (inputs.via === "qmp") {
    // QMP devices live only as long as the QEMU process: a restarted domain no longer has them.
    const block = findBlockById(await view.blocks(), alias);
    if (!block || block.qdevId !== alias) return null;
    const live = liveBlockOf(block)!;
    return { ...inputs, target: inputs.target ?? alias, alias, domainUuid: view.uuid, source: live.file ?? "", readonly: live.readonly, live };
  }
  // Look in the config too: a device on a bus that does not hot-plug waits there for the next boot.
  const inLive = diskByAlias(view.live, alias);
  const disk = inLive ?? diskByAlias(view.config, alias);
  if (!disk) return null;
  const live = inLive ? liveBlockOf(findBlockById(await view.blocks(), alias)) : null;
  return {
    ...inputs,
    // What is really attached, under the input names, so refresh + diff shows media swapped behind our back.
    source: live?.file ?? disk.source ?? "",
    readonly: live?.readonly ?? disk.readonly,
    bus: (disk.bus ?? inputs.bus) as DiskInputs["bus"],
    bootOrder: inputs.bootOrder === undefined ? undefined : disk.bootOrder ?? undefined,
    target: disk.target,
    alias,
    domainUuid: view.uuid,
    live,
  };
}

async function attach(view: DomainView, inputs: DiskInputs, alias: string): Promise<void> {
  const client = await clientFor(inputs.uri);
  if (inputs.via === "qmp") {
    if (!view.running) throw new Error('via: "qmp" needs a running domain (QMP devices do not outlive QEMU); use via: "libvirt"');
    await attachQmp(client, view, {
      id: alias, bus: inputs.bus, cdrom: false, file: inputs.source, format: inputs.format, readonly: inputs.readonly,
      bootOrder: inputs.bootOrder, serial: inputs.serial,
    });
  } else {
    const plan = xmlAttachPlan(view, alias, { live: attachesLive(inputs, KIND), persistent: inputs.persistent, target: inputs.target });
    if (!plan) return;
    await attachXml(client, view, {
      device: "disk", bus: inputs.bus, source: inputs.source, format: inputs.format, readonly: inputs.readonly,
      serial: inputs.serial, bootOrder: inputs.bootOrder, alias, ...placeDevice(view, inputs.bus, plan.target),
    }, plan);
  }
}

function expected(inputs: DiskInputs): { file: string | null; readonly: boolean } {
  return { file: inputs.source, readonly: inputs.readonly };
}

export const disk: ResourceHandlers<DiskInputs, DiskOutputs> = {
  kind: KIND,
  ...deviceHandlers({ kind: KIND, label, deviceName, attach, expected, observe }),

  async update(_id, olds, news) {
    // Only fields that change nothing on the machine reach update (the rest replace).
    const client = await clientFor(news.uri);
    const view = await viewDomain(client, olds.domainUuid);
    const outs = view ? await observe(view, { ...news, target: olds.target }, olds.alias) : null;
    return { outs: outs ?? { ...olds, ...news, target: olds.target } };
  },
};
