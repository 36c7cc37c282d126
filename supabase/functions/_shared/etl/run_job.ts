/**
 * The `etl.run` job kind: runs a repository transform over its table in keyset batches.
 * Each batch reads rows that match the transform's guard after the cursor (locked), applies
 * the pure row transform, writes the changed rows (guard checked again) and records its
 * checkpoint — all in one transaction of the environment's database, where the job lives. A
 * run killed at any point resumes after the last committed batch; a second run changes
 * nothing because the guard no longer matches. The last step appends an `etl.run` audit entry.
 *
 * @module
 */
import postgres from "postgres";
import { z } from "zod";
import type { Sql } from "../db.ts";
import type { JobKind } from "../jobs/registry.ts";
import { JobFailure } from "../jobs/runner.ts";
import { asServiceSession } from "../jobs/store.ts";
import {
  type EtlRow,
  findTransform,
  type PreviewRow,
  previewRows,
  type Transform,
} from "./transform.ts";

/** The job kind's name. */
export const ETL_RUN_KIND = "etl.run";

/** Parameters of an `etl.run` job. */
export const EtlRunParamsSchema = z.object({
  transform_id: z.string().regex(/^[a-z_][a-z0-9_]*$/),
  version: z.number().int().positive(),
  env: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
  batch_size: z.number().int().min(1).max(100_000).default(1000),
  actor: z.string().max(200).optional(),
});
/** Parameters of an `etl.run` job. */
export type EtlRunParams = z.infer<typeof EtlRunParamsSchema>;

const q = (name: string) => name.split(".").map((p) => `"${p}"`).join(".");

/** Column types of a table (`format_type`), by column. */
async function columnTypes(sql: Sql, table: string): Promise<Record<string, string>> {
  const rows = await sql<{ name: string; type: string }[]>`
    select a.attname as name, format_type(a.atttypid, a.atttypmod) as type
    from pg_catalog.pg_attribute as a
    where a.attrelid = ${table}::regclass and a.attnum > 0 and not a.attisdropped`;
  return Object.fromEntries(rows.map((r) => [r.name, r.type]));
}

/**
 * Checks that the table has every column the transform names.
 *
 * @throws {JobFailure} `etl_schema_mismatch` naming the missing columns
 */
async function checkColumns(sql: Sql, t: Transform): Promise<Record<string, string>> {
  const types = await columnTypes(sql, t.table).catch(() => ({} as Record<string, string>));
  const missing = [t.key, ...t.reads, ...t.writes].filter((c) => !(c in types));
  if (missing.length) {
    throw new JobFailure(
      "etl_schema_mismatch",
      `Cannot run ETL transform ${t.id}: ${t.table} has no column ${
        missing.join(", ")
      } (is its migration applied?)`,
    );
  }
  return types;
}

function selectBatch(t: Transform, opts: { after: boolean; limit: number; lock: boolean }): string {
  const cols = [...new Set([t.key, ...t.reads, ...t.writes])].map(q).join(", ");
  return `select ${cols} from ${q(t.table)}
          where (${t.guard}) ${opts.after ? `and ${q(t.key)} > $1` : ""}
          order by ${q(t.key)} limit ${opts.limit}${opts.lock ? " for update" : ""}`;
}

/**
 * Rows still to transform and a preview of the first few, before → after. Reads only.
 *
 * @throws {JobFailure} `etl_schema_mismatch` when the table lacks a column
 */
export async function etlDryRun(
  sql: Sql,
  t: Transform,
  opts: { samples?: number } = {},
): Promise<{ pending: number; preview: PreviewRow[] }> {
  await checkColumns(sql, t);
  const [{ n }] = await sql.unsafe(
    `select count(*)::bigint as n from ${q(t.table)} where (${t.guard})`,
  );
  const rows = await sql.unsafe(
    selectBatch(t, { after: false, limit: opts.samples ?? 5, lock: false }),
  );
  return { pending: Number(n), preview: previewRows(t, rows as unknown as EtlRow[]) };
}

/** Rows a transform still has to process (for the job's totals). */
export async function etlPending(sql: Sql, t: Transform): Promise<number> {
  const [{ n }] = await sql.unsafe(
    `select count(*)::bigint as n from ${q(t.table)} where (${t.guard})`,
  );
  return Number(n);
}

/** What a slice shares. */
interface EtlResources {
  transform: Transform;
  types: Record<string, string>;
}

/**
 * Creates the `etl.run` kind over the repository's transforms. Where jobs run (the CLI, the
 * ops-worker) it goes in the registry they build: `createJobRegistry([createEtlKind(ETL_TRANSFORMS), …])`.
 */
export function createEtlKind(
  transforms: readonly Transform[],
): JobKind<EtlRunParams, EtlResources> {
  return {
    kind: ETL_RUN_KIND,
    paramsSchema: EtlRunParamsSchema,
    async open(ctx) {
      let transform: Transform;
      try {
        transform = findTransform(transforms, ctx.params.transform_id);
      } catch (err) {
        throw new JobFailure("etl_unknown_transform", (err as Error).message);
      }
      if (transform.version !== ctx.params.version) {
        throw new JobFailure(
          "etl_version_changed",
          `Cannot resume ${ctx.job.id}: ${transform.id} is at version ${transform.version} in this code, the job ran version ${ctx.params.version}`,
        );
      }
      return { transform, types: await checkColumns(ctx.sql, transform) };
    },
    async step(ctx, { transform: t, types }) {
      const p = ctx.params;
      if (ctx.job.state.phase === "done") {
        return {
          done: true,
          result: {
            transform: t.id,
            version: t.version,
            processed: ctx.job.counts[t.table] ?? 0,
            changed: ctx.job.state.changed ?? 0,
          },
        };
      }
      if (ctx.job.state.phase === "audit") {
        await ctx.sql.begin(async (tx) => {
          const details = {
            job_id: ctx.job.id,
            actor: p.actor ?? ctx.host.owner,
            transform: t.id,
            version: t.version,
            table: t.table,
            processed: ctx.job.counts[t.table] ?? 0,
            changed: ctx.job.state.changed ?? 0,
          };
          await asServiceSession(tx);
          await tx`select ops.append_audit('etl.run', 'job', ${ctx.job.id}, ${
            tx.json(details as unknown as postgres.JSONValue)
          }, ${p.env})`;
          await ctx.checkpoint({ state: { phase: "done" } }, tx);
        });
        return { done: false };
      }
      const after = (ctx.job.cursor[t.table] ?? null) as string | number | null;
      await ctx.sql.begin(async (tx) => {
        const rows = await tx.unsafe(
          selectBatch(t, { after: after !== null, limit: p.batch_size, lock: true }),
          after !== null ? [after] : [],
        ) as unknown as EtlRow[];
        const updates: EtlRow[] = [];
        for (const row of rows) {
          const out = t.transform(row);
          if (out) updates.push({ ...out, [t.key]: row[t.key] });
        }
        let changed = 0;
        if (updates.length) {
          const record = [t.key, ...t.writes].map((c) => `${q(c)} ${types[c]}`).join(", ");
          const result = await tx.unsafe(
            `update ${q(t.table)} as d set ${t.writes.map((c) => `${q(c)} = v.${q(c)}`).join(", ")}
             from jsonb_to_recordset($1::jsonb) as v(${record})
             where d.${q(t.key)} = v.${q(t.key)}
               and d.${q(t.key)} in (select ${q(t.key)} from ${q(t.table)} where (${t.guard}))`,
            [updates as unknown as postgres.JSONValue],
          );
          changed = result.count;
        }
        const last = rows.length ? rows[rows.length - 1][t.key] : after;
        await ctx.checkpoint({
          cursor: { [t.table]: last as string },
          counts: { [t.table]: Number(ctx.job.counts[t.table] ?? 0) + rows.length },
          state: {
            changed: Number(ctx.job.state.changed ?? 0) + changed,
            ...(rows.length < p.batch_size ? { phase: "audit" } : {}),
          },
        }, tx);
      });
      return { done: false };
    },
  };
}
