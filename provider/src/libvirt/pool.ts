// One client per URI for the life of a provider process: Pulumi runs a whole deployment in one process, so
// every resource shares the connection (and its event subscriptions) instead of dialing per call.
import { ClientOptions, LibvirtClient } from "./client";

/** libvirt's own convention: LIBVIRT_DEFAULT_URI, else the system QEMU driver. */
export function defaultUri(): string {
  return process.env.LIBVIRT_DEFAULT_URI || "qemu:///system";
}

const clients = new Map<string, Promise<LibvirtClient>>();

export function sharedClient(uri: string = defaultUri(), options: ClientOptions = {}): Promise<LibvirtClient> {
  let client = clients.get(uri);
  if (!client) {
    client = LibvirtClient.connect(uri, options);
    clients.set(uri, client);
    // A failed connect must not be cached: the next resource tries again (the daemon may be starting).
    client.catch(() => clients.delete(uri));
  }
  return client;
}

export async function closeSharedClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.allSettled(all.map(async (c) => (await c).close()));
}
