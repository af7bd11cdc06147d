// The end-to-end program: index.js written from options, so each scenario is "edit the program, run pulumi".
export interface ProgramOptions {
  kernel: string;
  initrd: string;
  type: "kvm" | "qemu";
  memoryMiB?: number;
  maxMemoryMiB?: number;
  restart?: "never" | "allow";
  /** Add Volume + Disk "extra" (scsi, via libvirt). */
  extraDisk?: boolean;
  /** Add Volume + Disk "late" (virtio, via libvirt): the one whose create gets killed. */
  lateDisk?: boolean;
  /** Which media volume the scsi cdrom holds. */
  scsiMedia?: "a" | "b";
  /** Add a usb Cdrom holding this media volume. */
  usbMedia?: "a" | "b" | null;
  /** Keep the qmp Disk (scratch). */
  qmpDisk?: boolean;
}

export function programSource(prefix: string, o: ProgramOptions): string {
  const j = JSON.stringify;
  const lines = [
    `const virt = require("pulumi-libvirt-live");`,
    `const MiB = 1024 * 1024;`,
    `const vm = new virt.Domain("vm", {`,
    `  name: ${j(prefix + "vm")}, type: ${j(o.type)},`,
    `  memoryMiB: ${o.memoryMiB ?? 128}, maxMemoryMiB: ${o.maxMemoryMiB ?? 256}, vcpus: 1, maxVcpus: 2,`,
    `  boot: { kernel: ${j(o.kernel)}, initrd: ${j(o.initrd)}, cmdline: "console=ttyS0 quiet panic=-1" },`,
    `  waitForAgentSeconds: 180, shutdownTimeoutSeconds: 10, restart: ${j(o.restart ?? "never")},`,
    `});`,
    `const data = new virt.Volume("data", { name: ${j(prefix + "data.qcow2")}, capacityBytes: 64 * MiB });`,
    `const dataDisk = new virt.Disk("data", { domain: vm.name, source: data.path, format: "qcow2", bus: "scsi" });`,
    `const mediaA = new virt.Volume("media-a", { name: ${j(prefix + "media-a.iso")}, format: "raw", capacityBytes: 1 * MiB });`,
    `const mediaB = new virt.Volume("media-b", { name: ${j(prefix + "media-b.iso")}, format: "raw", capacityBytes: 1 * MiB });`,
    `const media = { a: mediaA.path, b: mediaB.path };`,
    `const tools = new virt.Cdrom("tools", { domain: vm.name, bus: "scsi", media: media[${j(o.scsiMedia ?? "a")}] });`,
    `exports.domain = { name: vm.name, uuid: vm.uuid, domainId: vm.domainId, state: vm.state, pendingRestart: vm.pendingRestart };`,
    `exports.volumes = { data: data.path, mediaA: mediaA.path, mediaB: mediaB.path };`,
    `exports.disks = { data: { target: dataDisk.target, alias: dataDisk.alias, live: dataDisk.live } };`,
    `exports.cdroms = { tools: { target: tools.target, alias: tools.alias, inserted: tools.inserted } };`,
  ];
  /** A raw Volume and the Disk that attaches it, both named `name`, with their outputs exported. */
  const rawDisk = (name: string, mib: number, disk: string) => [
    `const ${name} = new virt.Volume(${j(name)}, { name: ${j(prefix + name + ".img")}, format: "raw", capacityBytes: ${mib} * MiB });`,
    `const ${name}Disk = new virt.Disk(${j(name)}, { domain: vm.name, source: ${name}.path, ${disk} });`,
    `exports.volumes.${name} = ${name}.path;`,
    `exports.disks.${name} = { target: ${name}Disk.target, alias: ${name}Disk.alias, live: ${name}Disk.live };`,
  ];
  if (o.qmpDisk ?? true) lines.push(...rawDisk("scratch", 16, `bus: "usb", via: "qmp"`));
  if (o.extraDisk) lines.push(...rawDisk("extra", 8, `bus: "scsi"`));
  if (o.lateDisk) lines.push(...rawDisk("late", 8, `bus: "virtio"`));
  if (o.usbMedia) {
    lines.push(
      `const usbcd = new virt.Cdrom("usbcd", { domain: vm.name, bus: "usb", media: media[${j(o.usbMedia)}] });`,
      `exports.cdroms.usbcd = { target: usbcd.target, alias: usbcd.alias, inserted: usbcd.inserted };`,
    );
  }
  return lines.join("\n") + "\n";
}
