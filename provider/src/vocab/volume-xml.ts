// Storage volume XML (libvirt's <volume>), built and read through the shared XML configuration.
import { attr, buildXmlDocument, child, childText, element, parseXmlDocument, textElement, uintValue } from "./xml";

export interface VolumeSpec {
  name: string;
  capacityBytes: number;
  format: "qcow2" | "raw";
  backingStore?: { path: string; format: "qcow2" | "raw" };
}

export interface ParsedVolume {
  name: string;
  key: string | undefined;
  path: string | undefined;
  format: string | undefined;
  capacityBytes: number | undefined;
  allocationBytes: number | undefined;
  backingStore: { path: string; format: string | undefined } | null;
}

export function buildVolumeXml(spec: VolumeSpec): string {
  return buildXmlDocument(
    "volume",
    element(
      {},
      {
        name: textElement(spec.name),
        capacity: textElement(spec.capacityBytes, { unit: "bytes" }),
        target: element({}, { format: element({ type: spec.format }) }),
        backingStore: spec.backingStore
          ? element({}, { path: textElement(spec.backingStore.path), format: element({ type: spec.backingStore.format }) })
          : undefined,
      },
    ),
  );
}

/** libvirt reports sizes with a unit attribute; it writes bytes, but be exact about anything else. */
function bytesOf(text: string | undefined, unit: string | undefined): number | undefined {
  const n = uintValue(text);
  if (n === undefined) return undefined;
  const scale: Record<string, number> = { bytes: 1, b: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  return n * (scale[unit ?? "bytes"] ?? 1);
}

export function parseVolumeXml(xml: string): ParsedVolume {
  const root = parseXmlDocument(xml, "volume");
  const target = child(root, "target");
  const backing = child(root, "backingStore");
  const backingPath = childText(backing, "path");
  return {
    name: childText(root, "name") ?? "",
    key: childText(root, "key"),
    path: childText(target, "path"),
    format: attr(child(target, "format"), "type"),
    capacityBytes: bytesOf(childText(root, "capacity"), attr(child(root, "capacity"), "unit")),
    allocationBytes: bytesOf(childText(root, "allocation"), attr(child(root, "allocation"), "unit")),
    backingStore: backingPath ? { path: backingPath, format: attr(child(backing, "format"), "type") } : null,
  };
}
