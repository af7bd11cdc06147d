// The explained plan as Markdown: one table row per change, then a summary line, a legend and what was left
// out. Meant for a terminal and for pasting into a pull request.

import { canonical } from "../resources/classify";
import { containsUnknown } from "../resources/validate";
import type { ExplainClass, ExplainedChange, ExplainedPlan, ExplainedResource } from "./plan";

const HEADER = ["Resource", "Kind", "Domain", "Operation", "Change", "Class", "Why"];
const CLASSES: readonly ExplainClass[] = ["live", "next-boot", "restart", "replace", "create", "delete"];
/** Always counted in the summary, even at zero: the four ways a change can land. */
const CORE_CLASSES = new Set<ExplainClass>(["live", "next-boot", "restart", "replace"]);
const LONGEST_VALUE = 60;

export const LEGEND =
  "**Legend:** live = applied to the running domain now and to its config; " +
  "next-boot = saved to the config, applies at the next boot (the domain reports pendingRestart); " +
  "restart = the domain shuts down and starts again (a Network: it stops and starts, and the guests on it lose their link to its bridge); " +
  "replace = deleted and created again.";

/** A table cell: `|` would end the cell and a newline the row. */
export function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r\n|\r|\n/g, "<br>");
}

/** A value as the table shows it: strings bare, everything else as canonical JSON, long ones shortened. */
export function valueText(value: unknown): string {
  if (value === undefined) return "(unset)";
  if (containsUnknown(value)) return "(known after apply)";
  const text = typeof value === "string" ? value : canonical(value);
  return text.length > LONGEST_VALUE ? `${text.slice(0, LONGEST_VALUE - 1)}…` : text;
}

function changeText(change: ExplainedChange): string {
  if (change.field.startsWith("(")) return change.field;
  return `${change.field}: ${valueText(change.before)} → ${valueText(change.after)}`;
}

function row(cells: string[]): string {
  return `| ${cells.map(escapeCell).join(" | ")} |`;
}

function resourceRows(resource: ExplainedResource): string[] {
  const lead = [resource.name, resource.kind, resource.domains.join(", "), resource.operation];
  if (resource.changes.length === 0) return [row([...lead, "—", "—", "no change to the machine"])];
  return resource.changes.map((c) => row([...lead, changeText(c), c.class, c.reason]));
}

/** "2 live, 1 next-boot, 0 restart, 1 replace, 1 create": the four core classes always, the rest when present. */
export function summaryLine(plan: ExplainedPlan): string {
  const counts = new Map<ExplainClass, number>(CLASSES.map((c) => [c, 0]));
  for (const r of plan.resources) for (const c of r.changes) counts.set(c.class, (counts.get(c.class) ?? 0) + 1);
  const parts = CLASSES.filter((c) => CORE_CLASSES.has(c) || counts.get(c)! > 0).map((c) => `${counts.get(c)} ${c}`);
  const shown = plan.resources.filter((r) => r.operation !== "same").length;
  return `**Summary:** ${parts.join(", ")} (${shown} libvirt resource${shown === 1 ? "" : "s"} changing)`;
}

function opCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([op, n]) => `${n} ${op}`)
    .join(", ");
}

function footerLines(plan: ExplainedPlan): string[] {
  const lines: string[] = [];
  const unchanged = plan.resources.filter((r) => r.operation === "same").length;
  if (unchanged > 0) lines.push(`Unchanged: ${unchanged} libvirt resource${unchanged === 1 ? "" : "s"}.`);
  const others = Object.values(plan.others).reduce((a, b) => a + b, 0);
  if (others > 0) {
    lines.push(`Not shown: ${others} changing resource${others === 1 ? "" : "s"} of other providers (${opCounts(plan.others)}).`);
  }
  if (plan.errors > 0) {
    lines.push(`Warning: the preview reported ${plan.errors} error${plan.errors === 1 ? "" : "s"}; this plan may be incomplete.`);
  }
  return lines;
}

/** The whole report: table (or a line saying there is nothing to show), summary, legend, footer. */
export function renderPlan(plan: ExplainedPlan): string {
  const changing = plan.resources.filter((r) => r.operation !== "same");
  const lines: string[] = [];
  if (changing.length === 0) {
    lines.push("No changes to libvirt resources.");
  } else {
    lines.push(row(HEADER), `|${HEADER.map(() => "---").join("|")}|`, ...changing.flatMap(resourceRows));
  }
  lines.push("", summaryLine(plan), "", LEGEND);
  for (const line of footerLines(plan)) lines.push("", line);
  return `${lines.join("\n")}\n`;
}
