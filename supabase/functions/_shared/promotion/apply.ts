/**
 * Writing a plan into the target, inside the caller's transaction: every change, and before
 * it the before-image of every row it touches (`ops.promotion_snapshots`), all or nothing.
 *
 * Order: deletions child-first (prices, features, then tiers), then per kind parent-first:
 * archivals (which release lookup keys), updates and retirements, creations (replacement
 * prices take the released key). Statements are set-based: one per kind and action, the
 * rows travel as one JSONB parameter in canonical (lossless) JSON.
 *
 * Runs as the connection's own role (the table owner): the data-plane path of a promotion,
 * entered only after the caller's status transition passed the database's checks in the
 * same transaction.
 *
 * @module
 */
import type postgres from "postgres";
import { canonicalJson, toJsonValue } from "../json/lossless.ts";
import { KINDS, type KindSpec } from "./kinds.ts";
import type { Plan, PlanChange, Row } from "./plan.ts";
import { fieldValue, keyColumns, keyMatch, physicalColumn, recordsetColumns } from "./sql.ts";

type Tx = postgres.TransactionSql;

/** What {@link writePlan} wrote. */
export interface WriteResult {
  snapshots: number;
  byAction: Record<string, number>;
}

/** Rows as one lossless JSON parameter. */
function param(rows: unknown[]): string {
  return canonicalJson(toJsonValue(rows));
}

/** Records with the change's `after` fields plus its key from `before` (as `k_<field>`). */
function records(spec: KindSpec, changes: PlanChange[], secrets: Map<string, string>): Row[] {
  return changes.map((c) => {
    const rec: Row = { ...(c.after ?? {}) };
    for (const f of spec.keyFields) rec[`k_${f}`] = (c.before ?? c.after)![f];
    rec.natural_key = c.key;
    rec.action = c.action;
    if (spec.secret && secrets.has(c.key)) rec.__secret = secrets.get(c.key)!;
    return rec;
  });
}

/** The JSONB columns of a table (to record which were SQL NULL in a before-image). */
async function jsonbColumns(tx: Tx, table: string): Promise<string[]> {
  const rows = await tx<{ name: string }[]>`
    select attname as name from pg_catalog.pg_attribute
    where attrelid = ${table}::regclass and attnum > 0 and not attisdropped
      and atttypid = 'jsonb'::regtype
    order by attnum`;
  return rows.map((r) => r.name);
}

class SnapshotWriter {
  seq = 0;
  private nullsExpr = new Map<string, string>();
  constructor(readonly tx: Tx, readonly promotionId: string) {}

  /** SQL listing the JSONB columns of row `t` that are SQL NULL. */
  private async sqlNulls(table: string): Promise<string> {
    let expr = this.nullsExpr.get(table);
    if (!expr) {
      const cols = await jsonbColumns(this.tx, table);
      expr = cols.length
        ? `array_remove(array[${
          cols.map((c) => `case when t.${c} is null then '${c}' end`).join(", ")
        }]::text[], null)`
        : `'{}'::text[]`;
      this.nullsExpr.set(table, expr);
    }
    return expr;
  }

  /** Before-images of the rows matched by `recs` (key in `k_<field>`). */
  async before(spec: KindSpec, recs: Row[], action?: string): Promise<void> {
    if (!recs.length) return;
    const withSeq = recs.map((r) => ({ ...r, seq: ++this.seq, action: action ?? r.action }));
    await this.tx.unsafe(
      `insert into ops.promotion_snapshots
         (promotion_id, seq, kind, natural_key, table_name, row_id, action, before, sql_nulls)
       select $1::uuid, x.seq, $2, x.natural_key, $3, t.${spec.idColumn}::text, x.action,
              to_jsonb(t), ${await this.sqlNulls(spec.table)}
       from jsonb_to_recordset($4::text::jsonb)
         as x(${
        [...keyColumns(spec, "k_"), "natural_key text", "action text", "seq integer"].join(", ")
      })
       join ${spec.table} as t on ${keyMatch(spec, { prefix: "k_" })}`,
      [this.promotionId, spec.name, spec.table, param(withSeq)],
    );
  }

  /**
   * Before-images of child rows that deleting the parents in `recs` would remove by cascade
   * and that the plan does not list itself (e.g. archived prices, which have no lookup key).
   */
  async cascaded(parent: KindSpec, recs: Row[]): Promise<void> {
    if (!recs.length) return;
    for (const child of KINDS.filter((k) => k.parent?.kind === parent.name)) {
      const [{ n }] = await this.tx.unsafe(
        `with inserted as (
           insert into ops.promotion_snapshots
             (promotion_id, seq, kind, natural_key, table_name, row_id, action, before, sql_nulls)
           select $1::uuid, $2::int + row_number() over (order by t.${child.idColumn}), $3,
                  'cascade:' || t.${child.idColumn}::text, $4, t.${child.idColumn}::text, 'delete',
                  to_jsonb(t), ${await this.sqlNulls(child.table)}
           from jsonb_to_recordset($5::text::jsonb)
             as x(${[...keyColumns(parent, "k_")].join(", ")})
           join ${parent.table} as p on ${keyMatch(parent, { t: "p", prefix: "k_" })}
           join ${child.table} as t on t.${child.parent!.column} = p.${parent.idColumn}
           where not exists (
             select 1 from ops.promotion_snapshots as s
             where s.promotion_id = $1::uuid and s.table_name = $4
               and s.row_id = t.${child.idColumn}::text)
           returning 1)
         select count(*)::int as n from inserted`,
        [this.promotionId, this.seq, child.name, child.table, param(recs)],
      );
      this.seq += n as number;
    }
  }

  /** "Created by this promotion" markers (before = null) for rows now matching `recs`. */
  async created(spec: KindSpec, recs: Row[]): Promise<void> {
    if (!recs.length) return;
    const withSeq = recs.map((r) => {
      const rec: Record<string, unknown> = {
        seq: ++this.seq,
        natural_key: r.natural_key,
        action: r.action,
      };
      for (const f of spec.keyFields) rec[`k_${f}`] = r[f];
      return rec;
    });
    await this.tx.unsafe(
      `insert into ops.promotion_snapshots
         (promotion_id, seq, kind, natural_key, table_name, row_id, action, before)
       select $1::uuid, x.seq, $2, x.natural_key, $3, t.${spec.idColumn}::text, x.action, null
       from jsonb_to_recordset($4::text::jsonb)
         as x(${
        [...keyColumns(spec, "k_"), "natural_key text", "action text", "seq integer"].join(", ")
      })
       join ${spec.table} as t on ${keyMatch(spec, { prefix: "k_" })}`,
      [this.promotionId, spec.name, spec.table, param(withSeq)],
    );
  }
}

/**
 * Column ← value pairs of a write. `jsonb_to_recordset` reads a JSON null as SQL NULL, so a
 * JSONB field holding JSON `null` is written back as `'null'::jsonb`; only a secret row's
 * value is SQL NULL.
 */
function columnsToWrite(spec: KindSpec): { column: string; value: string }[] {
  const out = spec.fields.map((f) => {
    let value = fieldValue(spec, f.name);
    if (f.type === "jsonb") {
      value = spec.secret?.valueField === f.name
        ? `case when x."${spec.secret.flagField}" then null else coalesce(${value}, 'null'::jsonb) end`
        : `coalesce(${value}, 'null'::jsonb)`;
    }
    return { column: physicalColumn(spec, f.name), value };
  });
  if (spec.secret) {
    out.push({
      column: spec.secret.ciphertextColumn,
      value:
        `case when x."${spec.secret.flagField}" then private.encrypt_config_secret(x.__secret) end`,
    });
  }
  return out;
}

function recordset(spec: KindSpec): string {
  return `jsonb_to_recordset($1::text::jsonb) as x(${
    recordsetColumns(spec, [
      ...keyColumns(spec, "k_"),
      "natural_key text",
      "action text",
      "__secret text",
    ])
  })`;
}

async function deleteRows(tx: Tx, spec: KindSpec, recs: Row[]): Promise<void> {
  if (!recs.length) return;
  await tx.unsafe(
    `delete from ${spec.table} as t using ${recordset(spec)} where ${
      keyMatch(spec, { prefix: "k_" })
    }`,
    [param(recs)],
  );
}

async function updateRows(tx: Tx, spec: KindSpec, recs: Row[]): Promise<void> {
  if (!recs.length) return;
  const sets = columnsToWrite(spec).map(({ column, value }) =>
    spec.secret && column === spec.secret.ciphertextColumn
      // Unchanged secret (no plaintext fetched): keep the ciphertext the target has.
      ? `${column} = case when x."${spec.secret.flagField}" then coalesce(private.encrypt_config_secret(x.__secret), t.${column}) end`
      : `${column} = ${value}`
  );
  await tx.unsafe(
    `update ${spec.table} as t set ${sets.join(", ")}
     from ${recordset(spec)} where ${keyMatch(spec, { prefix: "k_" })}`,
    [param(recs)],
  );
}

async function insertRows(tx: Tx, spec: KindSpec, recs: Row[]): Promise<void> {
  if (!recs.length) return;
  const cols = columnsToWrite(spec);
  await tx.unsafe(
    `insert into ${spec.table} (${cols.map((c) => c.column).join(", ")})
     select ${cols.map((c) => c.value).join(", ")} from ${recordset(spec)}`,
    [param(recs)],
  );
}

/**
 * Writes every change of `plan` with its snapshots. Call inside the apply transaction.
 *
 * @param secrets plaintext of the secret entries whose value changes (from the source)
 * @throws whatever Postgres raises (a violated constraint rolls the whole apply back)
 */
export async function writePlan(
  tx: Tx,
  promotionId: string,
  plan: Plan,
  secrets: Map<string, string>,
): Promise<WriteResult> {
  const snaps = new SnapshotWriter(tx, promotionId);
  const byAction: Record<string, number> = {};
  for (const c of plan.changes) byAction[c.action] = (byAction[c.action] ?? 0) + 1;
  const of = (spec: KindSpec, ...actions: string[]) =>
    records(
      spec,
      plan.changes.filter((c) => c.kind === spec.name && actions.includes(c.action)),
      secrets,
    );

  for (const spec of [...KINDS].sort((a, b) => b.order - a.order)) {
    const gone = of(spec, "delete");
    await snaps.before(spec, gone);
    await snaps.cascaded(spec, gone);
    await deleteRows(tx, spec, gone);
  }
  for (const spec of [...KINDS].sort((a, b) => a.order - b.order)) {
    // A replaced price first releases its lookup key: archived like a removed one.
    const released = of(spec, "archive", "replace").map((r) => {
      if (r.action !== "replace") return r;
      const old = plan.changes.find((c) => c.kind === spec.name && c.key === r.natural_key)!
        .before!;
      const rec: Row = {
        ...old,
        ...Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith("k_"))),
      };
      rec.natural_key = r.natural_key;
      rec.action = "replace";
      rec.active = false;
      for (const f of spec.keyFields) rec[f] = null;
      return rec;
    });
    await snaps.before(spec, released);
    await updateRows(tx, spec, released);

    const updated = of(spec, "update", "retire");
    await snaps.before(spec, updated);
    await updateRows(tx, spec, updated);

    const fresh = of(spec, "create", "replace");
    await insertRows(tx, spec, fresh);
    await snaps.created(spec, fresh);
  }
  return { snapshots: snaps.seq, byAction };
}
