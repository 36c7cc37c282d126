/**
 * The `users.copy` job kind: a user copy as a resumable job living in the TARGET's
 * `ops.jobs`, so every batch and its checkpoint commit in one target transaction. Phases:
 * `preflight` (skipped when the CLI already ran it) → `copy` (`parallel` slots, each copying
 * one table batch after batch, then the next, until the step's deadline; anonymized batches
 * also store their fingerprints for the leak scan) → `validate` → `audit` → done.
 *
 * The manifest is the kind's own (the one the code ships, {@link SHIPPED_MANIFEST}), never
 * one from the parameters: a job only names the manifest's hash, and a job naming another
 * hash is refused before anything is read or written.
 *
 * The source is reached through `host.dbUrl(source_env)`; the key through
 * `host.secret("STAGECOACH_ANON_KEY")` (its fingerprint must match the job's), the test
 * password through `host.secret("STAGECOACH_TEST_PASSWORD")`. Parameters hold no secret.
 *
 * @module
 */
import postgres from "postgres";
import { z } from "zod";
import type { Queryable, Sql } from "../db.ts";
import type { JobContext, JobKind } from "../jobs/registry.ts";
import { JobFailure } from "../jobs/runner.ts";
import { asServiceSession } from "../jobs/store.ts";
import { type BatchResult, copyBatch, type LoadMode } from "./copy_stream.ts";
import { bcryptSalt, chooseAnonKey, keyFingerprint, leakSeed, sqlKey } from "./key.ts";
import { type Manifest, SHIPPED_MANIFEST, SHIPPED_MANIFEST_HASH } from "./manifest.ts";
import { buildTableSelect } from "./mask_sql.ts";
import { maskOptions, type Preflight, preflightCopy } from "./preflight.ts";
import { assertSafeWhere, describeSelection, USER_TABLES, type UserTable } from "./scope.ts";
import { DEFAULT_STATEMENT_TIMEOUT_S } from "./source_reader.ts";
import {
  batchFingerprintCopy,
  describeProblems,
  fingerprintedTables,
  storedFingerprintsComplete,
  validateCopy,
  type ValidationReport,
} from "./validate.ts";

/** The job kind's name. */
export const USERS_COPY_KIND = "users.copy";

const EnvNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/);

/** A `--where` predicate: its shape is checked (no `;`, comments, …) wherever it is parsed. */
const WhereSchema = z.string().min(1).max(2000).superRefine((where, ctx) => {
  try {
    assertSafeWhere(where);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
  }
});

/**
 * Parameters of a `users.copy` job (no secrets: the key is only its fingerprint; no manifest:
 * only the hash of the one the code ships). Strict: unknown keys are refused, as the database
 * refuses them (`private.job_param_problems`).
 */
export const UsersCopyParamsSchema = z.strictObject({
  source_env: EnvNameSchema,
  target_env: EnvNameSchema,
  mode: z.enum(["anonymized", "faithful"]),
  selection: z.strictObject({
    sample: z.number().gt(0).max(100).optional(),
    where: WhereSchema.optional(),
  }),
  batch_size: z.number().int().min(1).max(1_000_000).default(20_000),
  parallel: z.number().int().min(1).max(4).default(2),
  key_fingerprint: z.string().regex(/^[0-9a-f]{16}$/).nullable(),
  manifest_hash: z.string().regex(/^[0-9a-f]{64}$/),
  promotion_id: z.uuid().nullable(),
  /** Who asked (an email or `cli:<os user>@<host>`), for the audit trail. */
  actor: z.string().max(200).optional(),
  /** Statement timeout of every source statement, in seconds (`source_reader.ts`). */
  statement_timeout_s: z.number().int().min(1).max(600).default(DEFAULT_STATEMENT_TIMEOUT_S),
});
/** Parameters of a `users.copy` job. */
export type UsersCopyParams = z.infer<typeof UsersCopyParamsSchema>;

/** What a slice shares between its steps. */
interface CopyResources {
  source: Sql;
  sqlKey: string | null;
  passwordHash: string | null;
  /** The kind's manifest (never the parameters'). */
  manifest: Manifest;
}

/** A table's keyset cursor. */
interface TableCursor {
  after: string | null;
  done: boolean;
}

function cursorOf(ctx: JobContext<UsersCopyParams>, table: string): TableCursor {
  const c = ctx.job.cursor[table] as Partial<TableCursor> | undefined;
  return { after: c?.after ?? null, done: c?.done ?? false };
}

function needsPassword(manifest: Manifest): boolean {
  return Object.values(manifest.tables).some((cols) =>
    Object.values(cols).some((r) => r.rule === "password")
  );
}

/**
 * The derived SQL key and fingerprint for a job's mode, from the host's secret.
 *
 * @throws {JobFailure} `key_missing` (anonymized without a key) or `key_mismatch` (a different
 * key than the one the job started with: its output would not match what is already copied)
 */
async function jobKey(
  ctx: JobContext<UsersCopyParams>,
): Promise<{ key: string | null; sqlKey: string | null }> {
  if (ctx.params.mode === "faithful") return { key: null, sqlKey: null };
  let key: string;
  try {
    key = chooseAnonKey({ envValue: ctx.host.secret("STAGECOACH_ANON_KEY") });
  } catch (err) {
    throw new JobFailure("key_missing", (err as Error).message);
  }
  const fp = await keyFingerprint(key);
  if (fp !== ctx.params.key_fingerprint) {
    throw new JobFailure(
      "key_mismatch",
      `Cannot resume ${ctx.job.id}: the key's fingerprint is ${fp}, the job started with ${ctx.params.key_fingerprint}`,
    );
  }
  return { key, sqlKey: await sqlKey(key) };
}

/**
 * The bcrypt hash anonymized users get: the test password hashed with a salt derived from the
 * key, so every run with the same key writes the same hash.
 *
 * @param sql any database with pgcrypto (`extensions.crypt`)
 * @param opts.key the anonymization key
 * @param opts.password the test password (`STAGECOACH_TEST_PASSWORD`)
 * @param opts.cost the bcrypt cost (the manifest's `password_cost`)
 * @throws {JobFailure} `test_password_missing` when the host has no test password
 * @example
 * ```ts
 * const hash = await testPasswordHash(sql, { key, password, cost: manifest.password_cost });
 * ```
 */
export async function testPasswordHash(
  sql: Sql,
  opts: { key: string; password: string | undefined; cost: number },
): Promise<string> {
  const { key, password, cost } = opts;
  if (!password || password.length < 8) {
    throw new JobFailure(
      "test_password_missing",
      "Cannot anonymize passwords: STAGECOACH_TEST_PASSWORD is not set (8 characters or more), the password anonymized users will log in with",
    );
  }
  const salt = await bcryptSalt(key, cost);
  const [{ hash }] = await sql<
    { hash: string }[]
  >`select extensions.crypt(${password}, ${salt}) as hash`;
  return hash;
}

async function stepPreflight(ctx: JobContext<UsersCopyParams>, r: CopyResources) {
  const p = ctx.params;
  const pre = await preflightCopy({
    source: r.source,
    target: ctx.sql,
    sourceEnv: p.source_env,
    targetEnv: p.target_env,
    mode: p.mode,
    selection: p.selection,
    manifest: r.manifest,
    sqlKey: r.sqlKey,
    statementTimeoutS: p.statement_timeout_s,
    promotionId: p.promotion_id ?? undefined,
  });
  await ctx.checkpoint({ totals: pre.totals, state: { phase: "copy", preflight: pre } });
}

async function stepCopy(ctx: JobContext<UsersCopyParams>, r: CopyResources) {
  const p = ctx.params;
  const pre = ctx.job.state.preflight as Preflight;
  const opts = maskOptions(pre, {
    manifest: r.manifest,
    mode: p.mode,
    passwordHash: r.passwordHash,
  });
  const pending = USER_TABLES.filter((t) => !cursorOf(ctx, t.name).done);
  if (!pending.length) {
    await ctx.checkpoint({ state: { phase: "validate", copied_at: new Date().toISOString() } });
    return;
  }
  // Anonymized copies store the source's fingerprints batch by batch, for the leak scan.
  const fingerprinted = new Set(
    p.mode === "anonymized" ? fingerprintedTables(r.manifest, pre.columns) : [],
  );
  const num = (key: string) => Number(ctx.job.state[key] ?? 0);
  const copyNext = async (table: UserTable): Promise<BatchResult> => {
    const select = buildTableSelect(table, {
      rules: r.manifest.tables[table.name] ?? {},
      columns: pre.columns[table.name],
      mask: opts,
    });
    const cursor = cursorOf(ctx, table.name);
    const changedKey = `changed:${table.name}`;
    const fp = fingerprinted.has(table.name);
    const fpKeys = { batches: `fp_batches:${table.name}`, rows: `fp_rows:${table.name}` };
    return await copyBatch({
      source: r.source,
      target: ctx.sql,
      table,
      select,
      selection: p.selection,
      after: cursor.after,
      batchSize: p.batch_size,
      sqlKey: select.usesKey || fp ? r.sqlKey : null,
      statementTimeoutS: p.statement_timeout_s,
      load: pre.load[table.name] as LoadMode,
      alongside: fp
        ? (where) =>
          batchFingerprintCopy({
            jobId: ctx.job.id,
            table,
            manifest: r.manifest,
            columns: pre.columns[table.name],
            where,
          })
        : undefined,
      checkpoint: (tx, b: BatchResult) =>
        ctx.checkpoint({
          cursor: { [table.name]: { after: b.last, done: b.done } },
          counts: { [table.name]: Number(ctx.job.counts[table.name] ?? 0) + b.rows },
          state: {
            [changedKey]: num(changedKey) + b.changed,
            ...(b.alongside
              ? {
                [fpKeys.batches]: num(fpKeys.batches) + 1,
                [fpKeys.rows]: num(fpKeys.rows) + b.rows,
              }
              : {}),
          },
        }, tx),
    });
  };
  // Each of `parallel` slots copies one table batch after batch and then takes the next table
  // nobody copies, until the step's time is up (every slot copies at least one batch): tables
  // of different sizes do not wait for each other at every batch.
  const queue = [...pending];
  let longest = 0;
  const slot = async () => {
    let table = queue.shift();
    while (table) {
      const t0 = Date.now();
      const b = await copyNext(table);
      longest = Math.max(longest, Date.now() - t0);
      if (b.done) table = queue.shift();
      if (Date.now() + longest > ctx.deadline) return;
    }
  };
  const slots = await Promise.allSettled(Array.from({ length: p.parallel }, slot));
  const failed = slots.find((x) => x.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * The job's stored fingerprints and seed, when its batches stored them for every copied row
 * of every fingerprinted table (and they are all still there); otherwise undefined, and the
 * leak scan reads the source again.
 */
async function storedFingerprints(
  ctx: JobContext<UsersCopyParams>,
  r: CopyResources,
): Promise<{ jobId: string; seed: string } | undefined> {
  if (ctx.params.mode !== "anonymized" || !r.sqlKey) return undefined;
  const pre = ctx.job.state.preflight as Preflight;
  const num = (key: string) => Number(ctx.job.state[key] ?? 0);
  const expected = Object.fromEntries(
    fingerprintedTables(r.manifest, pre.columns).map((t) => [
      t,
      num(`fp_rows:${t}`) === Number(ctx.job.counts[t] ?? 0) ? num(`fp_batches:${t}`) : null,
    ]),
  );
  if (!(await storedFingerprintsComplete(ctx.sql, ctx.job.id, expected))) return undefined;
  return { jobId: ctx.job.id, seed: await leakSeed(r.sqlKey, ctx.job.id) };
}

async function stepValidate(ctx: JobContext<UsersCopyParams>, r: CopyResources) {
  const p = ctx.params;
  const stored = await storedFingerprints(ctx, r);
  const report: ValidationReport = await validateCopy({
    stored,
    jobId: ctx.job.id,
    source: r.source,
    target: ctx.sql,
    manifest: r.manifest,
    mode: p.mode,
    selection: p.selection,
    sqlKey: r.sqlKey,
    statementTimeoutS: p.statement_timeout_s,
  });
  if (!report.ok) {
    const problems = describeProblems(report);
    const leaked = (report.leak_scan?.leaks.length ?? 0) > 0;
    await appendAudit(ctx.sql, "users.copy.failed", ctx, { validation: report }, p.target_env);
    throw new JobFailure(
      leaked ? "leak_detected" : "validation_failed",
      `Cannot complete the copy: ${problems.join("; ")}${
        leaked ? ` (the ${report.leak_scan!.purged_users} copied users were removed again)` : ""
      }`,
      { validation: report },
    );
  }
  await ctx.checkpoint({
    state: { phase: "audit", validation: report, validated_at: new Date().toISOString() },
  });
}

function auditDetails(ctx: JobContext<UsersCopyParams>, extra: Record<string, unknown>) {
  const p = ctx.params;
  return {
    job_id: ctx.job.id,
    actor: p.actor ?? ctx.host.owner,
    source_env: p.source_env,
    target_env: p.target_env,
    mode: p.mode,
    selection: describeSelection(p.selection),
    rows: ctx.job.counts,
    key_fingerprint: p.key_fingerprint,
    manifest_hash: p.manifest_hash,
    promotion_id: p.promotion_id,
    ...extra,
  };
}

async function appendAudit(
  sql: Queryable,
  action: string,
  ctx: JobContext<UsersCopyParams>,
  extra: Record<string, unknown>,
  environment: string,
): Promise<void> {
  const write = async (tx: postgres.TransactionSql) => {
    await asServiceSession(tx);
    await tx`
      select ops.append_audit(${action}, 'job', ${ctx.job.id}, ${
      tx.json(auditDetails(ctx, extra) as postgres.JSONValue)
    }, ${environment})`;
  };
  if ("begin" in sql) await sql.begin(write);
  else await write(sql);
}

async function stepAudit(ctx: JobContext<UsersCopyParams>, r: CopyResources) {
  const p = ctx.params;
  const validation = ctx.job.state.validation as ValidationReport;
  const changed = Object.fromEntries(
    USER_TABLES.map((t) => [t.name, Number(ctx.job.state[`changed:${t.name}`] ?? 0)]),
  );
  const summary = { changed, validation_ok: validation.ok };
  // The source records that its users were exported (once, even if this step is retried).
  const [{ seen }] = await r.source<{ seen: boolean }[]>`
    select exists (
      select 1 from ops.audit_log
      where action = 'users.copy.export' and subject_type = 'job' and subject_id = ${ctx.job.id}
    ) as seen`;
  if (!seen) await appendAudit(r.source, "users.copy.export", ctx, summary, p.source_env);
  await ctx.sql.begin(async (tx) => {
    await appendAudit(tx, "users.copy", ctx, summary, p.target_env);
    await ctx.checkpoint({ state: { phase: "done" } }, tx);
  });
}

/** What a `users.copy` kind is built from. */
export interface UsersCopyKindOptions {
  /** The manifest every copy of this kind uses. */
  manifest: Manifest;
  /** Its hash ({@link manifestHash}): a job naming another one is refused. */
  manifestHash: string;
}

/**
 * Refuses a job that names another manifest than the kind's: it was queued for other rules
 * (an older release, or a hand-written row), and running it would copy under rules nobody
 * checked. Nothing has been read or written yet when this runs.
 *
 * @throws {JobFailure} `manifest_mismatch`, naming both hashes
 */
function assertManifest(ctx: JobContext<UsersCopyParams>, hash: string): void {
  if (ctx.params.manifest_hash !== hash) {
    throw new JobFailure(
      "manifest_mismatch",
      `Cannot run job ${ctx.job.id}: its manifest_hash ${ctx.params.manifest_hash} differs from the hash of the manifest this code ships, ${hash} (supabase/anonymize.json); nothing was copied`,
      { job_manifest_hash: ctx.params.manifest_hash, shipped_manifest_hash: hash },
    );
  }
}

/**
 * Builds a `users.copy` kind around a manifest. Production code registers
 * {@link usersCopyKind} (the shipped manifest); tests build one around a manifest of their own.
 *
 * @param opts the manifest and its hash
 * @returns the kind
 * @example
 * ```ts
 * const kind = createUsersCopyKind({ manifest, manifestHash: await manifestHash(manifest) });
 * ```
 */
export function createUsersCopyKind(
  opts: UsersCopyKindOptions,
): JobKind<UsersCopyParams, CopyResources> {
  const { manifest } = opts;
  return {
    kind: USERS_COPY_KIND,
    paramsSchema: UsersCopyParamsSchema,
    async open(ctx) {
      assertManifest(ctx, opts.manifestHash);
      const p = ctx.params;
      const { key, sqlKey } = await jobKey(ctx);
      let passwordHash: string | null = null;
      if (p.mode === "anonymized" && key && needsPassword(manifest)) {
        passwordHash = await testPasswordHash(ctx.sql, {
          key,
          password: ctx.host.secret("STAGECOACH_TEST_PASSWORD"),
          cost: manifest.password_cost,
        });
      }
      const source = postgres(ctx.host.dbUrl(p.source_env), {
        max: p.parallel + 1,
        prepare: false,
        onnotice: () => {},
        connection: { application_name: "stagecoach_users_copy" },
      });
      return { source, sqlKey, passwordHash, manifest };
    },
    async step(ctx, r) {
      const phase = String(ctx.job.state.phase ?? "preflight");
      switch (phase) {
        case "preflight":
          await stepPreflight(ctx, r);
          return { done: false };
        case "copy":
          await stepCopy(ctx, r);
          return { done: false };
        case "validate":
          await stepValidate(ctx, r);
          return { done: false };
        case "audit":
          await stepAudit(ctx, r);
          return { done: false };
        default:
          return {
            done: true,
            result: {
              rows: ctx.job.counts,
              changed: Object.fromEntries(
                USER_TABLES.map((
                  t,
                ) => [t.name, Number(ctx.job.state[`changed:${t.name}`] ?? 0)]),
              ),
              validation: ctx.job.state.validation,
              key_fingerprint: ctx.params.key_fingerprint,
              manifest_hash: opts.manifestHash,
            },
          };
      }
    },
    async close(r) {
      await r.source.end({ timeout: 5 });
    },
  };
}

/**
 * The `users.copy` job kind with the manifest the code ships. Where jobs run (the CLI, the
 * ops-worker) it goes in the registry they build: `createJobRegistry([usersCopyKind, …])`.
 */
export const usersCopyKind: JobKind<UsersCopyParams, CopyResources> = createUsersCopyKind({
  manifest: SHIPPED_MANIFEST,
  manifestHash: SHIPPED_MANIFEST_HASH,
});
