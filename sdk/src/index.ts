// pulumi-libvirt-live: libvirt/QEMU machines as Pulumi resources, changed live where QEMU allows it.
import * as pulumi from "@pulumi/pulumi";
import type { CdromArgs, DiskArgs, DomainArgs, GuestExecArgs, InterfaceArgs, NetworkArgs, VolumeArgs } from "./inputs";
import type { LiveBlock } from "../../provider/src/resources/devices";
import type { DomainNic } from "../../provider/src/resources/domain";
import type { InterfaceAddress } from "../../provider/src/resources/addresses";
import { providerShim, ResourceKindName } from "./shim";

export * from "./inputs";

/** Pulumi module of every resource type: URNs read pulumi-nodejs:dynamic/libvirt:<Kind>. */
export const TYPE_MODULE = "libvirt";

/** Outputs the provider computes, declared so they appear on the resource object (undefined until known). */
function withOutputs(args: object, outputs: readonly string[]): pulumi.Inputs {
  const props: pulumi.Inputs = {};
  for (const name of outputs) props[name] = undefined;
  return { ...props, ...args };
}

/** The dynamic.Resource constructor arguments for one of our kinds. */
function resourceArgs(kind: ResourceKindName, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
  return [providerShim(kind), name, props, opts, TYPE_MODULE, kind] as const;
}

/**
 * The URN this resource will have: project, stack, parents' types and name. Devices are named after it, so two
 * stacks (or projects) that both declare `Disk("data")` on one domain never find each other's device.
 */
function ownerUrn(kind: ResourceKindName, name: string, opts?: pulumi.CustomResourceOptions): pulumi.Input<string> {
  return pulumi.createUrn(name, `pulumi-nodejs:dynamic/${TYPE_MODULE}:${kind}`, opts?.parent);
}

/**
 * Dynamic providers cannot be imported: the engine's read gets no provider and the host crashes with
 * "code must be a string". Say what works instead, before the engine is asked.
 */
function refuseImport(kind: "Domain" | "Volume" | "Network", name: string, opts?: pulumi.CustomResourceOptions): void {
  if (opts?.import === undefined) return;
  throw new Error(
    `${kind} ${name}: the "import" resource option does not work for pulumi-libvirt-live resources (Pulumi cannot import into dynamic providers); ` +
      `set adopt: true in the ${kind}'s arguments instead, and the existing ${kind.toLowerCase()} of that name is taken over at the next up`,
  );
}

/** What QEMU reports for an attached disk (query-block). */
export type { LiveBlock } from "../../provider/src/resources/devices";
export type { DomainNic } from "../../provider/src/resources/domain";
export type { InterfaceAddress } from "../../provider/src/resources/addresses";

/** A disk image in a libvirt storage pool. Grows live; shrinking recreates it. */
export class Volume extends pulumi.dynamic.Resource {
  declare readonly path: pulumi.Output<string>;
  declare readonly key: pulumi.Output<string>;
  declare readonly allocationBytes: pulumi.Output<number>;
  declare readonly capacityBytes: pulumi.Output<number>;
  declare readonly name: pulumi.Output<string>;

  constructor(name: string, args: VolumeArgs, opts?: pulumi.CustomResourceOptions) {
    refuseImport("Volume", name, opts);
    super(...resourceArgs("Volume", name, withOutputs(args, ["path", "key", "allocationBytes"]), opts));
  }
}

/**
 * A libvirt virtual network (bridge, subnet, DHCP), defined persistently and started. DHCP host entries change live;
 * a new subnet, DHCP range, bridge or MTU restarts it; a new name or mode replaces it.
 */
export class Network extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly uuid: pulumi.Output<string>;
  /** The bridge the network has: the one given, or the virbrN libvirt picked (with mode bridge, the host's). */
  declare readonly bridgeName: pulumi.Output<string>;
  /** Whether the network runs; one stopped outside Pulumi reads false, and `up` starts it. */
  declare readonly active: pulumi.Output<boolean>;
  /** Whether libvirt keeps a persistent config of it; false after an undefine by hand while it ran. */
  declare readonly persistent: pulumi.Output<boolean>;
  /** Whether the persistent config says what the running network does; false after a change by hand to one of them. */
  declare readonly configInSync: pulumi.Output<boolean>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.CustomResourceOptions) {
    refuseImport("Network", name, opts);
    super(...resourceArgs("Network", name, withOutputs(args, ["uuid", "bridgeName", "active", "persistent", "configInSync"]), opts));
  }
}

/** A virtual machine, defined persistently and changed live where QEMU allows it. */
export class Domain extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly uuid: pulumi.Output<string>;
  /** libvirt's runtime id (-1 when not running); `id` is Pulumi's. */
  declare readonly domainId: pulumi.Output<number>;
  declare readonly state: pulumi.Output<string>;
  /** The persistent config differs from what runs: some change waits for the next boot. */
  declare readonly pendingRestart: pulumi.Output<boolean>;
  declare readonly liveMemoryMiB: pulumi.Output<number | null>;
  /**
   * The Domain's own NICs (`networks`), in order: `{ mac, name, addresses }` — the MAC kept for the life of the
   * domain, the guest's interface name (from the agent), and its IP addresses from the agent and the network's DHCP
   * leases. Addresses change with the guest's life; that is never drift.
   */
  declare readonly interfaces: pulumi.Output<DomainNic[]>;

  constructor(name: string, args: DomainArgs, opts?: pulumi.CustomResourceOptions) {
    refuseImport("Domain", name, opts);
    super(...resourceArgs("Domain", name, withOutputs(args, ["uuid", "domainId", "state", "pendingRestart", "liveMemoryMiB", "interfaces"]), opts));
  }
}

/** A disk image attached to a domain, live on virtio, scsi and usb. */
export class Disk extends pulumi.dynamic.Resource {
  declare readonly target: pulumi.Output<string>;
  declare readonly alias: pulumi.Output<string>;
  declare readonly live: pulumi.Output<LiveBlock | null>;

  constructor(name: string, args: DiskArgs, opts?: pulumi.CustomResourceOptions) {
    super(...resourceArgs("Disk", name, withOutputs({ resourceName: name, owner: ownerUrn("Disk", name, opts), ...args }, ["target", "alias", "live"]), opts));
  }
}

/** A cdrom drive; media changes live on tray devices (scsi, sata, ide), and by replace on usb. */
export class Cdrom extends pulumi.dynamic.Resource {
  declare readonly target: pulumi.Output<string>;
  declare readonly alias: pulumi.Output<string>;
  /** The media QEMU really has (query-block), null when empty. */
  declare readonly inserted: pulumi.Output<string | null>;
  /**
   * Whether the drive's tray is open (query-block's tray_open): an eject from inside the guest leaves the medium
   * attached with the tray open, and refresh then reads `media` as null, so `up` closes the tray again. Null when
   * the device has no tray (usb) or the domain is not running.
   */
  declare readonly trayOpen: pulumi.Output<boolean | null>;
  /**
   * Whether the domain's persistent config has the drive (via libvirt): false when it was removed from the config
   * behind Pulumi's back (it would be gone at the next boot); `up` puts it back without touching the running device.
   */
  declare readonly persistent: pulumi.Output<boolean | undefined>;

  constructor(name: string, args: CdromArgs, opts?: pulumi.CustomResourceOptions) {
    super(...resourceArgs("Cdrom", name, withOutputs({ resourceName: name, owner: ownerUrn("Cdrom", name, opts), ...args }, ["target", "alias", "inserted", "trayOpen", "persistent"]), opts));
  }
}

/** A NIC on a domain: hot-plugged live, its link state and its network or bridge changed live. */
export class Interface extends pulumi.dynamic.Resource {
  /** The MAC it has: the one given, else the one libvirt assigned (or, over QMP, derived from the owner); kept for good. */
  declare readonly mac: pulumi.Output<string>;
  /** libvirt's user alias (via libvirt) or QEMU's device id (via qmp). */
  declare readonly alias: pulumi.Output<string>;
  /** The host tap device (null for user-mode networking, over QMP, or while the domain is stopped). */
  declare readonly target: pulumi.Output<string | null>;
  /** Its IP addresses, from the guest agent and its network's DHCP leases: they change with the guest, never drift. */
  declare readonly addresses: pulumi.Output<InterfaceAddress[]>;
  /** The link state read back: a link set down by hand reads "down", and `up` sets it as declared again. */
  declare readonly linkState: pulumi.Output<"up" | "down">;
  /**
   * Whether the domain's persistent config has the NIC (via libvirt): false when it was removed from the config
   * behind Pulumi's back (it would be gone at the next boot); `up` puts it back without touching the running NIC.
   */
  declare readonly persistent: pulumi.Output<boolean>;

  constructor(name: string, args: InterfaceArgs, opts?: pulumi.CustomResourceOptions) {
    super(...resourceArgs("Interface", name, withOutputs({ resourceName: name, owner: ownerUrn("Interface", name, opts), ...args }, ["mac", "alias", "target", "addresses", "linkState", "persistent"]), opts));
  }
}

export interface GuestExecOptions extends pulumi.CustomResourceOptions {
  /**
   * Make stdout and stderr secret in the state (input is always secret). Default: secret when any of args, env,
   * input or delete is given as an Output or Promise (it may be secret, and the output may echo it); `false`
   * keeps them readable even then.
   */
  secretOutput?: boolean;
}

/** Whether a value the program passed is a secret Output (a Promise is awaited first). */
async function isSecretValue(value: unknown): Promise<boolean> {
  const resolved = await value;
  return pulumi.Output.isInstance(resolved) ? pulumi.isSecret(resolved as pulumi.Output<unknown>) : false;
}

/** Whether a value may hold an Output or a Promise anywhere (then its secretness is known only later). */
function mayBeSecret(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return true;
  if (Array.isArray(value)) return value.some(mayBeSecret);
  if (value && typeof value === "object") return Object.values(value).some(mayBeSecret);
  return false;
}

/**
 * The paths of what the program marked secret, for the provider's `secretInputs`: Pulumi hands the provider
 * secrets in plain text, and this is how it knows which values to show as [secret].
 */
export async function secretPathsOf(args: GuestExecArgs): Promise<string[]> {
  const paths: string[] = [];
  const list = async (at: string, value: unknown) => {
    if (value === undefined) return;
    if (await isSecretValue(value)) return void paths.push(at);
    const items = await value;
    if (!Array.isArray(items)) return;
    for (const [i, item] of items.entries()) if (await isSecretValue(item)) paths.push(`${at}[${i}]`);
  };
  await list("args", args.args);
  await list("env", args.env);
  if (args.input !== undefined && (await isSecretValue(args.input))) paths.push("input");
  if (args.delete !== undefined) {
    if (await isSecretValue(args.delete)) paths.push("delete");
    else {
      const del = (await args.delete) as { args?: unknown; env?: unknown } | undefined;
      await list("delete.args", del?.args);
      await list("delete.env", del?.env);
    }
  }
  return paths;
}

/** A command run inside the guest through the QEMU guest agent. */
export class GuestExec extends pulumi.dynamic.Resource {
  declare readonly exitCode: pulumi.Output<number>;
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;
  declare readonly pid: pulumi.Output<number>;
  declare readonly durationMs: pulumi.Output<number>;

  constructor(name: string, args: GuestExecArgs, opts: GuestExecOptions = {}) {
    const { secretOutput, ...rest } = opts;
    const { secretInputs: _ignored, ...given } = args;
    const outputsSecret = secretOutput ?? [given.args, given.env, given.input, given.delete].some(mayBeSecret);
    const secrets = ["input", ...(outputsSecret ? ["stdout", "stderr"] : [])];
    const secretInputs = pulumi.output(secretPathsOf(given).then((paths) => [...paths, ...(secretOutput ? ["stdout", "stderr"] : [])]));
    const props = withOutputs(
      { ...given, input: given.input === undefined ? undefined : pulumi.secret(given.input), secretInputs },
      ["exitCode", "stdout", "stderr", "pid", "durationMs"],
    );
    super(...resourceArgs("GuestExec", name, props, { ...rest, additionalSecretOutputs: [...(rest.additionalSecretOutputs ?? []), ...secrets] }));
  }
}
