/**
 * The one writer of `ops.promotion_snapshots`: the before-image of every row a promotion
 * touches (or a "created by this promotion" marker, `before` null), written in the apply
 * transaction before the row changes, so a rollback restores the target byte for byte.
 *
 * One numbering scheme: every insert numbers its rows after the promotion's highest `seq` so
 * far, read in the same statement (`max(seq) + n`, on the primary key). The planned writes
 * (`apply.ts`) and an external system's `record` (`stripe/catalog_sync.ts`) share it, in any
 * order, without a counter handed around. Rows already imaged by the promotion are never
 * imaged twice: the first image is the one a rollback needs.
 *
 * Runs as the connection's own role (the table owner), inside the apply transaction.
 *
 * @module
 */
import type { Sql, Tx } from "../db.ts";
import { canonicalJson, JsonNumber } from "../json/lossless.ts";
import { KINDS, type KindSpec, kindSpec } from "./kinds.ts";
import type { Row } from "./plan.ts";
import { keyColumns, keyFieldColumns, keyMatch, parentLookup, physicalColumn } from "./sql.ts";
import { stageRecords } from "./staged.ts";

const COLUMNS =
  "(promotion_id, seq, kind, natural_key, table_name, row_id, action, before, sql_nulls)";

/** The promotion's next free `seq` base, inside a statement (parameter `$1` is its id). */
const BASE = `(select coalesce(max(s.seq), 0) from ops.promotion_snapshots as s
               where s.promotion_id = $1::uuid)`;

/** Not imaged yet by this promotion (parameter `$1` its id; `t` the row; `table` its table). */
function notImaged(spec: KindSpec): string {
  return `not exists (select 1 from ops.promotion_snapshots as done
                      where done.promotion_id = $1::uuid and done.table_name = '${spec.table}'
                        and done.row_id = t.${spec.idColumn}::text)`;
}

/** Rows as one lossless JSON parameter, each numbered `n` (1, 2, …) in the given order. */
function numbered(recs: Row[]): string {
  return canonicalJson(recs.map((r, i) => ({ ...r, n: new JsonNumber(String(i + 1)) })));
}

/**
 * SQL listing the JSONB columns of row `t` that are SQL NULL, read once per table and
 * transaction (a migration may add a column between two applies).
 */
const nullsExpr = new WeakMap<Tx, Map<string, Promise<string>>>();

function sqlNulls(tx: Tx, table: string): Promise<string> {
  let byTable = nullsExpr.get(tx);
  if (!byTable) nullsExpr.set(tx, byTable = new Map());
  let expr = byTable.get(table);
  if (!expr) {
    expr = tx<{ name: string }[]>`
      select attname as name from pg_catalog.pg_attribute
      where attrelid = ${table}::regclass and attnum > 0 and not attisdropped
        and atttypid = 'jsonb'::regtype
      order by attnum`.then((cols) =>
      cols.length
        ? `array_remove(array[${
          cols.map((c) => `case when t.${c.name} is null then '${c.name}' end`).join(", ")
        }]::text[], null)`
        : `'{}'::text[]`
    );
    byTable.set(table, expr);
  }
  return expr;
}

/** The natural key of row `t` of a kind, in SQL (a parent named by its own key). */
function naturalKeySql(spec: KindSpec): string {
  const parts = spec.keyFields.map((f) => {
    if (spec.parent?.field !== f) return `t.${physicalColumn(spec, f)}::text`;
    const parent = kindSpec(spec.parent.kind);
    return `(select p.${physicalColumn(parent, parent.keyFields[0])} from ${parent.table} as p
             where p.${parent.idColumn} = t.${spec.parent.column})`;
  });
  const key = parts.length === 1 ? parts[0] : `nullif(concat_ws('/', ${parts.join(", ")}), '')`;
  return `coalesce(${key}, t.${spec.idColumn}::text)`;
}

/** Inserts one snapshot row per record matched by natural key (`k_<field>`), image or marker. */
async function insertByKey(
  tx: Tx,
  promotionId: string,
  spec: KindSpec,
  opts: { rows: Row[]; image: boolean },
): Promise<number> {
  if (!opts.rows.length) return 0;
  const before = opts.image
    ? `to_jsonb(t), ${await sqlNulls(tx, spec.table)}`
    : `null, '{}'::text[]`;
  const staged = await stageRecords(tx, {
    columns: [
      ...keyFieldColumns(spec, "k_"),
      { name: "natural_key", type: "text" },
      { name: "action", type: "text" },
      { name: "n", type: "integer" },
    ],
    rows: opts.rows.map((r, i) => ({ ...r, n: new JsonNumber(String(i + 1)) })),
  });
  const result = await tx.unsafe(
    `insert into ops.promotion_snapshots ${COLUMNS}
     select $1::uuid, ${BASE} + x.n, $2, x.natural_key, $3, t.${spec.idColumn}::text, x.action,
            ${before}
     from ${staged} as x
     join ${spec.table} as t on ${keyMatch(spec, { prefix: "k_" })}`,
    [promotionId, spec.name, spec.table],
  );
  return result.count;
}

/**
 * Before-images of the rows matched by natural key (`k_<field>` of each record), with the
 * record's `natural_key` and `action` (or `action` for all).
 *
 * @returns how many images were written
 */
export async function imageRows(
  tx: Tx,
  promotionId: string,
  opts: { spec: KindSpec; recs: Row[]; action?: string },
): Promise<number> {
  const rows = opts.recs.map((r) => ({ ...r, action: opts.action ?? r.action }));
  return await insertByKey(tx, promotionId, opts.spec, { rows, image: true });
}

/**
 * Before-images of child rows that deleting the parents in `recs` (key in `k_<field>`) would
 * remove by cascade and that the promotion has not imaged itself (e.g. archived prices, which
 * have no lookup key). Their natural key is `cascade:<id>`.
 *
 * @returns how many images were written
 */
export async function imageCascade(
  tx: Tx,
  promotionId: string,
  opts: { parent: KindSpec; recs: Row[] },
): Promise<number> {
  const { parent, recs } = opts;
  if (!recs.length) return 0;
  let written = 0;
  for (const child of KINDS.filter((k) => k.parent?.kind === parent.name)) {
    const result = await tx.unsafe(
      `insert into ops.promotion_snapshots ${COLUMNS}
       select $1::uuid, ${BASE} + row_number() over (order by t.${child.idColumn}), $2,
              'cascade:' || t.${child.idColumn}::text, $3, t.${child.idColumn}::text, 'delete',
              to_jsonb(t), ${await sqlNulls(tx, child.table)}
       from jsonb_to_recordset($4::text::jsonb) as x(${keyColumns(parent, "k_").join(", ")})
       join ${parent.table} as p on ${keyMatch(parent, { t: "p", prefix: "k_" })}
       join ${child.table} as t on t.${child.parent!.column} = p.${parent.idColumn}
       where ${notImaged(child)}`,
      [promotionId, child.name, child.table, numbered(recs)],
    );
    written += result.count;
  }
  return written;
}

/**
 * Runs an insert and writes a "created by this promotion" marker (`before` null) for every
 * row it inserted, in one statement (the rows are read once). `insert` is an
 * `insert … select … from x … returning *` over the records `x` read from `recordset` (a
 * relation aliased `x`, each record with its natural key fields, `natural_key`, `action` and a
 * number `n`).
 *
 * @returns how many markers were written (one per inserted row)
 */
export async function insertMarked(
  tx: Tx,
  promotionId: string,
  opts: { spec: KindSpec; recordset: string; insert: string },
): Promise<number> {
  const { spec } = opts;
  // A parent named by its key is resolved once per record, so the join below is on columns.
  const parent = parentLookup(spec, "x");
  const on = spec.keyFields.map((f) =>
    spec.parent?.field === f
      ? `t.${spec.parent.column} = x.__parent`
      : `t.${physicalColumn(spec, f)} = x."${f}"`
  ).join(" and ");
  const result = await tx.unsafe(
    `with x as materialized (
       select x.*${parent ? `, ${parent} as __parent` : ""} from ${opts.recordset}
     ),
     t as (${opts.insert})
     insert into ops.promotion_snapshots ${COLUMNS}
     select $1::uuid, ${BASE} + x.n, $2, x.natural_key, $3, t.${spec.idColumn}::text,
            x.action, null, '{}'::text[]
     from x join t on ${on}`,
    [promotionId, spec.name, spec.table],
  );
  return result.count;
}

/**
 * Images rows by surrogate id, for writes outside the plan (an external system's `record`):
 * the before-image of each row not imaged yet (action `update`), or — for an id with no row,
 * which the caller is about to create under that id — a "created" marker (action `create`).
 * Ids name rows of `spec.table`; a marker only makes sense where the id is the natural key.
 *
 * @returns how many images and markers were written
 */
export async function imageById(
  tx: Tx,
  promotionId: string,
  opts: { spec: KindSpec; ids: string[] },
): Promise<number> {
  const { spec, ids } = opts;
  if (!ids.length) return 0;
  const result = await tx.unsafe(
    `insert into ops.promotion_snapshots ${COLUMNS}
     select $1::uuid, ${BASE} + x.n, $2, coalesce(${naturalKeySql(spec)}, x.id), $3, x.id,
            case when t.${spec.idColumn} is null then 'create' else 'update' end,
            case when t.${spec.idColumn} is null then null else to_jsonb(t) end,
            case when t.${spec.idColumn} is null then '{}'::text[]
                 else ${await sqlNulls(tx, spec.table)} end
     from jsonb_to_recordset($4::text::jsonb) as x(id text, n integer)
     left join ${spec.table} as t on t.${spec.idColumn}::text = x.id
     where not exists (select 1 from ops.promotion_snapshots as done
                       where done.promotion_id = $1::uuid and done.table_name = $3
                         and done.row_id = x.id)`,
    [promotionId, spec.name, spec.table, numbered(ids.map((id) => ({ id })))],
  );
  return result.count;
}

/** How many rows a promotion has imaged (what `show` reports as touched). */
export async function countSnapshots(
  db: Tx | Sql,
  promotionId: string,
): Promise<number> {
  const [{ n }] = await db<{ n: number }[]>`
    select count(*)::int as n from ops.promotion_snapshots where promotion_id = ${promotionId}`;
  return n;
}
