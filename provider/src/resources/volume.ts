// Volume: a disk image in a libvirt storage pool. Grows in place (through QEMU when a running guest has it
// open, so the guest sees the new size); shrinking or any other change recreates it.
import { isNotFound, LibvirtClient, StorageVolRef } from "../libvirt";
import { buildVolumeXml, parseVolumeXml } from "../vocab/volume-xml";
import { changedInputs, classifyField, ResourceKind } from "./classify";
import { clientFor, isUnknown, planDiff, ResourceError, ResourceHandlers } from "./handler";
import { inputFields } from "./validate";
import type { VolumeInputs } from "./inputs";
import { domainsUsingFile } from "./usage";

const KIND: ResourceKind = "Volume";

export interface VolumeOutputs extends VolumeInputs {
  path: string;
  key: string;
  allocationBytes: number;
}

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
  const running = (await domainsUsingFile(client, path)).filter((use) => use.running);
  if (running.length > 0) {
    // The guest has the image open: let QEMU grow it, or the guest would keep seeing the old size.
    for (const use of running) await client.blockResize(use.domain, use.target, BigInt(bytes));
    await client.refreshPool(await client.lookupPool(vol.pool));
  } else {
    await client.resizeVolume(vol, BigInt(bytes));
  }
}

export const volume: ResourceHandlers<VolumeInputs, VolumeOutputs> = {
  kind: KIND,

  async diff(_id, olds, news) {
    const classified = changedInputs(KIND, olds, news, inputFields(KIND)).map((f) => classifyField(KIND, f, olds, news, { running: false, restart: "never" }));
    return planDiff(`Volume ${news.name}`, classified);
  },

  async create(inputs) {
    const client = await clientFor(inputs.uri);
    const pool = await client.lookupPool(inputs.pool).catch((e) => {
      throw new ResourceError(`${KIND} ${inputs.name}`, `storage pool "${inputs.pool}" not found (set pool to an existing one)`, { cause: e });
    });
    const existing = await client.lookupVolume(pool, inputs.name).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
    if (existing) {
      // Never take over a volume Pulumi did not make: deleting the stack would delete someone's data.
      throw new ResourceError(`${KIND} ${inputs.name}`, `a volume named "${inputs.name}" already exists in pool "${inputs.pool}"; pick another name or remove it`);
    }
    const vol = await client.createVolume(
      pool,
      buildVolumeXml({ name: inputs.name, capacityBytes: inputs.capacityBytes, format: inputs.format, backingStore: inputs.backingStore }),
    );
    return { id: vol.key, outs: await observe(client, vol, inputs) };
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
    const users = await domainsUsingFile(client, props.path);
    if (users.length > 0) {
      const names = [...new Set(users.map((u) => u.domain.name))].join(", ");
      throw new ResourceError(`${KIND} ${props.name}`, `still used by domain ${names}; detach it first (its Disk resource)`);
    }
    await client.deleteVolume(vol);
  },

  async describeCreate(inputs) {
    return `Volume ${inputs.name}: create in pool ${inputs.pool}`;
  },
};
