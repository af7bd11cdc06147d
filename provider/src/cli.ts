#!/usr/bin/env node
// The package's command: `pulumi-libvirt-live explain [--check] [FILE]`. Argument parsing and I/O only;
// the work is in explain/.

import { readFile } from "node:fs/promises";
import { checkPlan, describeViolation } from "./explain/check";
import { explainPlan, parsePreview, PlanError } from "./explain/plan";
import { renderPlan } from "./explain/render";

const USAGE = `Usage: pulumi-libvirt-live explain [--check] [FILE]

Reads the output of \`pulumi preview --json\` from FILE (or stdin when FILE is absent or -) and prints a
Markdown table of every change to a libvirt resource: live, next-boot, restart or replace, and why.

Options:
  --check     exit 1 when the plan restarts or replaces a running domain (for CI)
  -h, --help  show this help

Exit codes: 0 ok; 1 --check found a restart or replace of a running domain; 2 usage error or input that is
not readable preview JSON; 3 internal error.

Example: pulumi preview --json | npx pulumi-libvirt-live explain --check
`;

const EXIT = { ok: 0, violations: 1, usage: 2, internal: 3 } as const;

class UsageError extends Error {}

interface Options {
  help: boolean;
  check: boolean;
  file: string | null;
}

function parseArgs(args: string[]): Options {
  const options: Options = { help: false, check: false, file: null };
  if (args.length === 0) throw new UsageError("missing command: explain");
  if (args[0] === "-h" || args[0] === "--help") return { ...options, help: true };
  if (args[0] !== "explain") throw new UsageError(`unknown command ${JSON.stringify(args[0])}: the only command is explain`);
  let operandsOnly = false;
  for (const arg of args.slice(1)) {
    if (!operandsOnly && arg === "--") operandsOnly = true;
    else if (!operandsOnly && (arg === "-h" || arg === "--help")) options.help = true;
    else if (!operandsOnly && arg === "--check") options.check = true;
    else if (!operandsOnly && arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
    else if (options.file !== null) throw new UsageError(`one FILE at most, got ${options.file} and ${arg}`);
    else options.file = arg;
  }
  return options;
}

async function readInput(file: string | null): Promise<string> {
  if (file !== null && file !== "-") {
    try {
      return await readFile(file, "utf8");
    } catch (error) {
      throw new PlanError(`cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (process.stdin.isTTY) throw new UsageError("no input: pipe `pulumi preview --json` in, or name a FILE");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  if (options.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const plan = explainPlan(parsePreview(await readInput(options.file)));
  process.stdout.write(renderPlan(plan));
  if (!options.check) return EXIT.ok;
  const violations = checkPlan(plan);
  for (const v of violations) process.stderr.write(`explain --check: ${describeViolation(v)}\n`);
  if (violations.length > 0) return EXIT.violations;
  process.stderr.write("explain --check: passed (no restart or replace of a running domain)\n");
  return EXIT.ok;
}

function reportFailure(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`pulumi-libvirt-live: ${error.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (error instanceof PlanError) {
    process.stderr.write(`pulumi-libvirt-live explain: ${error.message}\n`);
    return EXIT.usage;
  }
  // Anything else is a bug here, not in the input: keep the stack for the report.
  process.stderr.write(`pulumi-libvirt-live explain: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  return EXIT.internal;
}

// exitCode, not exit(): stdout may be a pipe still draining.
main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => (process.exitCode = reportFailure(error)),
);
