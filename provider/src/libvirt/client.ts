// A libvirt client speaking the remote protocol: handshake, typed procedures, domain events, reconnect.
// One instance per URI is shared by every resource in a provider process (see pool.ts).
import { dial, parseLibvirtUri, ParsedUri } from "../wire/dial";
import { DialError, Transport } from "../wire/transport";
import { XdrReader, XdrWriter } from "../wire/xdr";
import { RpcConnection } from "./connection";
import { ClientClosedError, LibvirtError } from "./errors";
import { decodeDomainEvent, decodeQemuMonitorEvent, DomainEvent, QemuMonitorEvent } from "./events";
import {
  Affect,
  AuthType,
  DomainEventId,
  DomainXmlFlags,
  ERR_NO_DOMAIN_METADATA,
  Feature,
  MetadataType,
  MonitorCommandFlags,
  NetworkXmlFlags,
  Program,
  QemuProc,
  RemoteProc,
} from "./protocol";
import {
  DhcpLease,
  DomainRef,
  NetworkRef,
  readDhcpLease,
  readNetwork,
  writeNetwork,
  readDomain,
  readPool,
  readVol,
  StoragePoolRef,
  StorageVolRef,
  uuidFromString,
  UUID_BYTES,
  UUID_PATTERN,
  writeDomain,
  writePool,
  writeVol,
} from "./types";

export interface ClientOptions {
  /** Deadline for one call; no call ever waits longer. */
  callTimeoutMs?: number;
  dialTimeoutMs?: number;
  /** Extra ssh `-o` options for qemu+ssh URIs. */
  sshOptions?: string[];
  /**
   * Our own keepalive: a PING after this long without a word from the daemon (default 5000; 0 turns it off).
   * Also the ssh ServerAliveInterval for qemu+ssh URIs.
   */
  keepaliveIntervalMs?: number;
  /** Unanswered pings in a row after which the daemon is gone and the connection is dropped (default 3). */
  keepaliveCount?: number;
  /**
   * Once connected, a lost connection is dialed again for up to this long while the daemon does not answer
   * (a libvirtd restart takes a second or two), before a call fails with the dial error. Default 15000.
   * The first connection of a client never waits: a wrong URI fails at once.
   */
  reconnectGraceMs?: number;
}

/** One guest interface as DOMAIN_INTERFACE_ADDRESSES reports it (from the agent or the network's leases). */
export interface DomainInterfaceAddresses {
  /** The guest's name for it (agent) or the host tap (leases). */
  name: string;
  /** Lowercase MAC, when known. */
  mac: string | null;
  addrs: { type: number; addr: string; prefix: number }[];
}

export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
export const DEFAULT_KEEPALIVE_COUNT = 3;

export interface VolumeInfo {
  type: number;
  capacityBytes: bigint;
  allocationBytes: bigint;
}

const SUBSCRIBED_EVENTS = [
  DomainEventId.Lifecycle,
  DomainEventId.DeviceRemoved,
  DomainEventId.DeviceAdded,
  DomainEventId.DeviceRemovalFailed,
];

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(RemoteProc).map(([name, number]) => [number, name]),
);

const EMPTY = Buffer.alloc(0);
const xdr = (): XdrWriter => new XdrWriter();

export class LibvirtClient {
  private connection: RpcConnection | null = null;
  private connecting: Promise<RpcConnection> | null = null;
  private closed = false;
  private readonly eventListeners = new Set<(event: DomainEvent) => void>();
  /** Callback ids are daemon-wide: only events for ids this connection registered are ours. */
  private callbackIds = new Set<number>();
  /** QMP event subscriptions of the current connection, by the callback id the daemon gave each. */
  private qemuEventListeners = new Map<number, (event: QemuMonitorEvent) => void>();
  private readonly callTimeoutMs: number;
  /** Per connection: whether that daemon reads NETWORK_UPDATE's command and section in the declared order. */
  private readonly networkUpdateOrder = new WeakMap<RpcConnection, boolean>();
  private readonly dialTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  private readonly keepaliveCount: number;
  /** Set while a reconnect for event subscribers is scheduled. */
  private resubscribeTimer: NodeJS.Timeout | undefined;
  /** How many times a connection was established; tests read it to see a reconnect happen. */
  connectCount = 0;

  private constructor(readonly uri: ParsedUri, private readonly options: ClientOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.dialTimeoutMs = options.dialTimeoutMs ?? 15_000;
    this.keepaliveIntervalMs = options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
    this.keepaliveCount = options.keepaliveCount ?? DEFAULT_KEEPALIVE_COUNT;
  }

  /** Opens a client and completes the handshake, so a bad URI or an unreachable daemon fails here. */
  static async connect(uri: string, options: ClientOptions = {}): Promise<LibvirtClient> {
    const client = new LibvirtClient(parseLibvirtUri(uri), options);
    await client.ensureConnection();
    return client;
  }

  // ---- connection management ----------------------------------------------------------------------------

  private ensureConnection(): Promise<RpcConnection> {
    if (this.closed) return Promise.reject(new ClientClosedError(this.uri.uri));
    if (this.connection?.isOpen) return Promise.resolve(this.connection);
    if (!this.connecting) {
      this.connecting = this.establish().finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Dials; after a first success, keeps trying for `reconnectGraceMs` while the daemon is away. */
  private async dialWithGrace(): Promise<Transport> {
    const graceMs = this.connectCount > 0 ? this.options.reconnectGraceMs ?? 15_000 : 0;
    const until = Date.now() + graceMs;
    let pauseMs = 100;
    for (;;) {
      try {
        return await this.dialOnce();
      } catch (error) {
        if (!(error instanceof DialError) || this.closed || Date.now() + pauseMs > until) throw error;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        pauseMs = Math.min(pauseMs * 2, 1_000);
      }
    }
  }

  private dialOnce(): Promise<Transport> {
    return dial(this.uri, {
      timeoutMs: this.dialTimeoutMs,
      sshOptions: this.options.sshOptions,
      keepaliveIntervalMs: this.keepaliveIntervalMs,
      keepaliveCount: this.keepaliveCount,
    });
  }

  private async establish(): Promise<RpcConnection> {
    const transport = await this.dialWithGrace();
    const connection = new RpcConnection(transport);
    // A message that does not decode throws here, and RpcConnection then drops the connection as corrupt.
    connection.onMessage((frame) => {
      const event = decodeDomainEvent(frame);
      const qemuEvent = decodeQemuMonitorEvent(frame);
      if (event && this.callbackIds.has(event.callbackId)) for (const listener of this.eventListeners) deliver(listener, event);
      if (qemuEvent) {
        const listener = this.qemuEventListeners.get(qemuEvent.callbackId);
        if (listener) deliver(listener, qemuEvent);
      }
    });
    connection.onClose(() => {
      if (this.connection !== connection) return;
      this.connection = null;
      this.scheduleResubscribe(0);
    });
    try {
      await this.handshake(connection);
      this.callbackIds = new Set();
      // QMP subscriptions are not carried over: they belong to a wait in progress, which polls as well.
      this.qemuEventListeners = new Map();
      if (this.eventListeners.size > 0) await this.registerEvents(connection);
    } catch (error) {
      connection.shutdown();
      throw error;
    }
    if (this.closed) {
      connection.shutdown();
      throw new ClientClosedError(this.uri.uri);
    }
    this.connection = connection;
    this.connectCount++;
    return connection;
  }

  /**
   * Domain events only flow over an open connection: while anyone listens, a lost connection is dialed again
   * (and the events registered again) without waiting for the next call, retrying with a growing pause.
   */
  private scheduleResubscribe(delayMs: number): void {
    if (this.closed || this.eventListeners.size === 0 || this.resubscribeTimer) return;
    this.resubscribeTimer = setTimeout(() => {
      this.resubscribeTimer = undefined;
      if (this.closed || this.eventListeners.size === 0 || this.connection?.isOpen) return;
      this.ensureConnection().catch(() => this.scheduleResubscribe(Math.min(Math.max(delayMs * 2, 100), 2_000)));
    }, delayMs);
    this.resubscribeTimer.unref();
  }

  private async handshake(connection: RpcConnection): Promise<void> {
    const raw = (proc: number, payload: Uint8Array) =>
      connection.call(Program.Remote, proc, payload, { name: NAMES[proc], timeoutMs: this.dialTimeoutMs });
    // The daemon refuses every other call until the client has asked which auth it wants.
    const auth = new XdrReader(await raw(RemoteProc.AuthList, EMPTY)).array((r) => r.int());
    if (auth.length > 0 && !auth.includes(AuthType.None)) {
      if (auth.includes(AuthType.Polkit)) await raw(RemoteProc.AuthPolkit, EMPTY);
      else throw new Error(`libvirt at ${connection.target} requires SASL authentication, which this client does not support`);
    }
    await raw(RemoteProc.ConnectOpen, xdr().optional(this.uri.remoteName, (w, v) => w.string(v)).uint(0).bytes());
    // Telling the daemon we speak keepalive makes it ping us (we answer in RpcConnection) instead of
    // dropping long idle runs.
    const keepalive = new XdrReader(await raw(RemoteProc.ConnectSupportsFeature, xdr().int(Feature.ProgramKeepalive).bytes())).int();
    // And we ping it: a daemon (or a link) that went silent is found within interval x (count + 1).
    if (keepalive === 1) connection.startKeepalive(this.keepaliveIntervalMs, this.keepaliveCount);
  }

  private async registerEvents(connection: RpcConnection): Promise<void> {
    for (const eventId of SUBSCRIBED_EVENTS) {
      const payload = xdr().int(eventId).optional<DomainRef>(null, writeDomain).bytes();
      const reply = await connection.call(Program.Remote, RemoteProc.ConnectDomainEventCallbackRegisterAny, payload, {
        name: "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
        timeoutMs: this.callTimeoutMs,
      });
      this.callbackIds.add(new XdrReader(reply).int());
    }
  }

  private async call(proc: number, payload: Uint8Array = EMPTY, timeoutMs = this.callTimeoutMs): Promise<XdrReader> {
    const connection = await this.ensureConnection();
    const reply = await connection.call(Program.Remote, proc, payload, { name: NAMES[proc] ?? `proc ${proc}`, timeoutMs });
    return new XdrReader(reply);
  }

  /** Closes politely (CONNECT_CLOSE); later calls fail with ClientClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resubscribeTimer);
    const connection = this.connection;
    this.connection = null;
    if (!connection?.isOpen) return;
    try {
      await connection.call(Program.Remote, RemoteProc.ConnectClose, EMPTY, { name: "CONNECT_CLOSE", timeoutMs: 5_000 });
    } catch {
      // The daemon closes its end right after replying; an EOF racing the reply means the close worked.
    } finally {
      connection.shutdown();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Drops the current connection as if the daemon went away (tests use it; the next call reconnects). */
  dropConnection(): void {
    this.connection?.shutdown();
  }

  // ---- events -------------------------------------------------------------------------------------------

  /** Subscribes to lifecycle and device events of every domain; returns the unsubscribe function. */
  async onDomainEvent(listener: (event: DomainEvent) => void): Promise<() => void> {
    const first = this.eventListeners.size === 0;
    this.eventListeners.add(listener);
    if (first) {
      try {
        const connection = await this.ensureConnection();
        if (this.callbackIds.size === 0) await this.registerEvents(connection);
      } catch (error) {
        this.eventListeners.delete(listener);
        throw error;
      }
    }
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  /**
   * Starts listening for the first event matching `predicate`. Subscribe BEFORE the call that causes the event:
   * libvirt may deliver device-removed before it replies to the detach.
   */
  async expectDomainEvent(predicate: (event: DomainEvent) => boolean): Promise<EventExpectation> {
    let settle: (event: DomainEvent) => void = () => undefined;
    const arrived = new Promise<DomainEvent>((resolve) => {
      settle = resolve;
    });
    const unsubscribe = await this.onDomainEvent((event) => {
      if (predicate(event)) settle(event);
    });
    return {
      wait: async (timeoutMs) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), timeoutMs);
        });
        try {
          return await Promise.race([arrived, timeout]);
        } finally {
          clearTimeout(timer);
          unsubscribe();
        }
      },
      cancel: unsubscribe,
    };
  }

  /**
   * Subscribes to one QMP event (e.g. "DEVICE_DELETED") of one domain, as QEMU emits it; returns the
   * unsubscribe function. The subscription lives on the current connection only: a reconnect ends it, so a
   * caller must not rely on it alone (wake a poll with it, as the QMP detach does).
   */
  async onQemuMonitorEvent(dom: DomainRef, event: string, listener: (event: QemuMonitorEvent) => void): Promise<() => void> {
    const connection = await this.ensureConnection();
    const payload = xdr()
      .optional(dom, writeDomain)
      .optional(event, (w, v) => w.string(v))
      .uint(0)
      .bytes();
    const reply = await connection.call(Program.Qemu, QemuProc.ConnectDomainMonitorEventRegister, payload, {
      name: "QEMU_CONNECT_DOMAIN_MONITOR_EVENT_REGISTER",
      timeoutMs: this.callTimeoutMs,
    });
    const callbackId = new XdrReader(reply).int();
    this.qemuEventListeners.set(callbackId, listener);
    return () => {
      if (!this.qemuEventListeners.delete(callbackId) || this.connection !== connection || !connection.isOpen) return;
      // Best effort and not awaited: a failed deregister only leaves events the client ignores.
      connection
        .call(Program.Qemu, QemuProc.ConnectDomainMonitorEventDeregister, xdr().int(callbackId).bytes(), {
          name: "QEMU_CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER",
          timeoutMs: this.callTimeoutMs,
        })
        .catch(() => undefined);
    };
  }

  // ---- connection-level procedures ------------------------------------------------------------------------

  /** libvirt's version as "major.minor.micro". */
  async libVersion(): Promise<string> {
    const v = Number((await this.call(RemoteProc.ConnectGetLibVersion)).uhyper());
    return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
  }

  async listAllDomains(flags = 0): Promise<DomainRef[]> {
    const r = await this.call(RemoteProc.ConnectListAllDomains, xdr().int(1).uint(flags).bytes());
    return r.array(readDomain);
  }

  // ---- domains ------------------------------------------------------------------------------------------

  async lookupDomainByName(name: string): Promise<DomainRef> {
    return readDomain(await this.call(RemoteProc.DomainLookupByName, xdr().string(name).bytes()));
  }

  async lookupDomainByUuid(uuid: string): Promise<DomainRef> {
    const payload = xdr().fixedOpaque(uuidFromString(uuid), UUID_BYTES).bytes();
    return readDomain(await this.call(RemoteProc.DomainLookupByUuid, payload));
  }

  /** A domain by name or UUID, as users write `domain:` in their programs. */
  lookupDomain(nameOrUuid: string): Promise<DomainRef> {
    return UUID_PATTERN.test(nameOrUuid) ? this.lookupDomainByUuid(nameOrUuid) : this.lookupDomainByName(nameOrUuid);
  }

  /** The live XML, or the persistent config with `inactive`. */
  async domainXml(dom: DomainRef, options: { inactive?: boolean; secure?: boolean } = {}): Promise<string> {
    const flags = (options.inactive ? DomainXmlFlags.Inactive : 0) | (options.secure ? DomainXmlFlags.Secure : 0);
    return (await this.call(RemoteProc.DomainGetXmlDesc, xdr().put(writeDomain, dom).uint(flags).bytes())).string();
  }

  async domainState(dom: DomainRef): Promise<{ state: number; reason: number }> {
    const r = await this.call(RemoteProc.DomainGetState, xdr().put(writeDomain, dom).uint(0).bytes());
    return { state: r.int(), reason: r.int() };
  }

  async isActive(dom: DomainRef): Promise<boolean> {
    return (await this.call(RemoteProc.DomainIsActive, xdr().put(writeDomain, dom).bytes())).int() === 1;
  }

  /** Whether the domain has a persistent config (false: transient, gone when it stops). */
  async isPersistent(dom: DomainRef): Promise<boolean> {
    return (await this.call(RemoteProc.DomainIsPersistent, xdr().put(writeDomain, dom).bytes())).int() === 1;
  }

  /** Creates and starts a transient domain from its XML (no persistent config). */
  async createDomainXml(xml: string, flags = 0): Promise<DomainRef> {
    return readDomain(await this.call(RemoteProc.DomainCreateXml, xdr().string(xml).uint(flags).bytes()));
  }

  async defineDomain(xml: string, flags = 0): Promise<DomainRef> {
    return readDomain(await this.call(RemoteProc.DomainDefineXmlFlags, xdr().string(xml).uint(flags).bytes()));
  }

  /** Starts a defined domain; returns it with its new runtime id. */
  async startDomain(dom: DomainRef, flags = 0): Promise<DomainRef> {
    return readDomain(await this.call(RemoteProc.DomainCreateWithFlags, xdr().put(writeDomain, dom).uint(flags).bytes()));
  }

  async shutdownDomain(dom: DomainRef, flags = 0): Promise<void> {
    await this.call(RemoteProc.DomainShutdownFlags, xdr().put(writeDomain, dom).uint(flags).bytes());
  }

  async destroyDomain(dom: DomainRef, flags = 0): Promise<void> {
    await this.call(RemoteProc.DomainDestroyFlags, xdr().put(writeDomain, dom).uint(flags).bytes());
  }

  async undefineDomain(dom: DomainRef, flags = 0): Promise<void> {
    await this.call(RemoteProc.DomainUndefineFlags, xdr().put(writeDomain, dom).uint(flags).bytes());
  }

  async setAutostart(dom: DomainRef, autostart: boolean): Promise<void> {
    await this.call(RemoteProc.DomainSetAutostart, xdr().put(writeDomain, dom).int(autostart ? 1 : 0).bytes());
  }

  async getAutostart(dom: DomainRef): Promise<boolean> {
    return (await this.call(RemoteProc.DomainGetAutostart, xdr().put(writeDomain, dom).bytes())).int() === 1;
  }

  async setMemory(dom: DomainRef, kib: bigint, flags: number = Affect.Current): Promise<void> {
    await this.call(RemoteProc.DomainSetMemoryFlags, xdr().put(writeDomain, dom).uhyper(kib).uint(flags).bytes());
  }

  async setVcpus(dom: DomainRef, count: number, flags: number = Affect.Current): Promise<void> {
    await this.call(RemoteProc.DomainSetVcpusFlags, xdr().put(writeDomain, dom).uint(count).uint(flags).bytes());
  }

  async attachDevice(dom: DomainRef, xml: string, flags: number): Promise<void> {
    await this.call(RemoteProc.DomainAttachDeviceFlags, xdr().put(writeDomain, dom).string(xml).uint(flags).bytes());
  }

  async detachDevice(dom: DomainRef, xml: string, flags: number): Promise<void> {
    await this.call(RemoteProc.DomainDetachDeviceFlags, xdr().put(writeDomain, dom).string(xml).uint(flags).bytes());
  }

  async updateDevice(dom: DomainRef, xml: string, flags: number): Promise<void> {
    await this.call(RemoteProc.DomainUpdateDeviceFlags, xdr().put(writeDomain, dom).string(xml).uint(flags).bytes());
  }

  /**
   * The application element kept in the domain's <metadata> under namespace `uri`, or null when there is none.
   * `flags`: Affect.Live or Affect.Config (Current for a stopped domain's config).
   */
  async domainMetadata(dom: DomainRef, uri: string, flags: number = Affect.Current): Promise<string | null> {
    const payload = xdr().put(writeDomain, dom).int(MetadataType.Element).optional(uri, (w, v) => w.string(v)).uint(flags).bytes();
    try {
      return (await this.call(RemoteProc.DomainGetMetadata, payload)).string();
    } catch (error) {
      if (error instanceof LibvirtError && error.code === ERR_NO_DOMAIN_METADATA) return null;
      throw error;
    }
  }

  /** Sets (or with `xml` null, removes) the element under namespace `uri`, written with prefix `key`. */
  async setDomainMetadata(dom: DomainRef, xml: string | null, key: string, uri: string, flags: number): Promise<void> {
    const optionalString = (w: XdrWriter, v: string) => w.string(v);
    const payload = xdr()
      .put(writeDomain, dom)
      .int(MetadataType.Element)
      .optional(xml ?? undefined, optionalString)
      .optional(xml === null ? undefined : key, optionalString)
      .optional(uri, optionalString)
      .uint(flags)
      .bytes();
    await this.call(RemoteProc.DomainSetMetadata, payload);
  }

  /**
   * The guest's interfaces and addresses from one source (InterfaceAddressSource): the guest agent, or the DHCP
   * leases of the libvirt networks the domain's NICs are on.
   */
  async domainInterfaceAddresses(dom: DomainRef, source: number): Promise<DomainInterfaceAddresses[]> {
    const r = await this.call(RemoteProc.DomainInterfaceAddresses, xdr().put(writeDomain, dom).uint(source).uint(0).bytes());
    return r.array((i) => ({
      name: i.string(),
      mac: i.optional((m) => m.string())?.toLowerCase() ?? null,
      addrs: i.array((a) => ({ type: a.int(), addr: a.string(), prefix: a.uint() })),
    }));
  }

  /** Asks for the unplug and returns at once; completion arrives as a device-removed event. */
  async detachDeviceAlias(dom: DomainRef, alias: string, flags: number): Promise<void> {
    await this.call(RemoteProc.DomainDetachDeviceAlias, xdr().put(writeDomain, dom).string(alias).uint(flags).bytes());
  }

  async blockResize(dom: DomainRef, disk: string, bytes: bigint): Promise<void> {
    const payload = xdr().put(writeDomain, dom).string(disk).uhyper(bytes).uint(1 /* BYTES */).bytes();
    await this.call(RemoteProc.DomainBlockResize, payload);
  }

  /** QMP passthrough: the command as JSON text, the reply as JSON text (errors come back inside it). */
  async qemuMonitorCommand(dom: DomainRef, json: string, timeoutMs = this.callTimeoutMs): Promise<string> {
    const connection = await this.ensureConnection();
    const payload = xdr().put(writeDomain, dom).string(json).uint(MonitorCommandFlags.Default).bytes();
    const reply = await connection.call(Program.Qemu, QemuProc.DomainMonitorCommand, payload, {
      name: "QEMU_DOMAIN_MONITOR_COMMAND",
      timeoutMs,
    });
    return new XdrReader(reply).string();
  }

  /** Guest-agent passthrough. `timeoutSeconds` is libvirt's own wait for the agent; ours adds a margin. */
  async qemuAgentCommand(dom: DomainRef, json: string, timeoutSeconds: number): Promise<string | null> {
    const connection = await this.ensureConnection();
    const payload = xdr().put(writeDomain, dom).string(json).int(timeoutSeconds).uint(0).bytes();
    const reply = await connection.call(Program.Qemu, QemuProc.DomainAgentCommand, payload, {
      name: "QEMU_DOMAIN_AGENT_COMMAND",
      timeoutMs: Math.max(timeoutSeconds, 0) * 1000 + 10_000,
    });
    return new XdrReader(reply).optional((r) => r.string());
  }

  // ---- storage ------------------------------------------------------------------------------------------

  async lookupPool(name: string): Promise<StoragePoolRef> {
    return readPool(await this.call(RemoteProc.StoragePoolLookupByName, xdr().string(name).bytes()));
  }

  async refreshPool(pool: StoragePoolRef): Promise<void> {
    await this.call(RemoteProc.StoragePoolRefresh, xdr().put(writePool, pool).uint(0).bytes());
  }

  async createVolume(pool: StoragePoolRef, xml: string, flags = 0): Promise<StorageVolRef> {
    return readVol(await this.call(RemoteProc.StorageVolCreateXml, xdr().put(writePool, pool).string(xml).uint(flags).bytes()));
  }

  async lookupVolume(pool: StoragePoolRef, name: string): Promise<StorageVolRef> {
    return readVol(await this.call(RemoteProc.StorageVolLookupByName, xdr().put(writePool, pool).string(name).bytes()));
  }

  async lookupVolumeByPath(path: string): Promise<StorageVolRef> {
    return readVol(await this.call(RemoteProc.StorageVolLookupByPath, xdr().string(path).bytes()));
  }

  async volumeInfo(vol: StorageVolRef): Promise<VolumeInfo> {
    const r = await this.call(RemoteProc.StorageVolGetInfo, xdr().put(writeVol, vol).bytes());
    return { type: r.int(), capacityBytes: r.uhyper(), allocationBytes: r.uhyper() };
  }

  async volumeXml(vol: StorageVolRef): Promise<string> {
    return (await this.call(RemoteProc.StorageVolGetXmlDesc, xdr().put(writeVol, vol).uint(0).bytes())).string();
  }

  async volumePath(vol: StorageVolRef): Promise<string> {
    return (await this.call(RemoteProc.StorageVolGetPath, xdr().put(writeVol, vol).bytes())).string();
  }

  async resizeVolume(vol: StorageVolRef, capacityBytes: bigint, flags = 0): Promise<void> {
    await this.call(RemoteProc.StorageVolResize, xdr().put(writeVol, vol).uhyper(capacityBytes).uint(flags).bytes());
  }

  async deleteVolume(vol: StorageVolRef, flags = 0): Promise<void> {
    await this.call(RemoteProc.StorageVolDelete, xdr().put(writeVol, vol).uint(flags).bytes());
  }

  // ---- networks -----------------------------------------------------------------------------------------

  /** Every network, running or not (`flags`: virConnectListAllNetworksFlags filters, 0 for all). */
  async listAllNetworks(flags = 0): Promise<NetworkRef[]> {
    const r = await this.call(RemoteProc.ConnectListAllNetworks, xdr().int(1).uint(flags).bytes());
    return r.array(readNetwork);
  }

  async lookupNetworkByName(name: string): Promise<NetworkRef> {
    return readNetwork(await this.call(RemoteProc.NetworkLookupByName, xdr().string(name).bytes()));
  }

  async lookupNetworkByUuid(uuid: string): Promise<NetworkRef> {
    return readNetwork(await this.call(RemoteProc.NetworkLookupByUuid, xdr().fixedOpaque(uuidFromString(uuid), UUID_BYTES).bytes()));
  }

  /** A network by name or UUID. */
  lookupNetwork(nameOrUuid: string): Promise<NetworkRef> {
    return UUID_PATTERN.test(nameOrUuid) ? this.lookupNetworkByUuid(nameOrUuid) : this.lookupNetworkByName(nameOrUuid);
  }

  /** Defines a persistent network, or replaces the persistent config of one with the same name and uuid. */
  async defineNetwork(xml: string): Promise<NetworkRef> {
    return readNetwork(await this.call(RemoteProc.NetworkDefineXml, xdr().string(xml).bytes()));
  }

  /** Starts a defined network (NETWORK_CREATE): its bridge, addresses and dnsmasq. */
  async startNetwork(net: NetworkRef): Promise<void> {
    await this.call(RemoteProc.NetworkCreate, xdr().put(writeNetwork, net).bytes());
  }

  async destroyNetwork(net: NetworkRef): Promise<void> {
    await this.call(RemoteProc.NetworkDestroy, xdr().put(writeNetwork, net).bytes());
  }

  async undefineNetwork(net: NetworkRef): Promise<void> {
    await this.call(RemoteProc.NetworkUndefine, xdr().put(writeNetwork, net).bytes());
  }

  /** The running network's XML, or the persistent config with `inactive`. */
  async networkXml(net: NetworkRef, options: { inactive?: boolean } = {}): Promise<string> {
    const flags = options.inactive ? NetworkXmlFlags.Inactive : 0;
    return (await this.call(RemoteProc.NetworkGetXmlDesc, xdr().put(writeNetwork, net).uint(flags).bytes())).string();
  }

  async networkBridgeName(net: NetworkRef): Promise<string> {
    return (await this.call(RemoteProc.NetworkGetBridgeName, xdr().put(writeNetwork, net).bytes())).string();
  }

  async networkAutostart(net: NetworkRef): Promise<boolean> {
    return (await this.call(RemoteProc.NetworkGetAutostart, xdr().put(writeNetwork, net).bytes())).int() === 1;
  }

  async setNetworkAutostart(net: NetworkRef, autostart: boolean): Promise<void> {
    await this.call(RemoteProc.NetworkSetAutostart, xdr().put(writeNetwork, net).int(autostart ? 1 : 0).bytes());
  }

  async isNetworkActive(net: NetworkRef): Promise<boolean> {
    return (await this.call(RemoteProc.NetworkIsActive, xdr().put(writeNetwork, net).bytes())).int() === 1;
  }

  async isNetworkPersistent(net: NetworkRef): Promise<boolean> {
    return (await this.call(RemoteProc.NetworkIsPersistent, xdr().put(writeNetwork, net).bytes())).int() === 1;
  }

  /**
   * Changes one section of a network in place (virNetworkUpdate): `command` NetworkUpdateCommand, `section`
   * NetworkUpdateSection, `parentIndex` the <ip> element to change (-1: the first that fits), `flags`
   * NetworkUpdateFlags (live, config or both).
   */
  async updateNetwork(net: NetworkRef, command: number, section: number, parentIndex: number, xml: string, flags: number): Promise<void> {
    // For years the wire carried the two in swapped order, client and daemon alike; a daemon that reads them as
    // declared says so (feature 16), and an older one gets them swapped, as its own clients send them.
    const declared = await this.networkUpdateInDeclaredOrder();
    const [first, second] = declared ? [command, section] : [section, command];
    const payload = xdr().put(writeNetwork, net).uint(first).uint(second).int(parentIndex).string(xml).uint(flags).bytes();
    await this.call(RemoteProc.NetworkUpdate, payload);
  }

  private async networkUpdateInDeclaredOrder(): Promise<boolean> {
    const connection = await this.ensureConnection();
    let declared = this.networkUpdateOrder.get(connection);
    if (declared === undefined) {
      const payload = xdr().int(Feature.NetworkUpdateHasCorrectOrder).bytes();
      declared = (await this.call(RemoteProc.ConnectSupportsFeature, payload)).int() === 1;
      this.networkUpdateOrder.set(connection, declared);
    }
    return declared;
  }

  /** The network's DHCP leases (dnsmasq's), all of them or those of one MAC. */
  async networkDhcpLeases(net: NetworkRef, mac?: string): Promise<DhcpLease[]> {
    const payload = xdr()
      .put(writeNetwork, net)
      .optional(mac, (w, v) => w.string(v))
      .int(1) // need_results
      .uint(0)
      .bytes();
    const r = await this.call(RemoteProc.NetworkGetDhcpLeases, payload);
    const leases = r.array(readDhcpLease);
    r.uint(); // the count again
    return leases;
  }
}

/** A listener that throws must not take the connection (or the process) down with it. */
function deliver<T>(listener: (event: T) => void, event: T): void {
  try {
    listener(event);
  } catch (error) {
    process.emitWarning(`a libvirt event listener failed: ${(error as Error)?.message ?? String(error)}`);
  }
}

export interface EventExpectation {
  /** The matching event, or null when none came within `timeoutMs`. Unsubscribes either way. */
  wait(timeoutMs: number): Promise<DomainEvent | null>;
  cancel(): void;
}
