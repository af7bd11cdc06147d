// What the SDK's serialized shim requires by package name ("pulumi-libvirt-live/provider"): one dynamic
// provider per resource kind, built from the resource files. Loaded once per provider process.
import { disk } from "./disk";
import { domain } from "./domain";
import { dynamicProvider } from "./handler";
import { volume } from "./volume";
import { cdrom } from "./cdrom";
import { guestExec } from "./guest-exec";
import { networkInterface } from "./interface";
import { network } from "./network";

export const providers = {
  Volume: dynamicProvider(volume),
  Domain: dynamicProvider(domain),
  Disk: dynamicProvider(disk),
  Cdrom: dynamicProvider(cdrom),
  Interface: dynamicProvider(networkInterface),
  GuestExec: dynamicProvider(guestExec),
  Network: dynamicProvider(network),
};
