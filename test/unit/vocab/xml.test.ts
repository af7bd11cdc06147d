import { strict as assert } from "node:assert";
import { SpecError, XmlParseError } from "../../../provider/src/vocab/errors";
import {
  attr,
  buildXmlDocument,
  child,
  children,
  childText,
  element,
  parseXmlDocument,
  parseXmlRoot,
  textElement,
} from "../../../provider/src/vocab/xml";

describe("vocab/xml", () => {
  const hostile = `a'b"c<d>e&f;g &amp; ]]> \t tab\nline\r\n end `;

  it("carries hostile text through attributes and element text as data, not markup", () => {
    const xml = buildXmlDocument(
      "disk",
      element({ type: "file" }, { source: element({ file: hostile }), serial: textElement(hostile), target: element({ dev: "sda" }) }),
    );
    const root = parseXmlDocument(xml, "disk");
    assert.equal(attr(child(root, "source"), "file"), hostile);
    assert.equal(childText(root, "serial"), hostile);
    // The markup itself was not changed by the value: still exactly these three children.
    assert.deepEqual(Object.keys(root).filter((k) => !k.startsWith("@_") && k !== "#text").sort(), ["serial", "source", "target"]);
  });

  it("refuses characters XML cannot carry, naming where they are", () => {
    assert.throws(
      () => buildXmlDocument("disk", element({}, { source: element({ file: "/tmp/a\u0001b" }) })),
      (error: unknown) => error instanceof SpecError && error.field === "disk.source@file" && /U\+0001/.test(error.message),
    );
  });

  it("writes an attribute whose value is the string 'true' with its value", () => {
    const xml = buildXmlDocument("x", element({ flag: "true" }));
    assert.equal(attr(parseXmlDocument(xml, "x"), "flag"), "true");
  });

  it("decodes numeric character references and the five predefined entities", () => {
    const root = parseXmlDocument(`<x a="&#65;&#x42;&lt;&gt;&amp;&quot;&apos;&#10;"/>`, "x");
    assert.equal(attr(root, "a"), `AB<>&"'\n`);
  });

  it("refuses DOCTYPE entity declarations instead of expanding them", () => {
    const evil = `<!DOCTYPE domain [<!ENTITY x "EXPANDED">]><domain><name>&x;</name></domain>`;
    assert.throws(() => parseXmlDocument(evil, "domain"), XmlParseError);
  });

  it("refuses an undefined entity reference", () => {
    assert.throws(() => parseXmlDocument(`<domain><name>&nbsp;</name></domain>`, "domain"), /undefined entity/);
    assert.throws(() => parseXmlDocument(`<domain><name>&constructor;</name></domain>`, "domain"), /undefined entity/);
  });

  it("rejects malformed XML and the wrong root element", () => {
    assert.throws(() => parseXmlDocument(`<domain><name>x</domain>`, "domain"), XmlParseError);
    assert.throws(() => parseXmlDocument(`not xml at all`, "domain"), XmlParseError);
    assert.throws(() => parseXmlDocument(`<disk/>`, "domain"), /expected a <domain>/);
    assert.equal(parseXmlRoot(`<?xml version="1.0"?><disk device="cdrom"/>`).rootName, "disk");
  });

  it("reads one and several devices the same way (always a list)", () => {
    const one = parseXmlDocument(`<domain><devices><disk device="disk"/></devices></domain>`, "domain");
    const two = parseXmlDocument(`<domain><devices><disk device="disk"/><disk device="cdrom"/></devices></domain>`, "domain");
    assert.equal(children(child(one, "devices"), "disk").length, 1);
    assert.deepEqual(
      children(child(two, "devices"), "disk").map((d) => attr(d, "device")),
      ["disk", "cdrom"],
    );
  });

  it("keeps attribute values untrimmed and as strings", () => {
    const root = parseXmlDocument(`<x path=" /a b " n="0x10"/>`, "x");
    assert.equal(attr(root, "path"), " /a b ");
    assert.equal(attr(root, "n"), "0x10");
  });
});
