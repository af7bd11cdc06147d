// The claims of a domain's devices (vocab/device-claims.ts), read and written through libvirt's domain metadata.
// The claims as the domain has them come with its view (DomainView.claims, parsed with the XML); callers hold the
// domain's lock, so a read-modify-write here never loses another resource's claim.
import { Affect, LibvirtClient } from "../libvirt";
import { buildClaims, CLAIMS_NAMESPACE, CLAIMS_PREFIX, DeviceClaim, withClaim, withoutClaim } from "../vocab/device-claims";
import type { DomainView } from "./domain-view";

async function writeClaims(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[]): Promise<void> {
  // A transient domain has only its running copy.
  const config = (await view.persistent()) ? Affect.Config : 0;
  const flags = (view.running ? Affect.Live : 0) | config;
  await client.setDomainMetadata(view.dom, claims.length > 0 ? buildClaims(claims) : null, CLAIMS_PREFIX, CLAIMS_NAMESPACE, flags);
}

/** Records `claim` (replacing the owner's older claim on the same device). */
export async function addClaim(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[], claim: DeviceClaim): Promise<void> {
  const next = withClaim(claims, claim);
  if (next.length === claims.length && claims.some((c) => c.device === claim.device && c.owner === claim.owner && c.source === claim.source)) return;
  await writeClaims(client, view, next);
}

/** Drops the owner's claim on a device, when it has one. */
export async function dropClaim(client: LibvirtClient, view: DomainView, claims: readonly DeviceClaim[], device: string, owner: string): Promise<void> {
  const next = withoutClaim(claims, device, owner);
  if (next.length !== claims.length) await writeClaims(client, view, next);
}
