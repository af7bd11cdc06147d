// Reads `pulumi preview --json` and says, for every libvirt resource in it, how each change lands on the
// machine. It asks the same classifier diff asks (resources/classify.ts), so the table a reviewer reads and
// what the provider then does cannot disagree. Pure: text in, data out.
//
// The shape read is the Pulumi CLI's preview digest (pkg/display/json.go):
//   { steps?: [{ op, urn, provider?, oldState?, newState?, diffReasons?, replaceReasons?, detailedDiff? }],
//     diagnostics?, changeSummary?, config?, duration?, maybeCorrupt? }
// where oldState/newState are apitype.ResourceV3 ({ urn, type, id?, custom, inputs?, outputs?, ... }).
// Every field but a step's `op` and `urn` may be missing; secrets read "[secret]"; values not known until
// apply read as the UNKNOWN sentinel.

import {
  ChangeClass,
  changedInputs,
  NOT_COMPARED,
  classifyAttach,
  classifyField,
  classifyNicAttach,
  networkStateDrift,
  ResourceKind,
  Situation,
} from "../resources/classify";
import { containsUnknown, loadSchema, PROVIDER_KEY } from "../resources/validate";

/** What a row of the table says: a change's class, or that the resource comes or goes as a whole. */
export type ExplainClass = ChangeClass | "create" | "delete";

export interface ExplainedChange {
  /** The input field, or "(attach)", "(create)", "(delete)", "(replace)" for the resource as a whole. */
  field: string;
  class: ExplainClass;
  reason: string;
  /** The recorded and the new value of the field (absent for whole-resource rows). */
  before?: unknown;
  after?: unknown;
  /** The new value is known only after apply; the classifier judged the sentinel, i.e. assumed the worst. */
  unknown: boolean;
}

export interface ExplainedResource {
  urn: string;
  /** The Pulumi resource name (the URN's last part). */
  name: string;
  kind: ResourceKind;
  /** Pulumi's operation, with replacement sub-steps folded into "replace". */
  operation: string;
  /** Domains: whether the recorded state says the domain runs; null without a recorded state. */
  running: boolean | null;
  /**
   * The domains the change touches: a Domain's own name, a device's or GuestExec's `domain`, the domains whose
   * disks name a Volume's path in this plan (none when the plan does not show them). UNKNOWN_DOMAIN for a
   * value known only after apply.
   */
  domains: string[];
  changes: ExplainedChange[];
}

export interface ExplainedPlan {
  resources: ExplainedResource[];
  /** Changing resources that are not ours (other providers, provider resources), by operation; sames left out. */
  others: Record<string, number>;
  /** Error diagnostics in the preview: the plan may be incomplete. */
  errors: number;
}

/** The input is not something this command can read; the message says what was wrong. */
export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanError";
  }
}

type Props = Record<string, unknown>;

export interface PreviewState {
  type?: string;
  urn?: string;
  id?: string;
  inputs?: Props;
  outputs?: Props;
}

export interface PreviewStep {
  op: string;
  urn: string;
  provider?: string;
  oldState?: PreviewState;
  newState?: PreviewState;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, { kind?: string; inputDiff?: boolean }> | null;
}

export interface PreviewDiagnostic {
  urn?: string;
  message?: string;
  severity?: string;
}

export interface Preview {
  steps: PreviewStep[];
  diagnostics: PreviewDiagnostic[];
}

// ---------------------------------------------------------------------------------------------------------
// reading the JSON

const NOT_PREVIEW = "not pulumi preview --json output";
/** Keys only a preview digest has: one without `steps` (nothing at all planned) still has some of these. */
const DIGEST_KEYS = ["changeSummary", "diagnostics", "duration", "config", "maybeCorrupt"];

const isObject = (v: unknown): v is Props => typeof v === "object" && v !== null && !Array.isArray(v);
const stringsOrEmpty = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

function readState(v: unknown): PreviewState | undefined {
  if (!isObject(v)) return undefined;
  return {
    type: typeof v.type === "string" ? v.type : undefined,
    urn: typeof v.urn === "string" ? v.urn : undefined,
    id: typeof v.id === "string" ? v.id : undefined,
    inputs: isObject(v.inputs) ? v.inputs : undefined,
    outputs: isObject(v.outputs) ? v.outputs : undefined,
  };
}

function readStep(v: unknown, index: number): PreviewStep {
  if (!isObject(v)) throw new PlanError(`${NOT_PREVIEW}: steps[${index}] is not an object`);
  if (typeof v.op !== "string") throw new PlanError(`${NOT_PREVIEW}: steps[${index}] has no "op" string`);
  if (typeof v.urn !== "string") throw new PlanError(`${NOT_PREVIEW}: steps[${index}] has no "urn" string`);
  return {
    op: v.op,
    urn: v.urn,
    provider: typeof v.provider === "string" ? v.provider : undefined,
    oldState: readState(v.oldState),
    newState: readState(v.newState),
    diffReasons: stringsOrEmpty(v.diffReasons),
    replaceReasons: stringsOrEmpty(v.replaceReasons),
    detailedDiff: isObject(v.detailedDiff) ? (v.detailedDiff as PreviewStep["detailedDiff"]) : null,
  };
}

/** Parses the text `pulumi preview --json` prints. Throws PlanError naming what is wrong. */
export function parsePreview(text: string): Preview {
  if (text.trim() === "") throw new PlanError(`${NOT_PREVIEW}: the input is empty`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new PlanError(`unreadable JSON: ${(error as Error).message}`);
  }
  if (!isObject(data)) {
    throw new PlanError(`${NOT_PREVIEW}: expected a JSON object, got ${Array.isArray(data) ? "an array" : typeof data}`);
  }
  if (data.steps !== undefined && !Array.isArray(data.steps)) throw new PlanError(`${NOT_PREVIEW}: "steps" is not an array`);
  if (data.steps === undefined && !DIGEST_KEYS.some((k) => k in data)) throw new PlanError(`${NOT_PREVIEW}: no steps array`);
  const steps = ((data.steps as unknown[] | undefined) ?? []).map(readStep);
  const diagnostics = (Array.isArray(data.diagnostics) ? data.diagnostics : []).filter(isObject).map((d) => ({
    urn: typeof d.urn === "string" ? d.urn : undefined,
    message: typeof d.message === "string" ? d.message : undefined,
    severity: typeof d.severity === "string" ? d.severity : undefined,
  }));
  return { steps, diagnostics };
}

// ---------------------------------------------------------------------------------------------------------
// our resources in a plan

/** URN type token of our dynamic resources: the SDK registers module "libvirt", type = kind. */
const TYPE_PREFIX = "pulumi-nodejs:dynamic/libvirt:";

/** Type and name out of `urn:pulumi:<stack>::<project>::<[parent$]type>::<name>` (a name may hold "::"). */
export function parseUrn(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  if (parts.length < 4) return { type: "", name: parts[parts.length - 1] ?? urn };
  const qualified = parts[2];
  return { type: qualified.slice(qualified.lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
}

/** Our resource kind for a type token, or null for anything else. */
export function kindOfType(type: string): ResourceKind | null {
  if (!type.startsWith(TYPE_PREFIX)) return null;
  const kind = type.slice(TYPE_PREFIX.length);
  return Object.hasOwn(loadSchema().properties, kind) ? (kind as ResourceKind) : null;
}

function schemaProperties(kind: ResourceKind): Props {
  const def = loadSchema().$defs[kind];
  return isObject(def?.properties) ? def.properties : {};
}

/** The input fields of a kind, as schema.json lists them. */
export function inputFields(kind: ResourceKind): string[] {
  return Object.keys(schemaProperties(kind)).filter((f) => f !== PROVIDER_KEY && !NOT_COMPARED.has(f));
}

function schemaDefault(kind: ResourceKind, field: string): unknown {
  const prop = schemaProperties(kind)[field];
  return isObject(prop) ? prop.default : undefined;
}


/** The secret marker the CLI prints in place of a secret value: equal markers may hide a change. */
const SECRET = "[secret]";

const field = (values: Props | undefined, name: string): unknown => values?.[name];

/** Whether a value is, or holds, the CLI's secret marker. */
const holdsSecret = (value: unknown): boolean => JSON.stringify(value ?? null).includes(JSON.stringify(SECRET));

interface FieldChanges {
  fields: string[];
  /** Of those, the ones that read "[secret]" on both sides: assumed changed. */
  secret: Set<string>;
}

/** Fields whose new value differs from the recorded one, counting unknown new values as changed. */
function fieldChanges(step: MergedStep, olds: Props, news: Props): FieldChanges {
  const fields = inputFields(step.kind);
  const differing = new Set(changedInputs(step.kind, olds, news, fields));
  for (const f of fields) if (containsUnknown(news[f])) differing.add(f);
  // Secrets read "[secret]" on both sides, so only Pulumi's diff saw whether they changed. Count one when
  // the step's diffReasons name it, or when nothing else changed yet Pulumi plans a change: it must be one.
  const hiding = fields.filter((f) => !differing.has(f) && holdsSecret(news[f]));
  const reasons = step.diffReasons ?? [];
  const secret = new Set(differing.size === 0 ? hiding : hiding.filter((f) => reasons.includes(f)));
  return { fields: fields.filter((f) => differing.has(f) || secret.has(f)), secret };
}

/** Whether a domain's recorded outputs say it runs; null when they don't say. */
export function recordedRunning(outputs: Props | undefined): boolean | null {
  if (!outputs) return null;
  if (typeof outputs.running === "boolean") return outputs.running;
  if (typeof outputs.state === "string") return outputs.state === "running";
  return null;
}

interface DomainFacts {
  running: boolean;
  machine?: string;
}

/** What the plan tells about each domain, by name and by uuid: devices look their domain up here. */
function domainFacts(steps: MergedStep[]): Map<string, DomainFacts> {
  const facts = new Map<string, DomainFacts>();
  for (const s of steps) {
    if (s.kind !== "Domain") continue;
    const outputs = s.oldState?.outputs;
    const inputs = s.newState?.inputs ?? s.oldState?.inputs;
    // A domain created in this plan starts before its devices attach, unless it is told not to run.
    const running = recordedRunning(outputs) ?? field(inputs, "running") !== false;
    const machine = field(outputs, "machine") ?? field(inputs, "machine");
    const entry: DomainFacts = { running, machine: typeof machine === "string" ? machine : undefined };
    for (const key of [field(outputs, "name"), field(inputs, "name"), field(outputs, "uuid")]) {
      if (typeof key === "string" && !containsUnknown(key)) facts.set(key, entry);
    }
  }
  return facts;
}

function olderValues(state: PreviewState | undefined): Props {
  const outputs = state?.outputs;
  return outputs && Object.keys(outputs).length > 0 ? outputs : (state?.inputs ?? {});
}

function situationFor(kind: ResourceKind, olds: Props, news: Props, domains: Map<string, DomainFacts>): Situation {
  // A network restarts for what it starts with, unless it does not run (recorded active: false).
  if (kind === "Network") return { running: olds.active !== false, restart: "allow" };
  if (kind === "Domain") {
    const restart = news.restart ?? schemaDefault(kind, "restart");
    const machine = olds.machine ?? news.machine;
    return {
      running: recordedRunning(olds) ?? true,
      restart: restart === "allow" ? "allow" : "never",
      machine: typeof machine === "string" ? machine : undefined,
    };
  }
  // Devices never restart their domain (the resources classify with restart "never"); an unknown domain
  // is taken as running, the case that needs a hot-plug.
  const facts = domains.get(String(news.domain ?? olds.domain));
  return { running: facts?.running ?? true, restart: "never", machine: facts?.machine };
}

// ---------------------------------------------------------------------------------------------------------
// which domains a change touches

/** How a domain known only after apply reads in the Domain column. */
export const UNKNOWN_DOMAIN = "(unknown)";

function domainOf(value: unknown): string | null {
  if (containsUnknown(value)) return UNKNOWN_DOMAIN;
  return typeof value === "string" && value !== "" ? value : null;
}

/** Every state of a step the plan prints: the new inputs, then the recorded inputs and outputs. */
function statesOf(step: MergedStep): Props[] {
  return [step.newState?.inputs, step.oldState?.inputs, step.oldState?.outputs].filter((v): v is Props => v !== undefined);
}

/** The files a resource's state attaches to a domain: a Disk's source, a Cdrom's media, a Domain's inline disks. */
function filesOf(kind: ResourceKind, values: Props): unknown[] {
  switch (kind) {
    case "Disk":
      return [values.source];
    case "Cdrom":
      return [values.media];
    case "Domain":
      return Array.isArray(values.disks) ? values.disks.map((d) => (isObject(d) ? d.source : undefined)) : [];
    default:
      return [];
  }
}

/**
 * The domains whose disks name each file, as far as the plan shows them: a Volume's Disk appears only when it
 * changes too, or with --show-sames. Values known only after apply tie nothing to a file.
 */
function fileUsers(steps: MergedStep[]): Map<string, Set<string>> {
  const users = new Map<string, Set<string>>();
  for (const step of steps) {
    for (const values of statesOf(step)) {
      const domain = domainOf(step.kind === "Domain" ? values.name : values.domain);
      if (domain === null || domain === UNKNOWN_DOMAIN) continue;
      for (const file of filesOf(step.kind, values)) {
        if (typeof file !== "string" || containsUnknown(file)) continue;
        users.set(file, (users.get(file) ?? new Set()).add(domain));
      }
    }
  }
  return users;
}

/** The libvirt networks a resource's state puts a NIC on: a Domain's inline networks, a device's `network`. */
function networksOf(kind: ResourceKind, values: Props): unknown[] {
  if (kind === "Domain") return Array.isArray(values.networks) ? values.networks.map((n) => (isObject(n) ? n.network : undefined)) : [];
  return kind === "Network" ? [] : [values.network];
}

/** The domains with a NIC on each network, as far as the plan shows them (as fileUsers does for files). */
function networkUsers(steps: MergedStep[]): Map<string, Set<string>> {
  const users = new Map<string, Set<string>>();
  for (const step of steps) {
    for (const values of statesOf(step)) {
      const domain = domainOf(step.kind === "Domain" ? values.name : values.domain);
      if (domain === null || domain === UNKNOWN_DOMAIN) continue;
      for (const net of networksOf(step.kind, values)) {
        if (typeof net === "string" && !containsUnknown(net)) users.set(net, (users.get(net) ?? new Set()).add(domain));
      }
    }
  }
  return users;
}

/** New value first: a rename or a move to another domain touches both, the one it goes to and the one it leaves. */
function domainsOf(step: MergedStep, users: Map<string, Set<string>>, netUsers: Map<string, Set<string>>): string[] {
  if (step.kind === "Network") {
    const names = statesOf(step).map((values) => values.name).filter((n): n is string => typeof n === "string" && !containsUnknown(n));
    return [...new Set(names.flatMap((n) => [...(netUsers.get(n) ?? [])]))].sort();
  }
  if (step.kind === "Volume") {
    const path = field(step.oldState?.outputs, "path");
    return typeof path === "string" ? [...(users.get(path) ?? [])].sort() : [];
  }
  const key = step.kind === "Domain" ? "name" : "domain";
  const named = statesOf(step).map((values) => domainOf(values[key]));
  return [...new Set(named.filter((d): d is string => d !== null))];
}

// ---------------------------------------------------------------------------------------------------------
// one step per resource

/** Sub-steps of a replacement: shown only with --show-replacement-steps, folded into one "replace". */
const REPLACEMENT_OPS = new Set(["replace", "create-replacement", "delete-replaced"]);
/** Steps that change nothing on the host: reading state, not acting on it. */
const BOOKKEEPING_OPS = new Set(["refresh", "discard-replaced", "remove-pending-replace"]);

interface MergedStep extends PreviewStep {
  kind: ResourceKind;
}

/** One step per URN: replacement sub-steps fold into "replace"; otherwise the last step wins. */
function mergeSteps(steps: PreviewStep[]): MergedStep[] {
  const byUrn = new Map<string, MergedStep>();
  for (const step of steps) {
    if (BOOKKEEPING_OPS.has(step.op)) continue;
    const kind = kindOfType(step.newState?.type ?? step.oldState?.type ?? parseUrn(step.urn).type);
    if (!kind) continue;
    const seen = byUrn.get(step.urn);
    if (seen && REPLACEMENT_OPS.has(seen.op) && REPLACEMENT_OPS.has(step.op)) {
      byUrn.set(step.urn, {
        ...seen,
        op: "replace",
        oldState: seen.oldState ?? step.oldState,
        newState: seen.newState ?? step.newState,
        replaceReasons: seen.replaceReasons?.length ? seen.replaceReasons : step.replaceReasons,
        diffReasons: seen.diffReasons?.length ? seen.diffReasons : step.diffReasons,
      });
    } else {
      byUrn.set(step.urn, { ...step, kind, op: REPLACEMENT_OPS.has(step.op) ? "replace" : step.op });
    }
  }
  return [...byUrn.values()];
}

function createReason(kind: ResourceKind, news: Props): string {
  switch (kind) {
    case "Domain":
      return news.running === false ? "the domain is defined, not started" : "the domain is defined and started";
    case "Volume":
      return `the volume is allocated in pool ${String(news.pool ?? "default")}`;
    case "GuestExec":
      return "the command runs in the guest";
    case "Network":
      return "the network is defined and started (its bridge, and dnsmasq when it has DHCP)";
    default:
      return "the device is added";
  }
}

function deleteReason(kind: ResourceKind, olds: Props): string {
  switch (kind) {
    case "Domain":
      return recordedRunning(olds) === false ? "the domain is undefined" : "the running domain is shut down and undefined";
    case "Volume":
      return "the volume and its data are deleted";
    case "GuestExec":
      return isObject(olds.delete) ? "its delete command runs in the guest" : "forgotten; nothing runs in the guest";
    case "Network":
      return "the network is stopped and undefined (refused while a running domain has a NIC on it)";
    default:
      return "the device is detached";
  }
}

function explainCreate(step: MergedStep, domains: Map<string, DomainFacts>): ExplainedChange[] {
  const news = step.newState?.inputs ?? {};
  if (step.kind === "Disk" || step.kind === "Cdrom") {
    const bus = String(news.bus ?? schemaDefault(step.kind, "bus") ?? "");
    const via = String(news.via ?? schemaDefault(step.kind, "via") ?? "libvirt");
    const media = news.media === undefined ? (step.kind === "Cdrom" ? null : undefined) : (news.media as string | null);
    const attach = classifyAttach(step.kind, { bus, via, media: step.kind === "Cdrom" ? media : undefined }, situationFor(step.kind, {}, news, domains));
    return [{ ...attach, unknown: false }];
  }
  if (step.kind === "Interface") {
    const nic = { qmp: typeof news.qmp === "string" ? news.qmp : undefined, model: String(news.model ?? schemaDefault(step.kind, "model") ?? "virtio") };
    return [{ ...classifyNicAttach(nic, situationFor(step.kind, {}, news, domains)), unknown: false }];
  }
  return [{ field: "(create)", class: "create", reason: createReason(step.kind, news), unknown: false }];
}

function explainChanges(step: MergedStep, domains: Map<string, DomainFacts>): ExplainedChange[] {
  const olds = olderValues(step.oldState);
  const news = step.newState?.inputs ?? {};
  const situation = situationFor(step.kind, olds, news, domains);
  const { fields, secret } = fieldChanges(step, olds, news);
  const changes: ExplainedChange[] = fields.map((f) => {
    const classified = classifyField(step.kind, f, olds, news, situation);
    const unknown = containsUnknown(news[f]);
    // The classifier judged a placeholder: say so, since a guess other than live is the worst case.
    let reason = classified.reason;
    if (unknown && classified.class !== "live") reason += " (the new value is known only after apply: assumes the worst)";
    if (secret.has(f)) reason += " (a secret: Pulumi shows neither value, so it is assumed changed)";
    return { ...classified, reason, before: olds[f], after: news[f], unknown };
  });
  if (step.kind === "Network") changes.push(...networkStateDrift(olds, changes).map((c) => ({ ...c, unknown: false })));
  if (step.op === "replace" && !changes.some((c) => c.class === "replace")) {
    // Pulumi replaces for reasons of its own too: replaceOnChanges, a taint, --target-replace.
    const reasons = (step.replaceReasons ?? []).filter((r) => r !== PROVIDER_KEY);
    changes.push({
      field: "(replace)",
      class: "replace",
      reason:
        reasons.length > 0
          ? `Pulumi replaces it (${reasons.join(", ")})`
          : "Pulumi replaces it (replaceOnChanges, a taint or --target-replace)",
      unknown: false,
    });
  }
  return changes;
}

function explainStep(step: MergedStep, domains: Map<string, DomainFacts>, users: Map<string, Set<string>>, netUsers: Map<string, Set<string>>): ExplainedResource {
  const olds = olderValues(step.oldState);
  let changes: ExplainedChange[];
  switch (step.op) {
    case "create":
      changes = explainCreate(step, domains);
      break;
    case "update":
    case "replace":
      changes = explainChanges(step, domains);
      break;
    case "delete":
      changes = [{ field: "(delete)", class: "delete", reason: deleteReason(step.kind, olds), unknown: false }];
      break;
    default:
      changes = [];
  }
  return {
    urn: step.urn,
    name: parseUrn(step.urn).name,
    kind: step.kind,
    operation: step.op,
    running: step.kind === "Domain" ? recordedRunning(step.oldState?.outputs) : null,
    domains: domainsOf(step, users, netUsers),
    changes,
  };
}

/** Every libvirt resource of a preview with its classified changes, and a count of everything else. */
export function explainPlan(preview: Preview): ExplainedPlan {
  const ours = mergeSteps(preview.steps);
  const domains = domainFacts(ours);
  const users = fileUsers(ours);
  const netUsers = networkUsers(ours);
  const others: Record<string, number> = {};
  const ourUrns = new Set(ours.map((s) => s.urn));
  const counted = new Set<string>();
  for (const step of preview.steps) {
    // "same" is left out: the stack itself is always in the digest and changes nothing.
    if (ourUrns.has(step.urn) || counted.has(step.urn) || BOOKKEEPING_OPS.has(step.op) || step.op === "same") continue;
    counted.add(step.urn);
    const op = REPLACEMENT_OPS.has(step.op) ? "replace" : step.op;
    others[op] = (others[op] ?? 0) + 1;
  }
  return {
    resources: ours.map((s) => explainStep(s, domains, users, netUsers)),
    others,
    errors: preview.diagnostics.filter((d) => d.severity === "error").length,
  };
}
