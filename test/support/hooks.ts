// Root hooks for every mocha run: the provider's shared libvirt and QEMU connections stay open for the life of the
// process (as in Pulumi's provider host); tests close them at the end so mocha can exit. On the CI path, a test
// skipped without naming what is missing fails the run.
import { closeSharedClients } from "../../provider/src/libvirt/pool";
import { closeSharedQemuClients } from "../../provider/src/qemu";
import { skipReason } from "./skip";

function allTests(suite: Mocha.Suite): Mocha.Test[] {
  return [...suite.tests, ...suite.suites.flatMap(allTests)];
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    await closeSharedClients();
    await closeSharedQemuClients();
    if (process.env.CI !== "true") return;
    const root = this.test?.parent;
    const unnamed = root ? allTests(root).filter((t) => t.isPending() && !t.parent?.isPending() && skipReason(t) === undefined) : [];
    if (unnamed.length > 0) {
      throw new Error(`skipped on the CI path without naming what is missing (use skipMissing): ${unnamed.map((t) => t.fullTitle()).join("; ")}`);
    }
  },
};
