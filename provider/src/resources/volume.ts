// Volume: a disk image in a libvirt storage pool. Grows in place (through QEMU when a running guest has it
// open, so the guest sees the new size); shrinking or any other change recreates it. A volume some domain
// uses (a disk, a config-only disk, an image opened over QMP, the backing file of an overlay) is never
// deleted or recreated under it.
import { isNotFound, LibvirtClient, StoragePoolRef, StorageVolRef } from "../libvirt";
import { buildVolumeXml, parseVolumeXml } from "../vocab/volume-xml";
import { changedInputs, Classified, classifyField, ResourceKind } from "./classify";
import { clientFor, isUnknown, planDiff, ResourceError, ResourceHandlers } from "./handler";
import { inputFields } from "./validate";
import type { VolumeInputs } from "./inputs";
import { qmp } from "./qemu";
import { describeUse, describeUses, domainsUsingFile } from "./usage";

const KIND: ResourceKind = "Volume";

export interface VolumeOutputs extends VolumeInputs {
  path: string;
  key: string;
  allocationBytes: number;
}

/**
 * Faults a test can inject to reach failure paths a healthy daemon never takes; nothing else sets them.
 * `afterCreate` runs right after libvirt made the volume, before its outputs are read.
 */
export const volumeFaults: { afterCreate?: (vol: StorageVolRef) => Promise<void> } = {};

const subject = (name: string): string => `${KIND} ${name}`;

async function observe(client: LibvirtClient, vol: StorageVolRef, inputs: VolumeInputs): Promise<VolumeOutputs> {
  const parsed = parseVolumeXml(await client.volumeXml(vol));
  const info = await client.volumeInfo(vol);
  return {
    ...inputs,
    // What is really there, under the input names, so refresh + diff shows a volume resized by hand.
    capacityBytes: Number(info.capacityBytes),
    format: (parsed.format ?? inputs.format) as VolumeInputs["format"],
    path: parsed.path ?? (await client.volumePath(vol)),
    key: vol.key,
    allocationBytes: Number(info.allocationBytes),
  };
}

async function resize(client: LibvirtClient, vol: StorageVolRef, path: string, bytes: number): Promise<void> {
  const open = (await domainsUsingFile(client, path)).filter((use) => use.running);
  const under = open.filter((use) => use.how === "backing");
  if (under.length > 0) {
    // QEMU holds a backing file open read-only and refuses anyone else a write lock on it.
    throw new ResourceError(subject(vol.name), `cannot grow it while it is the ${under.map(describeUse).join("; ")}; stop the domain or detach the overlay first`);
  }
  if (open.length > 0) {
    // The guest has the image open: let QEMU grow it, or the guest would keep seeing the old size.
    for (const use of open) {
      if (use.how === "qmp") await qmp(client, use.domain, { execute: "block_resize", arguments: { "node-name": use.nodeName, size: bytes } });
      else await client.blockResize(use.domain, use.target ?? "", BigInt(bytes));
    }
    await client.refreshPool(await client.lookupPool(vol.pool));
  } else {
    await client.resizeVolume(vol, BigInt(bytes));
  }
}

async function findVolume(client: LibvirtClient, pool: StoragePoolRef, name: string): Promise<StorageVolRef | null> {
  return client.lookupVolume(pool, name).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
}

/**
 * `adopt: true` over an existing volume: it must be what the inputs describe (format, backing store), and it
 * may only grow. Anything else is an error naming the field, never a silent change to someone's data.
 */
async function adopt(client: LibvirtClient, vol: StorageVolRef, inputs: VolumeInputs): Promise<VolumeOutputs> {
  const fail = (message: string): never => {
    throw new ResourceError(subject(inputs.name), `adopt: ${message}`);
  };
  const parsed = parseVolumeXml(await client.volumeXml(vol));
  if (parsed.format !== undefined && parsed.format !== inputs.format) {
    fail(`format: the existing volume is ${parsed.format}, the inputs say ${inputs.format}; set format: "${parsed.format}"`);
  }
  const has = parsed.backingStore;
  const wants = inputs.backingStore;
  const show = (b: { path: string; format?: string } | null | undefined): string => (b ? `${b.path} (${b.format ?? "format not recorded"})` : "none");
  if ((has === null) !== (wants === undefined) || (has && wants && (has.path !== wants.path || (has.format !== undefined && has.format !== wants.format)))) {
    fail(`backingStore: the existing volume has ${show(has)}, the inputs say ${show(wants)}`);
  }
  const capacity = Number((await client.volumeInfo(vol)).capacityBytes);
  if (inputs.capacityBytes < capacity) {
    fail(`capacityBytes: the existing volume holds ${capacity} bytes, the inputs say ${inputs.capacityBytes}; shrinking would lose data, so set capacityBytes to at least ${capacity}`);
  }
  if (inputs.capacityBytes > capacity) await resize(client, vol, parsed.path ?? (await client.volumePath(vol)), inputs.capacityBytes);
  return observe(client, vol, inputs);
}

/** Makes the volume; anything failing after that removes it again, so the next up does not find it "already exists". */
async function createNew(client: LibvirtClient, pool: StoragePoolRef, inputs: VolumeInputs): Promise<VolumeOutputs> {
  const vol = await client.createVolume(
    pool,
    buildVolumeXml({ name: inputs.name, capacityBytes: inputs.capacityBytes, format: inputs.format, backingStore: inputs.backingStore }),
  );
  try {
    await volumeFaults.afterCreate?.(vol);
    return await observe(client, vol, inputs);
  } catch (error) {
    try {
      await client.deleteVolume(vol);
    } catch (cleanup) {
      throw new ResourceError(
        subject(inputs.name),
        `${(error as Error).message}; removing the half-made volume failed too (${(cleanup as Error).message}): remove it, or set adopt: true`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** A replace deletes the volume first: when a domain uses it, the preview says so, since up will refuse. */
async function withUseNotes(olds: VolumeOutputs, classified: Classified[]): Promise<Classified[]> {
  if (!classified.some((c) => c.class === "replace") || typeof olds.path !== "string") return classified;
  // A note is worth no failed preview: an unreachable daemon fails the up itself, with its own message.
  const uses = await clientFor(olds.uri)
    .then((client) => domainsUsingFile(client, olds.path))
    .catch(() => []);
  if (uses.length === 0) return classified;
  const inUse = `the volume is in use by ${describeUses(uses)}, so up will refuse the delete`;
  return classified.map((c) => (c.class === "replace" ? { ...c, reason: `${c.reason}; ${inUse}` } : c));
}

export const volume: ResourceHandlers<VolumeInputs, VolumeOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    const classified = changedInputs(KIND, olds, news, inputFields(KIND)).map((f) => classifyField(KIND, f, olds, news, { running: false, restart: "never" }));
    return planDiff(subject(news.name), await withUseNotes(olds, classified));
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const pool = await client.lookupPool(inputs.pool).catch((e) => {
      throw new ResourceError(subject(inputs.name), `storage pool "${inputs.pool}" not found (set pool to an existing one)`, { cause: e });
    });
    const existing = await findVolume(client, pool, inputs.name);
    if (existing && inputs.adopt) return { id: existing.key, outs: await adopt(client, existing, inputs) };
    if (existing) {
      // Never take over a volume Pulumi did not make unless told to: deleting the stack would delete someone's data.
      throw new ResourceError(
        subject(inputs.name),
        `a volume named "${inputs.name}" already exists in pool "${inputs.pool}"; set adopt: true to take it over (the stack then deletes it with the rest), pick another name, or remove it`,
      );
    }
    const outs = await createNew(client, pool, inputs);
    return { id: outs.key, outs };
  },

  async read(id, props) {
    const client = await clientFor(props.uri);
    try {
      const vol = await client.lookupVolumeByPath(props.path ?? id);
      return { id, props: await observe(client, vol, props) };
    } catch (error) {
      if (isNotFound(error)) return { id: "", props };
      throw error;
    }
  },

  async update(_id, olds, news) {
    const client = await clientFor(news.uri);
    const vol = await client.lookupVolumeByPath(olds.path);
    if (!isUnknown(news.capacityBytes) && news.capacityBytes > olds.capacityBytes) {
      await resize(client, vol, olds.path, news.capacityBytes);
    }
    return { outs: await observe(client, vol, news) };
  },

  async delete(id, props) {
    const client = await clientFor(props.uri);
    let vol: StorageVolRef;
    try {
      vol = await client.lookupVolumeByPath(props.path ?? id);
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    const users = await domainsUsingFile(client, props.path ?? (await client.volumePath(vol)));
    if (users.length > 0) {
      throw new ResourceError(subject(props.name), `still used by ${describeUses(users)}; detach it first (its Disk resource), or remove what uses it`);
    }
    await client.deleteVolume(vol);
  },

  async describeCreate(inputs) {
    const plain = `${subject(inputs.name)}: create in pool ${inputs.pool}`;
    if ([inputs.uri, inputs.pool, inputs.name].some(isUnknown)) return plain;
    const client = await clientFor(inputs.uri);
    const pool = await client.lookupPool(inputs.pool).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
    const existing = pool && (await findVolume(client, pool, inputs.name));
    if (!existing) return plain;
    return inputs.adopt
      ? `${subject(inputs.name)}: adopt existing volume in pool ${inputs.pool}`
      : `${subject(inputs.name)}: a volume of that name already exists in pool ${inputs.pool}; up will fail unless the Volume sets adopt: true`;
  },
};
