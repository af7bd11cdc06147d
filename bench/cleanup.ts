// Benches make domains, images and stacks; these must go however the run ends: normally, on Ctrl-C or a CI
// timeout (SIGINT, SIGTERM, SIGHUP), or by a crash (an uncaught error, stdout piped into `head` that closed).

/** Runs `cleanupSync` once when the process ends for any reason; a signal then exits with 128 + its number. */
export function cleanUpOnAnyExit(cleanupSync: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    cleanupSync();
  };
  process.on("exit", once);
  for (const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
    process.on(signal, () => {
      once();
      process.exit(128 + number);
    });
  }
  // A reader that went away (`| head`) must not turn into a crash that skips nothing but the output.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
}
