// Block-device mechanics shared by Disk and Cdrom: finding a device again by its alias, attaching and detaching
// it through libvirt's XML or through QMP, and checking with query-block that QEMU really has what we asked.
import { Affect, isConnectionError, isNotFound, LibvirtClient, UUID_PATTERN, uuidToString } from "../libvirt";
import { buildDiskXml, DiskBus, DiskSpec, ParsedDisk } from "../vocab/disk-xml";
import { pickFreeDriveUnit, pickFreeTarget, usbControllerPorts } from "../vocab/disk-placement";
import { acceptsDeviceBootOrder, parseDomainXml, ParsedDomain } from "../vocab/domain-xml";
import { bootByDeviceOrder } from "../vocab/boot-order";
import { DeviceAddSpec, queryPci } from "../vocab/qmp";
import { libvirtScsiBus, libvirtUsbBus } from "../vocab/qmp-names";
import { BlockDeviceInfo } from "../vocab/query-block";
import { attachesLive, changedInputs, classifyAttach, classifyField } from "./classify";
import { clientFor, DiffResult, isUnknown, note, planDiff, ResourceError } from "./handler";
import { addClaim, claimScope, dropClaim } from "./claims";
import { otherClaims, withClaim, withoutClaim, type DeviceClaim } from "../vocab/device-claims";
import { inputFields } from "./validate";
import { withDomainLock } from "./locks";
import { DomainView, forgetSharedViews, lookupOrNull, recentRef, recordedRef, viewDomain, viewDomainForRead, freshView, type ViewOptions } from "./domain-view";
import { pollUntil, qmp, qomProperty } from "./qemu";
import { convertsBootOrder, createRefusals, heldMedium, notOurs, planSlot, PlannedDevice } from "./device-checks";
import type { DeviceIdentity } from "./device-names";
import { directDeviceHandlers, type DirectKind } from "./direct-devices";
import { libvirtMonitor } from "./monitor";
import {
  attachQmp as attachOverQmp,
  detachQmp as detachOverQmp,
  findBlockById,
  tryAttachQmp,
  type QmpDevice,
} from "./qmp-devices";
import { EVENT_WOKEN, latch } from "./qmp-unplug";

export { findBlockById, type QmpDevice };

export function diskByAlias(domain: ParsedDomain | null, alias: string): ParsedDisk | undefined {
  return domain?.disks.find((d) => d.alias === alias);
}

/** Whether the domain has a device of any kind our resources attach (disk, cdrom, NIC) under this alias. */
export function hasDeviceAlias(domain: ParsedDomain | null, alias: string): boolean {
  return diskByAlias(domain, alias) !== undefined || (domain?.interfaces.some((n) => n.alias === alias) ?? false);
}

/**
 * A device that should be in the running domain and is not: detached behind Pulumi's back. Refresh then drops
 * it, and the next up attaches it again. (Devices on buses that do not hot-plug live only in the config.)
 */
export function missingFromLive(view: DomainView, record: { via: "libvirt" | "qmp"; bus: string; alias: string; media?: string | null }, kind: "Disk" | "Cdrom"): boolean {
  return view.running && record.via === "libvirt" && attachesLive(record, kind) && !diskByAlias(view.live, record.alias);
}

/** A free target name and, for scsi and sata, a free drive address, among the disks of both copies. */
export function placeDevice(view: DomainView, bus: DiskBus, target?: string): Pick<DiskSpec, "target" | "address"> {
  const disks = [...view.config.disks, ...(view.live?.disks ?? [])];
  const chosen = target ?? pickFreeTarget(bus, disks);
  if (bus !== "scsi" && bus !== "sata") return { target: chosen };
  return { target: chosen, address: pickFreeDriveUnit(bus, disks.filter((d) => d.bus === bus)) };
}

export interface LiveBlock {
  file: string | null;
  format: string | null;
  readonly: boolean;
  virtualSizeBytes: number | null;
}

export function liveBlockOf(device: BlockDeviceInfo | undefined): LiveBlock | null {
  if (!device) return null;
  const inserted = device.inserted;
  return {
    file: inserted?.file ?? null,
    format: inserted?.format ?? null,
    readonly: inserted?.readOnly ?? true,
    virtualSizeBytes: inserted?.virtualSizeBytes ?? null,
  };
}


/** QEMU has the device with the expected medium and read-only flag; otherwise an error saying what it has. */
export async function verifyLive(view: DomainView, id: string, expect: { file: string | null; readonly: boolean }): Promise<void> {
  const device = findBlockById(await view.blocks(), id);
  if (!device) throw new Error(`QEMU reports no block device ${id} after the attach`);
  const file = device.inserted?.file ?? null;
  if (file !== expect.file) throw new Error(`QEMU shows ${id} with medium ${JSON.stringify(file)}, expected ${JSON.stringify(expect.file)}`);
  if (file !== null && device.inserted!.readOnly !== expect.readonly) {
    throw new Error(`QEMU opened ${id} ${device.inserted!.readOnly ? "read-only" : "read-write"}, expected ${expect.readonly ? "read-only" : "read-write"}`);
  }
}

// ---- through libvirt -------------------------------------------------------------------------------------

/**
 * What an XML attach still has to do for a device with `alias`: the running domain (when the device attaches
 * live) and the config (when it is persistent), each only where the device is not there yet, so a create
 * interrupted after its attach adopts the device instead of adding a second one. Null: nothing left to do.
 */
export function xmlAttachPlan(
  view: DomainView,
  alias: string,
  wants: { live: boolean; persistent: boolean; target?: string },
): { live: boolean; config: boolean; target?: string } | null {
  const inLive = diskByAlias(view.live, alias);
  const inConfig = diskByAlias(view.config, alias);
  const live = view.running && wants.live && !inLive;
  const config = wants.persistent && !inConfig;
  if (!live && !config) return null;
  return { live, config, target: wants.target ?? (inLive ?? inConfig)?.target };
}

/**
 * Attaches through libvirt. A boot order goes only where libvirt accepts it: a running guest does not care (its
 * firmware booted already), and a config that boots by libvirt's own <os><boot dev='hd'> is first turned into
 * equivalent per-device orders, so the device's order counts from the next boot on.
 */
export async function attachXml(client: LibvirtClient, view: DomainView, spec: DiskSpec, opts: { live: boolean; config: boolean }): Promise<void> {
  const hasOrder = spec.bootOrder !== undefined;
  const liveSpec = hasOrder && view.live && !acceptsDeviceBootOrder(view.live) ? { ...spec, bootOrder: undefined } : spec;
  const convert = opts.config && hasOrder && !acceptsDeviceBootOrder(view.config);
  const together = opts.live && opts.config && !convert && liveSpec === spec;
  if (opts.live) await client.attachDevice(view.dom, buildDiskXml(liveSpec), Affect.Live | (together ? Affect.Config : 0));
  if (!opts.config || together) return;
  if (convert) {
    // Read under the domain's lock, just before the define: nothing else of ours changes the config meanwhile.
    await client.defineDomain(bootByDeviceOrder(await client.domainXml(view.dom, { inactive: true }), spec));
  } else {
    await client.attachDevice(view.dom, buildDiskXml(spec), Affect.Config);
  }
}

/**
 * Detaches by alias. The reply to a live detach only means the unplug was requested: completion is the
 * device-removed event (or the device gone from live XML), so we wait for that, up to `timeoutSeconds`.
 */
export async function detachXml(client: LibvirtClient, view: DomainView, alias: string, timeoutSeconds: number, onAsked?: () => void): Promise<void> {
  // Whether the config still has to lose the device: no, once one call took it out of both copies.
  let configLeft = hasDeviceAlias(view.config, alias);
  // The config's part of a call whose answer was lost may or may not have been done: read it again before asking.
  let configUnsure = false;
  if (view.running && hasDeviceAlias(view.live, alias)) {
    let failed = false;
    let removed = false;
    const heard = latch();
    // Subscribed before the detach: libvirt may send device-removed before it replies.
    const unsubscribe = await client.onDomainEvent((e) => {
      if (e.kind !== "device-removed" && e.kind !== "device-removal-failed") return;
      if (e.alias !== alias || uuidToString(e.domain.uuid) !== view.uuid) return;
      if (e.kind === "device-removed") removed = true;
      else failed = true;
      heard.fire();
    });
    try {
      // A detach whose answer was lost with the connection (libvirtd restarting) may or may not have been
      // done: the live XML, read again once the client is back, says which.
      // One call for both copies when the config has the device too (libvirt takes it out of the config once the
      // unplug is under way, as `virsh detach-device --live --config` does).
      let askedOn = client.connectCount;
      const both = configLeft;
      await client.detachDeviceAlias(view.dom, alias, Affect.Live | (both ? Affect.Config : 0)).then(
        () => {
          if (both) configLeft = false;
        },
        (error) => {
          if (!isConnectionError(error)) throw error;
          askedOn = -1;
          configUnsure = both;
        },
      );
      // While QEMU unplugs, the domain's job is free: the caller's own bookkeeping goes now, not after the wait.
      onAsked?.();
      // The event ends the wait; the live XML is the fallback for an event lost to a reconnect.
      const stillThere = async () => hasDeviceAlias(parseDomainXml(await client.domainXml(view.dom)), alias);
      let first = true;
      const check = async () => {
        if (removed || failed) return true;
        // Right after a request this connection carried, the event ends the wait: no XML read while QEMU unplugs.
        if (first && askedOn === client.connectCount) {
          first = false;
          return false;
        }
        first = false;
        try {
          if (!(await stillThere())) return true;
          // Still there on a connection other than the one that asked: the request may have died with the
          // old daemon, so ask again (asking twice for one unplug is harmless; an error just means it is under way).
          if (askedOn !== client.connectCount) {
            askedOn = client.connectCount;
            await client.detachDeviceAlias(view.dom, alias, Affect.Live).catch(() => undefined);
          }
          return false;
        } catch (error) {
          if (isConnectionError(error)) return false; // the daemon is away: keep waiting for it, up to the deadline
          throw error;
        }
      };
      const done = await pollUntil(check, { timeoutMs: timeoutSeconds * 1000, ...EVENT_WOKEN, wake: heard.fired });
      if (failed) throw new Error(`the guest refused to release ${alias} (device-removal-failed)`);
      if (!done) {
        throw new Error(
          `the guest did not release ${alias} within ${timeoutSeconds} s (a paused guest, or one without hotplug support); ` +
            `it stays attached and in the stack: retry the delete when the guest responds, or raise detachTimeoutSeconds`,
        );
      }
    } finally {
      unsubscribe();
    }
  }
  if (configLeft) await detachConfigSurvivingReconnect(client, view, alias, timeoutSeconds, configUnsure);
}

/** Removes the device from the persistent config, reading the config again when the link failed mid-call. */
async function detachConfigSurvivingReconnect(client: LibvirtClient, view: DomainView, alias: string, timeoutSeconds: number, unsure = false): Promise<void> {
  let lastError: unknown = unsure ? new Error("the connection was lost while the config was being changed") : undefined;
  const done = await pollUntil(
    async () => {
      try {
        if (lastError !== undefined && !hasDeviceAlias(parseDomainXml(await client.domainXml(view.dom, { inactive: true })), alias)) return true;
        await client.detachDeviceAlias(view.dom, alias, Affect.Config);
        return true;
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        lastError = error;
        return false;
      }
    },
    { timeoutMs: Math.max(timeoutSeconds, 1) * 1000, firstIntervalMs: 100, maxIntervalMs: 1_000 },
  );
  if (!done) throw lastError;
}

// ---- through QMP ------------------------------------------------------------------------------------------


/** Devices added over QMP (libvirt does not know them), from QEMU's block devices: their addresses must be avoided too. */
async function qmpOnlyDevices(view: DomainView): Promise<string[]> {
  const libvirtAliases = new Set((view.live?.disks ?? []).map((d) => d.alias));
  return (await view.blocks()).flatMap((d) => (d.qdevId && !libvirtAliases.has(d.qdevId) ? [d.qdevId] : []));
}

/** Whether the domain's claims name a device other than `id` that libvirt does not know: one added over QMP. */
function claimsQmpDevices(view: DomainView, id: string): boolean {
  return view.claims.some((c) => c.device !== id && !hasDeviceAlias(view.live, c.device));
}

/**
 * An address the way a careful operator picks one: ask the bus what is taken, and choose from the far end,
 * since libvirt fills from the low end and does not know about devices added behind its back.
 */
async function qmpAddress(client: LibvirtClient, view: DomainView, bus: DiskBus, others: readonly string[]): Promise<Partial<DeviceAddSpec>> {
  const live = view.live!;
  switch (bus) {
    case "scsi": {
      const used = new Set(live.disks.flatMap((d) => (d.bus === "scsi" && d.address?.type === "drive" ? [d.address.unit] : [])));
      for (const id of others) used.add(Number(await qomProperty(client, view.dom, id, "lun").catch(() => -1)));
      for (let lun = 255; lun > 0; lun--) if (!used.has(lun)) return { bus: libvirtScsiBus(0), scsiId: 0, lun };
      throw new Error("no free scsi lun on controller 0");
    }
    case "usb": {
      const controller = live.controllers.find((c) => c.type === "usb" && c.index === 0);
      if (!controller || controller.model === "none") throw new Error("the domain has no usb controller");
      const used = new Set(live.usbAddresses.filter((a) => a.bus === 0).map((a) => a.port.split(".")[0]));
      for (const id of others) used.add(String(await qomProperty(client, view.dom, id, "port").catch(() => "")));
      for (let port = usbControllerPorts(controller); port > 0; port--) if (!used.has(String(port))) return { bus: libvirtUsbBus(0), port: String(port) };
      throw new Error("no free port on usb bus 0");
    }
    case "virtio": {
      if (!(live.machine ?? "").includes("i440fx") && live.machine !== "pc") {
        throw new Error(`QMP virtio hotplug is supported on i440fx (pc) machines; ${live.machine} domains use via: "libvirt"`);
      }
      const pci = (await qmp(client, view.dom, queryPci())) as Array<{ bus: number; devices: Array<{ slot: number }> }>;
      const used = new Set([...pci.filter((b) => b.bus === 0).flatMap((b) => b.devices.map((d) => d.slot)), ...live.pciAddresses.filter((a) => a.bus === 0).map((a) => a.slot)]);
      for (let slot = 0x1f; slot > 2; slot--) if (!used.has(slot)) return { bus: "pci.0", addr: `0x${slot.toString(16)}` };
      throw new Error("no free slot on pci.0");
    }
    default:
      throw new Error(`${bus} does not hot-plug over QMP`);
  }
}

/**
 * Adds a device over libvirt's QMP passthrough, at an address chosen around what libvirt and QEMU both hold; returns
 * whether this call added it (false: a device was already under its id, and `adopt` accepted it as this one).
 * QEMU's block devices are asked first only where they change the choice: another device the claims name and libvirt
 * does not know (added over QMP), or an empty drive (nodes left behind are freed first). Otherwise the add goes to a
 * free address by libvirt's XML, and QEMU refusing it because the name or the address is taken (an interrupted run,
 * a device added by hand) is when they are asked and the add made again around them: one query-block less per create.
 */
export async function attachQmp(client: LibvirtClient, view: DomainView, device: QmpDevice, adopt: (held: { file: string | null }) => void): Promise<boolean> {
  const monitor = libvirtMonitor(client, view.dom);
  if (device.file !== null && !claimsQmpDevices(view, device.id)) {
    if (await tryAttachQmp(monitor, { ...device, file: device.file }, await qmpAddress(client, view, device.bus, []))) return true;
  }
  const blocks = await view.blocks();
  const held = heldMedium(view, blocks, device.id, "qmp");
  if (held) {
    adopt(held);
    return false;
  }
  await attachOverQmp(monitor, blocks, device, await qmpAddress(client, view, device.bus, await qmpOnlyDevices(view)));
  return true;
}

/**
 * device_del, wait until QEMU says the device is gone, then drop its block nodes. A device without a tray (a disk:
 * `tray` false) needs no query-block first: there is no medium to take out, and device_del says whether it is there.
 */
export async function detachQmp(client: LibvirtClient, view: DomainView, id: string, timeoutSeconds: number, onAsked?: () => void, tray = true): Promise<void> {
  await detachOverQmp(libvirtMonitor(client, view.dom), tray ? await view.blocks() : null, id, timeoutSeconds, onAsked);
}

// ---- the create and delete flows Disk and Cdrom share ---------------------------------------------------------

export interface DeviceRecord {
  uri?: string;
  domain?: string;
  domainUuid: string;
  alias: string;
  /** The URN of the resource; absent in stacks made before devices carried their owner. */
  owner?: string;
  via: "libvirt" | "qmp";
  detachTimeoutSeconds: number;
}

/**
 * Looks the domain up, then attaches and reads back under its per-domain lock, so parallel creates on one
 * domain pick distinct targets and addresses. One read-back serves `verify` (which undoes the attach when
 * QEMU does not have what was asked) and the outputs.
 */
export async function createDevice<O>(
  client: LibvirtClient,
  domainRef: string,
  steps: {
    /** Returns whether this call added the device (false: it adopted one already there). */
    attach: (view: DomainView) => Promise<boolean>;
    verify: (after: DomainView, attachedNow: boolean) => Promise<void>;
    /** Records the device as the resource's (written while the view is read again; kept once it is verified). */
    record: (view: DomainView) => Promise<void>;
    /** Takes back what `record` wrote, when the attach could not be verified. */
    unrecord: (view: DomainView) => Promise<void>;
    observe: (after: DomainView) => Promise<O | null>;
  },
  reads: {
    /** What the attach will ask besides the XML, asked alongside it. */
    before: ViewOptions;
    /** The attach goes through libvirt's XML (so the XMLs are read again after it); false: over QMP (only QEMU changes). */
    xml: boolean;
    /** Ask for QEMU's block devices alongside the read-back (default true; a NIC needs none). */
    blocksAfter?: boolean;
  },
  lookedUp = false,
): Promise<{ uuid: string; outs: O }> {
  // One lookup, or none when the preview note found the domain a moment ago; the view under the lock is read from
  // the ref, and refreshed (not looked up again) after the change.
  const recent = lookedUp ? null : await recentRef(client, domainRef);
  const dom = recent ?? (await lookupOrNull(client, domainRef));
  if (!dom) throw new Error(`domain "${domainRef}" not found`);
  const uuid = uuidToString(dom.uuid);
  forgetSharedViews();
  const outcome = await withDomainLock(uuid, async () => {
    // The note's ref is checked against what is read now: a domain gone, or its name moved to another, since then
    // means looking it up after all.
    const stale = (error: unknown) => recent !== null && isNotFound(error);
    const before = recent ? await viewDomain(client, dom, reads.before).catch((error) => (stale(error) ? null : Promise.reject(error))) : await freshView(client, dom, reads.before);
    if (!before || (recent && !UUID_PATTERN.test(domainRef) && before.config.name !== domainRef)) return null;
    const attachedNow = await steps.attach(before);
    // The claim's write and the read-back go out together: reading the XML needs no domain job, so the two overlap.
    const reading = before.refresh({ xml: reads.xml, blocks: reads.blocksAfter ?? true });
    const recording = steps.record(before);
    recording.catch(() => undefined);
    reading.catch(() => undefined);
    const after = await reading.catch(async (error) => {
      await recording.catch(() => undefined);
      throw error;
    });
    try {
      await steps.verify(after, attachedNow);
    } catch (error) {
      // Not verified: the claim goes too (the attach itself verify has undone), so the domain is as it was.
      if (await recording.then(() => true, () => false)) await steps.unrecord(before).catch(() => undefined);
      throw error;
    }
    await recording;
    const outs = await steps.observe(after);
    if (!outs) throw new Error("the device is not on the domain after the attach");
    return { uuid, outs };
  });
  return outcome ?? createDevice(client, domainRef, steps, reads, true);
}

/**
 * Detaches (waiting for the guest to let go) under the domain's lock; a gone domain means nothing to do. A device
 * that is not a block device (a NIC), or one whose QMP detach needs no query-block (a disk), brings its own QMP
 * detach (`detachOverQmp`, given the view and the moment the unplug was asked for).
 */
export async function deleteDevice(
  client: LibvirtClient,
  record: DeviceRecord,
  detachOverQmp?: (view: DomainView, onAsked: () => void) => Promise<void>,
): Promise<void> {
  // No lookup: the recorded uuid is the ref, and a domain gone shows at the view's first read.
  const dom = await recordedRef(client, record.domainUuid, record.domain);
  if (!dom) return;
  const uuid = uuidToString(dom.uuid);
  forgetSharedViews();
  await withDomainLock(uuid, async () => {
    // One view: the XMLs (with the claims), and alongside them what the detach and the claim's removal will ask.
    // A QMP device's claim is in the running copy only: no need to ask whether there is a config.
    const scope = claimScope(record);
    const options = { blocks: record.via === "qmp" && !detachOverQmp, persistent: record.owner !== undefined && scope === "both" };
    const fresh = await viewDomain(client, dom, options).catch((error) => (isNotFound(error) ? null : Promise.reject(error)));
    if (!fresh) return;
    const claims = fresh.claims;
    // Our claim goes while QEMU unplugs (the request answered, the domain's job free), so the wait hides its
    // write; a detach that fails puts it back, so the device stays attached and claimed as before.
    let dropping: Promise<void> | undefined;
    const drop = () => {
      if (record.owner && !dropping) dropping = dropClaim(client, fresh, claims, record.alias, record.owner, scope);
      dropping?.catch(() => undefined);
    };
    // Another resource (another stack) claims this device too: it stays attached; only our claim goes.
    const others = otherClaims(claims, record.alias, record.owner);
    try {
      if (others.length === 0) {
        if (record.via === "qmp") {
          if (fresh.running) await (detachOverQmp ? detachOverQmp(fresh, drop) : detachQmp(client, fresh, record.alias, record.detachTimeoutSeconds, drop));
        } else {
          await detachXml(client, fresh, record.alias, record.detachTimeoutSeconds, drop);
        }
      } else {
        note(`${record.domain}: device ${record.alias} stays attached: it is also claimed by ${others.map((c) => c.owner).join(", ")}`);
      }
    } catch (error) {
      const ours = claims.find((c) => c.device === record.alias && c.owner === record.owner);
      if (dropping && ours) {
        await dropping.catch(() => undefined);
        await addClaim(client, fresh, withoutClaim(claims, record.alias, ours.owner), ours, scope).catch(() => undefined);
      }
      throw error;
    }
    drop();
    await dropping;
  });
}

/**
 * A device recorded before devices carried their owner gets its claim in the domain's metadata, so a later
 * delete by another stack that also holds it leaves it attached. Called under the domain's lock.
 */
export async function recordOwner(client: LibvirtClient, view: DomainView, record: { alias: string; via: "libvirt" | "qmp" }, owner: string, source: string | null): Promise<void> {
  await addClaim(client, view, view.claims, { device: record.alias, owner, source }, claimScope(record));
}

/** Removes a device whose attach could not be verified, so a failed create leaves the domain as it was. */
export async function undoAttach(client: LibvirtClient, uuid: string, record: Omit<DeviceRecord, "domainUuid" | "domain">): Promise<void> {
  const now = await viewDomain(client, uuid);
  if (!now) return;
  if (record.via === "qmp") await detachQmp(client, now, record.alias, record.detachTimeoutSeconds).catch(() => undefined);
  else await detachXml(client, now, record.alias, record.detachTimeoutSeconds).catch(() => undefined);
}

// ---- the handlers Disk and Cdrom share ------------------------------------------------------------------------

interface DeviceInputs extends Omit<PlannedDevice, "domain">, DeviceIdentity {
  uri?: string;
  /** A libvirt domain, or (with `qmp` instead) a QEMU run without libvirt: check makes sure it is one of them. */
  domain?: string;
  qmp?: string;
  detachTimeoutSeconds: number;
}

/** The inputs of a device on a libvirt domain (no `qmp`): `domain` is there. */
type OnDomain<I extends DeviceInputs> = I & { domain: string };

/** What makes a Disk a Disk and a Cdrom a Cdrom; the rest of their lifecycle is the same. */
export interface DeviceKind<I extends DeviceInputs, O> {
  kind: "Disk" | "Cdrom";
  label(inputs: I): string;
  deviceName(inputs: I): string;
  /** Attaches through libvirt's XML (`via: "libvirt"`; over QMP, `qmpDevice` says what to add). */
  attach(view: DomainView, inputs: I, alias: string): Promise<void>;
  /** What QEMU must report for the device after a live attach. */
  expected(inputs: I): { file: string | null; readonly: boolean };
  observe(view: DomainView, inputs: I, alias: string): Promise<O | null>;
  /** On a QEMU without libvirt: the device to add over QMP, and the outputs from QEMU's view of it. */
  qmpDevice: DirectKind<I, O>["qmpDevice"];
  observeBlock: DirectKind<I, O>["observeBlock"];
}

/** diff, create, read, delete and the create note of a device resource. */
export function deviceHandlers<I extends DeviceInputs, O extends I & DeviceRecord>(device: DeviceKind<I, O>) {
  const fail = (inputs: I, error: unknown) => new ResourceError(device.label(inputs), (error as Error).message, { cause: error });
  // A QEMU run without libvirt (`qmp` instead of `domain`) takes the direct path; diff is the same for both.
  const direct = directDeviceHandlers<I, O>(device);
  const onDomain = (inputs: I) => inputs as OnDomain<I>;
  return {
    async diff(_id: string, olds: O, news: I): Promise<DiffResult> {
      const fields = changedInputs(device.kind, olds, news, inputFields(device.kind));
      const classified = fields.map((f) => classifyField(device.kind, f, olds, news, { running: true, restart: "never" }));
      // A device from before owners keeps its name; its claim is recorded once, so no other stack's delete removes it.
      if (!olds.owner && typeof news.owner === "string" && !isUnknown(news.owner)) {
        classified.push({ field: "owner", class: "live", reason: `device ${olds.alias} is recorded as this resource's in the domain's metadata (no change to the device)` });
      }
      return planDiff(device.label(news), classified);
    },

    async create(given: I): Promise<{ id: string; outs: O }> {
      if (given.qmp) return direct.create(given);
      const inputs = onDomain(given);
      const client = await clientFor(inputs.uri);
      const alias = device.deviceName(inputs);
      const scope = claimScope(inputs);
      let claims: DeviceClaim[] = [];
      try {
        const { uuid, outs } = await createDevice(client, inputs.domain, {
          attach: async (view) => {
            // Everything libvirt or QEMU would refuse, before anything is touched.
            const refusals = createRefusals(device.kind, view, inputs, alias);
            if (refusals.length > 0) throw new Error(refusals.map((r) => `${r.field}: ${r.message}`).join("; "));
            claims = view.claims;
            // A device already under this name is adopted (a run interrupted after its attach) only when provably ours.
            const adopt = (held: { file: string | null }) => {
              const holders = otherClaims(claims, alias, inputs.owner);
              if (holders.length > 0) {
                throw new Error(`device ${alias} on domain ${inputs.domain} is held by ${holders.map((c) => c.owner).join(", ")}; nothing was changed: give this resource another name`);
              }
              const foreign = notOurs(alias, inputs.domain, held, device.expected(inputs).file);
              if (foreign) throw new Error(foreign);
            };
            // Over QMP the device is in QEMU's block devices, asked for when the add finds its name taken.
            if (inputs.via === "qmp") return attachQmp(client, view, device.qmpDevice(inputs, alias), adopt);
            const held = heldMedium(view, [], alias, "libvirt");
            if (held) adopt(held);
            await device.attach(view, inputs, alias);
            return held === undefined;
          },
          record: async (view) => {
            if (inputs.owner) await addClaim(client, view, claims, { device: alias, owner: inputs.owner, source: device.expected(inputs).file }, scope);
          },
          unrecord: async (view) => {
            if (!inputs.owner) return;
            const recorded = withClaim(claims, { device: alias, owner: inputs.owner, source: device.expected(inputs).file });
            const earlier = claims.find((c) => c.device === alias && c.owner === inputs.owner);
            if (earlier) await addClaim(client, view, recorded, earlier, scope);
            else await dropClaim(client, view, recorded, alias, inputs.owner, scope);
          },
          // QEMU must really have what was asked; otherwise undo what this call attached (never a device it found),
          // so a failed create leaves the domain as it was.
          verify: async (after, attachedNow) => {
            if (!after.running || !attachesLive(inputs, device.kind)) return;
            try {
              await verifyLive(after, alias, device.expected(inputs));
            } catch (error) {
              if (attachedNow) await undoAttach(client, after.uuid, { ...inputs, alias });
              throw error;
            }
          },
          observe: (after) => device.observe(after, inputs, alias),
        }, {
          // libvirt: whether there is a config to keep it in (a QMP device's claim needs none, and QEMU's block
          // devices are asked only when attachQmp needs them).
          before: { persistent: inputs.via === "libvirt" },
          xml: inputs.via === "libvirt",
        });
        return { id: `${uuid}/${alias}`, outs };
      } catch (error) {
        throw fail(inputs, error);
      }
    },

    async read(id: string, props: O): Promise<{ id: string; props: O }> {
      if (props.qmp) return direct.read(id, props) as Promise<{ id: string; props: O }>;
      const view = await viewDomainForRead(await clientFor(props.uri), props.domainUuid ?? props.domain!);
      const outs = view ? await device.observe(view, props, props.alias) : null;
      // Gone with its domain, or detached behind Pulumi's back.
      return outs && !missingFromLive(view!, props, device.kind) ? { id, props: outs } : { id: "", props };
    },

    async delete(_id: string, props: O): Promise<void> {
      if (props.qmp) return direct.delete(props);
      try {
        const client = await clientFor(props.uri);
        // A disk has no tray to empty: its QMP detach goes without a query-block before it.
        const trayless = device.kind === "Disk" ? (view: DomainView, onAsked: () => void) => detachQmp(client, view, props.alias, props.detachTimeoutSeconds, onAsked, false) : undefined;
        await deleteDevice(client, props, trayless);
      } catch (error) {
        throw fail(props, error);
      }
    },

    async describeCreate(given: I): Promise<string> {
      if (given.qmp) return direct.describeCreate(given);
      const inputs = onDomain(given);
      // Shared: a preview asks this for every device of a domain at once.
      const view = await viewDomainForRead(await clientFor(inputs.uri), inputs.domain, { prefetch: false }).catch(() => null);
      if (!view) return `${device.label(inputs)}: attach when the domain exists`;
      const alias = device.deviceName(inputs);
      planSlot(view, inputs, alias);
      const refusals = createRefusals(device.kind, view, inputs, alias, true);
      // What up would refuse is said now, naming the field and the fix.
      if (refusals.length > 0) return refusals.map((r) => `${device.label(inputs)}: up would refuse ${r.field}: ${r.message}`).join("\n");
      const c = classifyAttach(device.kind, inputs, { running: view.running, restart: "never", machine: view.config.machine ?? undefined });
      const lines = [`${device.label(inputs)}: ${c.class === "live" ? c.reason : `${c.class} (${c.reason})`}`];
      if (view.running && convertsBootOrder(view, inputs)) {
        lines.push(
          `${device.label(inputs)}: bootOrder → next-boot (the domain boots by libvirt's default <os><boot dev='${view.config.os.bootDevices.join("','")}'>: ` +
            `its config changes to equivalent per-device boot orders, and this ${device.kind}'s order counts from the next boot)`,
        );
      }
      return lines.join("\n");
    },
  };
}
