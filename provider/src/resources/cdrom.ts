// Cdrom: a cdrom drive on scsi, sata, ide or usb. On tray devices media changes live (update-device, or QMP
// open-tray / remove / insert / close); usb-storage has no tray, so its media change is a replace.
import { Affect, LibvirtClient, uuidToString } from "../libvirt";
import { buildDiskXml, DiskSpec } from "../vocab/disk-xml";
import { blockdevCloseTray, blockdevOpenTray } from "../vocab/qmp";
import { attachesLive } from "./classify";
import {
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
import { directDeviceHandlers } from "./direct-devices";
import { changeMediaQmp, type QmpDevice } from "./qmp-devices";
import { libvirtMonitor } from "./monitor";
import type { BlockDeviceInfo } from "../vocab/query-block";
import { DomainView, forgetSharedViews, freshView, lookupOrNull } from "./domain-view";
import { clientFor, note, ResourceError, ResourceHandlers } from "./handler";
import { setPersistent } from "./disk";
import type { CdromInputs } from "./inputs";
import { withDomainLock } from "./locks";
import { qmp } from "./qemu";

const KIND = "Cdrom" as const;
const direct = directDeviceHandlers({ kind: KIND, label, qmpDevice, observeBlock });

export interface CdromOutputs extends CdromInputs {
  target: string;
  alias: string;
  domainUuid: string;
  /** The media QEMU really has (query-block); null when the tray is empty. */
  inserted: string | null;
  /**
   * QEMU's tray_open: an eject inside the guest opens the tray and leaves the medium attached, so the guest has no
   * medium and `media` reads as null. Null when the device has no tray (usb) or the domain is not running.
   */
  trayOpen: boolean | null;
  /**
   * Via libvirt: whether the persistent config has the drive. False when it was removed from the config behind
   * Pulumi's back (the running drive stays, the next boot has none): diff reports it and update puts it back.
   */
  persistent?: boolean;
}

function deviceName(inputs: CdromInputs): string {
  return deviceNameFor(KIND, inputs, `${inputs.domain}\0${inputs.bus}\0${inputs.target ?? ""}`);
}

function label(inputs: CdromInputs): string {
  return `Cdrom ${inputs.resourceName ?? inputs.target ?? inputs.bus} on ${inputs.domain ?? inputs.qmp}`;
}

function cdromSpec(inputs: CdromInputs, alias: string, placement: Pick<DiskSpec, "target" | "address">): DiskSpec {
  return { device: "cdrom", bus: inputs.bus, source: inputs.media ?? null, format: "raw", readonly: true, bootOrder: inputs.bootOrder, alias, ...placement };
}

/** What the guest sees in the drive: nothing while the tray is open, whatever QEMU still holds. */
function mediaSeen(inserted: string | null, trayOpen: boolean | null): string | null {
  return trayOpen === true ? null : inserted;
}

/** A drive added over QMP, from QEMU's view of it. */
function observeBlock(block: BlockDeviceInfo | undefined, inputs: CdromInputs, alias: string, machine: string): CdromOutputs | null {
  if (!block || block.qdevId !== alias) return null;
  const inserted = block.inserted?.file ?? null;
  const trayOpen = block.trayOpen;
  return { ...inputs, media: mediaSeen(inserted, trayOpen), target: inputs.target ?? alias, alias, domainUuid: machine, inserted, trayOpen };
}

/** An empty scsi drive has no block node; media goes in later with blockdev-insert-medium. */
function qmpDevice(inputs: CdromInputs, id: string): QmpDevice {
  return { id, bus: inputs.bus, cdrom: true, file: inputs.media ?? null, format: "raw", readonly: true, bootOrder: inputs.bootOrder };
}

async function observe(view: DomainView, inputs: CdromInputs, alias: string): Promise<CdromOutputs | null> {
  const block = findBlockById(await view.blocks(), alias);
  if (inputs.via === "qmp") return observeBlock(block, inputs, alias, view.uuid);
  const inLive = diskByAlias(view.live, alias);
  const inConfig = diskByAlias(view.config, alias);
  const drive = inLive ?? inConfig;
  if (!drive) return null;
  // QEMU is the truth while running: an eject from inside the guest (tray open, medium still attached) or a QMP
  // swap shows only there.
  const inserted = inLive ? (block?.inserted?.file ?? null) : drive.source;
  const trayOpen = inLive ? (block?.trayOpen ?? null) : null;
  return {
    ...inputs,
    media: mediaSeen(inserted, trayOpen),
    target: drive.target,
    alias,
    domainUuid: view.uuid,
    inserted,
    trayOpen,
    // A running drive whose config entry was removed (virsh detach-disk --config) is gone at the next boot.
    persistent: inConfig !== undefined,
  };
}

/** The drive's config entry was removed behind Pulumi's back (read back by a refresh): update puts it back. */
function missingFromConfig(olds: CdromOutputs): boolean {
  return olds.via === "libvirt" && olds.persistent === false;
}

/** Through libvirt's XML (over QMP, devices.ts adds `qmpDevice`). */
async function attach(view: DomainView, inputs: CdromInputs, alias: string): Promise<void> {
  const plan = xmlAttachPlan(view, alias, { live: attachesLive(inputs, KIND), persistent: await view.persistent(), target: inputs.target });
  if (!plan) return;
  await attachXml(await clientFor(inputs.uri), view, cdromSpec(inputs, alias, placeDevice(view, inputs.bus, plan.target)), plan);
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

/**
 * The guest opened the tray (its own eject, or the drive's button) and QEMU still holds the medium asked for:
 * closing the tray gives it back. Otherwise, after a media change that left the tray open, the same.
 */
async function closeTray(client: LibvirtClient, view: DomainView, alias: string): Promise<boolean> {
  const block = findBlockById(await view.blocks(), alias);
  if (block?.trayOpen !== true) return false;
  await qmp(client, view.dom, blockdevCloseTray(alias));
  return true;
}

/** QEMU has the medium with the tray shut, as the guest must see it; otherwise an error saying what it has. */
async function verifyTray(view: DomainView, alias: string, media: string | null): Promise<void> {
  if (media === null) return;
  const block = findBlockById(await view.blocks(), alias);
  if (block?.trayOpen === true) throw new Error(`QEMU still reports the tray of ${alias} open after closing it (medium ${JSON.stringify(block.inserted?.file ?? null)})`);
}

const shared = deviceHandlers({ kind: KIND, label, deviceName, attach, expected, observe, qmpDevice, observeBlock });

export const cdrom: ResourceHandlers<CdromInputs, CdromOutputs> = {
  kind: KIND,
  ...shared,

  async diff(id, olds, news) {
    const result = await shared.diff(id, olds, news);
    if (!missingFromConfig(olds)) return result;
    // A Cdrom has no `persistent` input (through libvirt it is always in the config): a missing entry is drift.
    note(`${label(news)}: persistent → live (the drive was removed from the domain's persistent config; it is added back, so it survives a restart)`);
    return { ...result, changes: true };
  },


  async update(id, olds, news) {
    const media = news.media ?? null;
    if (news.qmp) {
      // A QEMU without libvirt: the tray is the only place a medium changes.
      const changing = olds.inserted !== media || olds.media !== media;
      const outs = changing ? await direct.changeMedia(news, olds.alias, media) : (await direct.read(id, { ...news, alias: olds.alias })).props;
      return { outs: (outs ?? { ...olds, ...news }) as CdromOutputs };
    }
    const client = await clientFor(news.uri);
    try {
      const dom = await lookupOrNull(client, olds.domainUuid);
      if (!dom) throw new Error(`domain "${news.domain}" not found`);
      forgetSharedViews();
      const outs = await withDomainLock(uuidToString(dom.uuid), async () => {
        // One view before (with QEMU's block devices, which the outputs need anyway), refreshed only after a change:
        // the XMLs when libvirt changed them, QEMU's block devices when anything changed.
        const view = await freshView(client, dom, { blocks: true });
        if (!olds.owner && news.owner) await recordOwner(client, view, olds, news.owner, media);
        let xmlChanged = missingFromConfig(olds) && (await setPersistent(client, view, olds.alias, true));
        let qemuChanged = false;
        const changing = olds.inserted !== media || olds.media !== media;
        let after = view;
        if (changing) {
          const trayOnly = view.running && media !== null && findBlockById(await view.blocks(), olds.alias)?.inserted?.file === media;
          if (trayOnly) qemuChanged = await closeTray(client, view, olds.alias);
          else if (news.via === "qmp") await changeMediaQmp(libvirtMonitor(client, view.dom), olds.alias, media);
          else await changeMediaXml(client, view, olds, media);
          // Through libvirt the XMLs change only in the drive's source, which the outputs of a running drive do not
          // read (QEMU's query-block says what it holds): read them again only for a stopped domain.
          xmlChanged ||= !trayOnly && news.via !== "qmp" && !view.running;
          qemuChanged ||= !trayOnly;
          // A change of medium on an open tray (the guest ejected it) must leave it shut, as the program asks.
          if (view.running && media !== null && !trayOnly) {
            after = await view.refresh({ xml: xmlChanged });
            if (await closeTray(client, after, olds.alias)) after = await after.refresh({ xml: false });
            xmlChanged = qemuChanged = false;
          }
        }
        // One read-back: after a change QEMU must show the new medium, tray shut; it also gives the outputs.
        if (xmlChanged || qemuChanged) after = await after.refresh({ xml: xmlChanged });
        if (changing && after.running) {
          await verifyLive(after, olds.alias, { file: media, readonly: true });
          await verifyTray(after, olds.alias, media);
        }
        return observe(after, { ...news, target: olds.target }, olds.alias);
      });
      return { outs: outs ?? { ...olds, ...news, target: olds.target } };
    } catch (error) {
      throw new ResourceError(label(news), (error as Error).message, { cause: error });
    }
  },
};
