// Numbers from libvirt's remote_protocol.x, qemu_protocol.x and the keepalive program. Never renumbered upstream.

export const Program = {
  Remote: 0x20008086,
  Qemu: 0x20008087,
  Keepalive: 0x6b656570,
} as const;

export const PROTOCOL_VERSION = 1;

export const RemoteProc = {
  ConnectOpen: 1,
  ConnectClose: 2,
  DomainGetXmlDesc: 14,
  DomainGetAutostart: 15,
  DomainLookupByName: 23,
  DomainLookupByUuid: 24,
  DomainSetAutostart: 29,
  NetworkCreate: 39,
  NetworkDefineXml: 41,
  NetworkDestroy: 42,
  NetworkGetXmlDesc: 43,
  NetworkGetAutostart: 44,
  NetworkGetBridgeName: 45,
  NetworkLookupByName: 46,
  NetworkLookupByUuid: 47,
  NetworkSetAutostart: 48,
  NetworkUndefine: 49,
  ConnectSupportsFeature: 60,
  AuthList: 66,
  AuthPolkit: 70,
  StoragePoolRefresh: 83,
  StoragePoolLookupByName: 84,
  StorageVolCreateXml: 93,
  StorageVolDelete: 94,
  StorageVolLookupByName: 95,
  StorageVolLookupByPath: 97,
  StorageVolGetInfo: 98,
  StorageVolGetXmlDesc: 99,
  StorageVolGetPath: 100,
  DomainCreateXml: 10,
  DomainIsActive: 150,
  DomainIsPersistent: 151,
  NetworkIsActive: 152,
  NetworkIsPersistent: 153,
  ConnectGetLibVersion: 157,
  DomainAttachDeviceFlags: 160,
  DomainDetachDeviceFlags: 161,
  DomainUpdateDeviceFlags: 174,
  DomainCreateWithFlags: 196,
  DomainSetVcpusFlags: 199,
  DomainSetMemoryFlags: 204,
  DomainGetState: 212,
  DomainUndefineFlags: 231,
  DomainDestroyFlags: 234,
  DomainBlockResize: 251,
  DomainShutdownFlags: 258,
  StorageVolResize: 260,
  DomainSetMetadata: 264,
  DomainGetMetadata: 265,
  ConnectListAllDomains: 273,
  ConnectListAllNetworks: 283,
  NetworkUpdate: 291,
  ConnectDomainEventCallbackRegisterAny: 316,
  ConnectDomainEventCallbackDeregisterAny: 317,
  DomainEventCallbackLifecycle: 318,
  DomainEventCallbackDeviceRemoved: 333,
  NetworkGetDhcpLeases: 341,
  DomainDefineXmlFlags: 350,
  DomainInterfaceAddresses: 353,
  DomainEventCallbackDeviceAdded: 354,
  DomainEventCallbackDeviceRemovalFailed: 367,
  DomainDetachDeviceAlias: 392,
} as const;

export const QemuProc = {
  DomainMonitorCommand: 1,
  DomainAgentCommand: 3,
  ConnectDomainMonitorEventRegister: 4,
  ConnectDomainMonitorEventDeregister: 5,
  DomainMonitorEvent: 6,
} as const;

export const KeepaliveProc = {
  Ping: 1,
  Pong: 2,
} as const;

/** virConnect features asked with CONNECT_SUPPORTS_FEATURE. */
export const Feature = {
  ProgramKeepalive: 10,
  RemoteEventCallback: 14,
  /** The daemon reads NETWORK_UPDATE's command and section in the order remote_protocol.x declares them. */
  NetworkUpdateHasCorrectOrder: 16,
} as const;

export const AuthType = {
  None: 0,
  Sasl: 1,
  Polkit: 2,
} as const;

/** virDomainEventID values for CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY. */
export const DomainEventId = {
  Lifecycle: 0,
  DeviceRemoved: 15,
  DeviceAdded: 19,
  DeviceRemovalFailed: 22,
} as const;

/** virDomainModificationImpact: which copy of the domain a device or setting change applies to. */
export const Affect = {
  Current: 0,
  Live: 1,
  Config: 2,
} as const;

/** virDomainMetadataType: an application's own XML element, kept under its namespace in <metadata>. */
export const MetadataType = {
  Element: 2,
} as const;

/** virErrorNumber VIR_ERR_NO_DOMAIN_METADATA: the domain holds no element under that namespace. */
export const ERR_NO_DOMAIN_METADATA = 80;

export const DomainXmlFlags = {
  Secure: 1,
  Inactive: 2,
  UpdateCpu: 4,
  Migratable: 8,
} as const;

export const UndefineFlags = {
  ManagedSave: 1,
  SnapshotsMetadata: 2,
  Nvram: 4,
  KeepNvram: 8,
  CheckpointsMetadata: 16,
  Tpm: 32,
} as const;

export const DestroyFlags = {
  Default: 0,
  Graceful: 1,
} as const;

export const ShutdownFlags = {
  Default: 0,
  AcpiPowerButton: 1,
  GuestAgent: 2,
} as const;

export const DomainState = {
  NoState: 0,
  Running: 1,
  Blocked: 2,
  Paused: 3,
  Shutdown: 4,
  Shutoff: 5,
  Crashed: 6,
  PmSuspended: 7,
} as const;

export const DOMAIN_STATE_NAMES: Record<number, string> = {
  0: "nostate",
  1: "running",
  2: "blocked",
  3: "paused",
  4: "shutdown",
  5: "shutoff",
  6: "crashed",
  7: "pmsuspended",
};

/** virDomainEventType for lifecycle events. */
export const LifecycleEvent = {
  Defined: 0,
  Undefined: 1,
  Started: 2,
  Suspended: 3,
  Resumed: 4,
  Stopped: 5,
  Shutdown: 6,
  PmSuspended: 7,
  Crashed: 8,
} as const;

/** virDomainInterfaceAddressesSource: where DOMAIN_INTERFACE_ADDRESSES looks. */
export const InterfaceAddressSource = {
  Lease: 0,
  Agent: 1,
  Arp: 2,
} as const;

/** virIPAddrType. */
export const IpAddrType = {
  Ipv4: 0,
  Ipv6: 1,
} as const;

export const BlockResizeFlags = { Bytes: 1 } as const;
export const StorageVolResizeFlags = { Allocate: 1, Delta: 2, Shrink: 4 } as const;
export const MonitorCommandFlags = { Default: 0, Hmp: 1 } as const;

/** virNetworkXMLFlags for NETWORK_GET_XML_DESC: the persistent config instead of the running network. */
export const NetworkXmlFlags = { Inactive: 1 } as const;

/** virNetworkUpdateCommand. */
export const NetworkUpdateCommand = { Modify: 1, Delete: 2, AddLast: 3, AddFirst: 4 } as const;

/** virNetworkUpdateSection: the parts of a network NETWORK_UPDATE changes in place. */
export const NetworkUpdateSection = { IpDhcpHost: 4, IpDhcpRange: 5 } as const;

/** virNetworkUpdateFlags: which copy of the network a NETWORK_UPDATE changes. */
export const NetworkUpdateFlags = { AffectCurrent: 0, AffectLive: 1, AffectConfig: 2 } as const;

/** virErrorNumber VIR_ERR_NO_NETWORK: no network of that name or uuid. */
export const ERR_NO_NETWORK = 43;
