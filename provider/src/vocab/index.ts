// The vocabulary layer: libvirt XML, QMP and guest-agent messages as typed values. Pure: no I/O,
// no imports from other layers. Each module has one job; this file only gathers them.

export * from "./errors";
export * from "./units";
export * from "./disk-xml";
export * from "./disk-placement";
export * from "./domain-xml";
export * from "./qmp-names";
export * from "./qmp";
export * from "./qmp-net";
export * from "./query-block";
export * from "./qga";
export * from "./volume-xml";
export { parseXmlRoot, parseXmlDocument, buildXmlDocument, type XmlNode } from "./xml";
