// What tests share to watch the provider and the machine: its preview notes, and state reached asynchronously.

/** What the provider prints as notes (console.log) while `work` runs, instead of printing it. */
export async function notesOf(work: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await work();
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

/** Polls until `check` holds (state a guest or QEMU reaches on its own); never a fixed sleep. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
