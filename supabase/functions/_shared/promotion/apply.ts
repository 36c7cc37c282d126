/**
 * Writing a plan into the target, inside the caller's transaction: every change, and before
 * it the before-image of every row it touches (`snapshots.ts`), all or nothing.
 *
 * Order: deletions child-first (prices, features, then tiers), then per kind parent-first:
 * archivals (which release lookup keys), updates and retirements, creations (replacement
 * prices take the released key). Statements are set-based: one per kind and action, reading
 * the rows from a temporary table they were copied into (`staged.ts`).
 *
 * Runs as the connection's own role (the table owner): the data-plane path of a promotion,
 * entered only after the caller's status transition passed the database's checks in the
 * same transaction.
 *
 * @module
 */
import type postgres from "postgres";
import { JsonNumber } from "../json/lossless.ts";
import { KINDS, type KindSpec } from "./kinds.ts";
import type { Plan, PlanChange, Row } from "./plan.ts";
import { imageCascade, imageRows, insertMarked } from "./snapshots.ts";
import { fieldColumns, fieldValue, keyFieldColumns, keyMatch, physicalColumn } from "./sql.ts";
import { type StagedColumn, stageRecords } from "./staged.ts";

type Tx = postgres.TransactionSql;

/** What {@link writePlan} wrote. */
export interface WriteResult {
  snapshots: number;
  byAction: Record<string, number>;
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

/**
 * The records as relation `x` (staged by COPY, see staged.ts): the kind's fields, its key as
 * `k_<field>`, `natural_key`, `action`, `__secret` and any extra columns.
 */
async function recordset(
  tx: Tx,
  opts: { spec: KindSpec; recs: Row[]; extra?: StagedColumn[] },
): Promise<string> {
  const { spec, recs, extra = [] } = opts;
  const table = await stageRecords(tx, {
    columns: [
      ...fieldColumns(spec),
      ...keyFieldColumns(spec, "k_"),
      { name: "natural_key", type: "text" },
      { name: "action", type: "text" },
      { name: "__secret", type: "text" },
      ...extra,
    ],
    rows: recs,
  });
  return `${table} as x`;
}

async function deleteRows(tx: Tx, spec: KindSpec, recs: Row[]): Promise<void> {
  if (!recs.length) return;
  await tx.unsafe(
    `delete from ${spec.table} as t using ${await recordset(tx, { spec, recs })} where ${
      keyMatch(spec, { prefix: "k_" })
    }`,
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
     from ${await recordset(tx, { spec, recs })} where ${keyMatch(spec, { prefix: "k_" })}`,
  );
}

/** Inserts the rows and, in the same statement, their "created" markers; returns the markers. */
async function insertRows(
  tx: Tx,
  promotionId: string,
  opts: { spec: KindSpec; recs: Row[] },
): Promise<number> {
  const { spec, recs } = opts;
  if (!recs.length) return 0;
  const cols = columnsToWrite(spec);
  return await insertMarked(tx, promotionId, {
    spec,
    recordset: await recordset(tx, {
      spec,
      recs: recs.map((r, i) => ({ ...r, n: new JsonNumber(String(i + 1)) })),
      extra: [{ name: "n", type: "integer" }],
    }),
    insert: `insert into ${spec.table} (${cols.map((c) => c.column).join(", ")})
             select ${cols.map((c) => c.value).join(", ")} from x returning *`,
  });
}

/**
 * Writes every change of `plan` with its snapshots. Call inside the apply transaction.
 *
 * @param opts.secrets plaintext of the secret entries whose value changes (from the source)
 * @throws whatever Postgres raises (a violated constraint rolls the whole apply back)
 */
export async function writePlan(
  tx: Tx,
  plan: Plan,
  opts: { promotionId: string; secrets: Map<string, string> },
): Promise<WriteResult> {
  const { promotionId, secrets } = opts;
  // Records come from temporary tables without statistics: at scale the planner's guesses
  // reach millions of rows, so it compiled the statements with JIT (a quarter second each)
  // and sorted on disk. Neither pays for one set-based statement per kind and action.
  await tx`set local jit = off`;
  await tx`set local work_mem = '64MB'`;
  let snapshots = 0;
  const image = async (n: Promise<number>) => void (snapshots += await n);
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
    await image(imageRows(tx, promotionId, { spec, recs: gone }));
    await image(imageCascade(tx, promotionId, { parent: spec, recs: gone }));
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
      rec[spec.activeField!] = false;
      for (const f of spec.keyFields) rec[f] = null;
      return rec;
    });
    await image(imageRows(tx, promotionId, { spec, recs: released }));
    await updateRows(tx, spec, released);

    const updated = of(spec, "update", "retire");
    await image(imageRows(tx, promotionId, { spec, recs: updated }));
    await updateRows(tx, spec, updated);

    await image(insertRows(tx, promotionId, { spec, recs: of(spec, "create", "replace") }));
  }
  return { snapshots, byAction };
}
