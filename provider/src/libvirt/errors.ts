// Typed errors: what libvirt said (code, domain, message), or why the call never got an answer.
import { DialError } from "../wire/transport";
import { RemoteErrorFields } from "./types";

/** virErrorNumber values the product acts on. */
export const ErrorCode = {
  InternalError: 1,
  NoSupport: 3,
  InvalidArg: 8,
  OperationFailed: 9,
  XmlError: 27,
  DomainExists: 28,
  OperationDenied: 29,
  SystemError: 38,
  Rpc: 39,
  NoDomain: 42,
  AuthFailed: 45,
  NoStoragePool: 49,
  NoStorageVol: 50,
  OperationInvalid: 55,
  ConfigUnsupported: 67,
  OperationTimeout: 68,
  AgentUnresponsive: 86,
  DeviceMissing: 99,
} as const;

const NOT_FOUND_CODES: ReadonlySet<number> = new Set([ErrorCode.NoDomain, ErrorCode.NoStoragePool, ErrorCode.NoStorageVol]);

export class LibvirtError extends Error {
  readonly code: number;
  /** virErrorDomain: which part of libvirt raised it (10 = QEMU driver, 18 = storage, ...). */
  readonly errorDomain: number;
  readonly level: number;
  readonly str1: string | null;

  constructor(fields: RemoteErrorFields, readonly procedure: string) {
    super(fields.message ?? `libvirt error ${fields.code} in ${procedure}`);
    this.name = "LibvirtError";
    this.code = fields.code;
    this.errorDomain = fields.domain;
    this.level = fields.level;
    this.str1 = fields.str1;
  }

  get isNotFound(): boolean {
    return NOT_FOUND_CODES.has(this.code);
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof LibvirtError && error.isNotFound;
}

/** The connection ended (daemon restart, network loss, ssh exit) while the call waited. */
export class ConnectionLostError extends Error {
  constructor(target: string, procedure: string, cause?: Error) {
    super(`connection to libvirt at ${target} was lost during ${procedure}${cause ? `: ${cause.message}` : ""}`);
    this.name = "ConnectionLostError";
  }
}

export class ClientClosedError extends Error {
  constructor(target: string) {
    super(`the libvirt client for ${target} is closed; open a new one`);
    this.name = "ClientClosedError";
  }
}

export class CallTimeoutError extends Error {
  constructor(target: string, procedure: string, timeoutMs: number) {
    super(`libvirt at ${target} did not answer ${procedure} within ${timeoutMs} ms`);
    this.name = "CallTimeoutError";
  }
}

/**
 * The call's fate is unknown because the link failed (lost, timed out, or the daemon not reachable yet, as
 * while libvirtd restarts): read the state again rather than trust or repeat what was asked.
 */
export function isConnectionError(error: unknown): boolean {
  return error instanceof ConnectionLostError || error instanceof CallTimeoutError || error instanceof DialError;
}
