// The provider object Pulumi serializes into every resource's state (`__provider`). It holds nothing but the
// resource kind and requires the installed implementation by package name on each call, so upgrading the
// package changes no resource, and read/delete of old resources run the current code.
import type * as pulumi from "@pulumi/pulumi";

export type ResourceKindName = "Volume" | "Domain" | "Disk" | "Cdrom" | "Interface" | "GuestExec" | "Network";

const shims = new Map<ResourceKindName, pulumi.dynamic.ResourceProvider>();

/** One shim object per kind: Pulumi serializes a provider object once and reuses it for every resource. */
export function providerShim(kind: ResourceKindName): pulumi.dynamic.ResourceProvider {
  let shim = shims.get(kind);
  if (!shim) {
    shim = serializableShim(kind);
    shims.set(kind, shim);
  }
  return shim;
}

function serializableShim(kind: ResourceKindName): pulumi.dynamic.ResourceProvider {
  return {
    check: (olds, news) => require("pulumi-libvirt-live/provider").providers[kind].check(olds, news),
    diff: (id, olds, news) => require("pulumi-libvirt-live/provider").providers[kind].diff(id, olds, news),
    create: (inputs) => require("pulumi-libvirt-live/provider").providers[kind].create(inputs),
    read: (id, props) => require("pulumi-libvirt-live/provider").providers[kind].read(id, props),
    update: (id, olds, news) => require("pulumi-libvirt-live/provider").providers[kind].update(id, olds, news),
    delete: (id, props) => require("pulumi-libvirt-live/provider").providers[kind].delete(id, props),
  };
}
