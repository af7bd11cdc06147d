export { parseSocketAddress, SocketAddressError, type SocketAddress } from "./address";
export { AgentClient } from "./agent-client";
export { isQemuUnreachable, QemuSocketError } from "./json-peer";
export { closeSharedQemuClients, sharedAgent, sharedQmp } from "./pool";
export { QmpClient, type QmpEvent } from "./qmp-client";
