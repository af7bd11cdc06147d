import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadSchema, schemaFile, validateInputs } from "../../../provider/src/resources/validate";
import { resourceKinds } from "../../../provider/src/resources/inputs";

const root = path.dirname(schemaFile());
// eslint-disable-next-line @typescript-eslint/no-require-imports
const generator = require(path.join(root, "scripts", "gen-sdk-types.js")) as {
  generate(schema: unknown): Record<string, string>;
  OUTPUT: string;
};

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  required?: string[];
  $ref?: string;
  description?: string;
  default?: unknown;
};

describe("schema.json and the generated SDK input types", () => {
  const schema = JSON.parse(fs.readFileSync(schemaFile(), "utf8")) as {
    properties: Record<string, Schema>;
    $defs: Record<string, Schema>;
  };

  it("the generated input types are exactly what scripts/gen-sdk-types.js makes from schema.json", () => {
    const expected: Record<string, string> = generator.generate(schema);
    for (const [file, text] of Object.entries(expected)) {
      const actual = fs.readFileSync(path.join(root, file), "utf8");
      assert.ok(actual === text, `${file} is stale: run \`node scripts/gen-sdk-types.js\` (npm run gen:sdk)`);
    }
  });

  it("defines exactly the seven resources, and the SDK lists the same kinds", () => {
    assert.deepEqual(Object.keys(schema.properties), ["Volume", "Domain", "Disk", "Cdrom", "Interface", "GuestExec", "Network"]);
    assert.deepEqual([...resourceKinds], Object.keys(schema.properties));
    assert.deepEqual(Object.keys(loadSchema().properties), Object.keys(schema.properties));
  });

  it("every resource takes uri, rejects unknown properties and documents every property", () => {
    for (const kind of Object.keys(schema.properties)) {
      const def = schema.$defs[kind]!;
      assert.equal(def.additionalProperties, false, kind);
      assert.equal(def.properties?.uri?.$ref, "#/$defs/Uri", `${kind}.uri`);
      assert.ok(!(def.required ?? []).includes("uri"), `${kind}.uri is optional`);
      assert.ok(def.description, `${kind} has a description`);
    }
    for (const [name, def] of Object.entries(schema.$defs)) {
      if (def.type !== "object") continue;
      assert.equal(def.additionalProperties, false, name);
      for (const [key, p] of Object.entries(def.properties ?? {})) {
        assert.ok(typeof p.description === "string" && p.description.length >= 10, `${name}.${key} needs a description`);
      }
    }
  });

  it("every schema default is itself valid (validating the defaults changes nothing)", () => {
    const minimal: Record<string, Record<string, unknown>> = {
      Volume: { name: "v", capacityBytes: 512 },
      Domain: { name: "d", memoryMiB: 16, vcpus: 1 },
      Disk: { domain: "d", source: "/a" },
      Cdrom: { domain: "d" },
      Interface: { domain: "d", user: true },
      GuestExec: { domain: "d", path: "true" },
      Network: { name: "n" },
    };
    for (const kind of resourceKinds) {
      const once = validateInputs(kind, minimal[kind]);
      assert.deepEqual(once.failures, [], kind);
      const twice = validateInputs(kind, once.inputs);
      assert.deepEqual(twice.failures, [], kind);
      assert.deepEqual(twice.inputs, once.inputs, kind);
    }
  });

  it("the generated types carry the schema's descriptions and defaults as JSDoc", () => {
    const text = Object.values(generator.generate(schema)).join("\n");
    for (const kind of Object.keys(schema.properties)) {
      assert.match(text, new RegExp(`export interface ${kind}Args \\{`));
      assert.match(text, new RegExp(`export interface ${kind}Inputs \\{`));
    }
    assert.match(text, /\* @default "never"\n {3}\*\/\n {2}restart\?: pulumi\.Input<"never" \| "allow">;/);
    assert.match(text, /\n {2}restart: "never" \| "allow";/);
    assert.match(text, /media\?: pulumi\.Input<string \| null>;/);
    assert.match(text, /disks\?: pulumi\.Input<pulumi\.Input<DomainDiskArgs>\[\]>;/);
    assert.match(text, /devices\?: \("hd" \| "cdrom" \| "network"\)\[\];/);
  });

  it("the generator refuses schemas it cannot express", () => {
    assert.throws(
      () =>
        generator.generate({
          properties: { X: { $ref: "#/$defs/X" } },
          $defs: { X: { type: "object", properties: { a: { type: "string" } } } },
        }),
      /X\.a has no description/,
    );
    assert.throws(
      () =>
        generator.generate({
          properties: { X: { $ref: "#/$defs/X" } },
          $defs: { X: { type: "object", properties: { a: { description: "inline", type: "object" } } } },
        }),
      /inline object schemas are not supported/,
    );
  });
});

describe("schema.json against JSON Schema 2020-12", () => {
  // The provider skips the meta-schema check at start-up (it costs ~150 ms per provider process): it is made here.
  it("is a valid 2020-12 schema, and every kind compiles in strict mode", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Ajv2020 = require("ajv/dist/2020").default;
    const ajv = new Ajv2020({ allErrors: true, strict: true, useDefaults: true, verbose: true });
    const schema = JSON.parse(fs.readFileSync(schemaFile(), "utf8"));
    assert.ok(ajv.validateSchema(schema), `schema.json: ${ajv.errorsText(ajv.errors)}`);
    ajv.addSchema(schema);
    for (const kind of Object.keys(schema.properties)) assert.ok(ajv.getSchema(`${schema.$id}#/$defs/${kind}`), kind);
    for (const kind of resourceKinds) assert.ok(Array.isArray(validateInputs(kind, {}).failures), kind);
  });
});
