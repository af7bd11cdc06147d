// The domain as the provider sees it at one moment: both XMLs parsed, and QEMU's block devices and the
// lifecycle asked for once, when needed. Refresh reads share one view per domain for a moment.
import { DomainRef, isNotFound, LibvirtClient, UUID_PATTERN, uuidFromString, uuidToString } from "../libvirt";
import { parseDomainXml, ParsedDomain } from "../vocab/domain-xml";
import { BlockDeviceInfo } from "../vocab/query-block";
import { stateName } from "./domain-state";
import type { DeviceClaim } from "../vocab/device-claims";
import { blockDevices } from "./qemu";
import { shareForMoment } from "./shared-moment";

export interface DomainView {
  dom: DomainRef;
  uuid: string;
  running: boolean;
  live: ParsedDomain | null;
  config: ParsedDomain;
  /** The device claims in the domain's <metadata>, from the XML already read: the running copy while it runs, else the config. */
  claims: DeviceClaim[];
  /** QEMU's block devices (query-block), asked once per view and only when needed. */
  blocks(): Promise<BlockDeviceInfo[]>;
  /** Autostart flag and state name, asked once per view and only when needed. */
  lifecycle(): Promise<{ autostart: boolean; state: string }>;
  /** Whether the domain has a persistent config (false: transient), asked once per view and only when needed. */
  persistent(): Promise<boolean>;
  /**
   * The same domain after a change this operation made, without a new lookup: the XMLs read again when `xml` (a
   * change through libvirt), else kept (a change over QMP, which libvirt does not see); QEMU's block devices asked
   * again alongside the XMLs while running, unless `blocks` is false (then only when asked); whether it is persistent
   * kept (no device change alters that).
   */
  refresh(options: { xml: boolean; blocks?: boolean }): Promise<DomainView>;
}

export interface ViewOptions {
  /** Ask for the block devices and the lifecycle alongside the XML (refresh reads need them anyway). */
  prefetch?: boolean;
  /** Ask for the block devices alongside the XML. */
  blocks?: boolean;
  /** Ask whether the domain is persistent alongside the XML. */
  persistent?: boolean;
}

/**
 * The domain as it is now, or null when it no longer exists. `ref` is a name or uuid (looked up), or the ref an
 * operation already looked up (no second lookup). What a caller will need anyway is asked alongside the XML, in
 * parallel over the one connection, instead of after it (`options`).
 */
export async function viewDomain(client: LibvirtClient, ref: string | DomainRef, options: ViewOptions = {}): Promise<DomainView | null> {
  const dom = typeof ref === "string" ? await lookupOrNull(client, ref) : ref;
  if (!dom) return null;
  return readView(client, dom, options, once(() => client.isPersistent(dom)));
}

async function readView(client: LibvirtClient, ref: DomainRef, options: ViewOptions, persistent: () => Promise<boolean>, keep?: { config: ParsedDomain; live: ParsedDomain | null; claims: DeviceClaim[] }): Promise<DomainView> {
  const lifecycle = once(async () => {
    const [autostart, state] = await Promise.all([client.getAutostart(ref), stateName(client, ref)]);
    return { autostart, state };
  });
  // Everything asked for goes out at once; a failure surfaces to whoever awaits it.
  if (options.prefetch) lifecycle().catch(() => undefined);
  if (options.persistent) persistent().catch(() => undefined);
  // query-block goes out beside the XML when the ref says the domain runs; the XML has the last word.
  const early = (options.prefetch || options.blocks) && ref.id !== -1 ? blockDevices(client, ref) : null;
  early?.catch(() => undefined);
  let config: ParsedDomain;
  let live: ParsedDomain | null;
  let claims: DeviceClaim[];
  let id: number | null;
  if (keep) {
    ({ config, live, claims } = keep);
    id = live ? ref.id : null;
  } else {
    const [liveText, configText] = await Promise.all([client.domainXml(ref), client.domainXml(ref, { inactive: true })]);
    const key = uuidToString(ref.uuid);
    config = parsedOnce(key, "config", configText);
    // Whether it runs is read from the XML itself (a running domain's carries its id), so a ref looked up before a
    // start or stop, or before the wait for the domain's lock, still gives the state as it is now. A stopped
    // domain's two texts are the same: no second parse then.
    const current = liveText === configText ? config : parsedOnce(key, "live", liveText);
    id = current.id;
    live = id !== null ? current : null;
    claims = current.claims;
  }
  const running = id !== null;
  const dom: DomainRef = { ...ref, id: id ?? -1 };
  const blocks = once(() => (running ? (early ?? blockDevices(client, dom)) : Promise.resolve([])));
  return {
    dom,
    uuid: uuidToString(dom.uuid),
    running,
    live,
    config,
    claims,
    blocks,
    lifecycle,
    persistent,
    refresh: ({ xml, blocks = true }) => readView(client, dom, { blocks }, persistent, xml ? undefined : { config, live, claims }),
  };
}

/**
 * The last text of each XML of each domain, parsed: a text read again unchanged (the create's view after the
 * preview's, the config after a change over QMP, which libvirt does not see) is not parsed again. The parsed
 * domain is only ever read, so views share it. Kept for the most recent domains only (a fleet's refresh would
 * otherwise hold every domain's texts).
 */
const lastParsed = new Map<string, { text: string; parsed: ParsedDomain }>();
const PARSED_KEPT = 128;

function parsedOnce(uuid: string, copy: "live" | "config", text: string): ParsedDomain {
  const key = `${uuid}\0${copy}`;
  const last = lastParsed.get(key);
  if (last?.text === text) return last.parsed;
  const parsed = parseDomainXml(text);
  lastParsed.delete(key);
  lastParsed.set(key, { text, parsed });
  if (lastParsed.size > PARSED_KEPT) lastParsed.delete(lastParsed.keys().next().value!);
  return parsed;
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
const sharedViews = shareForMoment<DomainView | null>(500);

export function viewDomainForRead(client: LibvirtClient, ref: string, options: ViewOptions = { prefetch: true }): Promise<DomainView | null> {
  return sharedViews.get(`${client.uri.uri}\0${ref}`, () => viewDomain(client, ref, options));
}

/**
 * The ref a read of a moment ago found for `ref` (the preview note's, just before a create), or null: no second
 * lookup. The caller checks it against what it reads next (the domain may be gone, or its name moved meanwhile).
 */
export async function recentRef(client: LibvirtClient, ref: string): Promise<DomainRef | null> {
  const view = sharedViews.recent(`${client.uri.uri}\0${ref}`);
  return (await view?.catch(() => null))?.dom ?? null;
}

/** After a change: the next read sees the domain as it is now. */
export function forgetSharedViews(): void {
  sharedViews.clear();
}

/** The domain by name or uuid, or null when there is none. */
export async function lookupOrNull(client: LibvirtClient, ref: string): Promise<DomainRef | null> {
  return client.lookupDomain(ref).catch((error) => (isNotFound(error) ? null : Promise.reject(error)));
}

/**
 * A domain recorded by its uuid, as a ref with no lookup: libvirt finds a domain by its uuid alone (the name is for
 * messages). Its id is unknown until its XML is read (0, not -1, so what a view asks beside the XML goes out), and
 * a domain gone shows as not-found at that read. Anything not a uuid is looked up (null: no such domain).
 */
export async function recordedRef(client: LibvirtClient, uuid: string, name?: string): Promise<DomainRef | null> {
  if (!UUID_PATTERN.test(uuid)) return lookupOrNull(client, uuid);
  return { name: name ?? uuid, uuid: uuidFromString(uuid), id: 0 };
}

/** The view of a domain that was there a moment ago (being changed): its absence now is an error. */
export async function freshView(client: LibvirtClient, dom: DomainRef, options: ViewOptions = {}): Promise<DomainView> {
  try {
    return (await viewDomain(client, dom, options))!;
  } catch (error) {
    if (isNotFound(error)) throw new Error(`domain ${dom.name} vanished while it was being changed`, { cause: error });
    throw error;
  }
}
