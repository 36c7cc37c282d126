/**
 * SQL built from kind descriptions: reading logical rows, and the pieces apply, snapshot and
 * rollback share (recordset columns, natural-key matching, parent lookups). Every identifier
 * comes from {@link KINDS}, never from input; values always travel as parameters.
 *
 * @module
 */
import { type KindSpec, kindSpec } from "./kinds.ts";

/** A kind's logical fields as typed record columns (see staged.ts). */
export function fieldColumns(spec: KindSpec): { name: string; type: string }[] {
  return spec.fields.map((f) => ({ name: f.name, type: f.type }));
}

/** The natural key's fields as typed record columns, named `<prefix><field>`. */
export function keyFieldColumns(spec: KindSpec, prefix = ""): { name: string; type: string }[] {
  return spec.keyFields.map((f) => ({
    name: `${prefix}${f}`,
    type: spec.fields.find((x) => x.name === f)!.type,
  }));
}

/** SQL for the surrogate id of the parent row named by `x.<parent field>`, or null. */
export function parentLookup(spec: KindSpec, alias = "x"): string | null {
  if (!spec.parent) return null;
  const parent = kindSpec(spec.parent.kind);
  const parentKey = parent.fields.find((f) => f.name === parent.keyFields[0])!.column!;
  return `(select p.${parent.idColumn} from ${parent.table} as p where p.${parentKey} = ${alias}."${spec.parent.field}")`;
}

/** The physical column of a logical field (the parent's id column for a reference). */
export function physicalColumn(spec: KindSpec, field: string): string {
  if (spec.parent?.field === field) return spec.parent.column;
  const f = spec.fields.find((x) => x.name === field);
  if (!f?.column) throw new Error(`Cannot map field ${spec.name}.${field} to a column`);
  return f.column;
}

/** SQL value for a logical field of recordset row `x` (parent lookups resolved). */
export function fieldValue(spec: KindSpec, field: string, alias = "x"): string {
  return spec.parent?.field === field ? parentLookup(spec, alias)! : `${alias}."${field}"`;
}

/**
 * `t.<col> = <x value> and …` over the natural key, reading the key from fields named
 * `<prefix><field>` of recordset row `x`.
 */
export function keyMatch(
  spec: KindSpec,
  opts: { t?: string; x?: string; prefix?: string } = {},
): string {
  const t = opts.t ?? "t";
  const x = opts.x ?? "x";
  const prefix = opts.prefix ?? "";
  return spec.keyFields.map((f) => {
    const value = spec.parent?.field === f
      ? parentLookup(spec, x)!.replace(`${x}."${f}"`, `${x}."${prefix}${f}"`)
      : `${x}."${prefix}${f}"`;
    return `${t}.${physicalColumn(spec, f)} = ${value}`;
  }).join(" and ");
}

/** Recordset columns of the natural key, named `<prefix><field>`. */
export function keyColumns(spec: KindSpec, prefix = ""): string[] {
  return spec.keyFields.map((f) => {
    const type = spec.fields.find((x) => x.name === f)!.type;
    return `"${prefix}${f}" ${type}`;
  });
}

/**
 * A query returning every promotable row of a kind as one JSON array text, in natural-key
 * order; JSONB travels as text so nothing is rounded.
 */
export function readRowsQuery(spec: KindSpec): string {
  const parent = spec.parent ? kindSpec(spec.parent.kind) : null;
  const parentKey = parent?.fields.find((f) => f.name === parent.keyFields[0])?.column;
  const pairs = spec.fields.map((f) =>
    `'${f.name}', ${f.column ? `x.${f.column}` : `p.${parentKey}`}`
  );
  const order = spec.keyFields.map((f) =>
    spec.parent?.field === f ? `p.${parentKey}` : `x.${physicalColumn(spec, f)}`
  );
  // json (not jsonb) aggregation: half the time, and JSONB columns still print normalised.
  return [
    `select coalesce(json_agg(json_build_object(${pairs.join(", ")})`,
    `  order by ${order.join(", ")}), '[]'::json)::text as rows`,
    `from ${spec.table} as x`,
    parent ? `join ${parent.table} as p on p.${parent.idColumn} = x.${spec.parent!.column}` : "",
    spec.where ? `where ${spec.where}` : "",
  ].filter(Boolean).join("\n");
}
