// The `explain --check` policy for CI: a plan fails when it would restart or replace a domain that runs now.
//
// Scope, as the issue puts it, and on purpose no wider:
// - only Domains whose recorded state says they run (outputs `running: true`, or `state: "running"`);
//   a stopped or new domain loses nothing by a restart or a replace;
// - only the classes restart and replace; next-boot changes wait for a restart someone else decides on,
//   and `running: false` (a shutdown the program asks for) is live;
// - not Disks, Cdroms, Volumes or GuestExecs: replacing a device of a running domain (a usb cdrom's media,
//   a disk's source) is a detach and an attach, not a stop of the machine; deleting a domain is asked for
//   in so many words.

import type { ExplainClass, ExplainedPlan } from "./plan";

export interface Violation {
  /** Pulumi resource name of the domain. */
  resource: string;
  urn: string;
  field: string;
  class: ExplainClass;
  reason: string;
}

const DISRUPTIVE = new Set<ExplainClass>(["restart", "replace"]);

/** Every change of the plan that restarts or replaces a running domain; empty when the plan passes. */
export function checkPlan(plan: ExplainedPlan): Violation[] {
  return plan.resources
    .filter((r) => r.kind === "Domain" && r.running === true)
    .flatMap((r) =>
      r.changes
        .filter((c) => DISRUPTIVE.has(c.class))
        .map((c) => ({ resource: r.name, urn: r.urn, field: c.field, class: c.class, reason: c.reason })),
    );
}

/** One line per violation, for stderr. */
export function describeViolation(v: Violation): string {
  return `Domain ${v.resource}: ${v.field} → ${v.class} of a running domain (${v.reason})`;
}
