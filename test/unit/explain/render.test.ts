import { strict as assert } from "node:assert";
import { explainPlan, ExplainedPlan, parsePreview } from "../../../provider/src/explain/plan";
import { escapeCell, LEGEND, renderPlan, summaryLine, valueText } from "../../../provider/src/explain/render";
import { fixtureText, ourStep, preview, UNKNOWN } from "./fixtures";

const renderFixture = (name: string) => renderPlan(explainPlan(parsePreview(fixtureText(name))));

/** The cells of a table row, splitting on pipes that are not escaped. */
function cells(line: string): string[] {
  return line
    .slice(2, -2)
    .split(/(?<!\\) \| /)
    .map((c) => c.trim());
}

const tableRows = (text: string) => text.split("\n").filter((l) => l.startsWith("| ")).slice(1);

describe("explain: the Markdown report", () => {
  it("escapes pipes and newlines in cells", () => {
    assert.equal(escapeCell("a|b\nc\r\nd"), "a\\|b<br>c<br>d");
  });

  it("shows values bare, canonical, unknown or unset, and shortens long ones", () => {
    assert.equal(valueText("/x.iso"), "/x.iso");
    assert.equal(valueText({ b: 1, a: [2] }), '{"a":[2],"b":1}');
    assert.equal(valueText(UNKNOWN), "(known after apply)");
    assert.equal(valueText({ path: UNKNOWN }), "(known after apply)");
    assert.equal(valueText(undefined), "(unset)");
    assert.equal(valueText(null), "null");
    const long = valueText("x".repeat(100));
    assert.equal(long.length, 60);
    assert.ok(long.endsWith("…"));
  });

  it("renders one row per change under the seven-column header, with the domain each change touches", () => {
    const text = renderFixture("unknown-values.json");
    const lines = text.split("\n");
    assert.equal(lines[0], "| Resource | Kind | Domain | Operation | Change | Class | Why |");
    assert.equal(lines[1], "|---|---|---|---|---|---|---|");
    const rows = tableRows(text).map(cells);
    assert.equal(rows.length, 5);
    for (const r of rows) assert.equal(r.length, 7);
    assert.deepEqual(rows[3].slice(0, 6), ["vm", "Domain", "vm", "update", "memoryMiB: 1024 → (known after apply)", "restart"]);
    assert.deepEqual(rows[2].slice(2, 6), ["vm", "update", "media: /var/lib/lab/seed-1.iso → (known after apply)", "live"]);
    assert.deepEqual(rows[0].slice(0, 3), ["scratch-vol", "Volume", ""], "a new volume's users are not known from the plan");
  });

  it("shows a domain known only after apply as (unknown), and a volume's domains from the disks naming its path", () => {
    const vol = { pool: "default", name: "data.qcow2", capacityBytes: 1024, format: "qcow2" };
    const volOuts = { ...vol, path: "/images/data.qcow2", key: "/images/data.qcow2", allocationBytes: 0 };
    const diskOf = (domain: string) => ({ domain, source: "/images/data.qcow2", bus: "scsi" });
    const text = renderPlan(
      explainPlan(
        preview(
          ourStep("update", "Volume", "data", { olds: vol, outputs: volOuts, news: { ...vol, capacityBytes: 2048 } }),
          ourStep("same", "Disk", "data-b", { olds: diskOf("b"), outputs: diskOf("b"), news: diskOf("b") }),
          ourStep("same", "Disk", "data-a", { olds: diskOf("a"), outputs: diskOf("a"), news: diskOf("a") }),
          ourStep("create", "GuestExec", "probe", { news: { domain: UNKNOWN, path: "/bin/true" } }),
        ),
      ),
    );
    const rows = tableRows(text).map(cells);
    assert.deepEqual(rows[0].slice(0, 4), ["data", "Volume", "a, b", "update"]);
    assert.deepEqual(rows[1].slice(0, 4), ["probe", "GuestExec", "(unknown)", "create"]);
  });

  it("ends with a summary per class, the legend and what was left out", () => {
    const text = renderFixture("non-libvirt.json");
    assert.ok(text.includes("\n**Summary:** 1 live, 0 next-boot, 0 restart, 0 replace (1 libvirt resource changing)\n"));
    assert.ok(text.includes(`\n${LEGEND}\n`));
    assert.ok(text.includes("Not shown: 4 changing resources of other providers (3 create, 1 update)."));
  });

  it("counts creates and deletes in the summary only when there are some", () => {
    const plan = explainPlan(parsePreview(fixtureText("unknown-values.json")));
    assert.equal(summaryLine(plan), "**Summary:** 2 live, 0 next-boot, 1 restart, 0 replace, 1 create, 1 delete (5 libvirt resources changing)");
  });

  it("keeps the table whole when a value holds a pipe or a newline", () => {
    const olds = { domain: "vm", bus: "scsi", media: "/iso/a.iso" };
    const text = renderPlan(explainPlan(preview(ourStep("update", "Cdrom", "cd", { olds, outputs: olds, news: { ...olds, media: "/iso/a|b\nc.iso" } }))));
    const rows = tableRows(text);
    assert.equal(rows.length, 1);
    assert.deepEqual(cells(rows[0]).slice(4, 6), ["media: /iso/a.iso → /iso/a\\|b<br>c.iso", "live"]);
  });

  it("says so when no libvirt resource changes, and counts the unchanged ones", () => {
    const vm = { name: "vm", running: true };
    const text = renderPlan(explainPlan(preview(ourStep("same", "Domain", "vm", { olds: vm, outputs: vm, news: vm }))));
    assert.ok(text.startsWith("No changes to libvirt resources.\n"));
    assert.ok(text.includes("Unchanged: 1 libvirt resource."));
    assert.equal(tableRows(text).length, 0);
  });

  it("shows a resource whose step changes no input with a dash, and warns about preview errors", () => {
    const plan: ExplainedPlan = {
      resources: [{ urn: "u", name: "v", kind: "Volume", operation: "update", running: null, domains: [], changes: [] }],
      others: {},
      errors: 2,
    };
    const text = renderPlan(plan);
    assert.deepEqual(cells(tableRows(text)[0]), ["v", "Volume", "", "update", "—", "—", "no change to the machine"]);
    assert.ok(text.includes("Warning: the preview reported 2 errors; this plan may be incomplete."));
  });
});
