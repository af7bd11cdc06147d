// QEMU run without libvirt, as the seeds run it (001_e20eda633cafcaa1.txt: `-qmp unix:/opt/qmp.socket,server,
// nowait`, or `-qmp tcp:127.0.0.1:4444,server,nowait`), booting the project's test guest under TCG with the guest
// agent's chardev, a virtio-scsi and a USB controller. Started by the test and stopped by its pid.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { guestArtifacts, GUEST_CMDLINE } from "./guest";

export interface BareQemu {
  /** "unix:/…" QMP address. */
  qmp: string;
  /** "tcp:127.0.0.1:PORT" QMP address, when asked for. */
  qmpTcp?: string;
  /** A second "unix:/…" QMP address, when asked for (`probeQmp`). */
  qmpProbe?: string;
  /** "unix:/…" guest agent address. */
  agent: string;
  pid: number;
  dir: string;
  /** Stops QEMU (SIGTERM, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

async function waitFor(what: string, ok: () => boolean, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (child.exitCode !== null) throw new Error(`QEMU exited (${child.exitCode}) before ${what}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `controllers: false` leaves out the virtio-scsi and USB controllers (the provider must add its own); `machine`
 * "q35" boots a PCIe machine (default "pc"); `extraArgs` are appended as they are (e.g. pcie-root-ports); `netns`
 * runs QEMU inside that network namespace (a guest with a NIC never runs in the host's; its unix sockets still
 * serve the test, a tcp one is on the namespace's loopback).
 */
export async function startBareQemu(
  options: { tcpQmp?: boolean; probeQmp?: boolean; memoryMiB?: number; controllers?: boolean; machine?: "pc" | "q35"; extraArgs?: string[]; netns?: string } = {},
): Promise<BareQemu> {
  const { kernel, initrd } = guestArtifacts();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-qemu-"));
  const qmpPath = path.join(dir, "qmp.sock");
  const agentPath = path.join(dir, "qga.sock");
  const tcpPort = options.tcpQmp ? await freePort() : undefined;
  // A second unix monitor for the test's own eyes (a QMP socket serves one client), reachable from any namespace.
  const probePath = options.probeQmp ? path.join(dir, "probe.sock") : undefined;
  const args = [
    "-machine", `${options.machine ?? "pc"},accel=tcg`, "-m", String(options.memoryMiB ?? 256), "-smp", "1",
    "-nodefaults", "-display", "none", "-serial", `file:${path.join(dir, "console.log")}`,
    "-kernel", kernel, "-initrd", initrd, "-append", GUEST_CMDLINE,
    "-qmp", `unix:${qmpPath},server=on,wait=off`,
    ...(tcpPort ? ["-qmp", `tcp:127.0.0.1:${tcpPort},server=on,wait=off`] : []),
    ...(probePath ? ["-qmp", `unix:${probePath},server=on,wait=off`] : []),
    "-chardev", `socket,path=${agentPath},server=on,wait=off,id=qga0`,
    "-device", "virtio-serial", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
    ...(options.controllers === false ? [] : ["-device", "virtio-scsi-pci,id=scsi0", "-device", "qemu-xhci,id=usb"]),
    ...(options.extraArgs ?? []),
  ];
  // `ip netns exec` execs QEMU in place: the child's pid is QEMU's.
  const child = options.netns
    ? spawn("ip", ["netns", "exec", options.netns, "qemu-system-x86_64", ...args], { stdio: ["ignore", "ignore", "pipe"] })
    : spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  try {
    await waitFor("its sockets", () => fs.existsSync(qmpPath) && fs.existsSync(agentPath), child);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${(error as Error).message}: ${stderr}`);
  }
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      const exited = new Promise((r) => child.once("exit", r));
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return {
    qmp: `unix:${qmpPath}`,
    qmpTcp: tcpPort ? `tcp:127.0.0.1:${tcpPort}` : undefined,
    qmpProbe: probePath ? `unix:${probePath}` : undefined,
    agent: `unix:${agentPath}`,
    pid: child.pid!,
    dir,
    stop,
  };
}
