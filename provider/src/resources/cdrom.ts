// Cdrom: a cdrom drive on scsi, sata, ide or usb. On tray devices media changes live (update-device, or QMP
// open-tray / remove / insert / close); usb-storage has no tray, so its media change is a replace.
import { Affect, LibvirtClient, uuidToString } from "../libvirt";
import { buildDiskXml, DiskSpec } from "../vocab/disk-xml";
import { blockdevAdd, blockdevCloseTray, blockdevDel, blockdevInsertMedium, blockdevOpenTray, blockdevRemoveMedium, deviceAdd } from "../vocab/qmp";
import { blockNodeNames, libvirtScsiBus } from "../vocab/qmp-names";
import { attachesLive } from "./classify";
import {
  attachQmp,
  attachXml,
  deviceHandlers,
  diskByAlias,
  findBlockById,
  placeDevice,
  recordOwner,
  verifyLive,
  xmlAttachPlan,
} from "./devices";
import { deviceNameFor } from "./device-names";
import { DomainView, forgetSharedViews, freshView, lookupOrNull } from "./domain-view";
import { clientFor, ResourceError, ResourceHandlers } from "./handler";
import type { CdromInputs } from "./inputs";
import { withDomainLock } from "./locks";
import { qmp } from "./qemu";

const KIND = "Cdrom" as const;

export interface CdromOutputs extends CdromInputs {
  target: string;
  alias: string;
  domainUuid: string;
  /** The media QEMU really has (query-block); null when the tray is empty. */
  inserted: string | null;
}

function deviceName(inputs: CdromInputs): string {
  return deviceNameFor(KIND, inputs, `${inputs.domain}\0${inputs.bus}\0${inputs.target ?? ""}`);
}

function label(inputs: CdromInputs): string {
  return `Cdrom ${inputs.resourceName ?? inputs.target ?? inputs.bus} on ${inputs.domain}`;
}

function cdromSpec(inputs: CdromInputs, alias: string, placement: Pick<DiskSpec, "target" | "address">): DiskSpec {
  return { device: "cdrom", bus: inputs.bus, source: inputs.media ?? null, format: "raw", readonly: true, bootOrder: inputs.bootOrder, alias, ...placement };
}

async function observe(view: DomainView, inputs: CdromInputs, alias: string): Promise<CdromOutputs | null> {
  const block = findBlockById(await view.blocks(), alias);
  if (inputs.via === "qmp") {
    if (!block || block.qdevId !== alias) return null;
    const inserted = block.inserted?.file ?? null;
    return { ...inputs, media: inserted, target: inputs.target ?? alias, alias, domainUuid: view.uuid, inserted };
  }
  const inLive = diskByAlias(view.live, alias);
  const drive = inLive ?? diskByAlias(view.config, alias);
  if (!drive) return null;
  // QEMU is the truth while running: an eject from inside the guest or a QMP swap shows only there.
  const inserted = inLive ? (block?.inserted?.file ?? null) : drive.source;
  return { ...inputs, media: inserted, target: drive.target, alias, domainUuid: view.uuid, inserted };
}

async function attach(view: DomainView, inputs: CdromInputs, alias: string): Promise<void> {
  const client = await clientFor(inputs.uri);
  if (inputs.via === "qmp") {
    if (inputs.bus === "scsi" && !inputs.media) {
      await qmp(client, view.dom, deviceAdd({ driver: "scsi-cd", id: alias, bus: libvirtScsiBus(0), bootIndex: inputs.bootOrder }));
    } else {
      await attachQmp(client, view, { id: alias, bus: inputs.bus, cdrom: true, file: inputs.media!, format: "raw", readonly: true, bootOrder: inputs.bootOrder });
    }
  } else {
    const plan = xmlAttachPlan(view, alias, { live: attachesLive(inputs, KIND), persistent: true, target: inputs.target });
    if (!plan) return;
    await attachXml(client, view, cdromSpec(inputs, alias, placeDevice(view, inputs.bus, plan.target)), plan);
  }
}

function expected(inputs: CdromInputs): { file: string | null; readonly: boolean } {
  return { file: inputs.media ?? null, readonly: true };
}

/** Media change through libvirt. A scsi cdrom hot-plugged after boot keeps its tray shut until QMP opens it. */
async function changeMediaXml(client: LibvirtClient, view: DomainView, olds: CdromOutputs, media: string | null): Promise<void> {
  const current = diskByAlias(view.running ? view.live : view.config, olds.alias)!;
  const flags = view.running ? Affect.Live | Affect.Config : Affect.Config;
  const update = async (source: string | null) => {
    const xml = buildDiskXml(cdromSpec({ ...olds, media: source }, olds.alias, { target: current.target, address: current.address ?? undefined }));
    try {
      await client.updateDevice(view.dom, xml, flags);
    } catch (error) {
      if (!view.running || !/tray.*not open/i.test((error as Error).message)) throw error;
      await qmp(client, view.dom, blockdevOpenTray(olds.alias, true));
      await client.updateDevice(view.dom, xml, flags);
    }
  };
  // Ejected behind libvirt's back (from the guest, or QMP): libvirt still names the old file and would take
  // the same file as no change. Let it eject first, so its view and QEMU's agree again.
  if (view.running && current.source !== null && olds.inserted !== current.source) await update(null);
  await update(media);
}

/** Media change over QMP, keeping our own node names: open, remove, swap the node, insert, close. */
async function changeMediaQmp(client: LibvirtClient, view: DomainView, alias: string, media: string | null): Promise<void> {
  const nodes = blockNodeNames(alias);
  await qmp(client, view.dom, blockdevOpenTray(alias, true));
  await qmp(client, view.dom, blockdevRemoveMedium(alias));
  await qmp(client, view.dom, blockdevDel(nodes.format)).catch(() => undefined);
  if (media !== null) {
    await qmp(client, view.dom, blockdevAdd({ blockId: alias, filename: media, format: "raw", readOnly: true }));
    await qmp(client, view.dom, blockdevInsertMedium(alias, nodes.format));
  }
  await qmp(client, view.dom, blockdevCloseTray(alias));
}

export const cdrom: ResourceHandlers<CdromInputs, CdromOutputs> = {
  kind: KIND,
  ...deviceHandlers({ kind: KIND, label, deviceName, attach, expected, observe }),


  async update(_id, olds, news) {
    const client = await clientFor(news.uri);
    const media = news.media ?? null;
    try {
      const dom = await lookupOrNull(client, olds.domainUuid);
      if (!dom) throw new Error(`domain "${news.domain}" not found`);
      forgetSharedViews();
      const outs = await withDomainLock(uuidToString(dom.uuid), async () => {
        const view = await freshView(client, dom);
        if (!olds.owner && news.owner) await recordOwner(client, view, olds.alias, news.owner, media);
        const changing = olds.inserted !== media || olds.media !== media;
        if (changing) {
          if (news.via === "qmp") await changeMediaQmp(client, view, olds.alias, media);
          else await changeMediaXml(client, view, olds, media);
        }
        // One read-back: after a change QEMU must show the new medium; it also gives the outputs.
        const after = await freshView(client, dom);
        if (changing && after.running) await verifyLive(after, olds.alias, { file: media, readonly: true });
        return observe(after, { ...news, target: olds.target }, olds.alias);
      });
      return { outs: outs ?? { ...olds, ...news, target: olds.target } };
    } catch (error) {
      throw new ResourceError(label(news), (error as Error).message, { cause: error });
    }
  },
};
