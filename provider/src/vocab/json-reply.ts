// QMP and the guest agent answer in the same shape: {"return": …} or {"error": {"class", "desc"}}. One reader
// for both, so a malformed reply is reported the same way whichever of them sent it.
import { ProtocolShapeError } from "./errors";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The command a reply answers, for messages: its name, or the `execute` of the command object. */
export function commandName(command: string | { readonly execute: string }): string {
  return typeof command === "string" ? command : command.execute;
}

/** The `return` of a reply (JSON text or parsed); an `error` reply throws what `failure` makes of it. */
export function returnOf(
  reply: string | unknown,
  command: string,
  what: "reply" | "agent reply",
  failure: (errorClass: string, desc: string) => Error,
): unknown {
  let value = reply;
  if (typeof reply === "string") {
    try {
      value = JSON.parse(reply) as unknown;
    } catch {
      throw new ProtocolShapeError(command, `${what} is not JSON: ${reply.slice(0, 200)}`);
    }
  }
  if (!isRecord(value)) throw new ProtocolShapeError(command, `${what} is not a JSON object`);
  if ("error" in value) {
    const error = value["error"];
    const errorClass = isRecord(error) && typeof error["class"] === "string" ? error["class"] : "GenericError";
    const desc = isRecord(error) && typeof error["desc"] === "string" ? error["desc"] : JSON.stringify(error);
    throw failure(errorClass, desc);
  }
  if (!("return" in value)) throw new ProtocolShapeError(command, `${what} has neither return nor error`);
  return value["return"];
}
