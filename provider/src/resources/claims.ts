// The claims of a domain's devices (vocab/device-claims.ts), read and written through libvirt's domain metadata.
// The claims as the domain has them come with its view (DomainView.claims, parsed with the XML); callers hold the
// domain's lock, so a read-modify-write here never loses another resource's claim.
import { Affect, LibvirtClient } from "../libvirt";
import { buildClaims, CLAIMS_NAMESPACE, CLAIMS_PREFIX, DeviceClaim, withClaim, withoutClaim } from "../vocab/device-claims";
import type { DomainView } from "./domain-view";

/**
 * Which copies of the domain keep a device's claim: "both" (a device libvirt knows, kept in the config too), or
 * "live" (a device added over QMP lives only as long as its QEMU process, so its claim needs no config write:
 * one file libvirt writes and syncs instead of two, in the domain's job).
 */
export type ClaimScope = "both" | "live";

/** The scope of a device's claim: a device added over QMP lives only as long as its QEMU process, and so does its claim. */
export function claimScope(device: { via: "libvirt" | "qmp" }): ClaimScope {
  return device.via === "qmp" ? "live" : "both";
}

async function writeClaims(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[], configToo: boolean): Promise<void> {
  // A transient domain has only its running copy; a stopped one only its config (Affect.Current, 0, is that).
  const config = configToo && (await view.persistent()) ? Affect.Config : 0;
  const flags = (view.running ? Affect.Live : 0) | config;
  await client.setDomainMetadata(view.dom, claims.length > 0 ? buildClaims(claims) : null, CLAIMS_PREFIX, CLAIMS_NAMESPACE, flags);
}

/** Records `claim` (replacing the owner's older claim on the same device). */
export async function addClaim(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[], claim: DeviceClaim, scope: ClaimScope = "both"): Promise<void> {
  const next = withClaim(claims, claim);
  if (next.length === claims.length && claims.some((c) => c.device === claim.device && c.owner === claim.owner && c.source === claim.source)) return;
  await writeClaims(client, view, next, scope === "both");
}

/** Drops the owner's claim on a device, when it has one (from the config too when it has it, whatever the scope). */
export async function dropClaim(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[], device: string, owner: string, scope: ClaimScope = "both"): Promise<void> {
  const next = withoutClaim(claims, device, owner);
  const inConfig = () => view.config.claims.some((c) => c.device === device && c.owner === owner);
  if (next.length !== claims.length) await writeClaims(client, view, next, scope === "both" || inConfig());
}
