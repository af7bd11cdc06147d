// What makes an Interface this resource's and no other's: its device name (libvirt alias or QMP id, from the owner),
// what its claim records, how its messages name it, and the MAC a replace hands from the deleted NIC to the new one.
import { deriveNicMac } from "../vocab/qmp-net";
import type { InterfaceAddress } from "./addresses";
import { deviceNameFor, socketDeviceName } from "./device-names";
import { ResourceError } from "./handler";
import type { InterfaceInputs } from "./inputs";

export const KIND = "Interface" as const;

export interface InterfaceOutputs extends InterfaceInputs {
  /** The MAC the NIC has (given, derived from the owner, or without an owner assigned by libvirt); kept for good. */
  mac: string;
  /** libvirt's user alias (via libvirt) or QEMU's device id (via qmp). */
  alias: string;
  /** The host tap device (live XML <target dev>), the netdev's ifname over QMP; null for user-mode or while stopped. */
  target: string | null;
  /** From the guest agent and the network's DHCP leases; an output that changes with the guest's life, never drift. */
  addresses: InterfaceAddress[];
  /** The domain's uuid, or the QMP socket of a QEMU run without libvirt. */
  domainUuid: string;
}

export type Backend = { type: "network" | "bridge"; source: string } | { type: "user"; source: null };

export function backendOf(inputs: InterfaceInputs): Backend {
  if (inputs.user === true) return { type: "user", source: null };
  if (inputs.bridge !== undefined) return { type: "bridge", source: inputs.bridge };
  return { type: "network", source: inputs.network ?? "" };
}

export function describeBackend(b: Backend): string {
  return b.type === "user" ? "user-mode networking" : `${b.type} ${b.source}`;
}

export function label(inputs: InterfaceInputs): string {
  return `Interface ${inputs.resourceName ?? describeBackend(backendOf(inputs))} on ${inputs.domain ?? inputs.qmp}`;
}

export function fail(inputs: InterfaceInputs, error: unknown): ResourceError {
  return new ResourceError(label(inputs), (error as Error).message, { cause: error });
}

/** The NIC's device name: libvirt alias `ua-nic-<name>-<hash>`, or QMP id `lvn-<name>-<hash>` (its netdev `lvnd-…`). */
export function deviceName(inputs: InterfaceInputs): string {
  if (inputs.qmp !== undefined) return socketDeviceName(KIND, inputs);
  return deviceNameFor(KIND, inputs, `${inputs.domain}\0${describeBackend(backendOf(inputs))}`);
}

/** What a claim records as the device's "source": where the NIC is plugged. */
export function claimSource(inputs: InterfaceInputs): string {
  const b = backendOf(inputs);
  return b.type === "user" ? "user" : `${b.type}:${b.source}`;
}

// ---- the MAC, kept for good ---------------------------------------------------------------------------------

/**
 * MACs of NICs this process deleted, by resource, for a program without the SDK's owner: a replace deletes the old NIC
 * first, then creates the new one in the same run (one provider process serves a run), which takes the MAC back.
 */
const releasedMacs = new Map<string, string>();

function macKey(inputs: { owner?: string; resourceName?: string; domain?: string; qmp?: string }): string {
  return inputs.owner ?? `${inputs.domain ?? inputs.qmp}\0${inputs.resourceName ?? ""}`;
}

/**
 * The MAC the NIC gets: the program's, else one derived from the owner (the URN), so the same resource plugs in with
 * the same MAC after a replace, a NIC removed behind Pulumi's back, an interrupted run or a destroy and up (a DHCP host
 * entry or a licence bound to it keeps working); without an owner, a replace's, else libvirt assigns one.
 */
export function macToReuse(inputs: InterfaceInputs): string | undefined {
  if (inputs.mac !== undefined) return inputs.mac;
  if (inputs.owner) return deriveNicMac(`Interface\0${inputs.owner}`);
  return releasedMacs.get(macKey(inputs));
}

/** The delete of a replace leaves the NIC's MAC for the create that follows. */
export function releaseMac(props: InterfaceOutputs): void {
  releasedMacs.set(macKey(props), props.mac);
}

/** Once a create has plugged the NIC in, the MAC it took is its own again. */
export function forgetReleasedMac(inputs: InterfaceInputs): void {
  releasedMacs.delete(macKey(inputs));
}
