// @ts-check
// The quickstart stack: an isolated network with DHCP, one VM on it, a qcow2 volume attached through libvirt, a raw
// scratch disk hot-plugged over QMP, and a cdrom whose media can change live. Change any of it and `pulumi preview`
// says how it will land.
const pulumi = require("@pulumi/pulumi");
const virt = require("pulumi-libvirt-live");

const config = new pulumi.Config();
const prefix = config.get("prefix") ?? "quickstart";
const MiB = 1024 * 1024;

// Isolated: the guests reach each other and the host's bridge address, nothing else (no NAT, no forwarding). The
// subnet comes from 198.18.0.0/15, reserved for benchmarking, so it collides with no real network.
const subnet = config.get("subnet") ?? "198.18.100";
const net = new virt.Network("lan", {
  name: `${prefix}-lan`,
  mode: "isolated",
  ipv4: { address: `${subnet}.1`, prefixLength: 24, dhcp: { start: `${subnet}.100`, end: `${subnet}.199` } },
});

const vm = new virt.Domain("web-1", {
  name: `${prefix}-web-1`,
  memoryMiB: config.getNumber("memoryMiB") ?? 256,
  maxMemoryMiB: 512,
  vcpus: 1,
  maxVcpus: 2,
  // The project's tiny test guest (scripts/build-guest.sh): a Debian kernel and an initramfs running qemu-ga.
  boot: { kernel: config.require("kernel"), initrd: config.require("initrd"), cmdline: "console=ttyS0 quiet panic=-1" },
  networks: [{ network: net.name }],
  waitForAgentSeconds: 180,
  // Create returns once the guest has its DHCP lease, so `address` below is there after the first up.
  waitForAddressSeconds: 180,
  shutdownTimeoutSeconds: 10,
});

const data = new virt.Volume("data", { name: `${prefix}-data.qcow2`, capacityBytes: 64 * MiB });
const dataDisk = new virt.Disk("data", { domain: vm.name, source: data.path, format: "qcow2", bus: "scsi" });

const scratch = new virt.Volume("scratch", { name: `${prefix}-scratch.img`, format: "raw", capacityBytes: 16 * MiB });
const scratchDisk = new virt.Disk("scratch", { domain: vm.name, source: scratch.path, bus: "usb", via: "qmp" });

const media = new virt.Volume("media", { name: `${prefix}-media.iso`, format: "raw", capacityBytes: 1 * MiB });
const tools = new virt.Cdrom("tools", { domain: vm.name, bus: "scsi", media: config.get("media") ?? media.path });

// The seed's guest-agent case: commands run inside the guest, no network or ssh needed.
const uname = new virt.GuestExec("uname", { domain: vm.name, path: "uname", args: ["-a"] });
const ipAddr = new virt.GuestExec("ip-addr", { domain: vm.name, path: "ip", args: ["addr", "list"] });

exports.domain = { name: vm.name, uuid: vm.uuid, state: vm.state, pendingRestart: vm.pendingRestart };
// The VM's address on the network (from the guest agent and the network's DHCP lease).
exports.address = vm.interfaces.apply((nics) => nics[0]?.addresses.find((a) => a.family === "ipv4")?.address ?? null);
// What QEMU really has open (query-block), not what was asked for.
exports.live = {
  data: { target: dataDisk.target, live: dataDisk.live },
  scratch: { target: scratchDisk.target, live: scratchDisk.live },
  tools: { target: tools.target, inserted: tools.inserted },
};
exports.guest = { uname: uname.stdout, ipAddr: ipAddr.stdout };
