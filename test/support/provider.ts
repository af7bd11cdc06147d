// Drives resources the way the Pulumi engine does: through the dynamic providers the SDK's shim requires by
// package name, with check (validation and defaults) before create, diff and update.
import type * as Registry from "../../provider/src/resources/registry";
import { removeDomain, scratchImages, uniqueName } from "./host";

// By package name, exactly as the serialized shim resolves it in Pulumi's provider process.
const { providers } = require("pulumi-libvirt-live/provider") as typeof Registry;

export type Kind = keyof typeof providers;
type Props = Record<string, any>;

export async function checked(kind: Kind, inputs: Props, olds: Props = {}): Promise<Props> {
  const result = await providers[kind].check(olds, inputs);
  if (result.failures?.length) throw new Error(`check failed: ${JSON.stringify(result.failures)}`);
  const { __provider: _ignored, ...rest } = result.inputs ?? {};
  return rest;
}

export async function create(kind: Kind, inputs: Props): Promise<{ id: string; outs: Props }> {
  return (providers[kind] as any).create(await checked(kind, inputs));
}

export async function diff(kind: Kind, id: string, olds: Props, inputs: Props) {
  return (providers[kind] as any).diff(id, olds, await checked(kind, inputs, olds));
}

export async function update(kind: Kind, id: string, olds: Props, inputs: Props): Promise<Props> {
  return (await (providers[kind] as any).update(id, olds, await checked(kind, inputs, olds))).outs;
}

export async function read(kind: Kind, id: string, props: Props): Promise<{ id: string; props: Props }> {
  return (providers[kind] as any).read(id, props);
}

export async function remove(kind: Kind, id: string, props: Props): Promise<void> {
  await (providers[kind] as any).delete(id, props);
}

export { providers };

/**
 * A running no-OS domain for one test file, made through the Domain resource with an inline scsi boot disk (so it
 * boots by per-device order, as the seeds' devices need), and removed after the file; images go in its scratch dir.
 */
export function fileDomain(prefix: string, extra: Props = {}) {
  const scratch = scratchImages(`lvt-${prefix}`);
  const name = uniqueName(prefix);
  let boot = "";
  const fixture = {
    name,
    image: scratch.image,
    vm: undefined as unknown as { id: string; outs: Props },
    inputs: (): Props => ({ name, memoryMiB: 64, vcpus: 1, guestAgent: false, shutdownTimeoutSeconds: 1, disks: [{ source: boot, bus: "scsi" }], ...extra }),
  };
  before(async () => {
    boot = scratch.image("boot.img");
    fixture.vm = await create("Domain", fixture.inputs());
  });
  after(async () => {
    if (fixture.vm) await remove("Domain", fixture.vm.id, fixture.vm.outs).catch(() => undefined);
    removeDomain(name);
    scratch.remove();
  });
  return fixture;
}
