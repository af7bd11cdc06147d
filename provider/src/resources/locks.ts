// Pulumi runs resources in parallel. Device changes on one domain must not race (two disks picking the same
// target), so they queue per domain inside the provider process.

const tails = new Map<string, Promise<unknown>>();

export async function withDomainLock<T>(domainKey: string, work: () => Promise<T>): Promise<T> {
  const previous = tails.get(domainKey) ?? Promise.resolve();
  const run = previous.then(work, work);
  const tail = run.catch(() => undefined);
  tails.set(domainKey, tail);
  try {
    return await run;
  } finally {
    if (tails.get(domainKey) === tail) tails.delete(domainKey);
  }
}
