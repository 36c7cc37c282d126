import assert from "node:assert/strict";
import { Ajv } from "ajv";
import { openApiToJsonSchema } from "./openapi_to_json_schema.ts";

const FILES: Record<string, Record<string, unknown>> = {
  "root.yml": {
    type: "object",
    description: "dropped",
    properties: {
      name: { type: "string", pattern: "^[a-z]+$", example: "x" },
      sites: { type: "array", items: { $ref: "site.yml" } },
    },
    required: ["name"],
  },
  "base.yml": {
    type: "object",
    properties: { name: { type: "string", maxLength: 4 }, kind: { enum: ["A", "B"] } },
  },
  "site.yml": {
    allOf: [
      { $ref: "base.yml" },
      { type: "object", properties: { dir: { type: "string", format: "x-unknown" } } },
      { description: "annotation only" },
    ],
    required: ["name"],
  },
};

function convert(files = FILES) {
  return openApiToJsonSchema("root.yml", (file) => files[file]);
}

Deno.test("openApiToJsonSchema keeps the checked facts and merges allOf into one closed object", () => {
  const { schema, files } = convert();
  assert.deepEqual(files, ["root.yml", "site.yml", "base.yml"]);
  const defs = schema.definitions as Record<string, Record<string, unknown>>;
  assert.deepEqual(defs.site, {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 4 },
      kind: { enum: ["A", "B"] },
      dir: { type: "string" },
    },
    additionalProperties: false,
    required: ["name"],
  });
  assert.equal(JSON.stringify(schema).includes("dropped"), false);
});

Deno.test("the converted schema refuses unknown keys anywhere, with ajv in strict mode", () => {
  const validate = new Ajv({ strict: true }).compile(convert().schema);
  assert.equal(validate({ name: "ab", sites: [{ name: "s", dir: "d", kind: "A" }] }), true);
  assert.equal(validate({ name: "ab", extra: 1 }), false);
  assert.equal(validate({ name: "ab", sites: [{ name: "s", dri: "d" }] }), false);
  assert.equal(validate({ name: "ab", sites: [{ name: "toolong" }] }), false);
});

Deno.test("openApiToJsonSchema refuses a keyword or $ref it does not know", () => {
  assert.throws(
    () => convert({ ...FILES, "base.yml": { type: "object", discriminator: {} } }),
    /Cannot convert base\.yml: unknown keyword discriminator/,
  );
  assert.throws(
    () => convert({ ...FILES, "root.yml": { $ref: "../other/thing.yml" } }),
    /is not a sibling file/,
  );
});
