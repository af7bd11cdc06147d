// Which domains use a file, and how: a volume resize must go through QEMU when a running guest has the image
// open, and a volume in use must never be deleted or recreated under its user.
//
// One pass over the domains, three views of each, because each misses something the others show:
// - the live XML: disks of a running domain and their <backingStore> chains (a live overlay's base image);
// - the persistent config: a stopped domain's disks, and a running domain's disks that wait for the next boot;
// - QEMU's own block graph (query-named-block-nodes): images opened over QMP, which libvirt's XML never shows,
//   and every backing file QEMU really opened. Asking it marks the domain "custom-monitor" tainted in its log,
//   as every QMP passthrough does; only a resize or a delete of a volume asks.
import { DomainRef, ErrorCode, isNotFound, LibvirtClient, LibvirtError } from "../libvirt";
import { isRecord } from "../vocab/json-reply";
import { plainFilename } from "../vocab/query-block";
import { attr, child, children, parseXmlRoot, XmlNode } from "../vocab/xml";
import { qmp } from "./qemu";

/** disk: libvirt's running disk; config: a disk of the persistent config only; qmp: opened over QMP; backing: under an overlay. */
export type UseKind = "disk" | "config" | "qmp" | "backing";

export interface FileUse {
  domain: DomainRef;
  how: UseKind;
  /** QEMU has the file open now: a resize must go through it, never behind its back. */
  running: boolean;
  /** libvirt's target of the disk (disk, config): what DOMAIN_BLOCK_RESIZE addresses. */
  target: string | null;
  /** QEMU's node-name of the image (qmp): what block_resize addresses. */
  nodeName: string | null;
  /** The image the file is the backing file of (backing). */
  overlay: string | null;
}

/** How a use reads in messages: "backing file of /images/web.qcow2 on domain web-1". */
export function describeUse(use: FileUse): string {
  const on = `domain ${use.domain.name}`;
  switch (use.how) {
    case "disk":
      return `disk ${use.target} of running ${on}`;
    case "config":
      return use.domain.id === -1 ? `disk ${use.target} of stopped ${on}` : `disk ${use.target} in the persistent config of ${on} (its next boot)`;
    case "qmp":
      return `block node ${use.nodeName} opened over QMP on running ${on} (libvirt's XML does not show it)`;
    case "backing":
      return `backing file of ${use.overlay} on ${on}`;
  }
}

/** "domain web-1 (disk sdb of running domain web-1)"; several uses joined with "; ". */
export function describeUses(uses: readonly FileUse[]): string {
  const names = [...new Set(uses.map((u) => u.domain.name))];
  return `domain ${names.join(", ")} (${uses.map(describeUse).join("; ")})`;
}

interface XmlFileRef {
  file: string;
  target: string;
  /** null for a disk's own source; the image above it for an entry of its backing chain. */
  overlay: string | null;
}

const sourceOf = (node: XmlNode | undefined): string | undefined => attr(child(node, "source"), "file") ?? attr(child(node, "source"), "dev");

/** Every file a domain XML's disks name: their sources and, nested in <backingStore>, their backing chains. */
export function xmlFileRefs(xml: string): XmlFileRef[] {
  const refs: XmlFileRef[] = [];
  const { root } = parseXmlRoot(xml, { formattedByLibvirt: true });
  for (const disk of children(child(root, "devices"), "disk")) {
    const target = attr(child(disk, "target"), "dev") ?? "?";
    let above = sourceOf(disk);
    if (above === undefined) continue;
    refs.push({ file: above, target, overlay: null });
    for (let store = child(disk, "backingStore"); store !== undefined; store = child(store, "backingStore")) {
      const file = sourceOf(store);
      if (file === undefined) break;
      refs.push({ file, target, overlay: above });
      above = file;
    }
  }
  return refs;
}

interface NodeFileRef {
  file: string;
  nodeName: string;
  /** A format node (qcow2, raw) rather than the protocol node (file, host_device) under it. */
  format: boolean;
  overlay: string | null;
}

const PROTOCOL_DRIVERS = new Set(["file", "host_device", "host_cdrom"]);

/**
 * Every file in QEMU's block graph (the `return` of query-named-block-nodes, not flat): each node's own file,
 * and the files down its image's backing-image chain with the image above each.
 */
export function nodeFileRefs(ret: unknown): NodeFileRef[] {
  const refs: NodeFileRef[] = [];
  for (const node of Array.isArray(ret) ? ret : []) {
    if (!isRecord(node) || typeof node["node-name"] !== "string" || typeof node["file"] !== "string") continue;
    const nodeName = node["node-name"];
    const format = !PROTOCOL_DRIVERS.has(String(node["drv"]));
    refs.push({ file: plainFilename(node["file"]), nodeName, format, overlay: null });
    let image = node["image"];
    let above = isRecord(image) && typeof image["filename"] === "string" ? plainFilename(image["filename"]) : null;
    for (image = isRecord(image) ? image["backing-image"] : undefined; isRecord(image) && above !== null; image = image["backing-image"]) {
      if (typeof image["filename"] !== "string") break;
      const file = plainFilename(image["filename"]);
      refs.push({ file, nodeName, format, overlay: above });
      above = file;
    }
  }
  return refs;
}

/** The domain went away, or stopped, between the listing and this read: it has nothing open any more. */
function vanished(error: unknown): boolean {
  return isNotFound(error) || (error instanceof LibvirtError && error.code === ErrorCode.OperationInvalid);
}

const orNull = <T>(read: Promise<T>): Promise<T | null> => read.catch((e) => (vanished(e) ? null : Promise.reject(e)));

async function usesOnDomain(client: LibvirtClient, domain: DomainRef, file: string): Promise<FileUse[]> {
  const running = domain.id !== -1;
  const use = (how: UseKind, fields: Partial<FileUse>): FileUse => ({ domain, how, running: false, target: null, nodeName: null, overlay: null, ...fields });
  // The three reads of a domain go out together: one round trip, not three.
  const [config, live, graph] = await Promise.all([
    orNull(client.domainXml(domain, { inactive: true })),
    running ? orNull(client.domainXml(domain)) : null,
    running ? orNull(qmp(client, domain, { execute: "query-named-block-nodes" })) : null,
  ]);
  const uses: FileUse[] = [];
  const seen = new Set<string>();
  const add = (u: FileUse): void => {
    const key = `${u.how} ${u.target} ${u.nodeName} ${u.overlay}`;
    if (seen.has(key)) return;
    seen.add(key);
    uses.push(u);
  };
  const liveRefs = live === null ? [] : xmlFileRefs(live).filter((r) => r.file === file);
  for (const r of liveRefs) add(r.overlay === null ? use("disk", { running: true, target: r.target }) : use("backing", { running: true, overlay: r.overlay }));
  const graphRefs = graph === null ? [] : nodeFileRefs(graph).filter((r) => r.file === file);
  for (const r of graphRefs.filter((g) => g.overlay !== null)) add(use("backing", { running: true, overlay: r.overlay }));
  // A node of the file itself is a use libvirt does not show only when neither libvirt's XML nor any chain
  // explains it (QEMU lists a backing file's own nodes too). Its format node is what block_resize takes.
  if (liveRefs.length === 0 && !graphRefs.some((g) => g.overlay !== null)) {
    const own = graphRefs.filter((g) => g.overlay === null);
    for (const r of own.some((g) => g.format) ? own.filter((g) => g.format) : own) add(use("qmp", { running: true, nodeName: r.nodeName }));
  }
  // The config's disks that do not run now (a running domain's disk is in both: it is reported once, live).
  const liveTargets = new Set(liveRefs.map((r) => r.target));
  for (const r of config === null ? [] : xmlFileRefs(config).filter((c) => c.file === file && !liveTargets.has(c.target))) {
    add(r.overlay === null ? use("config", { target: r.target }) : use("backing", { overlay: r.overlay }));
  }
  return uses;
}

/** Every use of `file` by any domain of the connection, running or not. */
export async function domainsUsingFile(client: LibvirtClient, file: string): Promise<FileUse[]> {
  const domains = await client.listAllDomains();
  return (await Promise.all(domains.map((domain) => usesOnDomain(client, domain, file)))).flat();
}
