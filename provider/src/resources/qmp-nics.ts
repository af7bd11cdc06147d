// NICs added and removed over QMP (netdev_add + device_add, device_del + netdev_del, set_link), on any QEMU monitor:
// a libvirt domain's passthrough or a QEMU run without libvirt. Callers hold the machine's lock
// (withDomainLock(monitor.key)) around attachNic and detachNic, so parallel attaches pick distinct slots.
//
// What works where (measured on QEMU 7.2 with libvirt 9.0):
//  - user: everywhere (slirp runs inside QEMU).
//  - bridge: QEMU forks qemu-bridge-helper, which attaches only to bridges /etc/qemu/bridge.conf allows. A QEMU
//    started by libvirt runs with -sandbox spawn=deny, and seccomp KILLS it (SIGSYS on clone) at that fork: the
//    guest dies. So a bridge backend is refused on a libvirt domain before anything is sent.
//  - tap by name: QEMU opens /dev/net/tun; libvirt's QEMU has a private /dev without it ("could not open
//    /dev/net/tun: No such file or directory"), so on a libvirt domain it is refused by QEMU, harmlessly.
// On a libvirt domain, a NIC on a bridge or network is libvirt's job (via: "libvirt").
import {
  explainNetdevRefusal,
  NIC_DEVICE_TYPES,
  netdevAdd,
  netdevDel,
  nicDeviceAdd,
  qmpNicMac,
  parseQomChildren,
  parseRxFilter,
  queryRxFilter,
  setLink,
  type NetdevSpec,
  type NicDeviceSpec,
} from "../vocab/qmp-net";
import { QmpError, queryPci } from "../vocab/qmp";
import { machineFamily, type NicModel } from "../vocab/domain-xml";
import type { QemuMonitor } from "./monitor";
import { unplugDevice } from "./qmp-unplug";

export type QmpNicBackend =
  | { type: "user"; ipv4?: { address: string; prefixLength: number }; restrict?: boolean }
  | { type: "bridge"; bridge: string }
  | { type: "tap"; ifname: string };

export interface QmpNic {
  /** qdev id (device-names: `lvn-<name>-<hash>`). */
  id: string;
  /** Its backend's id (`lvnd-<name>-<hash>`). */
  netdevId: string;
  model: NicModel;
  mac: string;
  /** user: `restrict: true` keeps the guest from reaching anything beyond QEMU's own DHCP, DNS and gateway. */
  backend: QmpNicBackend;
  linkUp: boolean;
  bootOrder?: number;
  /** virtio only: the MTU the guest is told (QEMU's host_mtu). */
  mtu?: number;
}

/** QEMU's own view of one NIC. */
export interface LiveNic {
  id: string;
  /** Lower-case; for virtio the MAC in use now (query-rx-filter), for other models the one it was given. */
  mac: string;
  /** Always null on QEMU 7.2: it has no way to read a link's state back (see vocab/qmp-net.ts). */
  linkUp: boolean | null;
  /** The QEMU device type (e.g. "virtio-net-pci"), null for a NIC QEMU lists without a qdev id. */
  driver: string | null;
}

export interface AttachedNic {
  /** false: a NIC under this id (an interrupted run's) was found and kept. */
  attached: boolean;
}

/** A libvirt domain's monitor, as opposed to a QEMU's own QMP socket (whose key is "qmp:<address>"). */
function isLibvirtMonitor(monitor: QemuMonitor): boolean {
  return !monitor.key.startsWith("qmp:");
}

async function qomList(monitor: QemuMonitor, path: string) {
  return parseQomChildren(await monitor.command({ execute: "qom-list", arguments: { path } }));
}

/** The NICs QEMU has: virtio ones from query-rx-filter, other models from the QOM tree and their `mac` property. */
export async function listNics(monitor: QemuMonitor): Promise<LiveNic[]> {
  const [rx, peripherals] = await Promise.all([monitor.command(queryRxFilter()).then(parseRxFilter), qomList(monitor, "/machine/peripheral")]);
  const types = new Map(peripherals.map((c) => [c.name, c.type]));
  const listed = new Set(rx.map((n) => n.id));
  const virtio: LiveNic[] = rx.map((n) => ({ id: n.id, mac: n.mac, linkUp: null, driver: types.get(n.id) ?? null }));
  const others = await Promise.all(
    peripherals
      .filter((c) => NIC_DEVICE_TYPES.has(c.type) && !listed.has(c.name))
      .map(async (c): Promise<LiveNic | null> => {
        const mac = await monitor.command({ execute: "qom-get", arguments: { path: `/machine/peripheral/${c.name}`, property: "mac" } }).catch(() => null);
        // Gone between the two calls (a detach finishing): not there.
        return typeof mac === "string" ? { id: c.name, mac: mac.toLowerCase(), linkUp: null, driver: c.type } : null;
      }),
  );
  return [...virtio, ...others.filter((n): n is LiveNic => n !== null)];
}

/** What refuses this NIC on this monitor before QEMU is asked anything (for preview, too); null when nothing does. */
export function nicRefusal(monitor: QemuMonitor, nic: Pick<QmpNic, "backend">): string | null {
  if (nic.backend.type === "bridge" && isLibvirtMonitor(monitor)) {
    return (
      `a bridge backend over QMP makes QEMU fork its bridge helper, and ${monitor.label}'s QEMU runs under libvirt's sandbox ` +
      `(-sandbox spawn=deny), which kills the guest at that fork: put the NIC on bridge ${nic.backend.bridge} through libvirt (via: "libvirt")`
    );
  }
  return null;
}

/** One device of query-pci's reply: a bridge lists the devices behind it. */
interface PciDevice {
  slot: number;
  function?: number;
  qdev_id?: string;
  id?: { vendor: number; device: number };
  pci_bridge?: { devices?: PciDevice[] };
}

/** PCIe root ports (QEMU's generic pcie-root-port, and Intel's ioh3420 that older libvirt uses). */
const ROOT_PORTS = [
  { vendor: 0x1b36, device: 0x000c },
  { vendor: 0x8086, device: 0x3420 },
];

/**
 * Where a new NIC goes, asked from QEMU itself (query-pci) and chosen from the far end, since libvirt fills from
 * the low end and does not know about devices added behind its back: on i440fx a free slot of pci.0 from 0x1f
 * down; on q35 (whose root bus does not hot-plug) the last empty PCIe root port that allows hotplug.
 */
export async function nicAddress(monitor: QemuMonitor): Promise<Pick<NicDeviceSpec, "bus" | "addr">> {
  const [type, pci] = await Promise.all([
    monitor.command({ execute: "qom-get", arguments: { path: "/machine", property: "type" } }),
    monitor.command(queryPci()) as Promise<Array<{ bus: number; devices: PciDevice[] }>>,
  ]);
  const family = machineFamily(String(type).replace(/-machine$/, ""));
  const root = pci.find((b) => b.bus === 0)?.devices ?? [];
  if (family === "i440fx") {
    const used = new Set(root.map((d) => d.slot));
    for (let slot = 0x1f; slot > 2; slot--) if (!used.has(slot)) return { bus: "pci.0", addr: `0x${slot.toString(16)}` };
    throw new Error(`no free slot on pci.0 of ${monitor.label}: every one of its 29 hot-plug slots is taken`);
  }
  if (family === "q35") {
    const empty = root
      .filter((d) => d.qdev_id && d.pci_bridge && (d.pci_bridge.devices ?? []).length === 0)
      .filter((d) => ROOT_PORTS.some((p) => p.vendor === d.id?.vendor && p.device === d.id?.device))
      // By where the port sits on the root bus (its secondary bus number is 0 until the firmware has numbered it).
      .sort((a, b) => b.slot * 8 + (b.function ?? 0) - (a.slot * 8 + (a.function ?? 0)));
    for (const port of empty) {
      // A port libvirt made with <target hotplug='off'/> takes no device while running.
      const hotplug = await monitor.command({ execute: "qom-get", arguments: { path: `/machine/peripheral/${port.qdev_id}`, property: "hotplug" } }).catch(() => true);
      if (hotplug !== false) return { bus: port.qdev_id!, addr: "0x0" };
    }
    throw new Error(
      `no empty PCIe root port on ${monitor.label}: a q35 machine hot-plugs a NIC only into an empty pcie-root-port; ` +
        (isLibvirtMonitor(monitor)
          ? `raise the Domain's hotplugSlots (applies at its next boot)`
          : `start QEMU with one per device to hot-plug, e.g. -device pcie-root-port,id=hp1,chassis=1,bus=pcie.0`),
    );
  }
  throw new Error(`${monitor.label} runs machine type ${String(type)}: NIC hotplug over QMP is supported on i440fx (pc) and q35 machines`);
}

function netdevSpec(nic: QmpNic): NetdevSpec {
  const b = nic.backend;
  switch (b.type) {
    case "user":
      return { type: "user", id: nic.netdevId, ipv4: b.ipv4, restrict: b.restrict };
    case "bridge":
      return { type: "bridge", id: nic.netdevId, bridge: b.bridge };
    case "tap":
      return { type: "tap", id: nic.netdevId, ifname: b.ifname };
  }
}

/** netdev_del that counts a netdev already gone as done. */
async function freeNetdev(monitor: QemuMonitor, netdevId: string): Promise<void> {
  await monitor.command(netdevDel(netdevId)).catch((error) => {
    if (error instanceof QmpError && (error.errorClass === "DeviceNotFound" || /not found/i.test(error.desc))) return;
    throw error;
  });
}

/**
 * netdev_add + device_add at a free PCI slot, then set_link when the NIC is to start with its cable pulled. A NIC
 * already under `nic.id` with the same MAC (a run interrupted after its attach) is kept, its link set as asked; one
 * with another MAC is not provably ours and is refused. A netdev left under `netdevId` (its NIC removed from
 * outside) is freed and added again. Every command is built (and so checked) before the first one is sent. `listed`:
 * QEMU's NICs as the caller just read them (under the machine's lock), so they are not asked for twice.
 */
export async function attachNic(monitor: QemuMonitor, nic: QmpNic, listed?: readonly LiveNic[]): Promise<AttachedNic> {
  const mac = qmpNicMac(nic.mac);
  const backend = netdevSpec(nic);
  const addBackend = netdevAdd(backend);
  const device = (address: Pick<NicDeviceSpec, "bus" | "addr">) =>
    nicDeviceAdd({ id: nic.id, model: nic.model, netdev: nic.netdevId, mac, bootIndex: nic.bootOrder, mtu: nic.mtu, ...address });
  device({}); // checks the device's own fields now
  const refusal = nicRefusal(monitor, nic);
  if (refusal) throw new Error(refusal);

  // The caller's list, read under the machine's lock a moment ago, or QEMU's now.
  const nics = listed ?? (await listNics(monitor));
  const held = nics.find((n) => n.id === nic.id);
  if (held) {
    if (held.mac !== mac) throw new Error(`NIC ${nic.id} on ${monitor.label} has MAC ${held.mac}, not ${mac}, so it is not provably this resource's; nothing was changed`);
    await monitor.command(setLink(nic.id, nic.linkUp));
    return { attached: false };
  }
  const clash = nics.find((n) => n.mac === mac);
  if (clash) throw new Error(`MAC ${mac} is already used by NIC ${clash.id} on ${monitor.label}; give this NIC another mac`);
  const address = await nicAddress(monitor);

  const add = () => monitor.command(addBackend);
  await add().catch(async (error) => {
    if (error instanceof QmpError && /duplicate id/i.test(error.desc)) {
      await freeNetdev(monitor, nic.netdevId);
      return add();
    }
    throw error;
  }).catch((error) => {
    const explained = error instanceof QmpError ? explainNetdevRefusal(backend, error.desc) : null;
    throw explained ? new Error(explained, { cause: error }) : error;
  });
  try {
    await monitor.command(device(address));
  } catch (error) {
    await freeNetdev(monitor, nic.netdevId).catch(() => undefined);
    throw error;
  }
  if (!nic.linkUp) await monitor.command(setLink(nic.id, false));
  return { attached: true };
}

/** Whether QEMU still has a device under `id` (its QOM node). */
async function hasDevice(monitor: QemuMonitor, id: string): Promise<boolean> {
  return (await qomList(monitor, "/machine/peripheral")).some((c) => c.name === id);
}

/**
 * device_del, wait for DEVICE_DELETED (or the device gone from QEMU's tree), then netdev_del. A NIC already gone
 * (removed from outside) only has its netdev freed. A request whose answer was lost with the connection is asked
 * again on the new one while the device is still there (asking twice for one unplug is harmless).
 */
export async function detachNic(monitor: QemuMonitor, id: string, netdevId: string, timeoutSeconds: number, onAsked?: () => void): Promise<void> {
  if (await hasDevice(monitor, id)) {
    // Without an event, QEMU's device tree is the judge.
    const gone = await unplugDevice(monitor, id, { present: () => hasDevice(monitor, id), timeoutSeconds, onAsked });
    if (!gone) {
      throw new Error(
        `the guest did not release NIC ${id} within ${timeoutSeconds} s (a paused guest, or one without hotplug support); ` +
          `it stays attached and in the stack: retry the delete when the guest responds, or raise detachTimeoutSeconds`,
      );
    }
  }
  await freeNetdev(monitor, netdevId).catch((error) => (monitor.lost(error) ? freeNetdev(monitor, netdevId) : Promise.reject(error)));
}

/** Carrier on or off, as if a cable were plugged or pulled; the guest's driver sees it at once. */
export async function setNicLink(monitor: QemuMonitor, id: string, up: boolean): Promise<void> {
  await monitor.command(setLink(id, up)).catch((error) => {
    if (error instanceof QmpError && /not found/i.test(error.desc)) throw new Error(`NIC ${id} is not on ${monitor.label} (removed from outside?): ${error.desc}`, { cause: error });
    throw error;
  });
}
