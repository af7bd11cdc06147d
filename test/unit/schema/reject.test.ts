import { strict as assert } from "node:assert";
import { CheckFailure, ResourceKind, validateInputs } from "../../../provider/src/resources/validate";

// Each case starts from valid inputs, breaks one thing, and must be rejected with failures that name exactly
// the expected property (and, where given, a reason matching `reason`).
interface Case {
  title: string;
  kind: ResourceKind;
  inputs: Record<string, unknown>;
  property: string;
  reason?: RegExp;
}

const VOLUME = { name: "data.qcow2", capacityBytes: 1073741824 };
const DOMAIN = { name: "vm1", memoryMiB: 512, vcpus: 1 };
const DISK = { domain: "vm1", source: "/var/lib/libvirt/images/data.qcow2" };
const CDROM = { domain: "vm1" };
const EXEC = { domain: "vm1", path: "/bin/sh" };
const NIC = { domain: "vm1", network: "lan" };

const PATH_RULE = /must be an absolute path without commas, quotes, '<', '>', '&', newlines or control characters/;
const NAME_RULE = /letters, digits, '\.', '_' or '-', not starting with '\.' or '-'/;

const cases: Case[] = [
  // ---- Volume
  { title: "volume name with a single quote", kind: "Volume", inputs: { ...VOLUME, name: "it's" }, property: "name", reason: /"it's" contains "'"/ },
  { title: "volume name with XML metacharacters", kind: "Volume", inputs: { ...VOLUME, name: 'a"<b>&c' }, property: "name", reason: NAME_RULE },
  { title: "volume name with a newline", kind: "Volume", inputs: { ...VOLUME, name: "a\nb" }, property: "name", reason: /contains a newline/ },
  { title: "volume name starting with '-'", kind: "Volume", inputs: { ...VOLUME, name: "-rf" }, property: "name", reason: /starts with '-'/ },
  { title: "volume name '..'", kind: "Volume", inputs: { ...VOLUME, name: ".." }, property: "name", reason: /starts with '\.'/ },
  { title: "volume name with a slash (traversal)", kind: "Volume", inputs: { ...VOLUME, name: "../../etc/passwd" }, property: "name" },
  { title: "volume name too long", kind: "Volume", inputs: { ...VOLUME, name: "a".repeat(129) }, property: "name", reason: /at most 128 characters/ },
  { title: "empty volume name", kind: "Volume", inputs: { ...VOLUME, name: "" }, property: "name", reason: /must not be empty/ },
  { title: "capacity zero", kind: "Volume", inputs: { ...VOLUME, capacityBytes: 0 }, property: "capacityBytes", reason: /at least 512/ },
  { title: "capacity negative", kind: "Volume", inputs: { ...VOLUME, capacityBytes: -1073741824 }, property: "capacityBytes", reason: /at least 512/ },
  { title: "capacity as a string", kind: "Volume", inputs: { ...VOLUME, capacityBytes: "10G" }, property: "capacityBytes", reason: /must be an integer \(got the string "10G"\)/ },
  { title: "capacity above 64 TiB", kind: "Volume", inputs: { ...VOLUME, capacityBytes: 2 ** 47 }, property: "capacityBytes", reason: /at most 70368744177664/ },
  { title: "capacity not an integer", kind: "Volume", inputs: { ...VOLUME, capacityBytes: 1.5 }, property: "capacityBytes", reason: /integer/ },
  { title: "capacity not a multiple of 512", kind: "Volume", inputs: { ...VOLUME, capacityBytes: 1000000001 }, property: "capacityBytes", reason: /multiple of 512/ },
  { title: "unknown volume format", kind: "Volume", inputs: { ...VOLUME, format: "vmdk" }, property: "format", reason: /one of "qcow2", "raw" \(got "vmdk"\)/ },
  { title: "pool name with a path", kind: "Volume", inputs: { ...VOLUME, pool: "../default" }, property: "pool", reason: NAME_RULE },
  { title: "backing store with a relative path", kind: "Volume", inputs: { ...VOLUME, backingStore: { path: "base.qcow2", format: "qcow2" } }, property: "backingStore.path", reason: /is relative/ },
  { title: "backing store without a format", kind: "Volume", inputs: { ...VOLUME, backingStore: { path: "/var/lib/libvirt/images/base.qcow2" } }, property: "backingStore.format", reason: /is required/ },
  { title: "backing store under a raw volume", kind: "Volume", inputs: { ...VOLUME, format: "raw", backingStore: { path: "/i/base.qcow2", format: "qcow2" } }, property: "backingStore", reason: /qcow2/ },
  { title: "unknown volume property", kind: "Volume", inputs: { ...VOLUME, size: 10 }, property: "size", reason: /is not a Volume input/ },
  { title: "missing volume name", kind: "Volume", inputs: { capacityBytes: 1073741824 }, property: "name", reason: /is required/ },
  { title: "http URI", kind: "Volume", inputs: { ...VOLUME, uri: "http://host/system" }, property: "uri", reason: /has scheme "http"/ },
  { title: "URI with a newline", kind: "Volume", inputs: { ...VOLUME, uri: "qemu:///system\nX" }, property: "uri", reason: /contains a newline/ },

  // ---- Domain
  { title: "domain name with a comma (QEMU option injection)", kind: "Domain", inputs: { ...DOMAIN, name: "vm,debug-threads=on" }, property: "name", reason: /contains ','/ },
  { title: "domain name with markup", kind: "Domain", inputs: { ...DOMAIN, name: "<script>" }, property: "name", reason: /contains '<'/ },
  { title: "domain name with a space", kind: "Domain", inputs: { ...DOMAIN, name: "my vm" }, property: "name", reason: /contains a space/ },
  { title: "memory below 16 MiB", kind: "Domain", inputs: { ...DOMAIN, memoryMiB: 8 }, property: "memoryMiB", reason: /at least 16/ },
  { title: "memory above maxMemoryMiB", kind: "Domain", inputs: { ...DOMAIN, memoryMiB: 2048, maxMemoryMiB: 1024 }, property: "memoryMiB", reason: /at most maxMemoryMiB \(1024\)/ },
  { title: "memory as a string", kind: "Domain", inputs: { ...DOMAIN, memoryMiB: "512" }, property: "memoryMiB", reason: /integer/ },
  { title: "zero vcpus", kind: "Domain", inputs: { ...DOMAIN, vcpus: 0 }, property: "vcpus", reason: /at least 1/ },
  { title: "256 vcpus", kind: "Domain", inputs: { ...DOMAIN, vcpus: 256 }, property: "vcpus", reason: /at most 255/ },
  { title: "vcpus above maxVcpus", kind: "Domain", inputs: { ...DOMAIN, vcpus: 4, maxVcpus: 2 }, property: "vcpus", reason: /at most maxVcpus \(2\)/ },
  { title: "unknown hypervisor type", kind: "Domain", inputs: { ...DOMAIN, type: "xen" }, property: "type", reason: /"kvm", "qemu"/ },
  { title: "relative kernel path", kind: "Domain", inputs: { ...DOMAIN, boot: { kernel: "vmlinux" } }, property: "boot.kernel", reason: /is relative/ },
  { title: "initrd without kernel", kind: "Domain", inputs: { ...DOMAIN, boot: { initrd: "/boot/initrd.img" } }, property: "boot.initrd", reason: /together with boot\.kernel/ },
  { title: "boot devices together with a kernel", kind: "Domain", inputs: { ...DOMAIN, boot: { devices: ["hd"], kernel: "/boot/vmlinux" } }, property: "boot.kernel", reason: /cannot be combined with boot\.devices/ },
  { title: "unknown boot device", kind: "Domain", inputs: { ...DOMAIN, boot: { devices: ["floppy"] } }, property: "boot.devices[0]", reason: /"hd", "cdrom", "network"/ },
  { title: "repeated boot device", kind: "Domain", inputs: { ...DOMAIN, boot: { devices: ["hd", "hd"] } }, property: "boot.devices", reason: /must not repeat/ },
  { title: "kernel cmdline with a newline", kind: "Domain", inputs: { ...DOMAIN, boot: { kernel: "/k", cmdline: "quiet\nroot=/dev/sda" } }, property: "boot.cmdline", reason: /contains a newline/ },
  { title: "inline disk source with a comma", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img" }, { source: "/var/lib/x,y" }] }, property: "disks[1].source", reason: /"\/var\/lib\/x,y" contains ','/ },
  { title: "inline disk on an unknown bus", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", bus: "ide" }] }, property: "disks[0].bus", reason: /"virtio", "scsi", "usb", "sata"/ },
  { title: "inline disk target not vd/sd/hd", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", target: "xvda" }] }, property: "disks[0].target" },
  { title: "inline disk target for another bus", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", bus: "scsi", target: "vda" }] }, property: "disks[0].target", reason: /must start with 'sd' for bus "scsi"/ },
  { title: "two inline disks with one target", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", target: "vda" }, { source: "/i/b.img", target: "vda" }] }, property: "disks[1].target", reason: /already used by disks\[0\]/ },
  { title: "inline disk bootOrder 0", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", bootOrder: 0 }] }, property: "disks[0].bootOrder", reason: /at least 1/ },
  { title: "inline disk bootOrder with boot.devices", kind: "Domain", inputs: { ...DOMAIN, boot: { devices: ["hd"] }, disks: [{ source: "/i/a.img", bootOrder: 1 }] }, property: "disks[0].bootOrder", reason: /boot\.devices/ },
  { title: "inline disk with an unknown property", kind: "Domain", inputs: { ...DOMAIN, disks: [{ source: "/i/a.img", sorce: "/x" }] }, property: "disks[0].sorce", reason: /did you mean "source"/ },
  { title: "disks not an array", kind: "Domain", inputs: { ...DOMAIN, disks: { source: "/i/a.img" } }, property: "disks", reason: /must be an array/ },
  { title: "multicast MAC", kind: "Domain", inputs: { ...DOMAIN, networks: [{ network: "default", mac: "01:00:5e:00:00:01" }] }, property: "networks[0].mac", reason: /multicast/ },
  { title: "network and bridge together", kind: "Domain", inputs: { ...DOMAIN, networks: [{ network: "default", bridge: "br0" }] }, property: "networks[0].bridge", reason: /cannot be combined with networks\[0\]\.network/ },
  { title: "graphics on port 80", kind: "Domain", inputs: { ...DOMAIN, graphics: { type: "vnc", port: 80 } }, property: "graphics.port", reason: /at least 5900/ },
  { title: "graphics listening on a host name", kind: "Domain", inputs: { ...DOMAIN, graphics: { type: "vnc", listen: "localhost" } }, property: "graphics.listen", reason: /IPv4 or IPv6/ },
  { title: "unknown restart policy", kind: "Domain", inputs: { ...DOMAIN, restart: "always" }, property: "restart", reason: /"never", "allow"/ },
  { title: "running as a string", kind: "Domain", inputs: { ...DOMAIN, running: "yes" }, property: "running", reason: /must be true or false/ },
  { title: "machine type with QEMU options", kind: "Domain", inputs: { ...DOMAIN, machine: "pc,accel=tcg" }, property: "machine", reason: /contains ','/ },
  { title: "negative shutdown timeout", kind: "Domain", inputs: { ...DOMAIN, shutdownTimeoutSeconds: -1 }, property: "shutdownTimeoutSeconds", reason: /greater than 0/ },
  { title: "typo'd property", kind: "Domain", inputs: { ...DOMAIN, memroyMiB: 1024 }, property: "memroyMiB", reason: /did you mean "memoryMiB"/ },
  { title: "missing vcpus", kind: "Domain", inputs: { name: "vm1", memoryMiB: 512 }, property: "vcpus", reason: /is required/ },

  // ---- Disk
  { title: "relative disk source", kind: "Disk", inputs: { ...DISK, source: "images/data.qcow2" }, property: "source", reason: /is relative/ },
  { title: "disk source with a comma (drive option injection)", kind: "Disk", inputs: { ...DISK, source: "/i/a.qcow2,format=raw" }, property: "source", reason: /contains ','/ },
  { title: "disk source with '..'", kind: "Disk", inputs: { ...DISK, source: "/var/lib/libvirt/images/../../../etc/shadow" }, property: "source", reason: /'\.\.' segment/ },
  { title: "disk source with a double quote", kind: "Disk", inputs: { ...DISK, source: '/i/a"/>.img' }, property: "source", reason: PATH_RULE },
  { title: "disk source with '&'", kind: "Disk", inputs: { ...DISK, source: "/i/a&amp;.img" }, property: "source", reason: /contains '&'/ },
  { title: "disk source with a control character", kind: "Disk", inputs: { ...DISK, source: "/i/a\u0007.img" }, property: "source", reason: /control character U\+0007/ },
  { title: "disk source with '//'", kind: "Disk", inputs: { ...DISK, source: "/i//a.img" }, property: "source", reason: /empty segment/ },
  { title: "disk on ide", kind: "Disk", inputs: { ...DISK, bus: "ide" }, property: "bus", reason: /"virtio", "scsi", "usb", "sata"/ },
  { title: "disk on nvme", kind: "Disk", inputs: { ...DISK, bus: "nvme" }, property: "bus" },
  { title: "disk target without a letter", kind: "Disk", inputs: { ...DISK, target: "vd" }, property: "target", reason: /followed by 1-3 lowercase letters/ },
  { title: "disk target for another bus", kind: "Disk", inputs: { ...DISK, target: "sda" }, property: "target", reason: /must start with 'vd' for bus "virtio"/ },
  { title: "disk bootOrder 0", kind: "Disk", inputs: { ...DISK, bootOrder: 0 }, property: "bootOrder", reason: /at least 1/ },
  { title: "disk bootOrder 10000", kind: "Disk", inputs: { ...DISK, bootOrder: 10000 }, property: "bootOrder", reason: /at most 9999/ },
  { title: "unknown attach method", kind: "Disk", inputs: { ...DISK, via: "ssh" }, property: "via", reason: /"libvirt", "qmp"/ },
  { title: "disk serial with a space", kind: "Disk", inputs: { ...DISK, serial: "data disk" }, property: "serial", reason: /contains a space/ },
  { title: "disk serial too long", kind: "Disk", inputs: { ...DISK, serial: "x".repeat(21) }, property: "serial", reason: /at most 20/ },
  { title: "disk domain with a quote", kind: "Disk", inputs: { ...DISK, domain: "vm1'" }, property: "domain", reason: /domain name or UUID/ },
  { title: "disk without a source", kind: "Disk", inputs: { domain: "vm1" }, property: "source", reason: /is required/ },
  { title: "readonly as a string", kind: "Disk", inputs: { ...DISK, readonly: "true" }, property: "readonly", reason: /must be true or false/ },
  { title: "zero detach timeout", kind: "Disk", inputs: { ...DISK, detachTimeoutSeconds: 0 }, property: "detachTimeoutSeconds", reason: /greater than 0/ },
  { title: "URI with an unknown transport", kind: "Disk", inputs: { ...DISK, uri: "qemu+http://host/system" }, property: "uri", reason: /scheme "qemu\+http"/ },
  { title: "URI with another path", kind: "Disk", inputs: { ...DISK, uri: "qemu:///embed" }, property: "uri", reason: /path \/system or \/session/ },
  // Percent-escapes in a URI: decoded, the user and host go to ssh; a malformed escape is a check failure.
  { title: "URI user with a malformed escape %zz", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://%zz@host/system" }, property: "uri", reason: /malformed percent-escape "%zz"/ },
  { title: "URI user ending in a bare %", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://user%@host/system" }, property: "uri", reason: /malformed percent-escape "%"/ },
  { title: "URI query with a malformed escape", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://host/system?keyfile=%G0" }, property: "uri", reason: /malformed percent-escape "%G0"/ },
  { title: "URI user that decodes to a quote", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://a%27b@host/system" }, property: "uri", reason: /user "a'b" \(decoded from "a%27b"\) contains "'"/ },
  { title: "URI user that decodes to a newline", kind: "Domain", inputs: { ...DOMAIN, uri: "qemu+ssh://a%0Ab@host/system" }, property: "uri", reason: /user "a\\nb" .*contains a newline/ },
  { title: "URI user that decodes to a NUL", kind: "Volume", inputs: { ...VOLUME, uri: "qemu+ssh://a%00@host/system" }, property: "uri", reason: /control character|NUL/ },
  { title: "URI user that decodes to shell metacharacters", kind: "Cdrom", inputs: { ...CDROM, uri: "qemu+ssh://x%3B%24%28id%29@host/system" }, property: "uri", reason: /user "x;\$\(id\)" .*contains ';'/ },
  { title: "URI user that decodes to a space", kind: "GuestExec", inputs: { ...EXEC, uri: "qemu+ssh://a%20b@host/system" }, property: "uri", reason: /contains a space/ },
  { title: "URI user starting with '-'", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://-x@host/system" }, property: "uri", reason: /user "-x" starts with '-'/ },
  { title: "URI host starting with '-'", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://-oProxyCommand/system" }, property: "uri", reason: /host "-oProxyCommand" starts with '-'/ },
  { title: "URI host with an escape", kind: "Disk", inputs: { ...DISK, uri: "qemu+ssh://ho%3Bst/system" }, property: "uri", reason: /host "ho;st" \(decoded from "ho%3Bst"\) contains ';'/ },
  { title: "unknown disk format", kind: "Disk", inputs: { ...DISK, format: "vmdk" }, property: "format" },

  // ---- Cdrom
  { title: "cdrom on virtio", kind: "Cdrom", inputs: { ...CDROM, bus: "virtio" }, property: "bus", reason: /"scsi", "usb", "sata", "ide"/ },
  { title: "relative media", kind: "Cdrom", inputs: { ...CDROM, media: "seed.iso" }, property: "media", reason: /is relative/ },
  { title: "media with a newline", kind: "Cdrom", inputs: { ...CDROM, media: "/srv/a.iso\n<disk>" }, property: "media", reason: /contains a newline/ },
  { title: "media as a number", kind: "Cdrom", inputs: { ...CDROM, media: 5 }, property: "media", reason: /must be a string or null/ },
  { title: "cdrom target vd* on scsi", kind: "Cdrom", inputs: { ...CDROM, target: "vdc" }, property: "target", reason: /must start with 'sd' for bus "scsi"/ },
  { title: "cdrom target sd* on ide", kind: "Cdrom", inputs: { ...CDROM, bus: "ide", target: "sdc" }, property: "target", reason: /must start with 'hd' for bus "ide"/ },
  { title: "cdrom bootOrder 0", kind: "Cdrom", inputs: { ...CDROM, bootOrder: 0 }, property: "bootOrder" },
  { title: "cdrom with a disk property", kind: "Cdrom", inputs: { ...CDROM, source: "/srv/a.iso" }, property: "source", reason: /is not a Cdrom input/ },
  { title: "via in upper case", kind: "Cdrom", inputs: { ...CDROM, via: "QMP" }, property: "via" },
  { title: "cdrom without a domain", kind: "Cdrom", inputs: { media: "/srv/a.iso" }, property: "domain", reason: /is required/ },

  // ---- GuestExec
  { title: "relative command path", kind: "GuestExec", inputs: { ...EXEC, path: "bin/sh" }, property: "path", reason: /relative path/ },
  { title: "command path traversal", kind: "GuestExec", inputs: { ...EXEC, path: "/bin/../sbin/reboot" }, property: "path", reason: /'\.\.' segment/ },
  { title: "command '../sh'", kind: "GuestExec", inputs: { ...EXEC, path: "../sh" }, property: "path" },
  { title: "command with a newline", kind: "GuestExec", inputs: { ...EXEC, path: "/bin/sh\n" }, property: "path", reason: /contains a newline/ },
  { title: "bare command starting with '-'", kind: "GuestExec", inputs: { ...EXEC, path: "-sh" }, property: "path", reason: /starts with '-'/ },
  { title: "args as one string", kind: "GuestExec", inputs: { ...EXEC, args: "-c ls" }, property: "args", reason: /must be an array/ },
  { title: "an argument that is a number", kind: "GuestExec", inputs: { ...EXEC, args: ["-c", 5] }, property: "args[1]", reason: /must be a string/ },
  { title: "an argument with NUL", kind: "GuestExec", inputs: { ...EXEC, args: ["a\u0000b"] }, property: "args[0]", reason: /NUL/ },
  { title: "env without '='", kind: "GuestExec", inputs: { ...EXEC, env: ["FOO"] }, property: "env[0]", reason: /has no '='/ },
  { title: "env name starting with a digit", kind: "GuestExec", inputs: { ...EXEC, env: ["A=1", "1X=y"] }, property: "env[1]", reason: /starts with a digit/ },
  { title: "env name with a space", kind: "GuestExec", inputs: { ...EXEC, env: ["A B=c"] }, property: "env[0]", reason: /contains a space/ },
  { title: "zero timeout", kind: "GuestExec", inputs: { ...EXEC, timeoutSeconds: 0 }, property: "timeoutSeconds", reason: /greater than 0/ },
  { title: "timeout as a string", kind: "GuestExec", inputs: { ...EXEC, timeoutSeconds: "60" }, property: "timeoutSeconds", reason: /must be a number/ },
  { title: "negative expected exit code", kind: "GuestExec", inputs: { ...EXEC, expectExitCode: -1 }, property: "expectExitCode", reason: /at least 0/ },
  { title: "expected exit code 256", kind: "GuestExec", inputs: { ...EXEC, expectExitCode: 256 }, property: "expectExitCode", reason: /at most 255/ },
  { title: "captureOutput as a string", kind: "GuestExec", inputs: { ...EXEC, captureOutput: "yes" }, property: "captureOutput" },
  { title: "delete command with a relative path", kind: "GuestExec", inputs: { ...EXEC, delete: { path: "tmp/cleanup" } }, property: "delete.path" },
  { title: "delete command with a shell", kind: "GuestExec", inputs: { ...EXEC, delete: { path: "rm", shell: true } }, property: "delete.shell", reason: /is not a property of delete/ },
  { title: "triggers not an array", kind: "GuestExec", inputs: { ...EXEC, triggers: "v1" }, property: "triggers" },
  { title: "domain in braces", kind: "GuestExec", inputs: { ...EXEC, domain: "{0f8fad5b-d9cb-469f-a165-70867728950e}" }, property: "domain", reason: /contains '\{'/ },
  { title: "negative agent timeout", kind: "GuestExec", inputs: { ...EXEC, agentTimeoutSeconds: -5 }, property: "agentTimeoutSeconds" },
  { title: "input not a string", kind: "GuestExec", inputs: { ...EXEC, input: ["a"] }, property: "input", reason: /must be a string/ },

  // ---- Interface
  { title: "multicast MAC", kind: "Interface", inputs: { ...NIC, mac: "01:00:5e:00:00:fb" }, property: "mac", reason: /is a multicast address/ },
  { title: "broadcast MAC", kind: "Interface", inputs: { ...NIC, mac: "ff:ff:ff:ff:ff:ff" }, property: "mac", reason: /multicast/ },
  { title: "all-zero MAC", kind: "Interface", inputs: { ...NIC, mac: "00:00:00:00:00:00" }, property: "mac", reason: /must not be 00:00:00:00:00:00/ },
  { title: "MAC with dashes", kind: "Interface", inputs: { ...NIC, mac: "52-54-00-12-34-56" }, property: "mac", reason: /six colon-separated hex pairs/ },
  { title: "MAC with five octets", kind: "Interface", inputs: { ...NIC, mac: "52:54:00:12:34" }, property: "mac" },
  { title: "MAC with XML in it", kind: "Interface", inputs: { ...NIC, mac: "52:54:00:12:34:5'/>" }, property: "mac" },
  { title: "bridge name of 16 characters", kind: "Interface", inputs: { domain: "vm1", bridge: "br0123456789abcd" }, property: "bridge", reason: /at most 15 characters/ },
  { title: "bridge name with a semicolon", kind: "Interface", inputs: { domain: "vm1", bridge: "br0;reboot" }, property: "bridge", reason: /contains ';'/ },
  { title: "bridge name with a quote", kind: "Interface", inputs: { domain: "vm1", bridge: "br0'/>" }, property: "bridge", reason: /contains "'"/ },
  { title: "bridge name with a space", kind: "Interface", inputs: { domain: "vm1", bridge: "br 0" }, property: "bridge", reason: /contains a space/ },
  { title: "bridge name starting with '-'", kind: "Interface", inputs: { domain: "vm1", bridge: "-br0" }, property: "bridge", reason: /starts with '-'/ },
  { title: "network name with markup", kind: "Interface", inputs: { domain: "vm1", network: "<lan>" }, property: "network", reason: /contains '<'/ },
  { title: "network and bridge both", kind: "Interface", inputs: { ...NIC, bridge: "br0" }, property: "bridge", reason: /exactly one of network, bridge or user: true/ },
  { title: "user and network both", kind: "Interface", inputs: { ...NIC, user: true }, property: "user", reason: /exactly one of network, bridge or user: true/ },
  { title: "no network, bridge or user", kind: "Interface", inputs: { domain: "vm1" }, property: "network", reason: /give exactly one of network/ },
  { title: "domain and qmp both", kind: "Interface", inputs: { domain: "vm1", user: true, qmp: "unix:/run/qemu/vm1.qmp" }, property: "qmp", reason: /cannot be combined with domain/ },
  { title: "neither domain nor qmp", kind: "Interface", inputs: { user: true }, property: "domain", reason: /is required/ },
  { title: "a libvirt network over QMP", kind: "Interface", inputs: { ...NIC, via: "qmp" }, property: "network", reason: /via: "libvirt"/ },
  { title: "a libvirt network on a QEMU without libvirt", kind: "Interface", inputs: { qmp: "unix:/run/qemu/vm1.qmp", network: "lan" }, property: "network", reason: /no libvirt networks/ },
  { title: "ipv4 on a network NIC", kind: "Interface", inputs: { ...NIC, ipv4: { address: "198.18.7.0" } }, property: "ipv4", reason: /only to user-mode networking/ },
  { title: "ipv4 with host bits set", kind: "Interface", inputs: { domain: "vm1", user: true, ipv4: { address: "198.18.7.5", prefixLength: 24 } }, property: "ipv4.address", reason: /use 198\.18\.7\.0/ },
  { title: "ipv4 address out of range", kind: "Interface", inputs: { domain: "vm1", user: true, ipv4: { address: "198.18.7.256" } }, property: "ipv4.address", reason: /IPv4 address/ },
  { title: "ipv4 prefix /30", kind: "Interface", inputs: { domain: "vm1", user: true, ipv4: { address: "198.18.7.0", prefixLength: 30 } }, property: "ipv4.prefixLength", reason: /at most 29/ },
  { title: "ipv4 prefix /33", kind: "Interface", inputs: { domain: "vm1", user: true, ipv4: { address: "198.18.7.0", prefixLength: 33 } }, property: "ipv4.prefixLength" },
  { title: "an MTU on user-mode networking", kind: "Interface", inputs: { domain: "vm1", user: true, mtu: 1400 }, property: "mtu", reason: /user-mode/ },
  { title: "an MTU of 67", kind: "Interface", inputs: { ...NIC, mtu: 67 }, property: "mtu", reason: /at least 68/ },
  { title: "an MTU of 65536", kind: "Interface", inputs: { ...NIC, mtu: 65536 }, property: "mtu", reason: /at most 65535/ },
  { title: "link state sideways", kind: "Interface", inputs: { ...NIC, linkState: "sideways" }, property: "linkState", reason: /"up", "down"/ },
  { title: "model ne2k", kind: "Interface", inputs: { ...NIC, model: "ne2k_pci" }, property: "model" },
  { title: "QMP socket with an option injected", kind: "Interface", inputs: { qmp: "unix:/run/q.qmp,server=on", user: true }, property: "qmp" },
  { title: "waiting for an address on a QEMU without libvirt", kind: "Interface", inputs: { qmp: "unix:/run/qemu/vm1.qmp", user: true, waitForAddressSeconds: 30 }, property: "waitForAddressSeconds", reason: /needs a libvirt domain/ },
  { title: "negative address wait", kind: "Interface", inputs: { ...NIC, waitForAddressSeconds: -1 }, property: "waitForAddressSeconds", reason: /at least 0/ },
];

function assertSafeReasons(failures: CheckFailure[]): void {
  for (const f of failures) {
    // Reasons quote values JSON-escaped: a hostile value never puts raw newlines or control characters into them.
    assert.doesNotMatch(f.reason, /[\x00-\x1f\x7f-\x9f\u2028\u2029]/, `reason of ${f.property} has a raw control character`);
    assert.ok(f.reason.length > 0);
  }
}

describe("schema validation rejects hostile or wrong inputs, naming the property", () => {
  it("has at least 40 cases across the resources", () => {
    assert.ok(cases.length >= 40);
    for (const kind of ["Volume", "Domain", "Disk", "Cdrom", "Interface", "GuestExec"]) {
      assert.ok(cases.some((c) => c.kind === kind), kind);
    }
  });

  for (const c of cases) {
    it(`${c.kind}: ${c.title} → ${c.property}`, () => {
      const { failures } = validateInputs(c.kind, { __provider: "serialized", ...c.inputs });
      assert.ok(failures.length > 0, "expected a failure");
      const props = [...new Set(failures.map((f) => f.property))];
      assert.deepEqual(props, [c.property], `failures: ${JSON.stringify(failures)}`);
      if (c.reason) {
        assert.ok(
          failures.some((f) => c.reason!.test(f.reason)),
          `no reason matches ${c.reason}: ${JSON.stringify(failures)}`,
        );
      }
      assertSafeReasons(failures);
    });
  }

  it("URI: well-formed escapes of ordinary characters still pass (user j%2Edoe is j.doe)", () => {
    for (const uri of ["qemu+ssh://j%2Edoe@host/system", "qemu+ssh://ops%40corp@host/system", "qemu+ssh://host/system?keyfile=/k/id%5Fed25519"]) {
      assert.deepEqual(validateInputs("Disk", { ...DISK, uri }).failures, [], uri);
    }
  });

  // Every character that must never reach an XML attribute or a QEMU option string, in every path input.
  const forbidden = [",", "'", '"', "<", ">", "&", "\n", "\r", "\t", "\u0000", "\u001b", "\u007f", "\u0085", "\u2028"];
  const pathInputs: Array<[ResourceKind, Record<string, unknown>, (p: string) => Record<string, unknown>, string]> = [
    ["Disk", DISK, (p) => ({ source: p }), "source"],
    ["Cdrom", CDROM, (p) => ({ media: p }), "media"],
    ["Domain", DOMAIN, (p) => ({ boot: { kernel: p } }), "boot.kernel"],
    ["Domain", DOMAIN, (p) => ({ disks: [{ source: p }] }), "disks[0].source"],
    ["Volume", VOLUME, (p) => ({ backingStore: { path: p, format: "qcow2" } }), "backingStore.path"],
  ];
  for (const [kind, base, put, property] of pathInputs) {
    it(`${kind}: ${property} rejects each of ${forbidden.length} forbidden characters`, () => {
      for (const ch of forbidden) {
        const { failures } = validateInputs(kind, { ...base, ...put(`/var/lib/a${ch}b.img`) });
        assert.deepEqual(
          failures.map((f) => f.property),
          [property],
          `char U+${ch.codePointAt(0)!.toString(16)}: ${JSON.stringify(failures)}`,
        );
        assert.match(failures[0]!.reason, /contains /);
        assertSafeReasons(failures);
      }
    });
  }

  it("names every problem at once (allErrors)", () => {
    const { failures } = validateInputs("Disk", { domain: "a b", source: "x", bus: "ide", bootOrder: 0, extra: 1 });
    assert.deepEqual(failures.map((f) => f.property).sort(), ["bootOrder", "bus", "domain", "extra", "source"]);
  });

  it("gives one reason for a value of the wrong type", () => {
    assert.deepEqual(validateInputs("Volume", { ...VOLUME, capacityBytes: 1.5 }).failures, [
      { property: "capacityBytes", reason: "must be an integer (got 1.5)" },
    ]);
    assert.deepEqual(validateInputs("Disk", { ...DISK, source: "" }).failures.length, 1);
  });

  it("rejects inputs that are not an object", () => {
    const { failures } = validateInputs("Volume", null);
    assert.deepEqual(failures, [{ property: "", reason: "must be an object (got null)" }]);
  });

  it("quotes hostile property names safely", () => {
    const { failures } = validateInputs("Volume", { ...VOLUME, "a\nb": 1 });
    assert.deepEqual(failures.map((f) => f.property), ['["a\\nb"]']);
    assertSafeReasons(failures);
  });

  it("rejects a __proto__ key as an unknown property without polluting anything", () => {
    const given = JSON.parse('{"name":"v","capacityBytes":512,"__proto__":{"polluted":true}}') as unknown;
    const r = validateInputs("Volume", given);
    assert.deepEqual(r.failures.map((f) => f.property), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((r.inputs as unknown as Record<string, unknown>).polluted, undefined);
  });

  it("truncates long values in reasons", () => {
    const { failures } = validateInputs("Disk", { ...DISK, source: "/" + "a".repeat(500) + "," });
    assert.equal(failures.length, 1);
    assert.ok(failures[0]!.reason.length < 300, failures[0]!.reason);
  });

  it("throws for a kind the schema does not define", () => {
    assert.throws(() => validateInputs("StoragePool" as ResourceKind, {}), /unknown resource kind "StoragePool"/);
  });
});
