// The domain as the provider sees it at one moment: both XMLs parsed, and QEMU's block devices and the
// lifecycle asked for once, when needed. Refresh reads share one view per domain for a moment.
import { DomainRef, isNotFound, LibvirtClient, uuidToString } from "../libvirt";
import { parseDomainXml, ParsedDomain } from "../vocab/domain-xml";
import { BlockDeviceInfo } from "../vocab/query-block";
import { stateName } from "./domain-state";
import { blockDevices } from "./qemu";

export interface DomainView {
  dom: DomainRef;
  uuid: string;
  running: boolean;
  live: ParsedDomain | null;
  config: ParsedDomain;
  /** QEMU's block devices (query-block), asked once per view and only when needed. */
  blocks(): Promise<BlockDeviceInfo[]>;
  /** Autostart flag and state name, asked once per view and only when needed. */
  lifecycle(): Promise<{ autostart: boolean; state: string }>;
  /** Whether the domain has a persistent config (false: transient), asked once per view and only when needed. */
  persistent(): Promise<boolean>;
}

/**
 * The domain as it is now, or null when it no longer exists. `prefetch` asks for the block devices and the
 * lifecycle alongside the XML instead of after it, for callers that will need them anyway (refresh reads).
 */
export async function viewDomain(client: LibvirtClient, ref: string, options: { prefetch?: boolean } = {}): Promise<DomainView | null> {
  const dom = await lookupOrNull(client, ref);
  if (!dom) return null;
  const running = dom.id !== -1;
  const blocks = once(() => (running ? blockDevices(client, dom) : Promise.resolve([])));
  const lifecycle = once(async () => {
    const [autostart, state] = await Promise.all([client.getAutostart(dom), stateName(client, dom)]);
    return { autostart, state };
  });
  const persistent = once(() => client.isPersistent(dom));
  if (options.prefetch) {
    // A failure surfaces to whoever awaits it.
    blocks().catch(() => undefined);
    lifecycle().catch(() => undefined);
  }
  const [config, live] = await Promise.all([
    client.domainXml(dom, { inactive: true }).then(parseDomainXml),
    running ? client.domainXml(dom).then(parseDomainXml) : Promise.resolve(null),
  ]);
  return { dom, uuid: uuidToString(dom.uuid), running, live, config, blocks, lifecycle, persistent };
}

/** The first call runs `ask`; every call gets its promise. */
function once<T>(ask: () => Promise<T>): () => Promise<T> {
  let asked: Promise<T> | undefined;
  return () => (asked ??= ask());
}

/**
 * Reads during a refresh come for every device of a domain at once: they share one view of it (XML and
 * query-block) for a moment instead of each asking again. Any change this process makes drops the shared view.
 * A refresh read prefetches what reads need; a preview note (`prefetch: false`) needs only the XML, and a
 * query-block it did not need would hold the domain's job just when the create that follows wants it.
 */
const SHARED_VIEW_MS = 500;
const sharedViews = new Map<string, { at: number; view: Promise<DomainView | null> }>();

export function viewDomainForRead(client: LibvirtClient, ref: string, options = { prefetch: true }): Promise<DomainView | null> {
  const key = `${client.uri.uri}\0${ref}`;
  const hit = sharedViews.get(key);
  if (hit && Date.now() - hit.at < SHARED_VIEW_MS) return hit.view;
  const view = viewDomain(client, ref, options);
  sharedViews.set(key, { at: Date.now(), view });
  view.catch(() => sharedViews.delete(key));
  return view;
}

/** After a change: the next read sees the domain as it is now. */
export function forgetSharedViews(): void {
  sharedViews.clear();
}

/** The domain by name or uuid, or null when there is none. */
export async function lookupOrNull(client: LibvirtClient, ref: string): Promise<DomainRef | null> {
  return client.lookupDomain(ref).catch((error) => (isNotFound(error) ? null : Promise.reject(error)));
}

/** The view of a domain that was there a moment ago (being changed): its absence now is an error. */
export async function freshView(client: LibvirtClient, dom: DomainRef): Promise<DomainView> {
  const view = await viewDomain(client, uuidToString(dom.uuid));
  if (!view) throw new Error(`domain ${dom.name} vanished while it was being changed`);
  return view;
}
