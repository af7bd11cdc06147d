// Errors raised by the vocabulary layer. Each names what the caller got wrong (a spec field, a
// document, a command) so the resources layer can surface it unchanged at `pulumi preview`.

/** A spec handed to a builder is invalid; `field` is a dotted path such as `disks[1].serial`. */
export class SpecError extends Error {
  override readonly name = "SpecError";
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** A document is not well-formed XML, or uses a construct we refuse (DOCTYPE entities). */
export class XmlParseError extends Error {
  override readonly name = "XmlParseError";
}

/** A reply from QEMU (QMP) or from the guest agent had a shape we do not understand. */
export class ProtocolShapeError extends Error {
  override readonly name = "ProtocolShapeError";
  constructor(readonly command: string, message: string) {
    super(`${command}: ${message}`);
  }
}
