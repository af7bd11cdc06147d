// Root hooks for every mocha run: the provider's shared libvirt connections stay open for the life of the
// process (as in Pulumi's provider host); tests close them at the end so mocha can exit.
import { closeSharedClients } from "../../provider/src/libvirt/pool";

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await closeSharedClients();
  },
};
