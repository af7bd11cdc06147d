// Who holds which device of a domain: one <claims> element in the domain's <metadata>, under this project's own
// XML namespace (libvirt keeps application elements there, live and in the config, and changes them with
// virDomainSetMetadata without touching the guest). Each claim names a device (libvirt alias or QMP id), the
// owner (the Pulumi URN of the resource) and the medium it attached.
//
//   <claims><device name="ua-disk-data-1a2b3c4d5e6f" owner="urn:pulumi:prod::shop::…::data" source="/a.raw"/></claims>

import { attr, buildXmlDocument, child, children, element, parseXmlRoot, type XmlNode } from "./xml";

/** The namespace of our element; a name only, never fetched. */
export const CLAIMS_NAMESPACE = "https://pulumi-libvirt-live.invalid/xmlns/claims/1";
/** The prefix libvirt writes our element with. */
export const CLAIMS_PREFIX = "plv";

export interface DeviceClaim {
  /** libvirt user alias or QMP device id. */
  readonly device: string;
  /** The Pulumi URN of the resource holding the device. */
  readonly owner: string;
  /** The medium the owner attached (null: an empty drive). */
  readonly source: string | null;
}

/** Reads the element virDomainGetMetadata returns (prefixed or not); no element means no claims. */
export function parseClaims(xml: string | null): DeviceClaim[] {
  if (xml === null || xml.trim() === "") return [];
  const { rootName, root } = parseXmlRoot(xml);
  return claimsOf(rootName, root);
}

/**
 * The claims in a domain's parsed <metadata> (parseDomainXml): our element is the one whose prefix libvirt binds to
 * CLAIMS_NAMESPACE, whatever the prefix.
 */
export function claimsInMetadata(metadata: XmlNode | undefined): DeviceClaim[] {
  if (metadata === undefined) return [];
  for (const key of Object.keys(metadata)) {
    const prefix = /^([A-Za-z_][\w.-]*):claims$/.exec(key)?.[1];
    const node = prefix === undefined ? undefined : child(metadata, key);
    if (node && attr(node, `xmlns:${prefix}`) === CLAIMS_NAMESPACE) return claimsOf(key, node);
  }
  return [];
}

function claimsOf(elementName: string, element: XmlNode): DeviceClaim[] {
  if (elementName.replace(/^[^:]*:/, "") !== "claims") return [];
  const tag = elementName.includes(":") ? `${elementName.split(":")[0]}:device` : "device";
  return children(element, tag).flatMap((d) => {
    const device = attr(d, "name");
    const owner = attr(d, "owner");
    if (!device || !owner) return [];
    return [{ device, owner, source: attr(d, "source") ?? null }];
  });
}

/** The element to hand to virDomainSetMetadata (libvirt adds the namespace and prefix). */
export function buildClaims(claims: readonly DeviceClaim[]): string {
  return buildXmlDocument(
    "claims",
    element({}, { device: claims.map((c) => element({ name: c.device, owner: c.owner, source: c.source ?? undefined })) }),
  );
}

/** Claims on `device` by anyone but `owner`. */
export function otherClaims(claims: readonly DeviceClaim[], device: string, owner: string | undefined): DeviceClaim[] {
  return claims.filter((c) => c.device === device && c.owner !== owner);
}

/** `claims` with `owner`'s claim on `device` set to `source` (replacing an older one). */
export function withClaim(claims: readonly DeviceClaim[], claim: DeviceClaim): DeviceClaim[] {
  return [...withoutClaim(claims, claim.device, claim.owner), claim];
}

export function withoutClaim(claims: readonly DeviceClaim[], device: string, owner: string): DeviceClaim[] {
  return claims.filter((c) => !(c.device === device && c.owner === owner));
}
