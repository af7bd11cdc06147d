// Answers shared for a moment: reads that come together (a refresh reads a domain and each of its devices at once)
// ask once and share the one promise. A failed answer is not kept, and a change drops them all.

export interface MomentShare<T> {
  /** The answer asked under `key` less than the moment ago, else `ask()`'s, shared for the moment that follows. */
  get(key: string, ask: () => Promise<T>): Promise<T>;
  /** The answer under `key` while its moment lasts, without asking. */
  recent(key: string): Promise<T> | undefined;
  /** Forgets every answer: after a change, the next read sees the machine as it is now. */
  clear(): void;
}

export function shareForMoment<T>(momentMs: number): MomentShare<T> {
  const answers = new Map<string, { at: number; value: Promise<T> }>();
  const lasting = (key: string, now: number) => {
    const entry = answers.get(key);
    return entry && now - entry.at < momentMs ? entry : undefined;
  };
  return {
    get(key, ask) {
      const now = Date.now();
      // Answers past their moment go, so only what is being shared is held.
      for (const [k, entry] of answers) if (now - entry.at >= momentMs) answers.delete(k);
      const hit = lasting(key, now);
      if (hit) return hit.value;
      const value = ask();
      answers.set(key, { at: now, value });
      value.catch(() => {
        if (answers.get(key)?.value === value) answers.delete(key);
      });
      return value;
    },
    recent: (key) => lasting(key, Date.now())?.value,
    clear: () => answers.clear(),
  };
}
