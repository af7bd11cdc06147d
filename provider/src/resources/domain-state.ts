// Starting and stopping a domain: graceful shutdown with a deadline, then destroy; waits that never hang.
import { DomainRef, DomainState, DOMAIN_STATE_NAMES, isNotFound, LibvirtClient, ShutdownFlags } from "../libvirt";

export async function stateName(client: LibvirtClient, dom: DomainRef): Promise<string> {
  const { state } = await client.domainState(dom);
  return DOMAIN_STATE_NAMES[state] ?? `state-${state}`;
}

async function waitUntilOff(client: LibvirtClient, dom: DomainRef, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await client.domainState(dom)).state === DomainState.Shutoff) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Asks the guest to shut down (ACPI, or the agent when it has one), destroys it after `timeoutSeconds`. */
export async function stopDomain(client: LibvirtClient, dom: DomainRef, timeoutSeconds: number, viaAgent = false): Promise<void> {
  if ((await client.domainState(dom)).state === DomainState.Shutoff) return;
  if (timeoutSeconds > 0) {
    try {
      await client.shutdownDomain(dom, viaAgent ? ShutdownFlags.GuestAgent | ShutdownFlags.AcpiPowerButton : 0);
      if (await waitUntilOff(client, dom, timeoutSeconds * 1000)) return;
    } catch (error) {
      if (isNotFound(error)) return;
      // A guest that cannot take a shutdown request is destroyed below, as the deadline would do anyway.
    }
  }
  try {
    await client.destroyDomain(dom);
  } catch (error) {
    if ((await client.domainState(dom)).state !== DomainState.Shutoff) throw error;
  }
}
