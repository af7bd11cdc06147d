// Facts about the host a domain runs on that libvirt cannot be trusted to report.
import * as fs from "node:fs";
import { parseLibvirtUri } from "../wire/dial";

/**
 * "kvm" only when the CPU shows hardware virtualisation and /dev/kvm opens. libvirt lists kvm whenever
 * /dev/kvm exists, but some hosts expose a /dev/kvm that stock guest kernels cannot run under.
 * For a remote host this machine's CPU says nothing, so kvm is assumed there (set `type` to override).
 */
export function detectDomainType(uri: string): "kvm" | "qemu" {
  if (parseLibvirtUri(uri).transport !== "unix") return "kvm";
  try {
    const cpu = fs.readFileSync("/proc/cpuinfo", "utf8");
    if (!/\b(vmx|svm)\b/.test(cpu)) return "qemu";
    fs.accessSync("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    return "kvm";
  } catch {
    return "qemu";
  }
}
