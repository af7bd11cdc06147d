// The shape every resource file fills in, and the adapter that turns it into a Pulumi dynamic provider:
// check validates against schema.json before anything is touched; diff, create, read, update and delete
// are the resource's own.
import { appendFileSync } from "node:fs";
import type { ClientOptions, LibvirtClient } from "../libvirt";
import { defaultUri, sharedClient } from "../libvirt/pool";
import type { Classified, ResourceKind } from "./classify";
import { CheckFailure, validateInputs } from "./validate";
import { masker } from "./secrets";

export { isUnknown, UNKNOWN } from "./validate";

export interface DiffResult {
  changes: boolean;
  replaces?: string[];
  deleteBeforeReplace?: boolean;
}

export type Props = Record<string, any>;

/** Values as Pulumi hands them over: recorded outputs and new inputs, read field by field. */
export type Fields = object;

export interface ResourceHandlers<Inputs extends Fields, Outputs extends Fields> {
  kind: ResourceKind;
  diff(id: string, olds: Outputs, news: Inputs): Promise<DiffResult>;
  create(inputs: Inputs): Promise<{ id: string; outs: Outputs }>;
  read(id: string, props: Outputs): Promise<{ id: string; props: Outputs }>;
  update(id: string, olds: Outputs, news: Inputs): Promise<{ outs: Outputs }>;
  delete(id: string, props: Outputs): Promise<void>;
  /** A note for the preview of a new resource (diff is not called for creates). */
  describeCreate?(inputs: Inputs): Promise<string | null>;
}

/** The connection for a resource's `uri` (one per URI per provider process). */
export function clientFor(uri: string | undefined, options?: ClientOptions): Promise<LibvirtClient> {
  return sharedClient(uri ?? defaultUri(), options);
}

/** One line per planned change; the provider's stdout shows in the Pulumi CLI during preview and up. */
export function note(line: string): void {
  console.log(line);
}

/**
 * The diff every resource returns: the changes as classify.ts classifies them, one note per change for the
 * preview, and the fields that force a replace. Each of our resources holds a name or alias the new one needs,
 * so a replace always deletes the old one first.
 */
export function planDiff(label: string, classified: Classified[]): DiffResult {
  for (const c of classified) note(`${label}: ${c.field} → ${c.class} (${c.reason})`);
  const replaces = classified.filter((c) => c.class === "replace").map((c) => c.field);
  const result: DiffResult = { changes: classified.length > 0, replaces };
  if (replaces.length > 0) result.deleteBeforeReplace = true;
  return result;
}

/** A failure the user can act on: names the resource and keeps libvirt's own words. */
export class ResourceError extends Error {
  /** `subject` names the resource as the notes do, e.g. "Disk data on web-1" or "Volume data.qcow2". */
  constructor(subject: string, message: string, options?: { cause?: unknown }) {
    super(`${subject}: ${message}`, options);
    this.name = "ResourceError";
  }
}

function stripProvider(inputs: Props): Props {
  const { __provider: _ignored, ...rest } = inputs;
  return rest;
}

/** Outputs without undefined values: Pulumi's wire format (a protobuf Struct) has no undefined and refuses it. */
export function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]),
    ) as T;
  }
  return value;
}

/** Pulumi's dynamic ResourceProvider over a resource's handlers. */
export function dynamicProvider<I extends Fields, O extends Fields>(handlers: ResourceHandlers<I, O>) {
  const provider = {
    async check(olds: Props, news: Props): Promise<{ inputs?: Props; failures?: CheckFailure[] }> {
      const { inputs, failures } = validateInputs(handlers.kind, stripProvider(news));
      // Values the program marked secret (secretInputs, set by the SDK) never appear in a failure's reason.
      const mask = masker(news);
      if (failures.length > 0) return { inputs: news, failures: failures.map((f) => ({ ...f, reason: mask.text(f.reason) })) };
      const isCreate = !olds || Object.keys(stripProvider(olds)).length === 0;
      if (isCreate && handlers.describeCreate) {
        const line = await handlers.describeCreate(inputs as unknown as I).catch(() => null);
        if (line) note(mask.text(line));
      }
      return { inputs: { ...inputs, __provider: news.__provider } };
    },
    diff: (id: string, olds: O, news: I) => handlers.diff(id, olds, stripProvider(news as Props) as I),
    create: async (inputs: I) => withoutUndefined(await handlers.create(stripProvider(inputs as Props) as I)),
    read: async (id: string, props: O) => withoutUndefined(await handlers.read(id, props)),
    update: async (id: string, olds: O, news: I) => withoutUndefined(await handlers.update(id, olds, stripProvider(news as Props) as I)),
    delete: (id: string, props: O) => handlers.delete(id, props),
  };
  const timings = process.env.PULUMI_LIBVIRT_LIVE_TIMINGS;
  return timings ? timed(handlers.kind, provider, timings) : provider;
}

/**
 * Opt-in timings for bench/up.ts: with PULUMI_LIBVIRT_LIVE_TIMINGS=FILE every handler call appends a JSON line
 * {kind, op, ms, start, end} (start/end in epoch ms). Unset, the provider's methods are used as they are.
 */
function timed<P extends object>(kind: ResourceKind, provider: P, file: string): P {
  const now = () => performance.timeOrigin + performance.now();
  const wrapped: Record<string, unknown> = {};
  for (const [op, method] of Object.entries(provider) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    wrapped[op] = async (...args: unknown[]) => {
      const start = now();
      try {
        return await method(...args);
      } finally {
        const end = now();
        appendFileSync(file, JSON.stringify({ kind, op, ms: end - start, start, end }) + "\n");
      }
    };
  }
  return wrapped as P;
}
