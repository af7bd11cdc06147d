// A test that cannot run here says what is missing; on the CI path (CI=true) a skip that names nothing fails the
// run (test/support/hooks.ts), so a test never goes quietly unrun where it should run.

/** Full titles of the tests and suites that were skipped with a named reason. */
export const namedSkips = new Map<string, string>();

/** Skips the current test (or, from a `before` hook, the suite), naming the part this machine lacks. */
export function skipMissing(ctx: Mocha.Context, missing: string): never {
  const title = ctx.currentTest?.fullTitle() ?? ctx.test?.parent?.fullTitle() ?? "";
  namedSkips.set(title, missing);
  console.log(`      (skipped, missing: ${missing})`);
  ctx.skip();
}

/** The reason a pending test was skipped for, looking at the test and then each suite around it. */
export function skipReason(test: Mocha.Test): string | undefined {
  for (let node: Mocha.Runnable | Mocha.Suite | undefined = test; node; node = node.parent) {
    const reason = namedSkips.get(node.fullTitle());
    if (reason !== undefined) return reason;
  }
  return undefined;
}
