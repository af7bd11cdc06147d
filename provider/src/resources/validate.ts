// Input validation for every resource, against the top-level schema.json (the one source of truth).
//
// validateInputs(kind, inputs) is what each resource's `check` calls: it compiles schema.json once with
// ajv (draft 2020-12, strict, allErrors, useDefaults), validates a copy of the inputs, applies the
// schema's defaults, adds the cross-field rules JSON Schema cannot say, and turns every problem into a
// Pulumi CheckFailure `{ property, reason }` whose property is a path such as `disks[1].source` and whose
// reason says what is wrong and what is expected, e.g.
//   must be an absolute path without commas, quotes, '<', '>', '&', newlines or control characters:
//   "/var/lib/x,y" contains ','
//
// During preview Pulumi passes values that are not known yet as the sentinel string UNKNOWN; such leaves
// (wherever they are) are not judged, and cross-field rules that involve them are skipped.
// The `__provider` input (the serialized dynamic provider) is ignored and not part of the returned inputs;
// Pulumi's dynamic-provider server adds it back to the inputs `check` returns.

import * as fs from "fs";
import * as path from "path";
import type Ajv2020 from "ajv/dist/2020";
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import type { InputsByKind, ResourceKind } from "./inputs";
import { parseLibvirtUri, UriError } from "../wire/dial";
import { describeSubnet, ipv4ToNumber, numberToIpv4, subnetOf } from "../vocab/ipv4";

export type { InputsByKind, ResourceKind } from "./inputs";
export type {
  VolumeInputs,
  DomainInputs,
  DiskInputs,
  CdromInputs,
  InterfaceInputs,
  InterfaceIpv4Inputs,
  GuestExecInputs,
  BackingStoreInputs,
  DomainBootInputs,
  DomainDiskInputs,
  DomainNetworkInputs,
  DomainGraphicsInputs,
  GuestExecDeleteInputs,
  NetworkInputs,
  NetworkIpv4Inputs,
  NetworkDhcpInputs,
  NetworkDhcpHostInputs,
} from "./inputs";

/** Pulumi's marker for a value that is not known yet (during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The key under which Pulumi passes the serialized dynamic provider in every resource's inputs. */
export const PROVIDER_KEY = "__provider";

/** One problem with the inputs, in the shape Pulumi dynamic providers' `check` returns in `failures`. */
export interface CheckFailure {
  /** Path of the offending property, e.g. `memoryMiB`, `disks[1].source`, `boot.kernel`. */
  property: string;
  /** What is wrong and what is expected. */
  reason: string;
}

export interface ValidationResult<K extends ResourceKind> {
  /**
   * A copy of the inputs without `__provider`, with the schema's defaults applied. Complete and typed when
   * `failures` is empty, except that during preview any leaf may still be the UNKNOWN sentinel.
   */
  inputs: InputsByKind[K];
  /** Empty when the inputs are valid. */
  failures: CheckFailure[];
}

/** True when the value is Pulumi's unknown-value sentinel. */
export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/** True when the value is, or contains anywhere, Pulumi's unknown-value sentinel. */
export function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (isPlainObject(value)) return Object.values(value).some(containsUnknown);
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// schema loading and compilation (once per process)

const PACKAGE_NAME = "pulumi-libvirt-live";

interface JsonSchema {
  [keyword: string]: unknown;
}

interface RootSchema {
  $id: string;
  properties: Record<string, JsonSchema>;
  $defs: Record<string, JsonSchema>;
}

/** Absolute path of schema.json: at the root of the pulumi-libvirt-live package this file belongs to. */
export function schemaFile(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg)) {
      let name: unknown;
      try {
        name = (JSON.parse(fs.readFileSync(pkg, "utf8")) as { name?: unknown }).name;
      } catch {
        name = undefined;
      }
      const file = path.join(dir, "schema.json");
      if (name === PACKAGE_NAME && fs.existsSync(file)) return file;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`schema.json not found: no ${PACKAGE_NAME} package root above ${__dirname}`);
}

interface Compiled {
  schema: RootSchema;
  /** The validator of a resource kind, compiled on its first use. */
  validator(kind: string): ValidateFunction | undefined;
  defNames: Map<object, string>;
}

let compiled: Compiled | undefined;

/**
 * Parses schema.json once; each kind's validator is compiled when that kind is first validated, not all of them at
 * the first check. What ajv is given is the schema's $defs (the root's `properties` only lists the kinds, which are
 * read from the parsed JSON): compiling a fragment compiles its whole schema document, so the root's list would
 * make the first kind compile every kind. The schema is not checked against JSON Schema's meta-schema here (that
 * compiles the meta-schema, ~150 ms at every provider start): the unit tests do it, and strict mode still refuses
 * unknown keywords as each kind compiles.
 */
function compile(): Compiled {
  if (compiled) return compiled;
  const schema = JSON.parse(fs.readFileSync(schemaFile(), "utf8")) as RootSchema;
  // ajv itself is loaded at the first validation: a refresh (reads and diffs, no check) never needs it.
  let ajv: Ajv2020 | undefined;
  const validators = new Map<string, ValidateFunction>();
  const validator = (kind: string) => {
    if (!Object.hasOwn(schema.properties, kind)) return undefined;
    let v = validators.get(kind);
    if (!v) {
      if (!ajv) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const Ajv = (require("ajv/dist/2020") as { default: typeof Ajv2020 }).default;
        ajv = new Ajv({ allErrors: true, strict: true, useDefaults: true, verbose: true });
        const { properties: _kinds, ...defsOnly } = schema;
        ajv.addSchema(defsOnly as object, undefined, undefined, false);
      }
      v = ajv.getSchema(`${schema.$id}#/$defs/${kind}`);
      if (!v) throw new Error(`schema.json has no $defs/${kind}`);
      validators.set(kind, v);
    }
    return v;
  };
  const defNames = new Map<object, string>();
  for (const [name, def] of Object.entries(schema.$defs)) defNames.set(def, name);
  compiled = { schema, validator, defNames };
  return compiled;
}

/** The parsed schema.json (shared; do not modify). */
export function loadSchema(): RootSchema {
  return compile().schema;
}

/** The input fields of a resource kind, as schema.json lists them. */
export function inputFields(kind: ResourceKind): string[] {
  const def = compile().schema.$defs[kind] as { properties?: Record<string, unknown> } | undefined;
  return Object.keys(def?.properties ?? {});
}

/** The resource kinds schema.json defines. */
export function resourceKindsInSchema(): string[] {
  return Object.keys(compile().schema.properties);
}

// ---------------------------------------------------------------------------------------------------------
// validation

/**
 * Validates one resource's inputs against schema.json. Never throws for bad inputs (only when `kind` is not a
 * resource kind of the schema): problems come back as `failures`.
 */
export function validateInputs<K extends ResourceKind>(kind: K, inputs: unknown): ValidationResult<K> {
  const c = compile();
  const validate = c.validator(kind);
  if (!validate) throw new Error(`unknown resource kind ${JSON.stringify(kind)}`);

  const data = copyInputs(inputs);
  const unknowns: string[] = [];
  collectUnknowns(data, "", unknowns);

  validate(data);
  const errors = (validate.errors ?? []).filter((e) => !touchesUnknown(e, unknowns, data));
  const failures = explainErrors(kind, errors, data, c);

  const erroneous = new Set(errors.map((e) => e.instancePath));
  failures.push(...crossFieldFailures(kind, data, erroneous));

  return { inputs: data as InputsByKind[K], failures: dedupe(failures) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

// A deep copy of JSON-like data (so defaults never touch the caller's object), without `__provider` at the top
// and without keys whose value is undefined. Anything else (class instances, functions) is kept as is and
// rejected by the schema's type checks.
function copyInputs(inputs: unknown): unknown {
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue;
        // An own "__proto__" key (JSON.parse makes those) stays a plain key, to be rejected as unknown.
        Object.defineProperty(out, k, { value: copy(x), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return v;
  };
  const out = copy(inputs);
  if (isPlainObject(out)) delete out[PROVIDER_KEY];
  return out;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function collectUnknowns(v: unknown, pointer: string, out: string[]): void {
  if (v === UNKNOWN) {
    out.push(pointer);
    return;
  }
  if (Array.isArray(v)) v.forEach((x, i) => collectUnknowns(x, `${pointer}/${i}`, out));
  else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) collectUnknowns(x, `${pointer}/${escapePointer(k)}`, out);
}

function under(pointer: string, prefix: string): boolean {
  return pointer === prefix || pointer.startsWith(prefix + "/");
}

// An error about (or inside) an unknown value is not the user's: the value is simply not known yet.
function touchesUnknown(e: ErrorObject, unknowns: string[], data: unknown): boolean {
  if (unknowns.length === 0) return false;
  if (unknowns.some((u) => under(e.instancePath, u))) return true;
  if (e.keyword === "uniqueItems") {
    const arr = valueAt(data, e.instancePath);
    const p = e.params as { i: number; j: number };
    if (Array.isArray(arr) && (arr[p.i] === UNKNOWN || arr[p.j] === UNKNOWN)) return true;
  }
  return false;
}

function pointerSegments(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function valueAt(data: unknown, pointer: string): unknown {
  let cur = data;
  for (const seg of pointerSegments(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isPlainObject(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

/** Renders a JSON pointer into the inputs as a property path: `/disks/1/source` → `disks[1].source`. */
export function propertyPath(data: unknown, pointer: string): string {
  let out = "";
  let cur = data;
  for (const seg of pointerSegments(pointer)) {
    if (Array.isArray(cur)) {
      out += `[${seg}]`;
      cur = cur[Number(seg)];
    } else {
      out = joinKey(out, seg);
      cur = isPlainObject(cur) ? cur[seg] : undefined;
    }
  }
  return out;
}

function joinKey(base: string, key: string): string {
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) return base === "" ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

// ---------------------------------------------------------------------------------------------------------
// messages

const MAX_SHOWN = 80;

/** A value as it appears in a message: strings JSON-quoted (so newlines and control characters are escaped). */
function show(v: unknown): string {
  if (typeof v === "string") {
    // JSON.stringify escapes C0 controls, quotes and backslashes; also escape what it leaves raw and what
    // could disturb a terminal or reorder text: DEL, C1 controls, line separators, bidi and zero-width marks.
    const s = JSON.stringify(v).replace(
      /[\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/gu,
      (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
    );
    return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN - 4).replace(/\\u?[0-9a-f]{0,3}$|[\ud800-\udbff]$/, "")}…"` : s;
  }
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "function") return "a function";
  return "an object";
}

function describeValue(v: unknown): string {
  if (typeof v === "string") return `the string ${show(v)}`;
  if (typeof v === "number") return Number.isFinite(v) ? `the number ${v}` : String(v);
  return show(v);
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  switch (ch) {
    case "\n":
      return "a newline";
    case "\r":
      return "a carriage return";
    case "\t":
      return "a tab";
    case "\0":
      return "a NUL character";
    case "\u2028":
    case "\u2029":
      return `a line separator (${hex})`;
    case " ":
      return "a space";
    case "'":
      return `"'"`;
    case '"':
      return `'"'`;
  }
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return `the control character ${hex}`;
  if (cp > 0x7e) return `'${ch}' (${hex})`;
  return `'${ch}'`;
}

function firstMatch(s: string, re: RegExp): string | undefined {
  const m = re.exec(s);
  return m ? m[0] : undefined;
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  array: "an array",
  object: "an object",
  null: "null",
};

function typeName(t: string): string {
  return TYPE_NAMES[t] ?? t;
}

// Per named string definition in schema.json: a reason for a value that fails its pattern.
const PATH_FORBIDDEN = /[,'"<>&\x00-\x1f\x7f-\x9f\u2028\u2029]/u;
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/u;

function explainSegments(v: string, rule: string): string | undefined {
  const segs = v.split("/").slice(1);
  if (segs.some((s) => s === "..")) return `${rule}: ${show(v)} contains a '..' segment`;
  if (segs.some((s) => s === ".")) return `${rule}: ${show(v)} contains a '.' segment`;
  if (v.endsWith("/")) return `${rule}: ${show(v)} ends with '/'`;
  if (segs.some((s) => s === "")) return `${rule}: ${show(v)} contains an empty segment ('//')`;
  return undefined;
}

function explainAbsolutePath(v: string): string {
  const rule = "must be an absolute path without commas, quotes, '<', '>', '&', newlines or control characters";
  if (v === "") return `${rule}: got an empty string`;
  if (!v.startsWith("/")) return `must be an absolute path (starting with '/'): ${show(v)} is relative`;
  const bad = firstMatch(v, PATH_FORBIDDEN);
  if (bad !== undefined) return `${rule}: ${show(v)} contains ${describeChar(bad)}`;
  return (
    explainSegments(v, "must be a canonical absolute path without '.', '..' or empty segments") ??
    `${rule}: got ${show(v)}`
  );
}

function explainCommandPath(v: string): string {
  const rule = "must be an absolute path or a bare command name";
  if (v === "") return `${rule}: got an empty string`;
  const bad = firstMatch(v, CONTROL);
  if (bad !== undefined) return `${rule} without newlines or control characters: ${show(v)} contains ${describeChar(bad)}`;
  if (v.startsWith("/")) {
    return explainSegments(v, "must be a canonical absolute path without '.', '..' or empty segments") ?? `${rule}: got ${show(v)}`;
  }
  if (v.includes("/")) {
    const base = v.split("/").pop() || v;
    return `${rule}: ${show(v)} is a relative path (use an absolute path, or ${show(base)} to search the guest's PATH)`;
  }
  return explainName(v, "must be an absolute path or a bare command name of letters, digits, '.', '_', '+' or '-', not starting with '.' or '-'", /[^A-Za-z0-9._+-]/u);
}

function explainName(v: string, rule: string, badChars: RegExp): string {
  if (v === "") return `${rule}: got an empty string`;
  if (v.startsWith(".") || v.startsWith("-")) return `${rule}: ${show(v)} starts with '${v[0]}'`;
  const bad = firstMatch(v, badChars);
  if (bad !== undefined) return `${rule}: ${show(v)} contains ${describeChar(bad)}`;
  return `${rule}: got ${show(v)}`;
}

const NAME_CHARS = /[^A-Za-z0-9._-]/u;
const URI_SCHEMES = ["qemu", "qemu+unix", "qemu+tcp", "qemu+ssh", "qemu+tls"];

function explainUri(v: string): string {
  const rule = "must be a libvirt URI like qemu:///system or qemu+ssh://user@host/system";
  const bad = firstMatch(v, /[^A-Za-z0-9._~%/:=&+@?[\]-]/u);
  if (bad !== undefined) return `${rule}: ${show(v)} contains ${describeChar(bad)}`;
  const m = /^([^:/?]*):\/\//.exec(v);
  if (!m) return `${rule}: ${show(v)} is not a URI`;
  const scheme = m[1] ?? "";
  if (!URI_SCHEMES.includes(scheme)) {
    return `${rule} (scheme ${URI_SCHEMES.join(", ")}): ${show(v)} has scheme ${show(scheme)}`;
  }
  const rest = v.slice(m[0].length);
  const pathAndQuery = rest.slice(rest.indexOf("/") === -1 ? rest.length : rest.indexOf("/"));
  const p = pathAndQuery.split("?")[0] ?? "";
  if (p !== "/system" && p !== "/session") {
    return `${rule} (path /system or /session): ${show(v)} has path ${show(p)}`;
  }
  // Percent-escapes, and what the user and host decode to (they reach ssh's command line): dial.ts's rules,
  // which the schema's pattern mirrors, say exactly what is wrong.
  try {
    parseLibvirtUri(v);
  } catch (error) {
    if (error instanceof UriError) return `${rule}: ${error.reason}`;
  }
  return `${rule}: ${show(v)} has an invalid user, host, port or query`;
}

function explainMac(v: string): string {
  if (/^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/.test(v)) {
    return `must be a unicast MAC address (the first byte even, e.g. 52:54:00:12:34:56): ${show(v)} is a multicast address`;
  }
  return `must be a MAC address of six colon-separated hex pairs, e.g. 52:54:00:12:34:56: got ${show(v)}`;
}

function explainEnv(v: string): string {
  const rule = "must be NAME=value, NAME of letters, digits and '_' not starting with a digit";
  const eq = v.indexOf("=");
  if (eq < 0) return `${rule}: ${show(v)} has no '='`;
  const name = v.slice(0, eq);
  if (name === "") return `${rule}: ${show(v)} has an empty NAME`;
  if (/^[0-9]/.test(name)) return `${rule}: NAME ${show(name)} starts with a digit`;
  const bad = firstMatch(name, /[^A-Za-z0-9_]/u);
  if (bad !== undefined) return `${rule}: NAME ${show(name)} contains ${describeChar(bad)}`;
  if (v.includes("\0")) return `${rule}; the value must not contain a NUL character: ${show(v)}`;
  return `${rule}: got ${show(v)}`;
}

const PATTERN_EXPLAINERS: Record<string, (v: string) => string> = {
  AbsolutePath: explainAbsolutePath,
  CommandPath: explainCommandPath,
  Name: (v) => explainName(v, "must be 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'", NAME_CHARS),
  VolumeName: (v) =>
    explainName(v, "must be 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-'", NAME_CHARS),
  DomainRef: (v) =>
    explainName(v, "must be a domain name or UUID: letters, digits, '.', '_' or '-', not starting with '.' or '-'", NAME_CHARS),
  BridgeName: (v) =>
    explainName(v, "must be a bridge name of 1-15 letters, digits, '.', '_' or '-', not starting with '.' or '-'", NAME_CHARS),
  Machine: (v) =>
    explainName(v, "must be a machine type of letters, digits, '.', '_' or '-' (e.g. pc, q35), not starting with '.', '_' or '-'", /[^A-Za-z0-9._-]/u),
  Serial: (v) => {
    const bad = firstMatch(v, /[^A-Za-z0-9._-]/u);
    const rule = "must be 1-20 letters, digits, '.', '_' or '-'";
    return bad !== undefined ? `${rule}: ${show(v)} contains ${describeChar(bad)}` : `${rule}: got ${show(v)}`;
  },
  Target: (v) => `must be 'vd', 'sd' or 'hd' followed by 1-3 lowercase letters (e.g. vdb, sdc, hdc): got ${show(v)}`,
  KernelCmdline: (v) => {
    const bad = firstMatch(v, /[<>&\x00-\x1f\x7f-\x9f\u2028\u2029]/u);
    const rule = "must not contain '<', '>', '&', newlines or control characters";
    return bad !== undefined ? `${rule}: ${show(v)} contains ${describeChar(bad)}` : `${rule}: got ${show(v)}`;
  },
  MacAddress: explainMac,
  Hostname: (v) =>
    explainName(v, "must be a host name of dot-separated labels of letters, digits and '-' (e.g. web-1), each not starting or ending with '-'", /[^A-Za-z0-9.-]/u),
  Ipv4Address: (v) => `must be an IPv4 address of four dot-separated numbers 0-255, e.g. 198.18.7.0: got ${show(v)}`,
  ListenAddress: (v) => `must be an IPv4 or IPv6 address such as 127.0.0.1, 0.0.0.0 or ::1: got ${show(v)}`,
  Argument: (v) => `must not contain a NUL character: ${show(v)} does`,
  EnvEntry: explainEnv,
  Uri: explainUri,
};

function defNameOf(e: ErrorObject, c: Compiled): string | undefined {
  const m = /\$defs\/([A-Za-z0-9_]+)\/[A-Za-z]+$/.exec(e.schemaPath);
  if (m) return m[1];
  if (e.parentSchema && typeof e.parentSchema === "object") return c.defNames.get(e.parentSchema);
  return undefined;
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] ?? 0;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] ?? 0;
      d[j] = Math.min((d[j] ?? 0) + 1, (d[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] ?? 0;
}

function suggest(key: string, known: string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(lower, k.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 4)) ? best : undefined;
}

function explainErrors(kind: string, errors: ErrorObject[], data: unknown, c: Compiled): CheckFailure[] {
  errors = collapseAnyOf(errors);
  // A length error and a pattern error on the same value: the length error says enough.
  const lengthErrorAt = new Set(
    errors.filter((e) => e.keyword === "minLength" || e.keyword === "maxLength").map((e) => e.instancePath),
  );
  // A value of the wrong type: saying so is enough (1.5 for an integer need not also be "not a multiple").
  const typeErrorAt = new Set(errors.filter((e) => e.keyword === "type").map((e) => e.instancePath));
  const out: CheckFailure[] = [];
  for (const e of errors) {
    if (e.keyword === "pattern" && lengthErrorAt.has(e.instancePath)) continue;
    if (e.keyword !== "type" && typeErrorAt.has(e.instancePath)) continue;
    out.push(explainError(kind, e, data, c));
  }
  return out;
}

// Errors of an anyOf (e.g. `media`: a path or null): when the value has the type of one branch, only that
// branch's errors matter; when it has none of the types, one message lists them.
function collapseAnyOf(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath));
  if (anyOfPaths.size === 0) return errors;
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (!anyOfPaths.has(e.instancePath) || (e.keyword !== "type" && e.keyword !== "anyOf")) out.push(e);
  }
  for (const p of anyOfPaths) {
    const specific = out.some((e) => under(e.instancePath, p));
    if (specific) continue;
    const types = errors
      .filter((e) => e.instancePath === p && e.keyword === "type")
      .flatMap((e) => String((e.params as { type: string | string[] }).type).split(","));
    const anyOf = errors.find((e) => e.instancePath === p && e.keyword === "anyOf");
    if (anyOf) out.push({ ...anyOf, keyword: "type", params: { type: [...new Set(types)] } });
  }
  return out;
}

function explainError(kind: string, e: ErrorObject, data: unknown, c: Compiled): CheckFailure {
  const at = propertyPath(data, e.instancePath);
  const value = valueAt(data, e.instancePath);
  const params = e.params as Record<string, unknown>;
  const fail = (property: string, reason: string): CheckFailure => ({ property, reason });

  switch (e.keyword) {
    case "required":
      return fail(joinKey(at, String(params.missingProperty)), "is required");
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const known = Object.keys(parent?.properties ?? {});
      const guess = suggest(key, known);
      const what = at === "" ? `a ${kind} input` : `a property of ${at}`;
      const hint = guess !== undefined ? ` (did you mean ${JSON.stringify(guess)}?)` : "";
      return fail(joinKey(at, key), `is not ${what}${hint}; known: ${known.join(", ")}`);
    }
    case "type": {
      const types = ([] as string[]).concat(params.type as string | string[]);
      const expected = types.map(typeName).join(" or ");
      if (types.length === 1 && types[0] === "integer" && typeof value === "number") {
        return fail(at, `must be an integer (got ${value})`);
      }
      return fail(at, `must be ${expected} (got ${describeValue(value)})`);
    }
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ");
      return fail(at, `must be one of ${allowed} (got ${show(value)})`);
    }
    case "const":
      return fail(at, `must be ${JSON.stringify(params.allowedValue)} (got ${show(value)})`);
    case "minimum":
      return fail(at, `must be at least ${String(params.limit)} (got ${show(value)})`);
    case "maximum":
      return fail(at, `must be at most ${String(params.limit)} (got ${show(value)})`);
    case "exclusiveMinimum":
      return fail(at, `must be greater than ${String(params.limit)} (got ${show(value)})`);
    case "exclusiveMaximum":
      return fail(at, `must be less than ${String(params.limit)} (got ${show(value)})`);
    case "multipleOf": {
      const m = Number(params.multipleOf);
      const v = Number(value);
      const lo = Math.floor(v / m) * m;
      const hi = lo + m;
      const near = lo > 0 ? `the nearest are ${lo} and ${hi}` : `the nearest is ${hi}`;
      return fail(at, `must be a multiple of ${m} (got ${show(value)}; ${near})`);
    }
    case "minLength":
      return Number(params.limit) <= 1
        ? fail(at, "must not be empty")
        : fail(at, `must be at least ${String(params.limit)} characters long (got ${show(value)})`);
    case "maxLength": {
      const len = typeof value === "string" ? [...value].length : 0;
      return fail(at, `must be at most ${String(params.limit)} characters long (got ${len})`);
    }
    case "minItems":
      return fail(at, `must have at least ${String(params.limit)} item(s)`);
    case "maxItems":
      return fail(at, `must have at most ${String(params.limit)} items (got ${Array.isArray(value) ? value.length : "?"})`);
    case "uniqueItems": {
      const i = Number(params.i);
      const j = Number(params.j);
      const arr = Array.isArray(value) ? value : [];
      return fail(at, `must not repeat items: [${Math.min(i, j)}] and [${Math.max(i, j)}] are both ${show(arr[i])}`);
    }
    case "pattern": {
      const name = defNameOf(e, c);
      const explain = name !== undefined ? PATTERN_EXPLAINERS[name] : undefined;
      if (explain && typeof value === "string") return fail(at, explain(value));
      return fail(at, `must match ${String(params.pattern)} (got ${show(value)})`);
    }
    case "dependentRequired": {
      const prop = joinKey(at, String(params.property));
      const missing = joinKey(at, String(params.missingProperty));
      return fail(prop, `can only be used together with ${missing}: set ${missing} or remove ${prop}`);
    }
    case "false schema": {
      const m = /\/dependentSchemas\/([^/]+)\//.exec(e.schemaPath);
      const parentPointer = e.instancePath.slice(0, e.instancePath.lastIndexOf("/"));
      if (m && m[1] !== undefined) {
        const other = joinKey(propertyPath(data, parentPointer), m[1]);
        return fail(at, `cannot be combined with ${other}: remove one of them`);
      }
      return fail(at, "is not allowed here");
    }
    default:
      return fail(at, e.message ?? `is invalid (${e.keyword})`);
  }
}

function dedupe(failures: CheckFailure[]): CheckFailure[] {
  const seen = new Set<string>();
  return failures.filter((f) => {
    const k = `${f.property}\n${f.reason}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------------------
// cross-field rules (after the schema; values that are unknown or already failed are skipped)

const TARGET_PREFIX: Record<string, string> = { virtio: "vd", scsi: "sd", usb: "sd", sata: "sd", ide: "hd" };

function crossFieldFailures(kind: string, data: unknown, erroneous: Set<string>): CheckFailure[] {
  if (!isPlainObject(data)) return [];
  const out: CheckFailure[] = [];
  const ok = (pointer: string, v: unknown): boolean => v !== undefined && v !== UNKNOWN && !erroneous.has(pointer);
  const num = (pointer: string, v: unknown): v is number => ok(pointer, v) && typeof v === "number";
  const str = (pointer: string, v: unknown): v is string => ok(pointer, v) && typeof v === "string";

  const targetMatchesBus = (obj: Record<string, unknown>, pointer: string, at: string): void => {
    const bus = obj.bus;
    const target = obj.target;
    if (!str(`${pointer}/bus`, bus) || !str(`${pointer}/target`, target)) return;
    const prefix = TARGET_PREFIX[bus];
    if (prefix !== undefined && !target.startsWith(prefix)) {
      out.push({
        property: joinKey(at, "target"),
        reason: `must start with '${prefix}' for bus ${JSON.stringify(bus)} (got ${show(target)}), e.g. ${prefix}b`,
      });
    }
  };

  switch (kind) {
    case "Network":
      out.push(...networkFailures(data, ok));
      break;
    case "Volume": {
      const bs = data.backingStore;
      if (isPlainObject(bs) && str("/format", data.format) && data.format === "raw") {
        out.push({
          property: "backingStore",
          reason: 'needs format "qcow2": a raw volume cannot have a backing store (got format "raw")',
        });
      }
      break;
    }
    case "Domain": {
      if (num("/memoryMiB", data.memoryMiB) && num("/maxMemoryMiB", data.maxMemoryMiB) && data.memoryMiB > data.maxMemoryMiB) {
        out.push({
          property: "memoryMiB",
          reason: `must be at most maxMemoryMiB (${data.maxMemoryMiB}), got ${data.memoryMiB}: raise maxMemoryMiB or lower memoryMiB`,
        });
      }
      if (num("/vcpus", data.vcpus) && num("/maxVcpus", data.maxVcpus) && data.vcpus > data.maxVcpus) {
        out.push({
          property: "vcpus",
          reason: `must be at most maxVcpus (${data.maxVcpus}), got ${data.vcpus}: raise maxVcpus or lower vcpus`,
        });
      }
      const boot = data.boot;
      const bootDevices = isPlainObject(boot) && boot.devices !== undefined && boot.devices !== UNKNOWN;
      if (Array.isArray(data.disks)) {
        const targets = new Map<string, number>();
        const orders = new Map<number, number>();
        data.disks.forEach((disk, i) => {
          if (!isPlainObject(disk)) return;
          const pointer = `/disks/${i}`;
          const at = `disks[${i}]`;
          targetMatchesBus(disk, pointer, at);
          if (str(`${pointer}/target`, disk.target)) {
            const first = targets.get(disk.target);
            if (first !== undefined) {
              out.push({ property: `${at}.target`, reason: `${show(disk.target)} is already used by disks[${first}]` });
            } else targets.set(disk.target, i);
          }
          if (num(`${pointer}/bootOrder`, disk.bootOrder)) {
            if (bootDevices) {
              out.push({
                property: `${at}.bootOrder`,
                reason: "cannot be combined with boot.devices: use either per-disk bootOrder or boot.devices",
              });
            }
            const first = orders.get(disk.bootOrder);
            if (first !== undefined) {
              out.push({ property: `${at}.bootOrder`, reason: `${disk.bootOrder} is already used by disks[${first}]` });
            } else orders.set(disk.bootOrder, i);
          }
        });
      }
      if (data.persistent === false && data.running === false) {
        out.push({ property: "running", reason: "must be true for a transient domain (persistent: false): it exists only while it runs" });
      }
      if (data.persistent === false && data.autostart === true) {
        out.push({ property: "autostart", reason: "does not apply to a transient domain (persistent: false): libvirt starts only defined domains at boot" });
      }
      if (Array.isArray(data.networks)) {
        const macs = new Map<string, number>();
        data.networks.forEach((nic, i) => {
          if (!isPlainObject(nic) || !str(`/networks/${i}/mac`, nic.mac)) return;
          const mac = nic.mac.toLowerCase();
          const first = macs.get(mac);
          if (first !== undefined) {
            out.push({ property: `networks[${i}].mac`, reason: `${show(nic.mac)} is already used by networks[${first}]` });
          } else macs.set(mac, i);
        });
      }
      break;
    }
    case "Disk":
    case "Cdrom":
    case "Interface":
    case "GuestExec": {
      if (kind === "Disk" || kind === "Cdrom") targetMatchesBus(data, "", "");
      if (kind === "Interface") out.push(...interfaceFailures(data, ok));
      // Where the device or command goes: a libvirt domain, or the socket of a QEMU run without libvirt.
      const other = kind === "GuestExec" ? "agent" : "qmp";
      const given = (["domain", other] as const).filter((k) => data[k] !== undefined);
      if (given.length === 0) {
        out.push({ property: "domain", reason: `is required: the domain's name (usually vm.name), or ${other} for a QEMU run without libvirt` });
      } else if (given.length === 2) {
        out.push({ property: other, reason: `cannot be combined with domain: use domain for a libvirt domain, or ${other} for a QEMU run without libvirt` });
      } else if (data[other] !== undefined && data.uri !== undefined) {
        out.push({ property: "uri", reason: `does not apply with ${other} (no libvirt in between): remove uri` });
      }
      break;
    }
  }
  return out;
}

/** An Interface's rules across fields: one backend, what each backend allows, and what QMP can do. */
function interfaceFailures(data: Record<string, unknown>, ok: (pointer: string, v: unknown) => boolean): CheckFailure[] {
  const out: CheckFailure[] = [];
  const backends = (["network", "bridge", "user"] as const).filter((k) => (k === "user" ? data.user === true : data[k] !== undefined));
  if (backends.length === 0 && data.user !== UNKNOWN) {
    out.push({ property: "network", reason: "is required: give exactly one of network (a libvirt network), bridge (a host bridge) or user: true (QEMU's user-mode networking)" });
  } else if (backends.length > 1) {
    out.push({ property: backends[1], reason: `cannot be combined with ${backends[0]}: give exactly one of network, bridge or user: true` });
  }
  const overQmp = data.qmp !== undefined || data.via === "qmp";
  if (data.network !== undefined && overQmp) {
    out.push({
      property: "network",
      reason:
        data.qmp !== undefined
          ? "a QEMU run without libvirt has no libvirt networks: use bridge (a host bridge QEMU's bridge helper may join) or user: true"
          : 'cannot be joined over QMP (QEMU knows no libvirt networks; libvirt makes the tap and the network port): use via: "libvirt", or bridge / user: true',
    });
  }
  if (data.ipv4 !== undefined && data.user !== true && backends.length > 0) {
    out.push({ property: "ipv4", reason: "applies only to user-mode networking (user: true): a libvirt network or bridge hands out its own addresses; remove ipv4" });
  }
  const ipv4 = data.ipv4;
  const address = isPlainObject(ipv4) && ok("/ipv4/address", ipv4.address) && typeof ipv4.address === "string" ? ipv4ToNumber(ipv4.address) : null;
  if (address !== null && isPlainObject(ipv4) && ipv4.prefixLength !== undefined && ok("/ipv4/prefixLength", ipv4.prefixLength)) {
    const subnet = subnetOf(address, Number(ipv4.prefixLength));
    if (subnet.network !== address) {
      const network = numberToIpv4(subnet.network);
      out.push({ property: "ipv4.address", reason: `must be the network address of the /${subnet.prefixLength} (host bits zero): ${show(ipv4.address)} is inside ${describeSubnet(subnet)}; use ${network}` });
    }
  }
  if (data.mtu !== undefined && data.user === true) {
    out.push({ property: "mtu", reason: "libvirt cannot set the MTU of a user-mode interface: remove mtu, or use network or bridge" });
  }
  if (data.mtu !== undefined && overQmp) {
    out.push({ property: "mtu", reason: 'is set through libvirt only: remove mtu, or use via: "libvirt" on a libvirt domain' });
  }
  if (data.qmp !== undefined && typeof data.waitForAddressSeconds === "number" && data.waitForAddressSeconds > 0) {
    out.push({ property: "waitForAddressSeconds", reason: "needs a libvirt domain (addresses come from libvirt's guest-agent and DHCP-lease queries): remove it with qmp, or use domain" });
  }
  if (typeof data.mac === "string" && ok("/mac", data.mac) && /^(00:){5}00$/.test(data.mac)) {
    out.push({ property: "mac", reason: "must not be 00:00:00:00:00:00 (no NIC can carry it): leave mac out to have one assigned, or give a unicast MAC such as 52:54:00:12:34:56" });
  }
  return out;
}

/**
 * A Network's rules across fields: what mode "bridge" leaves out, and where each address may lie in the subnet
 * `ipv4.address/prefixLength`: the host's own address, the DHCP range and each host entry inside it and never its
 * network or broadcast address; the range not holding the host's address; host entries with unique MACs, IPs
 * and names, never the host's address, inside or outside the range.
 */
function networkFailures(data: Record<string, unknown>, ok: (pointer: string, v: unknown) => boolean): CheckFailure[] {
  const out: CheckFailure[] = [];
  const fail = (property: string, reason: string) => out.push({ property, reason });
  if (data.mode === "bridge") {
    if (data.bridgeName === undefined) fail("bridgeName", 'is required with mode "bridge": the name of an existing host bridge, e.g. br0');
    if (data.ipv4 !== undefined) {
      fail("ipv4", 'does not apply with mode "bridge" (guests get their addresses from the host bridge\'s own network): remove ipv4, or use mode "isolated", "nat", "route" or "open" for a network libvirt addresses');
    }
    if (data.mtu !== undefined) fail("mtu", 'does not apply with mode "bridge" (libvirt sets no MTU on a bridge it does not own): set it on the host bridge, or remove mtu');
    return out;
  }
  const ipv4 = data.ipv4;
  if (!isPlainObject(ipv4) || !ok("/ipv4/address", ipv4.address) || !ok("/ipv4/prefixLength", ipv4.prefixLength)) return out;
  const address = String(ipv4.address);
  const prefix = Number(ipv4.prefixLength);
  const own = ipv4ToNumber(address);
  if (own === null) return out;
  const subnet = subnetOf(own, prefix);
  const cidr = describeSubnet(subnet);
  const usable = `${numberToIpv4(subnet.network + 1)}-${numberToIpv4(subnet.broadcast - 1)}`;
  if (prefix <= 30) {
    if (own === subnet.network) fail("ipv4.address", `${show(address)} is the network address of ${cidr}: give the host an address inside it, e.g. ${numberToIpv4(subnet.network + 1)}`);
    if (own === subnet.broadcast) fail("ipv4.address", `${show(address)} is the broadcast address of ${cidr}: give the host an address inside it, e.g. ${numberToIpv4(subnet.network + 1)}`);
  }
  const dhcp = ipv4.dhcp;
  if (!isPlainObject(dhcp)) return out;
  if (prefix > 30) {
    fail("ipv4.prefixLength", `must be at most 30 with dhcp (got ${prefix}: a /${prefix} leaves no address for a guest): lower prefixLength, or remove dhcp`);
    return out;
  }
  /** The address as a number when it may be given out in the subnet; null (and a failure) when not. */
  const inSubnet = (pointer: string, property: string, value: unknown): number | null => {
    if (!ok(pointer, value)) return null;
    const n = ipv4ToNumber(String(value));
    if (n === null) return null;
    if (n < subnet.network || n > subnet.broadcast) fail(property, `${show(value)} is outside the network's subnet ${cidr}: use an address in ${usable}`);
    else if (n === subnet.network) fail(property, `${show(value)} is the network address of ${cidr}: use an address in ${usable}`);
    else if (n === subnet.broadcast) fail(property, `${show(value)} is the broadcast address of ${cidr}: use an address in ${usable}`);
    else return n;
    return null;
  };
  const start = inSubnet("/ipv4/dhcp/start", "ipv4.dhcp.start", dhcp.start);
  const end = inSubnet("/ipv4/dhcp/end", "ipv4.dhcp.end", dhcp.end);
  if (start !== null && end !== null) {
    if (start > end) fail("ipv4.dhcp.end", `must not be below dhcp.start (${show(dhcp.start)}), got ${show(dhcp.end)}: swap start and end`);
    else if (own >= start && own <= end) {
      fail("ipv4.dhcp", `the range ${String(dhcp.start)}-${String(dhcp.end)} contains the network's own address ${address}: start the range above it or end it below it`);
    }
  }
  if (!Array.isArray(dhcp.hosts)) return out;
  const seen = { mac: new Map<string, number>(), ip: new Map<string, number>(), hostname: new Map<string, number>() };
  dhcp.hosts.forEach((host, i) => {
    if (!isPlainObject(host)) return;
    const pointer = `/ipv4/dhcp/hosts/${i}`;
    const at = `ipv4.dhcp.hosts[${i}]`;
    const unique = (key: "mac" | "ip" | "hostname", what: string) => {
      const value = host[key];
      if (!ok(`${pointer}/${key}`, value)) return;
      const norm = String(value).toLowerCase();
      const first = seen[key].get(norm);
      if (first !== undefined) fail(`${at}.${key}`, `${show(value)} is already ${what} ipv4.dhcp.hosts[${first}]: each host entry needs its own`);
      else seen[key].set(norm, i);
    };
    unique("mac", "used by");
    const ip = inSubnet(`${pointer}/ip`, `${at}.ip`, host.ip);
    if (ip === own) fail(`${at}.ip`, `${show(host.ip)} is the network's own address (ipv4.address): give the host another address in ${usable}`);
    else if (ip !== null) unique("ip", "given to");
    unique("hostname", "the name of");
  });
  return out;
}
