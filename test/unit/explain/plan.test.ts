import { strict as assert } from "node:assert";
import { classifyField } from "../../../provider/src/resources/classify";
import {
  ExplainedResource,
  explainPlan,
  inputFields,
  kindOfType,
  parsePreview,
  parseUrn,
  PlanError,
} from "../../../provider/src/explain/plan";
import { fixtureText, ourStep, preview, UNKNOWN } from "./fixtures";

const explainFixture = (name: string) => explainPlan(parsePreview(fixtureText(name)));
const byName = (resources: ExplainedResource[], name: string): ExplainedResource => {
  const found = resources.find((r) => r.name === name);
  assert.ok(found, `no resource ${name} in ${resources.map((r) => r.name).join(", ")}`);
  return found;
};

const runningVm = {
  name: "vm", type: "qemu", memoryMiB: 1024, maxMemoryMiB: 2048, vcpus: 1, machine: "pc", arch: "x86_64",
  disks: [], networks: [], guestAgent: true, running: true, autostart: false, shutdownTimeoutSeconds: 60, restart: "never",
};

describe("explain: reading pulumi preview --json", () => {
  it("reads every step of a digest", () => {
    const parsed = parsePreview(fixtureText("non-libvirt.json"));
    assert.equal(parsed.steps.length, 6);
    assert.equal(parsed.diagnostics.length, 1);
  });

  const rejects: [string, string, RegExp][] = [
    ["empty input", "  \n", /the input is empty/],
    ["text that is not JSON", "Previewing update (dev):", /^unreadable JSON: /],
    ["a JSON array", "[]", /not pulumi preview --json output: expected a JSON object, got an array/],
    ["an object without steps", "{}", /^not pulumi preview --json output: no steps array$/],
    ["steps that are not an array", '{"steps": {}}', /"steps" is not an array/],
    ["a step without urn", '{"steps": [{"op": "same", "urn": "urn:a::b::c::d"}, {"op": "create"}]}', /steps\[1\] has no "urn" string/],
    ["a step without op", '{"steps": [{"urn": "urn:a::b::c::d"}]}', /steps\[0\] has no "op" string/],
  ];
  for (const [what, text, message] of rejects) {
    it(`rejects ${what}, saying what is wrong`, () => {
      assert.throws(() => parsePreview(text), (e: unknown) => e instanceof PlanError && message.test(e.message));
    });
  }

  it("takes a digest with nothing planned (no steps key) as an empty plan", () => {
    assert.deepEqual(parsePreview('{"changeSummary": {}, "duration": 1}').steps, []);
  });

  it("tolerates steps with no states, reasons or detailed diff", () => {
    const text = JSON.stringify({
      steps: [
        { op: "delete", urn: "urn:pulumi:dev::lab::pulumi-nodejs:dynamic/libvirt:Disk::gone" },
        { op: "update", urn: "urn:pulumi:dev::lab::pulumi-nodejs:dynamic/libvirt:Volume::v", diffReasons: "capacityBytes", oldState: 7 },
      ],
    });
    const plan = explainPlan(parsePreview(text));
    assert.deepEqual(plan.resources.map((r) => [r.name, r.kind, r.operation]), [["gone", "Disk", "delete"], ["v", "Volume", "update"]]);
    assert.equal(plan.resources[0].changes[0].class, "delete");
    assert.deepEqual(plan.resources[1].changes, []);
  });

  it("parses URNs: name after the type, parent types before a $, names holding ::", () => {
    assert.deepEqual(parseUrn("urn:pulumi:dev::lab::pulumi-nodejs:dynamic/libvirt:Disk::data"), { type: "pulumi-nodejs:dynamic/libvirt:Disk", name: "data" });
    assert.deepEqual(parseUrn("urn:pulumi:dev::lab::my:Comp$pulumi-nodejs:dynamic/libvirt:Domain::a::b"), {
      type: "pulumi-nodejs:dynamic/libvirt:Domain",
      name: "a::b",
    });
  });

  it("knows our type tokens only", () => {
    assert.equal(kindOfType("pulumi-nodejs:dynamic/libvirt:Cdrom"), "Cdrom");
    assert.equal(kindOfType("pulumi-nodejs:dynamic/libvirt:StoragePool"), null);
    assert.equal(kindOfType("pulumi-nodejs:dynamic:Resource"), null);
    assert.equal(kindOfType("libvirt:index/domain:Domain"), null);
    assert.equal(kindOfType("pulumi-nodejs:dynamic/libvirt:toString"), null);
  });

  it("compares the input fields schema.json lists, without __provider or the SDK's resourceName", () => {
    assert.ok(inputFields("Domain").includes("memoryMiB"));
    assert.ok(inputFields("Cdrom").includes("media"));
    assert.ok(!inputFields("Disk").includes("resourceName"));
    assert.ok(!inputFields("Disk").includes("__provider"));
  });
});

describe("explain: output of the real Pulumi CLI (3.259, stand-in provider with our type tokens)", () => {
  const expected = [
    ["seed2", "create", "(create)", "create"],
    ["web", "replace", "name", "replace"],
    ["job", "replace", "env", "replace"],
    ["tools", "replace", "media", "replace"],
    ["vm", "update", "memoryMiB", "restart"],
    ["seed", "update", "media", "live"],
    ["seed1", "delete", "(delete)", "delete"],
  ];
  const rows = (plan: { resources: ExplainedResource[] }) =>
    plan.resources.flatMap((r) => r.changes.map((c) => [r.name, r.operation, c.field, c.class]));

  it("reads pulumi preview --json as printed", () => {
    const plan = explainFixture("cli-3.259-stand-in.json");
    assert.deepEqual(rows(plan), expected);
    assert.deepEqual(plan.others, { update: 1 });
    assert.equal(byName(plan.resources, "seed").changes[0].unknown, true);
    assert.equal(byName(plan.resources, "web").running, true);
  });

  it("reads it with --show-replacement-steps --show-sames the same way", () => {
    const plan = explainFixture("cli-3.259-stand-in-replacement-steps.json");
    const order = (r: unknown[]) => String(r[0]);
    assert.deepEqual(rows(plan).sort((a, b) => order(a).localeCompare(order(b))), [...expected].sort((a, b) => order(a).localeCompare(order(b))));
  });
});

describe("explain: classifying a plan's changes", () => {
  it("an added scsi disk on a running domain attaches live; a sata one waits for the next boot", () => {
    const plan = explainFixture("disk-attach-running.json");
    assert.deepEqual(byName(plan.resources, "data").changes.map((c) => [c.field, c.class]), [["(attach)", "live"]]);
    const legacy = byName(plan.resources, "legacy").changes[0];
    assert.equal(legacy.class, "next-boot");
    assert.match(legacy.reason, /sata does not hot-plug/);
    const vm = byName(plan.resources, "vm");
    assert.equal(vm.operation, "same");
    assert.equal(vm.running, true);
    assert.deepEqual(vm.changes, []);
  });

  it("a device of a stopped domain in the plan goes to its config (live)", () => {
    const plan = explainPlan(
      preview(
        ourStep("same", "Domain", "vm", { olds: runningVm, outputs: { ...runningVm, running: false, state: "shut off" }, news: runningVm }),
        ourStep("create", "Disk", "old", { news: { domain: "vm", source: "/img/a.raw", bus: "sata" } }),
      ),
    );
    const attach = byName(plan.resources, "old").changes[0];
    assert.equal(attach.class, "live");
    assert.match(attach.reason, /stopped/);
  });

  it("a device of a domain created stopped in the same plan goes to its config; one without a bus gets the schema's", () => {
    const plan = explainPlan(
      preview(
        ourStep("create", "Domain", "vm", { news: { ...runningVm, name: "fresh", running: false } }),
        ourStep("create", "Cdrom", "cd", { news: { domain: "fresh", bus: "ide" } }),
        ourStep("create", "Cdrom", "cd2", { news: { domain: "elsewhere", media: "/iso/a.iso" } }),
        ourStep("create", "Cdrom", "cd3", { news: { domain: "elsewhere" } }),
      ),
    );
    assert.equal(byName(plan.resources, "vm").changes[0].class, "create");
    assert.match(byName(plan.resources, "vm").changes[0].reason, /not started/);
    assert.equal(byName(plan.resources, "cd").changes[0].class, "live");
    assert.match(byName(plan.resources, "cd2").changes[0].reason, /live attach on scsi/);
    // An empty drive through libvirt waits for the next boot: libvirt 9.0 cannot hot-plug one.
    assert.equal(byName(plan.resources, "cd3").changes[0].class, "next-boot");
  });

  it("a scsi cdrom's media change is an update, live", () => {
    const [install] = explainFixture("cdrom-scsi-media.json").resources;
    assert.equal(install.operation, "update");
    assert.deepEqual(install.changes.map((c) => [c.field, c.class, c.before, c.after]), [
      ["media", "live", "/var/lib/lab/debian-12.iso", "/var/lib/lab/debian-13.iso"],
    ]);
  });

  it("a usb cdrom's media change is a replace", () => {
    const [tools] = explainFixture("cdrom-usb-media.json").resources;
    assert.equal(tools.operation, "replace");
    assert.deepEqual(tools.changes.map((c) => [c.field, c.class]), [["media", "replace"]]);
    assert.match(tools.changes[0].reason, /not removable/);
  });

  it("memory beyond maxMemoryMiB on a running domain: next-boot with restart never, restart with restart allow", () => {
    const [never] = explainFixture("domain-memory-next-boot.json").resources;
    assert.deepEqual(never.changes.map((c) => [c.field, c.class]), [["memoryMiB", "next-boot"]]);
    const [allow] = explainFixture("domain-memory-restart.json").resources;
    assert.deepEqual(allow.changes.map((c) => [c.field, c.class]), [["memoryMiB", "restart"]]);
    assert.equal(allow.running, true);
  });

  it("says what the classifier diff uses says, word for word", () => {
    const step = JSON.parse(fixtureText("domain-memory-restart.json")).steps[1];
    const direct = classifyField("Domain", "memoryMiB", step.oldState.outputs, step.newState.inputs, { running: true, restart: "allow", machine: "pc" });
    const [explained] = explainFixture("domain-memory-restart.json").resources[0].changes;
    assert.deepEqual({ field: explained.field, class: explained.class, reason: explained.reason }, direct);
  });

  it("a running domain's new name is a replace", () => {
    const [web] = explainFixture("domain-rename.json").resources;
    assert.equal(web.operation, "replace");
    assert.equal(web.running, true);
    assert.deepEqual(web.changes.map((c) => [c.field, c.class, c.before, c.after]), [["name", "replace", "web-old", "web"]]);
  });

  it("values known only after apply count as changed, and a non-live guess says it assumes the worst", () => {
    const plan = explainFixture("unknown-values.json");
    const seed = byName(plan.resources, "seed").changes;
    assert.deepEqual(seed.map((c) => [c.field, c.class, c.unknown]), [["media", "live", true]]);
    const [memory] = byName(plan.resources, "vm").changes;
    assert.deepEqual([memory.field, memory.class, memory.unknown, memory.after], ["memoryMiB", "restart", true, UNKNOWN]);
    assert.match(memory.reason, /known only after apply: assumes the worst/);
    assert.equal(byName(plan.resources, "scratch").changes[0].class, "live");
    assert.equal(byName(plan.resources, "scratch-vol").changes[0].class, "create");
    assert.deepEqual(byName(plan.resources, "probe").changes.map((c) => [c.field, c.class]), [["(delete)", "delete"]]);
  });

  it("leaves other providers' resources out but counts the changing ones", () => {
    const plan = explainFixture("non-libvirt.json");
    assert.deepEqual(plan.resources.map((r) => r.name), ["data-vol"]);
    assert.deepEqual(plan.resources[0].changes.map((c) => [c.field, c.class]), [["capacityBytes", "live"]]);
    assert.deepEqual(plan.others, { create: 3, update: 1 });
    assert.equal(plan.errors, 0);
  });

  it("counts the preview's error diagnostics", () => {
    const plan = explainPlan({ steps: [], diagnostics: [{ severity: "error", message: "boom" }, { severity: "warning" }] });
    assert.equal(plan.errors, 1);
  });

  it("does not count a field the provider chose at create and the program leaves out", () => {
    const olds = { ...runningVm, machine: "q35" };
    const { machine: _m, type: _t, arch: _a, ...news } = olds;
    const [vm] = explainPlan(preview(ourStep("update", "Domain", "vm", { olds, outputs: olds, news: { ...news, vcpus: 2, maxVcpus: 4 } }))).resources;
    assert.deepEqual(vm.changes.map((c) => c.field), ["vcpus", "maxVcpus"]);
  });

  it("counts a change hidden behind [secret] when Pulumi's diff names it, or when nothing else changed", () => {
    // The real CLI prints a secret, or an array holding one, as "[secret]"; dynamic providers' steps carry no diffReasons.
    const olds = { domain: "vm", path: "/bin/sh", env: "[secret]", timeoutSeconds: 60 };
    const only = explainPlan(preview(ourStep("update", "GuestExec", "job", { olds, outputs: olds, news: olds })));
    assert.deepEqual(only.resources[0].changes.map((c) => [c.field, c.class]), [["env", "replace"]]);
    assert.match(only.resources[0].changes[0].reason, /a secret: Pulumi shows neither value/);
    const news = { ...olds, timeoutSeconds: 90 };
    const besides = explainPlan(preview(ourStep("update", "GuestExec", "job", { olds, outputs: olds, news })));
    assert.deepEqual(besides.resources[0].changes.map((c) => c.field), ["timeoutSeconds"]);
    const named = explainPlan(preview(ourStep("update", "GuestExec", "job", { olds, outputs: olds, news }, { diffReasons: ["env"] })));
    assert.deepEqual(named.resources[0].changes.map((c) => c.field), ["env", "timeoutSeconds"]);
  });

  it("reads old values from the recorded inputs when there are no outputs", () => {
    const olds = { pool: "default", name: "v", capacityBytes: 2048 };
    const [v] = explainPlan(preview(ourStep("update", "Volume", "v", { olds, news: { ...olds, capacityBytes: 1024 } }))).resources;
    assert.deepEqual(v.changes.map((c) => [c.field, c.class, c.before]), [["capacityBytes", "replace", 2048]]);
  });

  it("folds --show-replacement-steps sub-steps into one replace", () => {
    const olds = { ...runningVm, name: "a" };
    const news = { ...runningVm, name: "b" };
    const plan = explainPlan(
      preview(
        ourStep("create-replacement", "Domain", "vm", { news }),
        ourStep("replace", "Domain", "vm", { olds, outputs: olds, news }, { replaceReasons: ["name"] }),
        ourStep("delete-replaced", "Domain", "vm", { olds, outputs: olds }),
      ),
    );
    assert.equal(plan.resources.length, 1);
    assert.equal(plan.resources[0].operation, "replace");
    assert.equal(plan.resources[0].running, true);
    assert.deepEqual(plan.resources[0].changes.map((c) => [c.field, c.class]), [["name", "replace"]]);
  });

  it("a replace Pulumi decides on its own (taint, replaceOnChanges) still reads as a replace", () => {
    const plan = explainPlan(preview(ourStep("replace", "Domain", "vm", { olds: runningVm, outputs: runningVm, news: runningVm }, { replaceReasons: ["vcpus"] })));
    assert.deepEqual(plan.resources[0].changes.map((c) => [c.field, c.class, c.reason]), [["(replace)", "replace", "Pulumi replaces it (vcpus)"]]);
  });

  it("skips refresh steps and says a running domain's delete shuts it down", () => {
    const plan = explainPlan(
      preview(
        ourStep("refresh", "Domain", "vm", { olds: runningVm, outputs: runningVm }),
        ourStep("delete", "Domain", "old", { olds: runningVm, outputs: runningVm }),
      ),
    );
    assert.deepEqual(plan.resources.map((r) => r.name), ["old"]);
    assert.match(plan.resources[0].changes[0].reason, /running domain is shut down/);
  });
});

describe("explain: the domain each change touches", () => {
  const domainsByName = (plan: { resources: ExplainedResource[] }) => Object.fromEntries(plan.resources.map((r) => [r.name, r.domains]));

  it("a Domain's own name (both, when renamed), a device's and a GuestExec's domain input, in the real CLI's output", () => {
    assert.deepEqual(domainsByName(explainFixture("cli-3.259-stand-in.json")), {
      seed2: [],
      web: ["web", "web-old"],
      job: ["vm"],
      tools: ["vm"],
      vm: ["vm"],
      seed: ["vm"],
      seed1: [],
    });
  });

  it("a Volume's domains are those whose disks in the plan name its path; an unused or new one has none", () => {
    const plan = explainFixture("volume-in-use.json");
    assert.deepEqual(byName(plan.resources, "data-vol").domains, ["vm"]);
    assert.deepEqual(byName(plan.resources, "data-vol").changes.map((c) => [c.field, c.class]), [["capacityBytes", "live"]]);
    assert.deepEqual(byName(plan.resources, "spare").domains, []);
    assert.deepEqual(byName(explainFixture("unknown-values.json").resources, "scratch-vol").domains, []);
  });

  it("counts a Domain's inline disks and the disks a plan deletes; a rename or a move names both domains", () => {
    const volOuts = { pool: "default", name: "boot.img", capacityBytes: 1024, format: "raw", path: "/images/boot.img" };
    const plan = explainPlan(
      preview(
        ourStep("delete", "Volume", "boot", { olds: volOuts, outputs: volOuts }),
        ourStep("update", "Domain", "vm", { olds: { ...runningVm, disks: [{ source: "/images/boot.img" }] }, outputs: runningVm, news: { ...runningVm, name: "vm2" } }),
        ourStep("delete", "Disk", "extra", { olds: { domain: "db", source: "/images/boot.img" }, outputs: { domain: "db", source: "/images/boot.img" } }),
        ourStep("replace", "Cdrom", "cd", { olds: { domain: "vm", bus: "scsi" }, outputs: { domain: "vm", bus: "scsi" }, news: { domain: "vm2", bus: "scsi" } }),
      ),
    );
    assert.deepEqual(domainsByName(plan), { boot: ["db", "vm"], vm: ["vm2", "vm"], extra: ["db"], cd: ["vm2", "vm"] });
  });

  it("a domain known only after apply reads as (unknown)", () => {
    const plan = explainPlan(preview(ourStep("create", "Disk", "d", { news: { domain: UNKNOWN, source: "/images/d.img", bus: "scsi" } })));
    assert.deepEqual(plan.resources[0].domains, ["(unknown)"]);
  });
});
