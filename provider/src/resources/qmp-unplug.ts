// A device_del and the wait for QEMU to finish it, on either monitor: the one flow a disk and a NIC share. The
// DEVICE_DELETED event heard on the link that asked ends the wait; otherwise the caller's `present` check is the
// judge (an event is lost when the connection drops mid-wait), and a request that may have died with an old link
// is sent again on the new one (asking twice for one unplug is harmless).
import { deviceDel, QmpError } from "../vocab/qmp";
import type { QemuMonitor } from "./monitor";
import { pollUntil } from "./qemu";

/** A promise and what resolves it: an event listener fires it, a wait is woken by it. */
export function latch(): { fired: Promise<void>; fire: () => void } {
  let fire: () => void = () => undefined;
  const fired = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { fired, fire };
}

/**
 * Pauses of a poll that an event ends: it only stands in for an event lost to a reconnect, so it can be lazy. Its
 * first look comes after QEMU's usual unplug time (55–75 ms here), not during it.
 */
export const EVENT_WOKEN = { firstIntervalMs: 200, maxIntervalMs: 500 };

/** QEMU's answer to device_del for an id it has no device under. */
export function isDeviceNotFound(error: unknown): boolean {
  return error instanceof QmpError && error.errorClass === "DeviceNotFound";
}

export interface UnplugOptions {
  /** Whether QEMU still has the device (asked only when no event settles it). */
  present: () => Promise<boolean>;
  timeoutSeconds: number;
  /** Called once the request is answered: while QEMU unplugs, the monitor is free for the caller's bookkeeping. */
  onAsked?: () => void;
  /** QEMU's DeviceNotFound answer means the device was gone already (the caller did not look first). */
  notFoundIsGone?: boolean;
}

/** Asks QEMU to unplug `id` and waits until it has; false when the device is still there at the deadline. */
export async function unplugDevice(monitor: QemuMonitor, id: string, options: UnplugOptions): Promise<boolean> {
  const deleted = latch();
  // A monitor that refuses event subscriptions still gets the unplug, polled at the quick default pace.
  const unsubscribe = await monitor.onEvent("DEVICE_DELETED", (data) => {
    if (data?.["device"] === id) deleted.fire();
  });
  let heard = false;
  deleted.fired.then(() => (heard = true));
  try {
    let gone = false;
    let askedOn = monitor.generation();
    await monitor.command(deviceDel(id)).catch((error) => {
      if (options.notFoundIsGone && isDeviceNotFound(error)) return void (gone = true);
      if (!monitor.lost(error)) throw error;
      askedOn = -1;
    });
    options.onAsked?.();
    if (gone) return true;
    let first = true;
    const check = async () => {
      // Right after a request this link carried, only the event ends the wait: no point asking QEMU while it unplugs.
      const sameLink = askedOn === monitor.generation();
      if (sameLink && (heard || (first && unsubscribe))) {
        first = false;
        return heard;
      }
      first = false;
      try {
        if (!(await options.present())) return true;
        if (askedOn !== monitor.generation()) {
          askedOn = monitor.generation();
          await monitor.command(deviceDel(id)).catch(() => undefined);
        }
        return false;
      } catch (error) {
        if (monitor.lost(error)) return false; // away for now: keep waiting, up to the deadline
        throw error;
      }
    };
    const pace = unsubscribe ? { ...EVENT_WOKEN, wake: deleted.fired } : {};
    return await pollUntil(check, { timeoutMs: options.timeoutSeconds * 1000, ...pace });
  } finally {
    unsubscribe?.();
  }
}
