// Disk and Cdrom on a QEMU run without libvirt (`qmp: "unix:/run/qemu/vm1.qmp"` instead of `domain`): added and
// removed over that socket, read back with query-block, removal ended by QEMU's DEVICE_DELETED. There is no
// persistent config: every change is live or a replace, and a QEMU that restarted has lost the devices (refresh
// reads them as gone; the next up adds them again).
import { isQemuUnreachable } from "../qemu";
import type { BlockDeviceInfo } from "../vocab/query-block";
import type { DiskBus } from "../vocab/disk-xml";
import { socketDeviceName, type DeviceIdentity, type DeviceKindName } from "./device-names";
import { withDomainLock } from "./locks";
import { monitorBlocks, socketMonitor } from "./monitor";
import { attachQmp, changeMediaQmp, controllerNote, detachQmp, directAddress, findBlockById, findController, type QmpDevice } from "./qmp-devices";
import { ResourceError } from "./handler";

export interface DirectInputs extends DeviceIdentity {
  qmp?: string;
  bus: string;
  detachTimeoutSeconds: number;
}

/** What a Disk or Cdrom says about itself on the direct path. */
export interface DirectKind<I extends DirectInputs, O> {
  kind: DeviceKindName;
  label(inputs: I): string;
  /** The device to add (its medium, bus, read-only flag …). */
  qmpDevice(inputs: I, id: string): QmpDevice;
  /** The outputs from QEMU's view of the device (null: not there). */
  observeBlock(block: BlockDeviceInfo | undefined, inputs: I, id: string, machine: string): O | null;
}

export function directDeviceHandlers<I extends DirectInputs, O>(device: DirectKind<I, O>) {
  const fail = (inputs: I, error: unknown) => new ResourceError(device.label(inputs), (error as Error).message, { cause: error });
  return {
    async create(inputs: I): Promise<{ id: string; outs: O }> {
      const monitor = socketMonitor(inputs.qmp!);
      const id = socketDeviceName(device.kind, inputs);
      const wanted = device.qmpDevice(inputs, id);
      try {
        const outs = await withDomainLock(monitor.key, async () => {
          const blocks = await monitorBlocks(monitor);
          const held = findBlockById(blocks, id);
          const attachedNow = held?.qdevId !== id;
          if (!attachedNow) {
            // A run interrupted after its attach: adopted only when it holds what this resource asks for.
            const file = held!.inserted?.file ?? null;
            if (file !== wanted.file) {
              throw new Error(`device ${id} on ${monitor.label} already holds ${file ?? "no medium"}, not ${wanted.file ?? "no medium"}, so it is not provably this resource's; nothing was changed`);
            }
          } else {
            await attachQmp(monitor, blocks, wanted, await directAddress(monitor, blocks, wanted.bus));
          }
          const block = findBlockById(await monitorBlocks(monitor), id);
          const file = block?.inserted?.file ?? null;
          const problem =
            block?.qdevId !== id ? `QEMU reports no block device ${id} after the attach`
            : file !== wanted.file ? `QEMU shows ${id} with medium ${JSON.stringify(file)}, expected ${JSON.stringify(wanted.file)}`
            : file !== null && block.inserted!.readOnly !== wanted.readonly ? `QEMU opened ${id} ${block.inserted!.readOnly ? "read-only" : "read-write"}`
            : null;
          if (problem) {
            // Undo only what this call attached, so a failed create leaves QEMU as it was.
            if (attachedNow) await detachQmp(monitor, await monitorBlocks(monitor), id, inputs.detachTimeoutSeconds).catch(() => undefined);
            throw new Error(problem);
          }
          return device.observeBlock(block, inputs, id, inputs.qmp!)!;
        });
        return { id: `${inputs.qmp}/${id}`, outs };
      } catch (error) {
        throw fail(inputs, error);
      }
    },

    async read(id: string, props: I & { alias: string }): Promise<{ id: string; props: O | (I & { alias: string }) }> {
      let blocks: BlockDeviceInfo[];
      try {
        blocks = await monitorBlocks(socketMonitor(props.qmp!));
      } catch (error) {
        if (isQemuUnreachable(error)) return { id: "", props };
        throw error;
      }
      const outs = device.observeBlock(findBlockById(blocks, props.alias), props, props.alias, props.qmp!);
      return outs ? { id, props: outs } : { id: "", props };
    },

    async delete(props: I & { alias: string }): Promise<void> {
      const monitor = socketMonitor(props.qmp!);
      try {
        await withDomainLock(monitor.key, async () => detachQmp(monitor, await monitorBlocks(monitor), props.alias, props.detachTimeoutSeconds));
      } catch (error) {
        if (isQemuUnreachable(error)) return;
        throw fail(props, error);
      }
    },

    /** Media change of a Cdrom's tray, live (there is no config to wait for). */
    async changeMedia(inputs: I, alias: string, media: string | null): Promise<O | null> {
      const monitor = socketMonitor(inputs.qmp!);
      try {
        return await withDomainLock(monitor.key, async () => {
          await changeMediaQmp(monitor, alias, media);
          const block = findBlockById(await monitorBlocks(monitor), alias);
          if ((block?.inserted?.file ?? null) !== media) throw new Error(`QEMU shows ${alias} with medium ${JSON.stringify(block?.inserted?.file ?? null)}, expected ${JSON.stringify(media)}`);
          return device.observeBlock(block, inputs, alias, inputs.qmp!);
        });
      } catch (error) {
        throw fail(inputs, error);
      }
    },

    async describeCreate(inputs: I): Promise<string> {
      const label = device.label(inputs);
      const monitor = socketMonitor(inputs.qmp!);
      try {
        const bus = inputs.bus as DiskBus;
        if (bus !== "scsi" && bus !== "usb") return `${label}: live attach on ${bus} over ${monitor.label} (no restart; QEMU has no config to wait for)`;
        const controller = await findController(monitor, bus);
        return `${label}: live attach on ${bus} over ${monitor.label}${controller ? "" : `; ${controllerNote(bus)}`}`;
      } catch (error) {
        return `${label}: up would refuse qmp: ${(error as Error).message} (start QEMU with -qmp ${inputs.qmp},server=on,wait=off, or fix the address)`;
      }
    },
  };
}
