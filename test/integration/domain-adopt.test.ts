// adopt: true takes over a domain made outside Pulumi (virsh define + start) without restarting it, and changes
// it afterwards like any other; without adopt an existing name is an error naming the way out. A create that
// fails after its define leaves no domain behind. Against the real daemon, cross-checked with virsh.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clientFor } from "../../provider/src/resources/handler";
import { domain } from "../../provider/src/resources/domain";
import { lookupOrNull } from "../../provider/src/resources/domain-view";
import { bareDomainXml, domainType, removeDomain, uniqueName, virsh } from "../support/host";
import { checked, create, remove, update } from "../support/provider";

type Props = Record<string, any>;

/** Whether virsh still knows a domain of this name (dominfo fails for an unknown one). */
function virshKnows(name: string): boolean {
  try {
    execFileSync("virsh", ["-q", "-c", "qemu:///system", "dominfo", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("Domain adopt and failed creates (real daemon)", function () {
  this.timeout(120_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-adopt-"));
  const names: string[] = [];
  const named = (prefix: string) => {
    const name = uniqueName(prefix);
    names.push(name);
    return name;
  };

  after(() => {
    for (const name of names) removeDomain(name);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("adopt: true", () => {
    const name = named("t-dom-adopt");
    // What the domain made with virsh is, in the inputs' terms (bareDomainXml: pc, 64 MiB, 1 vcpu, no agent channel).
    const inputs = (extra: Props = {}): Props => ({
      name,
      type: domainType(),
      memoryMiB: 64,
      maxMemoryMiB: 64,
      vcpus: 1,
      guestAgent: false,
      shutdownTimeoutSeconds: 1,
      ...extra,
    });
    let domId = "";
    let adopted: { id: string; outs: Props };

    before(() => {
      const file = path.join(tmp, "bare.xml");
      fs.writeFileSync(file, bareDomainXml(name));
      virsh("define", file);
      virsh("start", name);
      domId = virsh("domid", name).trim();
    });

    it("without adopt, the create fails and names adopt: true", async () => {
      await assert.rejects(create("Domain", inputs()), (e: Error) => /already exists/.test(e.message) && /adopt: true/.test(e.message));
      assert.equal(virsh("domid", name).trim(), domId, "the existing domain is untouched");
    });

    it("the preview note says what adopting changes, with each change's class", async () => {
      const unchanged = await domain.describeCreate!((await checked("Domain", inputs({ adopt: true }))) as any);
      assert.equal(unchanged, `Domain ${name}: adopt existing domain (no restart)`);
      const changed = await domain.describeCreate!((await checked("Domain", inputs({ adopt: true, memoryMiB: 48, maxMemoryMiB: 96 }))) as any);
      assert.match(changed ?? "", new RegExp(`^Domain ${name}: adopt existing domain; `));
      assert.match(changed ?? "", /memoryMiB → live/);
      assert.match(changed ?? "", /maxMemoryMiB → next-boot/);
      const refused = await domain.describeCreate!((await checked("Domain", inputs())) as any);
      assert.equal(refused, `Domain ${name}: a domain of this name already exists; up will fail unless the Domain sets adopt: true`);
      const fresh = await domain.describeCreate!((await checked("Domain", inputs({ name: `${name}-none`, adopt: true }))) as any);
      assert.equal(fresh, `Domain ${name}-none: define and start`);
    });

    it("takes over the running domain as it is: same QEMU, same uuid", async () => {
      adopted = await create("Domain", inputs({ adopt: true }));
      assert.equal(String(adopted.outs.domainId), domId, "not restarted");
      assert.equal(adopted.outs.uuid, virsh("domuuid", name).trim());
      assert.equal(adopted.id, adopted.outs.uuid);
      assert.equal(adopted.outs.state, "running");
      assert.equal(adopted.outs.pendingRestart, false);
    });

    it("then changes live like any Domain, with the same id", async () => {
      const outs = await update("Domain", adopted.id, adopted.outs, inputs({ adopt: true, memoryMiB: 48 }));
      assert.equal(String(outs.domainId), domId, "still the same QEMU");
      assert.match(virsh("dumpxml", "--inactive", name), /<currentMemory unit='KiB'>49152<\/currentMemory>/);
      assert.equal(outs.pendingRestart, false);
      await remove("Domain", adopted.id, outs);
      assert.equal(virshKnows(name), false, "adopted means owned: delete removes it");
    });
  });

  describe("a failed create leaves nothing behind", () => {
    it("the agent never answers (no OS): the create fails, the domain is gone, and the same name can be created again", async () => {
      const name = named("t-dom-noagent");
      const inputs = { name, memoryMiB: 64, vcpus: 1, guestAgent: true, waitForAgentSeconds: 2, shutdownTimeoutSeconds: 1 };
      await assert.rejects(create("Domain", inputs), /did not answer guest-ping within 2 s/);
      assert.equal(virshKnows(name), false, "virsh dominfo finds no domain");
      assert.equal(await lookupOrNull(await clientFor(undefined), name), null);
      const again = await create("Domain", { ...inputs, waitForAgentSeconds: undefined });
      assert.equal(again.outs.state, "running");
      await remove("Domain", again.id, again.outs);
    });

    it("the start fails (a network that does not exist): nothing is left either", async () => {
      const name = named("t-dom-nostart");
      await assert.rejects(
        create("Domain", { name, memoryMiB: 64, vcpus: 1, guestAgent: false, networks: [{ network: `t-net-missing-${process.pid}` }] }),
        /t-net-missing/,
      );
      assert.equal(virshKnows(name), false);
    });
  });
});
