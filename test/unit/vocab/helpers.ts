// Shared by the vocabulary tests: fixture loading and libvirt's own schema validator.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Finds test/fixtures/vocab by walking up from the compiled test (dist/test/unit/vocab). */
function fixturesDir(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, "test", "fixtures", "vocab");
    if (existsSync(join(dir, "package.json")) && existsSync(candidate)) return candidate;
  }
  throw new Error(`test/fixtures/vocab not found above ${__dirname}`);
}

export function fixtureText(name: string): string {
  return readFileSync(join(fixturesDir(), name), "utf8");
}

export function fixtureJson(name: string): unknown {
  return JSON.parse(fixtureText(name)) as unknown;
}

export type SchemaCheck = { available: false } | { available: true; valid: boolean; output: string };

/** Runs `virt-xml-validate FILE <schema>`; reports unavailable when the tool is not installed. */
export function virtXmlValidate(xml: string, schema: "domain" | "storagevol" | "storagepool" | "network"): SchemaCheck {
  const dir = mkdtempSync(join(tmpdir(), "plv-vocab-"));
  try {
    const file = join(dir, `${schema}.xml`);
    writeFileSync(file, xml);
    const result = spawnSync("virt-xml-validate", [file, schema], { encoding: "utf8", timeout: 30_000 });
    if (result.error !== undefined && (result.error as NodeJS.ErrnoException).code === "ENOENT") return { available: false };
    // The script needs xmllint (libxml2-utils); without it the tool exists but cannot validate.
    if (result.status === 127 || /xmllint.*not found/i.test(result.stderr)) return { available: false };
    return { available: true, valid: result.status === 0, output: `${result.stdout}${result.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Evaluates an XPath string expression with libxml2's xmllint: libvirt parses XML with libxml2, so
 * this is what libvirt would read. Returns null when xmllint is not installed.
 */
export function libxml2XPathString(xml: string, xpath: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), "plv-vocab-"));
  try {
    const file = join(dir, "doc.xml");
    writeFileSync(file, xml);
    const result = spawnSync("xmllint", ["--xpath", `string(${xpath})`, file], { encoding: "utf8", timeout: 30_000 });
    if (result.error !== undefined && (result.error as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (result.status !== 0) throw new Error(`xmllint failed: ${result.stderr}`);
    // xmllint ends its --xpath output with one newline of its own.
    return result.stdout.endsWith("\n") ? result.stdout.slice(0, -1) : result.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const VALIDATOR_MISSING =
  "virt-xml-validate not installed (apt-get install -y --no-install-recommends libvirt-clients libxml2-utils)";
