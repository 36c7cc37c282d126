/**
 * Turns a tree of OpenAPI 3 schema files (one schema per YAML file, linked by relative `$ref`s,
 * as in github.com/digitalocean/openapi) into one JSON Schema (draft-07) that refuses unknown
 * keys. Pure: the caller hands in a reader of the parsed files.
 *
 * Only the facts a validator checks are kept (types, properties, required, enums, patterns,
 * lengths, bounds, items); annotations (description, example, default, format, …) are dropped.
 * A keyword this converter does not know is an error, so a new construct in DigitalOcean's
 * definition is noticed instead of silently loosening the schema.
 *
 * @module
 */

/** A parsed OpenAPI schema node (a YAML mapping). */
type Node = Record<string, unknown>;

/** A draft-07 JSON Schema node. */
export type JsonSchema = Record<string, unknown>;

/** The result: the schema and the files it was taken from, in the order they were read. */
export interface ConvertedSchema {
  schema: JsonSchema;
  files: string[];
}

const CHECKED = [
  "type",
  "enum",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minItems",
  "maxItems",
  "uniqueItems",
] as const;
const STRUCTURAL = new Set([
  "$ref",
  "allOf",
  "oneOf",
  "anyOf",
  "properties",
  "required",
  "items",
  "additionalProperties",
  "nullable",
]);
const ANNOTATIONS = new Set([
  "title",
  "description",
  "example",
  "examples",
  "default",
  "format",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

/**
 * Converts the schema in `root` and every file it references.
 *
 * @param root the file name of the root schema, e.g. `app_spec.yml`
 * @param read returns a parsed file by its name (relative to the models folder)
 * @returns the JSON Schema (`$ref` to `#/definitions/<root>`) and the files read
 * @throws {Error} "Cannot convert <file>: …" on a keyword or `$ref` form it does not know
 * @example
 * ```ts
 * const { schema } = openApiToJsonSchema("app_spec.yml", (f) => parse(readFileSync(dir + f)));
 * new Ajv().compile(schema);
 * ```
 */
export function openApiToJsonSchema(root: string, read: (file: string) => Node): ConvertedSchema {
  const definitions: Record<string, JsonSchema> = {};
  const files: string[] = [];
  const nodes = new Map<string, Node>();

  function load(file: string): Node {
    let node = nodes.get(file);
    if (!node) {
      node = read(file);
      nodes.set(file, node);
      files.push(file);
    }
    return node;
  }

  function refName(ref: string, where: string): string {
    if (!/^[\w.-]+\.ya?ml$/.test(ref)) {
      throw new Error(`Cannot convert ${where}: $ref ${ref} is not a sibling file`);
    }
    return ref.replace(/\.ya?ml$/, "");
  }

  /** Converts a file into `definitions` once; returns its `$ref`. */
  function define(file: string): JsonSchema {
    const name = refName(file, file);
    if (!(name in definitions)) {
      definitions[name] = {}; // placeholder: breaks reference cycles
      definitions[name] = convert(load(file), file);
    }
    return { $ref: `#/definitions/${name}` };
  }

  /** The object schema a `$ref` or inline node stands for, for merging into an allOf. */
  function objectPart(node: Node, where: string): JsonSchema {
    if (typeof node.$ref === "string") {
      define(node.$ref);
      return definitions[refName(node.$ref, where)];
    }
    return convert(node, where);
  }

  function convert(node: Node, where: string): JsonSchema {
    for (const key of Object.keys(node)) {
      const known = STRUCTURAL.has(key) || ANNOTATIONS.has(key) || key.startsWith("x-") ||
        (CHECKED as readonly string[]).includes(key);
      if (!known) throw new Error(`Cannot convert ${where}: unknown keyword ${key}`);
    }
    if (typeof node.$ref === "string") return define(node.$ref);
    if (Array.isArray(node.allOf)) return convertAllOf(node, where);
    for (const combinator of ["oneOf", "anyOf"] as const) {
      const options = node[combinator];
      if (Array.isArray(options)) {
        return {
          [combinator]: options.map((o, i) => convert(o as Node, `${where}.${combinator}[${i}]`)),
        };
      }
    }

    const out: JsonSchema = {};
    for (const key of CHECKED) if (key in node) out[key] = node[key];
    if (node.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
    if (node.items) out.items = convert(node.items as Node, `${where}.items`);
    if (node.properties) {
      const properties: Record<string, JsonSchema> = {};
      for (const [name, child] of Object.entries(node.properties as Record<string, Node>)) {
        properties[name] = convert(child, `${where}.properties.${name}`);
      }
      out.type ??= "object";
      out.properties = properties;
      if (Array.isArray(node.required)) out.required = node.required;
      // Where DigitalOcean lists the properties, nothing else is accepted.
      out.additionalProperties = node.additionalProperties === undefined
        ? false
        : convertAdditional(node.additionalProperties, where);
    } else if (node.additionalProperties !== undefined) {
      out.additionalProperties = convertAdditional(node.additionalProperties, where);
    }
    return out;
  }

  function convertAdditional(value: unknown, where: string): boolean | JsonSchema {
    return typeof value === "boolean"
      ? value
      : convert(value as Node, `${where}.additionalProperties`);
  }

  /**
   * `allOf` of object parts (a shared base plus the component's own properties) becomes one
   * object with their properties merged, so that `additionalProperties: false` can hold: in
   * JSON Schema each `allOf` branch would refuse the other branches' keys. Annotation-only
   * branches (`- description: …`, `- deprecated: true`) are dropped.
   */
  function convertAllOf(node: Node, where: string): JsonSchema {
    const parts = (node.allOf as Node[])
      .map((part, i) => ({ part, where: `${where}.allOf[${i}]` }))
      .filter(({ part }) => Object.keys(part).some((k) => !ANNOTATIONS.has(k)));
    if (parts.length === 1 && !node.required) return convert(parts[0].part, parts[0].where);

    const properties: Record<string, JsonSchema> = {};
    const required = new Set<string>(Array.isArray(node.required) ? node.required : []);
    for (const { part, where: at } of parts) {
      const schema = objectPart(part, at);
      if (schema.type !== "object" || !schema.properties) {
        throw new Error(`Cannot convert ${at}: allOf mixes a part that is not an object`);
      }
      Object.assign(properties, schema.properties);
      for (const name of (schema.required as string[] | undefined) ?? []) required.add(name);
    }
    const out: JsonSchema = { type: "object", properties, additionalProperties: false };
    if (required.size) out.required = [...required];
    return out;
  }

  const rootRef = define(root);
  return { schema: { ...rootRef, definitions }, files };
}
