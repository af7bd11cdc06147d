// One client per socket for the life of a provider process, shared by every resource on that QEMU (as
// libvirt/pool.ts does per URI): a QMP or agent socket serves one client at a time.
import { AgentClient } from "./agent-client";
import { QmpClient } from "./qmp-client";

const qmpClients = new Map<string, QmpClient>();
const agentClients = new Map<string, AgentClient>();

export function sharedQmp(address: string): QmpClient {
  let client = qmpClients.get(address);
  if (!client) qmpClients.set(address, (client = new QmpClient(address)));
  return client;
}

export function sharedAgent(address: string): AgentClient {
  let client = agentClients.get(address);
  if (!client) agentClients.set(address, (client = new AgentClient(address)));
  return client;
}

export async function closeSharedQemuClients(): Promise<void> {
  const all = [...qmpClients.values(), ...agentClients.values()];
  qmpClients.clear();
  agentClients.clear();
  await Promise.allSettled(all.map((c) => c.close()));
}
