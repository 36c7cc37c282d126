/**
 * A small validator for the Stripe object schemas kept in
 * `tests/fixtures/stripe/definition_schemas.json` (facts transcribed from Stripe's published
 * OpenAPI definition; its `provenance` names the commit). It understands the subset of
 * OpenAPI 3.0 those schemas use: `type`, `properties`, `required`, `nullable`, `enum`,
 * `anyOf`, `$ref`, `items`, `additionalProperties`, `maxLength`.
 *
 * Stricter than OpenAPI on purpose: Stripe's objects have a closed set of fields, so a
 * property a schema does not list is an error (unless the fixture's `sdk_only` lists it for
 * that schema: a field of the newer API version the SDK is pinned to), and a `$ref` the
 * fixture left `unresolved` fails whenever a value actually needs it, so nothing is left
 * unchecked silently.
 *
 * @module
 */

/** One schema of the subset the fixture uses. */
export interface Schema {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  properties?: Record<string, Schema>;
  required?: string[];
  nullable?: boolean;
  enum?: string[];
  anyOf?: Schema[];
  $ref?: string;
  items?: Schema;
  additionalProperties?: boolean | Schema;
  maxLength?: number;
}

/** The fixture: provenance, the schemas by name, and what was deliberately left out. */
export interface Definition {
  provenance: Record<string, string>;
  /** Fields the SDK's pinned API version has and the definition does not, by schema. */
  sdk_only: Record<string, Record<string, Schema & { reason: string }>>;
  /** Schemas referenced but not transcribed: the emulator never emits them as objects. */
  unresolved: string[];
  schemas: Record<string, Schema>;
}

/** Reads the fixture. */
export async function loadDefinition(): Promise<Definition> {
  const url = new URL("./fixtures/stripe/definition_schemas.json", import.meta.url);
  return JSON.parse(await Deno.readTextFile(url)) as Definition;
}

const REF_PREFIX = "#/components/schemas/";

/**
 * Validates `value` against the named schema; returns the differences, each with the JSON path
 * where it is (`$.items.data[0].plan`), empty when the value conforms. `seen` collects the names
 * of the schemas that were applied.
 */
export function validate(
  def: Definition,
  schemaName: string,
  value: unknown,
  seen: Set<string> = new Set(),
): string[] {
  const errors: string[] = [];
  check({ def, errors, seen }, { $ref: REF_PREFIX + schemaName }, value, "$");
  return errors;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}

/** What one validation carries along: the fixture, the differences found, the schemas applied. */
interface Walk {
  def: Definition;
  errors: string[];
  seen: Set<string>;
}

function check(w: Walk, schema: Schema, value: unknown, path: string, schemaName?: string): void {
  const { def, errors } = w;
  if (value === null) {
    if (!schema.nullable) errors.push(`${path}: null is not allowed`);
    return;
  }
  if (schema.$ref) {
    const name = schema.$ref.startsWith(REF_PREFIX)
      ? schema.$ref.slice(REF_PREFIX.length)
      : schema.$ref;
    const target = def.schemas[name];
    if (!target) {
      errors.push(`${path}: needs schema "${name}", which the fixture leaves unresolved`);
      return;
    }
    w.seen.add(name);
    check(w, target, value, path, name);
    return;
  }
  if (schema.anyOf) {
    const attempts = schema.anyOf.map((branch) => {
      const branchErrors: string[] = [];
      check({ ...w, errors: branchErrors }, branch, value, path);
      return branchErrors;
    });
    if (attempts.some((a) => a.length === 0)) return;
    errors.push(
      `${path}: matches none of anyOf (${attempts.map((a) => a.join("; ")).join(" | ")})`,
    );
    return;
  }
  switch (schema.type) {
    case "string":
      if (typeof value !== "string") {
        return void errors.push(`${path}: expected a string, got ${describe(value)}`);
      }
      if (schema.maxLength !== undefined && value.length > schema.maxLength) {
        errors.push(`${path}: longer than ${schema.maxLength}`);
      }
      if (schema.enum && !schema.enum.includes(value)) {
        errors.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(", ")}`);
      }
      return;
    case "integer":
      if (!Number.isInteger(value)) {
        errors.push(`${path}: expected an integer, got ${describe(value)}`);
      }
      return;
    case "number":
      if (typeof value !== "number") {
        errors.push(`${path}: expected a number, got ${describe(value)}`);
      }
      return;
    case "boolean":
      if (typeof value !== "boolean") {
        errors.push(`${path}: expected a boolean, got ${describe(value)}`);
      }
      return;
    case "array":
      if (!Array.isArray(value)) {
        return void errors.push(`${path}: expected an array, got ${describe(value)}`);
      }
      value.forEach((v, i) => check(w, schema.items ?? {}, v, `${path}[${i}]`));
      return;
    case "object":
      checkObject(w, schema, value, path, schemaName);
      return;
    default:
      errors.push(`${path}: the fixture's schema has no type, $ref or anyOf`);
  }
}

function checkObject(
  w: Walk,
  schema: Schema,
  value: unknown,
  path: string,
  schemaName?: string,
): void {
  const { def, errors } = w;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    errors.push(`${path}: expected an object, got ${describe(value)}`);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const key of schema.required ?? []) {
    if (!(key in obj)) errors.push(`${path}: missing required property "${key}"`);
  }
  const sdkOnly = schemaName ? def.sdk_only[schemaName] ?? {} : {};
  for (const [key, v] of Object.entries(obj)) {
    const at = `${path}.${key}`;
    const prop = schema.properties?.[key] ?? sdkOnly[key];
    if (prop) check(w, prop, v, at);
    else if (schema.additionalProperties === true) continue;
    else if (typeof schema.additionalProperties === "object") {
      check(w, schema.additionalProperties, v, at);
    } else errors.push(`${at}: not a property of ${schemaName ?? "this object"}`);
  }
}

/**
 * Validates an event and, beyond the definition (which types `data.object` as any object),
 * its `data.object` against the schema its `object` field names, and each key of
 * `data.previous_attributes` against that schema's property of the same name.
 */
export function validateEvent(def: Definition, event: unknown, seen: Set<string>): string[] {
  const errors = validate(def, "event", event, seen);
  const data = (event as { data?: { object?: unknown; previous_attributes?: unknown } }).data;
  const obj = data?.object as { object?: unknown } | undefined;
  const kind = typeof obj?.object === "string" ? obj.object : undefined;
  if (!kind || !def.schemas[kind]) {
    errors.push(
      `$.data.object: an object of kind ${String(kind)}, which the fixture does not hold`,
    );
    return errors;
  }
  errors.push(...validate(def, kind, obj, seen).map((e) => e.replace(/^\$/, "$.data.object")));
  const prev = data?.previous_attributes;
  if (prev && typeof prev === "object") {
    const props = { ...def.sdk_only[kind], ...def.schemas[kind].properties };
    for (const [key, v] of Object.entries(prev)) {
      const at = `$.data.previous_attributes.${key}`;
      const prop = props[key];
      if (!prop) errors.push(`${at}: not a property of ${kind}`);
      else check({ def, errors, seen }, prop, v, at);
    }
  }
  return errors;
}
