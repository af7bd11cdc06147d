// The one fast-xml-parser configuration shared by every XML builder and parser in the vocabulary,
// plus tiny typed accessors, so no other module touches parser options or escapes text by hand.
//
// Choices, and why:
// - Attributes are kept, under the prefix "@_"; attribute and text values stay strings (libvirt
//   writes numbers in decimal and hex, and "0x00" must not become 0 before we decide how to read it).
// - Values are not trimmed: a file path with a leading space is still that path.
// - Elements that may repeat (every child of <devices>, <os><boot>, ...) always parse as arrays, so
//   one disk and two disks read the same way.
// - Entities: only XML's five predefined ones and numeric character references are decoded. A
//   DOCTYPE that declares entities is refused and an unknown `&name;` is an error: no expansion
//   surprises, and nothing that libvirt itself would not emit.
// - Building escapes & < > ' " and also writes TAB, LF and CR as character references, so
//   attribute-value normalisation cannot turn them into spaces; characters XML 1.0 cannot carry at
//   all (most C0 controls, lone surrogates) are rejected with the path of the offending value.

import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import type { X2jOptions, XmlBuilderOptions } from "fast-xml-parser";
import { SpecError, XmlParseError } from "./errors";

export const ATTR_PREFIX = "@_";
export const TEXT_KEY = "#text";

// ---------------------------------------------------------------------------------------------
// Parsing

/** A parsed element: attributes under "@_name", text under "#text", children by tag name. */
export type XmlNode = { readonly [key: string]: unknown };

/** Parents whose every child element may repeat (all device kinds). */
const REPEATING_PARENTS: ReadonlySet<string> = new Set(["domain.devices"]);

/** Individual element paths that may repeat. */
const REPEATING_PATHS: ReadonlySet<string> = new Set([
  "domain.os.boot",
  "domain.os.initarg",
  "domain.devices.graphics.listen",
  "domain.devices.disk.source.host",
  "disk.source.host",
  "domain.cpu.feature",
]);

function isRepeating(jPath: string): boolean {
  if (REPEATING_PATHS.has(jPath)) return true;
  const lastDot = jPath.lastIndexOf(".");
  return lastDot > 0 && REPEATING_PARENTS.has(jPath.slice(0, lastDot));
}

// A Map, not an object literal: "&constructor;" must not find Object.prototype.constructor.
const PREDEFINED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["quot", '"'],
  ["apos", "'"],
]);

/** True when XML 1.0 allows this code point in a document at all. */
export function isXmlChar(codePoint: number): boolean {
  return (
    codePoint === 0x9 ||
    codePoint === 0xa ||
    codePoint === 0xd ||
    (codePoint >= 0x20 && codePoint <= 0xd7ff) ||
    (codePoint >= 0xe000 && codePoint <= 0xfffd) ||
    (codePoint >= 0x10000 && codePoint <= 0x10ffff)
  );
}

function decodeReference(ref: string): string {
  const predefined = PREDEFINED_ENTITIES.get(ref);
  if (predefined !== undefined) return predefined;
  let codePoint = Number.NaN;
  if (ref.startsWith("#x") && ref.length > 2 && /^[0-9a-fA-F]+$/.test(ref.slice(2))) {
    codePoint = Number.parseInt(ref.slice(2), 16);
  } else if (ref.startsWith("#") && ref.length > 1 && /^[0-9]+$/.test(ref.slice(1))) {
    codePoint = Number.parseInt(ref.slice(1), 10);
  } else {
    throw new XmlParseError(`undefined entity &${ref};`);
  }
  if (!isXmlChar(codePoint)) throw new XmlParseError(`character reference &${ref}; is not an XML character`);
  return String.fromCodePoint(codePoint);
}

/** Decodes entity and character references inside one already-tokenised value. */
export function decodeXmlReferences(value: string): string {
  let out = "";
  let from = 0;
  for (;;) {
    const amp = value.indexOf("&", from);
    if (amp < 0) return out + value.slice(from);
    const semi = value.indexOf(";", amp + 1);
    if (semi < 0) throw new XmlParseError("unterminated entity reference");
    out += value.slice(from, amp) + decodeReference(value.slice(amp + 1, semi));
    from = semi + 1;
  }
}

const strictEntityDecoder: NonNullable<X2jOptions["entityDecoder"]> = {
  setExternalEntities: () => undefined,
  addInputEntities: (entities: Record<string, string>) => {
    const names = Object.keys(entities);
    if (names.length > 0) throw new XmlParseError(`DOCTYPE entity declarations are not accepted (${names.join(", ")})`);
  },
  reset: () => undefined,
  setXmlVersion: () => undefined,
  decode: decodeXmlReferences,
};

const parserOptions: X2jOptions = {
  ignoreAttributes: false,
  attributeNamePrefix: ATTR_PREFIX,
  textNodeName: TEXT_KEY,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: false,
  allowBooleanAttributes: false,
  processEntities: true,
  htmlEntities: false,
  entityDecoder: strictEntityDecoder,
  isArray: (_tag, jPath, _isLeaf, isAttribute) => !isAttribute && typeof jPath === "string" && isRepeating(jPath),
};

const parser = new XMLParser(parserOptions);

export interface ParseOptions {
  /**
   * The text is XML libvirt itself formatted (a reply of the daemon): skip the separate well-formedness pass,
   * which is a quarter of the parse and the largest CPU cost of a refresh. Anything a user or a file supplies
   * is checked.
   */
  formattedByLibvirt?: boolean;
}

/** Parses a document and returns its single root element and that element's name. */
export function parseXmlRoot(xml: string, options: ParseOptions = {}): { rootName: string; root: XmlNode } {
  const validation = options.formattedByLibvirt ? true : XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw new XmlParseError(`not well-formed XML (line ${line}, column ${col}): ${msg}`);
  }
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (error) {
    if (error instanceof XmlParseError) throw error;
    throw new XmlParseError(`cannot parse XML: ${(error as Error).message}`);
  }
  const roots = isNode(document) ? Object.keys(document).filter((key) => key !== TEXT_KEY) : [];
  const rootName = roots[0];
  const root = rootName === undefined ? undefined : asNode((document as XmlNode)[rootName]);
  if (roots.length !== 1 || rootName === undefined || root === undefined) {
    throw new XmlParseError(`expected one root element, found ${roots.map((r) => `<${r}>`).join(", ") || "none"}`);
  }
  return { rootName, root };
}

/** Parses a document whose root must be `expectedRoot` (guards against the wrong kind of XML). */
export function parseXmlDocument(xml: string, expectedRoot: string, options: ParseOptions = {}): XmlNode {
  const { rootName, root } = parseXmlRoot(xml, options);
  if (rootName !== expectedRoot) throw new XmlParseError(`expected a <${expectedRoot}> document, found <${rootName}>`);
  return root;
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A text-only or empty element parses as a string; give it the shape of any other element. */
function asNode(value: unknown): XmlNode | undefined {
  if (typeof value === "string") return { [TEXT_KEY]: value };
  return isNode(value) ? value : undefined;
}

/** All child elements named `name`, in document order. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map(asNode).filter((n): n is XmlNode => n !== undefined);
}

/** The first child element named `name`. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return children(node, name)[0];
}

export function hasChild(node: XmlNode | undefined, name: string): boolean {
  return node?.[name] !== undefined;
}

export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[ATTR_PREFIX + name];
  return typeof value === "string" ? value : undefined;
}

/** The element's own text ("" for an empty element, undefined when there is no element). */
export function text(node: XmlNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  const value = node[TEXT_KEY];
  return typeof value === "string" ? value : "";
}

export function childText(node: XmlNode | undefined, name: string): string | undefined {
  return text(child(node, name));
}

/** Parses a decimal or 0x-prefixed unsigned integer attribute; undefined when absent or malformed. */
export function uintValue(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}

// ---------------------------------------------------------------------------------------------
// Building

export type XmlAttrValue = string | number | undefined;
/** Content of an element key: a nested element, a list of them, or text. */
export type XmlContent = XmlElement | readonly XmlElement[] | string | number | undefined;
export interface XmlElement {
  readonly [key: string]: XmlContent;
}

/**
 * One element: attributes (undefined ones are left out), child elements in the order given, and
 * optional text. Children with undefined content are left out too.
 */
export function element(
  attributes: Readonly<Record<string, XmlAttrValue>> = {},
  content: Readonly<Record<string, XmlContent>> = {},
  textContent?: string | number,
): XmlElement {
  const out: Record<string, XmlContent> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) out[ATTR_PREFIX + name] = value;
  }
  for (const [name, value] of Object.entries(content)) {
    if (value === undefined) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    out[name] = value;
  }
  if (textContent !== undefined) out[TEXT_KEY] = textContent;
  return out;
}

/** An element holding only text, e.g. <name>vm1</name>. */
export function textElement(value: string | number, attributes: Readonly<Record<string, XmlAttrValue>> = {}): XmlElement {
  return element(attributes, {}, value);
}

type BuilderEntity = { regex: RegExp; val: string };
// fast-xml-builder's replacement table (applied in order, "&" first). Not in its public typings,
// so the options object is typed as an extension of them.
const builderEntities: BuilderEntity[] = [
  { regex: /&/g, val: "&amp;" },
  { regex: />/g, val: "&gt;" },
  { regex: /</g, val: "&lt;" },
  { regex: /'/g, val: "&apos;" },
  { regex: /"/g, val: "&quot;" },
  { regex: /\t/g, val: "&#9;" },
  { regex: /\n/g, val: "&#10;" },
  { regex: /\r/g, val: "&#13;" },
];

const builderOptions: XmlBuilderOptions & { entities: BuilderEntity[] } = {
  ignoreAttributes: false,
  attributeNamePrefix: ATTR_PREFIX,
  textNodeName: TEXT_KEY,
  format: true,
  indentBy: "  ",
  suppressEmptyNode: true,
  // Otherwise an attribute whose value is the string "true" is written without a value.
  suppressBooleanAttributes: false,
  processEntities: true,
  entities: builderEntities,
};

const builder = new XMLBuilder(builderOptions);

function assertXmlText(value: string, path: string): void {
  for (const ch of value) {
    const codePoint = ch.codePointAt(0) ?? 0;
    if (!isXmlChar(codePoint)) {
      const hex = codePoint.toString(16).toUpperCase().padStart(4, "0");
      throw new SpecError(path, `contains U+${hex}, a character XML cannot carry`);
    }
  }
}

function assertXmlContent(value: XmlContent, path: string): void {
  if (typeof value === "string") return assertXmlText(value, path);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new SpecError(path, `is not a finite number (${value})`);
    return;
  }
  if (value === undefined) return;
  if (Array.isArray(value)) {
    value.forEach((item: XmlElement, i: number) => assertXmlContent(item, `${path}[${i}]`));
    return;
  }
  for (const [key, inner] of Object.entries(value as XmlElement)) {
    const innerPath = key.startsWith(ATTR_PREFIX) ? `${path}@${key.slice(ATTR_PREFIX.length)}` : `${path}.${key}`;
    assertXmlContent(inner, innerPath);
  }
}

/** Serialises one root element (no XML declaration: libvirt does not want one). */
export function buildXmlDocument(rootName: string, root: XmlElement): string {
  assertXmlContent(root, rootName);
  const xml: unknown = builder.build({ [rootName]: root });
  if (typeof xml !== "string") throw new Error("fast-xml-parser returned a non-string document");
  return xml.trimEnd() + "\n";
}
