// An Interface over QMP: netdev_add + device_add (qmp-nics.ts) through a libvirt domain's passthrough (`via: "qmp"`)
// or on the socket of a QEMU run without libvirt (`qmp` instead of `domain`, whose handlers are here), set_link for the
// link state, QEMU's own view (query-rx-filter and its device tree) read back. There is no config: every change is
// live or a replace, and a QEMU that restarted has lost the NIC (read as gone; the next up plugs it in again).
import { isQemuUnreachable } from "../qemu";
import { normalizeMac } from "../vocab/interface-xml";
import { deriveNicMac } from "../vocab/qmp-net";
import { classifyNicAttach } from "./classify";
import { nicNetdevId } from "./device-names";
import type { InterfaceInputs } from "./inputs";
import { deviceName, fail, forgetReleasedMac, label, macToReuse, releaseMac, type InterfaceOutputs } from "./interface-identity";
import { withDomainLock } from "./locks";
import { socketMonitor, type QemuMonitor } from "./monitor";
import { attachNic, detachNic, listNics, setNicLink, type LiveNic, type QmpNic, type QmpNicBackend } from "./qmp-nics";

export function qmpBackend(inputs: InterfaceInputs): QmpNicBackend {
  if (inputs.bridge !== undefined) return { type: "bridge", bridge: inputs.bridge };
  return { type: "user", ipv4: inputs.ipv4 ? { address: inputs.ipv4.address, prefixLength: inputs.ipv4.prefixLength } : undefined };
}

/**
 * The NIC to add: its MAC as macToReuse gives it (given, derived from the owner, or handed on by a replace), else kept
 * from one already under our id, else derived from the id.
 */
function qmpNic(inputs: InterfaceInputs, id: string, nics: readonly LiveNic[]): QmpNic {
  const ours = nics.find((n) => n.id === id);
  const taken = new Set(nics.filter((n) => n.id !== id).map((n) => n.mac));
  const mac = macToReuse(inputs) ?? ours?.mac ?? deriveNicMac(id, taken);
  return { id, netdevId: nicNetdevId(id), model: inputs.model, mac: normalizeMac(mac), backend: qmpBackend(inputs), linkUp: inputs.linkState !== "down", bootOrder: inputs.bootOrder };
}

/** The outputs from QEMU's view; the link state QEMU cannot report is the one last set. */
export function observeQmp(live: LiveNic | undefined, inputs: InterfaceInputs, id: string, machine: string): InterfaceOutputs | null {
  if (!live) return null;
  const linkState = live.linkUp === null ? inputs.linkState : live.linkUp ? "up" : "down";
  // QEMU names no host device for user-mode networking, and the bridge helper's tap is its own.
  return { ...inputs, mac: live.mac, linkState, alias: id, target: null, addresses: [], domainUuid: machine, persistent: inputs.persistent };
}

/** Attach over a monitor (the machine's lock held); outputs from QEMU's view after it. */
export async function attachOverMonitor(monitor: QemuMonitor, inputs: InterfaceInputs, id: string, machine: string): Promise<{ outs: InterfaceOutputs; attachedNow: boolean }> {
  const before = await listNics(monitor);
  const nic = qmpNic(inputs, id, before);
  const { attached } = await attachNic(monitor, nic, before);
  const outs = observeQmp((await listNics(monitor)).find((n) => n.id === id), inputs, id, machine);
  if (!outs) {
    if (attached) await detachNic(monitor, id, nic.netdevId, inputs.detachTimeoutSeconds).catch(() => undefined);
    throw new Error(`QEMU reports no NIC ${id} after the attach`);
  }
  if (normalizeMac(outs.mac) !== nic.mac) {
    if (attached) await detachNic(monitor, id, nic.netdevId, inputs.detachTimeoutSeconds).catch(() => undefined);
    throw new Error(`QEMU shows NIC ${id} with MAC ${outs.mac}, expected ${nic.mac}`);
  }
  return { outs: { ...outs, linkState: inputs.linkState }, attachedNow: attached };
}

/** The handlers of an Interface on a QEMU run without libvirt (`qmp` instead of `domain`). */
export const directInterface = {
  async create(inputs: InterfaceInputs): Promise<{ id: string; outs: InterfaceOutputs }> {
    const monitor = socketMonitor(inputs.qmp!);
    const id = deviceName(inputs);
    try {
      const { outs } = await withDomainLock(monitor.key, () => attachOverMonitor(monitor, inputs, id, inputs.qmp!));
      forgetReleasedMac(inputs);
      return { id: `${inputs.qmp}/${id}`, outs };
    } catch (error) {
      throw fail(inputs, error);
    }
  },

  async read(id: string, props: InterfaceOutputs): Promise<{ id: string; props: InterfaceOutputs }> {
    let nics: LiveNic[];
    try {
      nics = await listNics(socketMonitor(props.qmp!));
    } catch (error) {
      if (isQemuUnreachable(error)) return { id: "", props };
      throw error;
    }
    const outs = observeQmp(nics.find((n) => n.id === props.alias), props, props.alias, props.qmp!);
    return outs ? { id, props: outs } : { id: "", props };
  },

  async update(olds: InterfaceOutputs, news: InterfaceInputs): Promise<{ outs: InterfaceOutputs }> {
    const monitor = socketMonitor(news.qmp!);
    try {
      const outs = await withDomainLock(monitor.key, async () => {
        if (olds.linkState !== news.linkState) await setNicLink(monitor, olds.alias, news.linkState !== "down");
        return observeQmp((await listNics(monitor)).find((n) => n.id === olds.alias), { ...news, linkState: news.linkState }, olds.alias, news.qmp!);
      });
      if (!outs) throw new Error(`NIC ${olds.alias} is no longer on ${monitor.label}: refresh, then up plugs it in again`);
      return { outs: { ...outs, linkState: news.linkState } };
    } catch (error) {
      throw fail(news, error);
    }
  },

  async delete(props: InterfaceOutputs): Promise<void> {
    const monitor = socketMonitor(props.qmp!);
    try {
      await withDomainLock(monitor.key, () => detachNic(monitor, props.alias, nicNetdevId(props.alias), props.detachTimeoutSeconds));
      releaseMac(props);
    } catch (error) {
      if (isQemuUnreachable(error)) return;
      throw fail(props, error);
    }
  },

  async describeCreate(inputs: InterfaceInputs): Promise<string> {
    const monitor = socketMonitor(inputs.qmp!);
    try {
      await listNics(monitor);
      return `${label(inputs)}: ${classifyNicAttach(inputs, { running: true, restart: "never", transient: true }).reason}`;
    } catch (error) {
      return `${label(inputs)}: up would refuse qmp: ${(error as Error).message} (start QEMU with -qmp ${inputs.qmp},server=on,wait=off, or fix the address)`;
    }
  },
};

