import { strict as assert } from "node:assert";
import { checkPlan, describeViolation } from "../../../provider/src/explain/check";
import { explainPlan, parsePreview } from "../../../provider/src/explain/plan";
import { fixtureText, ourStep, preview } from "./fixtures";

const violationsOf = (name: string) => checkPlan(explainPlan(parsePreview(fixtureText(name))));

const vm = { name: "vm", memoryMiB: 1024, maxMemoryMiB: 1024, vcpus: 1, running: true, restart: "allow" };

describe("explain --check: the policy", () => {
  it("fails a restart of a running domain", () => {
    const violations = violationsOf("domain-memory-restart.json");
    assert.deepEqual(violations.map((v) => [v.resource, v.field, v.class]), [["vm", "memoryMiB", "restart"]]);
    assert.equal(
      describeViolation(violations[0]),
      "Domain vm: memoryMiB → restart of a running domain (memory above the running maxMemoryMiB: the domain restarts to apply it)",
    );
  });

  it("fails a replace of a running domain", () => {
    assert.deepEqual(violationsOf("domain-rename.json").map((v) => [v.resource, v.field, v.class]), [["web", "name", "replace"]]);
  });

  it("fails when a value known only after apply may restart a running domain", () => {
    assert.deepEqual(violationsOf("unknown-values.json").map((v) => [v.resource, v.field]), [["vm", "memoryMiB"]]);
  });

  it("passes next-boot changes, live attaches, device replaces and other providers", () => {
    for (const name of ["domain-memory-next-boot.json", "disk-attach-running.json", "cdrom-scsi-media.json", "cdrom-usb-media.json", "non-libvirt.json"]) {
      assert.deepEqual(violationsOf(name), [], name);
    }
  });

  it("passes a replace of a stopped domain and a restart-class change the classifier makes live when stopped", () => {
    const stopped = { ...vm, running: false, state: "shut off" };
    const plan = explainPlan(
      preview(
        ourStep("replace", "Domain", "a", { olds: stopped, outputs: stopped, news: { ...vm, name: "a2" } }),
        ourStep("update", "Domain", "b", { olds: stopped, outputs: stopped, news: { ...vm, memoryMiB: 4096 } }),
      ),
    );
    assert.equal(plan.resources[0].changes[0].class, "replace");
    assert.equal(plan.resources[1].changes[0].class, "live");
    assert.deepEqual(checkPlan(plan), []);
  });

  it("takes state \"running\" as running when the outputs have no running flag", () => {
    const { running: _r, ...outputs } = { ...vm, state: "running" };
    const plan = explainPlan(preview(ourStep("update", "Domain", "vm", { olds: vm, outputs, news: { ...vm, memoryMiB: 4096 } })));
    assert.deepEqual(checkPlan(plan).map((v) => v.class), ["restart"]);
  });

  it("passes a new domain and a delete", () => {
    const plan = explainPlan(preview(ourStep("create", "Domain", "new", { news: vm }), ourStep("delete", "Domain", "old", { olds: vm, outputs: vm })));
    assert.deepEqual(checkPlan(plan), []);
  });
});
