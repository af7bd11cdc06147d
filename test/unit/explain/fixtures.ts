// Shared by the explain tests: the package root, the preview fixtures, and small preview builders.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Preview, PreviewStep } from "../../../provider/src/explain/plan";

/** The package root, found by walking up from the compiled test (dist/test/unit/explain). */
export function packageRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "test", "fixtures", "explain"))) return dir;
  }
  throw new Error(`package root with test/fixtures/explain not found above ${__dirname}`);
}

export function fixturePath(name: string): string {
  return join(packageRoot(), "test", "fixtures", "explain", name);
}

export function fixtureText(name: string): string {
  return readFileSync(fixturePath(name), "utf8");
}

export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const URN_PREFIX = "urn:pulumi:dev::lab::pulumi-nodejs:dynamic/libvirt:";

/** A step of one of our kinds, with only what a test names. */
export function ourStep(
  op: string,
  kind: string,
  name: string,
  states: { olds?: Record<string, unknown>; outputs?: Record<string, unknown>; news?: Record<string, unknown> },
  extra: Partial<PreviewStep> = {},
): PreviewStep {
  const type = `pulumi-nodejs:dynamic/libvirt:${kind}`;
  const step: PreviewStep = { op, urn: `${URN_PREFIX}${kind}::${name}`, ...extra };
  if (states.olds || states.outputs) step.oldState = { type, inputs: states.olds, outputs: states.outputs };
  if (states.news) step.newState = { type, inputs: states.news };
  return step;
}

export function preview(...steps: PreviewStep[]): Preview {
  return { steps, diagnostics: [] };
}
