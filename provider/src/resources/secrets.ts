// What the program marked secret, and how every message hides it. Pulumi hands a dynamic provider its inputs
// in plain text, secrets included, and prints whatever the provider prints (notes, logs, error messages). The
// provider cannot see which inputs are secret, so the SDK tells it: `secretInputs` lists paths such as
// `args[1]`, `env`, `input`, `delete.args[0]`, and `stdout`/`stderr` for outputs to be kept secret. Every
// value under those paths (and, for an env entry `NAME=value`, the value on its own) is shown as `[secret]`,
// wherever it appears in a message.

export const SECRET = "[secret]";

/** The paths `secretInputs` may name, e.g. `args`, `args[2]`, `delete.env[0]`. */
const PATH = /^(args|env|input|stdout|stderr|delete|delete\.args|delete\.env)(?:\[(\d{1,4})\])?$/;

export interface Masker {
  /** Whether the value at `path` (e.g. `args[1]`, `input`) is secret, wholly or as part of a secret list. */
  isSecret(path: string): boolean;
  /** Whether the program marked anything secret at all (then command output is never quoted). */
  readonly any: boolean;
  /** The text with every secret value replaced by `[secret]`. */
  text(text: string): string;
}

function valueAt(inputs: Record<string, unknown>, path: string): unknown {
  const m = PATH.exec(path);
  if (!m) return undefined;
  let value: unknown = inputs;
  for (const key of m[1]!.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined;
  if (m[2] !== undefined) value = Array.isArray(value) ? value[Number(m[2])] : undefined;
  return value;
}

function stringsIn(value: unknown, into: string[]): void {
  if (typeof value === "string") {
    into.push(value);
    // An env entry NAME=value: the value alone is secret too (a command may print it on its own).
    const eq = value.indexOf("=");
    if (eq > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(0, eq))) into.push(value.slice(eq + 1));
  } else if (Array.isArray(value)) {
    for (const item of value) stringsIn(item, into);
  } else if (value && typeof value === "object") {
    for (const item of Object.values(value)) stringsIn(item, into);
  }
}

/** The valid paths of an inputs object's `secretInputs` (anything else is ignored: check reports it). */
export function secretPaths(inputs: unknown): string[] {
  const list = inputs && typeof inputs === "object" ? (inputs as Record<string, unknown>)["secretInputs"] : undefined;
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === "string" && PATH.test(p)) : [];
}

/**
 * The masker for one resource's inputs (or recorded outputs, which hold the inputs too). `extra` adds values
 * known to be secret by other means.
 */
export function masker(inputs: unknown, extra: readonly string[] = []): Masker {
  const paths = secretPaths(inputs);
  const values: string[] = [...extra];
  const record = (inputs && typeof inputs === "object" ? inputs : {}) as Record<string, unknown>;
  for (const path of paths) {
    // stdout/stderr are outputs: their recorded values (if any) are secret as well.
    stringsIn(valueAt(record, path), values);
  }
  // Messages quote values as JSON strings too ("a\"b", "\u0000"): hide that spelling as well. Longest first, so
  // a secret containing another is replaced whole. Empty strings hide nothing.
  const spellings = values.flatMap((v) => [v, JSON.stringify(v).slice(1, -1)]);
  const unique = [...new Set(spellings.filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  const isSecret = (path: string) => paths.some((p) => path === p || path.startsWith(`${p}[`) || path.startsWith(`${p}.`));
  return {
    isSecret,
    any: paths.length > 0,
    text(text: string): string {
      let out = text;
      for (const value of unique) out = out.split(value).join(SECRET);
      return out;
    },
  };
}

/** A masker that hides nothing. */
export const NO_SECRETS: Masker = { isSecret: () => false, any: false, text: (t) => t };
