/**
 * The promotion pipeline as the `ops` function runs it: plan, decide, apply (with drift
 * check, snapshots, validation and automatic rollback), roll back, show, validate.
 *
 * Who may do what is decided by the database as the caller (`asCaller`: role
 * `authenticated` + the caller's claims): inserting a promotion, recording a decision and
 * every status transition pass RLS policies and triggers. Two named service paths read and
 * write as the connection's owner: reading both sides for a plan (tier membership counts must
 * see every membership), and the data plane of apply and rollback, entered only in the same
 * transaction right after the caller's own status transition succeeded.
 *
 * @module
 */
import type postgres from "postgres";
import type { CallerClaims } from "../auth.ts";
import { asCaller } from "../db.ts";
import { ApiError } from "../http.ts";
import { canonicalJson, type JsonValue, parseJson } from "../json/lossless.ts";
import { type CheckResult, type CustomCheck, runChecks } from "../validation/checks.ts";
import { writePlan } from "./apply.ts";
import type { EffectsRecord, ExternalSystem } from "./external.ts";
import { type Scope, SECRET_SOURCE } from "./kinds.ts";
import {
  buildPlan,
  canonicalPlan,
  type Plan,
  type PlanChange,
  planDifferences,
  PlanRefusedError,
  type RowsByKind,
} from "./plan.ts";
import { readRows, readSecretPlaintexts, readSide, readTierUsage } from "./read.ts";
import {
  appliedVersions,
  assertPending,
  assertPushed,
  migrationsOf,
  type PendingMigration,
  SCHEMA_KIND,
  schemaChanges,
} from "./schema.ts";
import { USERS_COPY_KIND, usersCopyChange } from "./users_scope.ts";
import { findRollbackConflicts, restoreSnapshots } from "./rollback.ts";

type Sql = postgres.Sql;

/** The `source_env` of a promotion planned from a config bundle. */
export const BUNDLE_SOURCE = "bundle";

/** What the pipeline needs from the function. */
export interface PromotionContext {
  /** This environment's name (promotions are recorded in their target). */
  targetEnv: string;
  /** This environment's database, as its owner (`SUPABASE_DB_URL`). */
  target: Sql;
  /** A source environment's database. @throws {ApiError} for an unknown environment */
  sourceDb(name: string): Sql;
  /** The caller's verified claims. */
  claims: CallerClaims;
  /** The team's SQL checks. */
  customChecks(): Promise<CustomCheck[]>;
  /** External systems by scope (the target's Stripe catalog), when configured. */
  external?: Partial<Record<"stripe", ExternalSystem>>;
}

/** The external systems a scope selects. @throws {ApiError} 400 when one is not configured */
function externalsIn(ctx: PromotionContext, scope: readonly string[]): ExternalSystem[] {
  const out: ExternalSystem[] = [];
  for (const name of ["stripe"] as const) {
    if (!scope.includes(name)) continue;
    const system = ctx.external?.[name];
    if (!system) {
      throw new ApiError(
        400,
        "unknown_source",
        `Cannot plan scope ${name}: ${ctx.targetEnv} has no ${name} settings`,
      );
    }
    out.push(system);
  }
  return out;
}

/** The database scopes a read needs: Stripe plans from tiers and prices. */
function readScope(scope: readonly Scope[]): Scope[] {
  return scope.includes("stripe") && !scope.includes("tiers") ? [...scope, "tiers"] : [...scope];
}

/** The rows the target holds once the database part of the plan is applied (for externals). */
function desiredRows(scope: readonly Scope[], source: RowsByKind, target: RowsByKind): RowsByKind {
  const from = scope.includes("tiers") ? source : target;
  return { tiers: from.tiers ?? [], tier_prices: from.tier_prices ?? [] };
}

/** A promotion row as the API returns it. */
export interface PromotionRow {
  id: string;
  source_env: string;
  target_env: string;
  scope: Scope[];
  options: { include_flag_state: boolean };
  /** Present when read with the plan (show, apply); left out of summaries. */
  plan?: Plan;
  plan_hash: string;
  risk: "low" | "high";
  change_count: number;
  required_approvals: number;
  status: string;
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  applied_by: string | null;
  applied_at: string | null;
  finished_at: string | null;
  rolled_back_at: string | null;
  failure: JsonValue | null;
}

const SUMMARY_COLUMNS = `id::text, source_env, target_env, scope, options::text as options,
  plan_hash, risk, change_count, required_approvals, status::text as status,
  created_by::text, created_at, expires_at, applied_by::text, applied_at, finished_at,
  rolled_back_at, failure::text as failure`;
const PROMOTION_COLUMNS = `${SUMMARY_COLUMNS}, plan::text as plan`;

function toPromotion(row: Record<string, unknown>): PromotionRow {
  return {
    ...row,
    options: JSON.parse(row.options as string),
    ...(row.plan ? { plan: parseJson(row.plan as string) as unknown as Plan } : {}),
    failure: row.failure ? parseJson(row.failure as string) : null,
  } as PromotionRow;
}

/*
 * JSON travels to Postgres as canonical text cast `$n::text::jsonb`: a parameter typed jsonb
 * would be JSON.stringify-ed again by postgres.js (and lose exact numbers on the way back).
 */

/** Maps a Postgres error raised by our policies and triggers to an API error. */
export function toApiError(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  if (e?.code === "42501") return new ApiError(403, "forbidden", e.message ?? "Cannot do that");
  if (e?.code === "23514" || e?.code === "23505" || e?.code === "P0001") {
    return new ApiError(409, "conflict", e.message ?? "Cannot do that");
  }
  return err;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(err);
  }
}

/** A plan with its SHA-256 and canonical text (stored as is). */
type PlannedText = { plan: Plan; hash: string; text: string };

/**
 * Refuses early, in the caller's own words, what the database would refuse later anyway
 * (RLS filters a forbidden update to zero rows rather than raising, and reads must not run
 * for a caller who may not act).
 *
 * @throws {ApiError} 403 naming the roles that may
 */
export async function requireRole(
  ctx: PromotionContext,
  roles: readonly ("viewer" | "operator" | "approver" | "admin")[],
  action: string,
): Promise<void> {
  const [{ ok }] = await asCaller(
    ctx.target,
    ctx.claims,
    (tx) => tx`select coalesce(ops.caller_role()::text = any(${roles as string[]}), false) as ok`,
  );
  if (!ok) {
    throw new ApiError(
      403,
      "forbidden",
      `Cannot ${action} in ${ctx.targetEnv}: only ${roles.join(", ")} may`,
    );
  }
}

/** The options a plan is made with. */
export interface PlanRequest {
  source: string;
  scope: Scope[];
  includeFlagState: boolean;
  /** Scope `schema`: the migrations pending in the target (see schema.ts). */
  migrations?: PendingMigration[];
}

/** Reads both sides and plans; nothing is written. */
export async function computePlan(
  ctx: PromotionContext,
  req: PlanRequest,
): Promise<PlannedText> {
  if (req.source === ctx.targetEnv) {
    throw new ApiError(400, "invalid_request", `Cannot promote ${req.source} into itself`);
  }
  const [source, target] = await Promise.all([
    readSide(ctx.sourceDb(req.source), readScope(req.scope)),
    readSide(ctx.target, readScope(req.scope)),
  ]);
  return await planFrom(ctx, req, source.rows, target.rows, target.tierUsage);
}

async function planFrom(
  ctx: PromotionContext,
  req: PlanRequest,
  sourceRows: RowsByKind,
  targetRows: RowsByKind,
  tierUsage: Awaited<ReturnType<typeof readTierUsage>>,
  withExternal = true,
): Promise<PlannedText> {
  const external: PlanChange[] = [];
  for (const system of withExternal ? externalsIn(ctx, req.scope) : []) {
    external.push(...await system.plan(desiredRows(req.scope, sourceRows, targetRows)));
  }
  // Pending migrations are listed by the planner and carried as they are (schema.ts).
  if (req.scope.includes("schema")) external.push(...schemaChanges(req.migrations ?? []));
  if (req.scope.includes("users")) external.push(usersCopyChange(req.source, ctx.targetEnv));
  try {
    const plan = buildPlan({
      source: req.source,
      target: ctx.targetEnv,
      scope: req.scope,
      includeFlagState: req.includeFlagState,
      sourceRows,
      targetRows,
      tierUsage,
      external,
    });
    const { text, hash } = await canonicalPlan(plan);
    return { plan, hash, text };
  } catch (err) {
    if (err instanceof PlanRefusedError) {
      throw new ApiError(409, "plan_refused", err.message, { reasons: err.reasons });
    }
    throw err;
  }
}

/**
 * Plans a promotion and records it (as the caller: only operators and admins may). An empty
 * plan records nothing.
 */
export async function createPromotion(
  ctx: PromotionContext,
  req: PlanRequest,
  from?: { rows: RowsByKind; bundle: string },
  opts: { dryRun?: boolean } = {},
): Promise<{ plan: Plan; plan_hash: string; promotion: PromotionRow | null }> {
  await requireRole(ctx, ["operator", "admin"], "plan a promotion");
  if (req.scope.includes("schema")) {
    assertPending(await appliedVersions(ctx.target), req.migrations ?? []);
  }
  const { plan, hash, text } = from
    ? await computePlanFromRows(ctx, req, from.rows)
    : await computePlan(ctx, req);
  if (plan.changes.length === 0 || opts.dryRun) return { plan, plan_hash: hash, promotion: null };
  const row = await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      // The database hashes the text itself and takes risk and counts from the plan.
      const [r] = await tx.unsafe(
        `select ${SUMMARY_COLUMNS} from ops.create_promotion($1, $2)`,
        [text, from?.bundle ?? null],
      );
      return r;
    })
  );
  // The plan is not read back (megabytes at scale): the one just stored is this one.
  return { plan, plan_hash: hash, promotion: { ...toPromotion(row), plan } };
}

/**
 * Where a promotion's source rows come from, read as the caller: its `source_env` and, for a
 * bundle import or a secret proposal, what was stored with it; null when the caller cannot
 * see it (the operation's own role check then answers).
 */
export async function promotionSource(
  ctx: PromotionContext,
  id: string,
): Promise<{ source_env: string; bundle: string | null } | null> {
  const [row] = await guarded(() =>
    asCaller(
      ctx.target,
      ctx.claims,
      (tx) =>
        tx`select source_env, source_bundle #>> '{}' as bundle from ops.promotions where id = ${id}`,
    )
  );
  return row ? { source_env: row.source_env, bundle: row.bundle } : null;
}

/** Reads a promotion; without `withPlan` the (possibly large) plan is left out. */
async function loadPromotion(
  db: postgres.TransactionSql | Sql,
  id: string,
  withPlan = true,
): Promise<PromotionRow> {
  const cols = withPlan ? PROMOTION_COLUMNS : SUMMARY_COLUMNS;
  const [row] = await db.unsafe(`select ${cols} from ops.promotions where id = $1`, [
    id,
  ]);
  if (!row) throw new ApiError(404, "not_found", `Cannot find promotion ${id}`);
  return toPromotion(row);
}

/** A promotion with its decisions, validation results and touched rows, read as the caller. */
export async function showPromotion(ctx: PromotionContext, id: string) {
  return await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      const promotion = await loadPromotion(tx, id);
      const approvals = await tx<{ approver_id: string; email?: string }[]>`
        select approver_id::text, decision, plan_hash, comment, created_at
        from ops.approvals where promotion_id = ${id} order by created_at`;
      const validation = await tx.unsafe(
        `select check_name, passed, details::text as details, run_at from ops.validation_results
         where promotion_id = $1 order by id`,
        [id],
      );
      const [touched] = await tx`
        select count(*)::int as rows from ops.promotion_snapshots where promotion_id = ${id}`;
      // Who decided, by email: auth.users is not readable as the caller (service read).
      const ids = approvals.map((a) => a.approver_id);
      const emails = new Map(
        (ids.length
          ? await ctx.target<{ id: string; email: string }[]>`
              select id::text, email from auth.users where id = any(${ids}::uuid[])`
          : []).map((u) => [u.id, u.email]),
      );
      for (const a of approvals) a.email = emails.get(a.approver_id);
      return {
        promotion,
        approvals,
        validation: validation.map((v) => ({ ...v, details: parseJson(v.details as string) })),
        touched_rows: touched.rows,
      };
    })
  );
}

/** Records an approval or rejection bound to `planHash` (the database enforces who may). */
export async function decide(
  ctx: PromotionContext,
  id: string,
  d: { decision: "approve" | "reject"; planHash: string; comment?: string },
): Promise<PromotionRow> {
  return await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      await tx`
        insert into ops.approvals (promotion_id, decision, plan_hash, comment)
        values (${id}, ${d.decision}, ${d.planHash}, ${d.comment ?? null})`;
      return await loadPromotion(tx, id, false);
    })
  );
}

/** The plan's target drifted since approval: nothing was written. */
export class PlanDriftError extends ApiError {
  constructor(id: string, lines: string[]) {
    super(
      409,
      "plan_drift",
      `Cannot apply promotion ${id}: the source or the target changed since it was planned; re-plan`,
      {
        differences: lines,
      },
    );
  }
}

const LOCK_SQL = "hashtextextended('stagecoach.apply', 0)";

/** Holds the target's apply lock for `fn`, or fails at once when someone else holds it. */
async function withApplyLock<T>(ctx: PromotionContext, fn: () => Promise<T>): Promise<T> {
  const conn = await ctx.target.reserve();
  try {
    const [{ locked }] = await conn.unsafe(`select pg_try_advisory_lock(${LOCK_SQL}) as locked`);
    if (!locked) {
      throw new ApiError(
        409,
        "locked",
        `Cannot start: another apply or rollback is running on ${ctx.targetEnv}; try again when it ends`,
      );
    }
    try {
      return await fn();
    } finally {
      await conn.unsafe(`select pg_advisory_unlock(${LOCK_SQL})`);
    }
  } finally {
    conn.release();
  }
}

/** Plaintext a plan needs: secret entries whose value is new or changes. */
function secretsNeeded(plan: Plan): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of plan.changes) {
    if (c.kind !== "config" || !c.after || c.after.is_secret !== true) continue;
    const fp = c.after.secret_fingerprint as string;
    if (!c.before || c.before.secret_fingerprint !== fp) out.set(c.key, fp);
  }
  return out;
}

async function recordResults(
  ctx: PromotionContext,
  promotion: PromotionRow | null,
  source: string,
  results: CheckResult[],
) {
  await asCaller(ctx.target, { ...ctx.claims, role: "service_role" }, async (tx) => {
    for (const r of results) {
      await tx.unsafe(
        `insert into ops.validation_results (promotion_id, source_env, target_env, check_name, passed, details, run_by)
         values ($1, $2, $3, $4, $5, $6::text::jsonb, $7)`,
        [
          promotion?.id ?? null,
          source,
          ctx.targetEnv,
          r.name,
          r.passed,
          canonicalJson(r.details),
          ctx.claims.sub ?? null,
        ],
      );
    }
  });
}

/** Is this change one the apply transaction does not write (Stripe, migrations, users copy)? */
function isExternal(kind: string): boolean {
  return kind.startsWith("stripe_") || kind === SCHEMA_KIND || kind === USERS_COPY_KIND;
}

/** The plan without external changes (what the database transaction must still match). */
function databasePart(plan: Plan): Plan {
  return { ...plan, changes: plan.changes.filter((c) => !isExternal(c.kind)) };
}

async function saveEffects(
  ctx: PromotionContext,
  id: string,
  system: string,
  effects: EffectsRecord,
) {
  await ctx.target.unsafe(
    `insert into ops.promotion_effects (promotion_id, system, effects)
     values ($1, $2, $3::text::jsonb)
     on conflict (promotion_id, system) do update set effects = excluded.effects, reverted_at = null`,
    [id, system, canonicalJson(effects)],
  );
}

/** Reverts every external effect of a promotion not reverted yet; returns what failed. */
async function revertEffects(
  ctx: PromotionContext,
  db: Sql | postgres.TransactionSql,
  id: string,
  scope: readonly string[],
): Promise<string[]> {
  const problems: string[] = [];
  const rows = await db.unsafe(
    `select system, effects::text as effects from ops.promotion_effects
     where promotion_id = $1 and reverted_at is null`,
    [id],
  );
  for (const row of rows) {
    const system = externalsIn(ctx, scope).find((x) => x.scope === row.system);
    try {
      if (!system) throw new Error(`no ${row.system} settings`);
      await system.revert(id, parseJson(row.effects as string) as EffectsRecord);
      await db`
        update ops.promotion_effects set reverted_at = now()
        where promotion_id = ${id} and system = ${row.system as string}`;
    } catch (err) {
      problems.push(`Cannot revert ${row.system} changes: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** The outcome of an apply. */
export interface ApplyOutcome {
  promotion: PromotionRow;
  validation: CheckResult[];
  rolled_back: boolean;
}

/**
 * Applies an approved promotion: lock, drift check, one transaction for every change with its
 * snapshots and audit entry, then validation; a failed check rolls back from the snapshots
 * and the promotion ends `failed` with the reasons. A promotion left `applying` by a crash is
 * resumed at validation.
 *
 * @param opts.plaintexts secret values for a bundle import (from the bundle, not a database)
 */
export async function applyPromotion(
  ctx: PromotionContext,
  id: string,
  opts: { sourceRows?: RowsByKind; plaintexts?: Map<string, string> } = {},
): Promise<ApplyOutcome> {
  await requireRole(ctx, ["operator", "admin"], "apply a promotion");
  return await withApplyLock(ctx, async () => {
    let promotion = await guarded(() =>
      asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id))
    );
    const req: PlanRequest = {
      source: promotion.source_env,
      scope: promotion.scope,
      includeFlagState: promotion.options.include_flag_state,
      // The approved migrations are carried; they must be pushed before the apply.
      migrations: migrationsOf(promotion.plan!.changes),
    };
    if (
      (promotion.source_env === BUNDLE_SOURCE || promotion.source_env === SECRET_SOURCE) &&
      !opts.sourceRows
    ) {
      throw new ApiError(
        400,
        "transfer_key_required",
        promotion.source_env === BUNDLE_SOURCE
          ? `Cannot apply promotion ${id}: it comes from a config bundle; send the transfer key`
          : `Cannot apply promotion ${id}: it sets a secret; apply it through the ops API`,
      );
    }
    // Read the source once: the plan check and the parity check compare against the same rows.
    let cachedSource: RowsByKind | undefined = opts.sourceRows;
    const sourceRows = async () =>
      cachedSource ??= (await readSide(ctx.sourceDb(req.source), readScope(req.scope))).rows;

    if (promotion.status !== "applying") {
      if (promotion.status !== "approved") {
        throw new ApiError(
          409,
          "not_approved",
          `Cannot apply promotion ${id}: it is ${promotion.status}`,
          {
            status: promotion.status,
            required_approvals: promotion.required_approvals,
          },
        );
      }
      assertPushed(await appliedVersions(ctx.target), req.migrations ?? []);
      const fromSource = await sourceRows();
      const needed = secretsNeeded(promotion.plan!);
      let plaintexts = opts.plaintexts ?? new Map<string, string>();
      if (!opts.plaintexts && needed.size) {
        try {
          plaintexts = await readSecretPlaintexts(ctx.sourceDb(req.source), needed);
        } catch (err) {
          // A secret changed or vanished in the source since the plan: that is drift.
          throw new PlanDriftError(id, [(err as Error).message]);
        }
      }
      // External effects first (architecture principle 5): check the whole plan, Stripe state
      // included, then change Stripe idempotently and record what was done for revert.
      const systems = externalsIn(ctx, req.scope);
      const effects = new Map<ExternalSystem, EffectsRecord>();
      try {
        if (systems.length) {
          const now = await computePlanFromRows(ctx, req, fromSource);
          if (now.hash !== promotion.plan_hash) {
            throw new PlanDriftError(id, planDifferences(promotion.plan!, now.plan));
          }
          for (const system of systems) {
            const changes = now.plan.changes.filter((c) => system.kinds.includes(c.kind as never));
            const record = await system.apply(id, changes);
            effects.set(system, record);
            await saveEffects(ctx, id, system.scope, record);
          }
        }
        await asCaller(ctx.target, ctx.claims, async (tx) => {
          const moved = await tx`
            update ops.promotions set status = 'applying' where id = ${id} and status = 'approved'
            returning id`;
          if (!moved.length) {
            throw new ApiError(
              409,
              "conflict",
              `Cannot apply promotion ${id}: it is no longer approved`,
            );
          }
          await tx`reset role`; // the data plane: see the module comment
          // The write permit of this transaction (refused unless the promotion is applying).
          await tx`select ops.open_promotion_writes(${id})`;
          const { plan, hash } = await planFrom(
            ctx,
            req,
            fromSource,
            await readRows(tx, readScope(req.scope)),
            await readTierUsage(tx),
            false,
          );
          // With external effects already made (their state checked above), only the
          // database part must still match; otherwise the whole plan, by its hash.
          if (systems.length) {
            const drift = planDifferences(databasePart(promotion.plan!), databasePart(plan));
            if (drift.length) throw new PlanDriftError(id, drift);
          } else if (hash !== promotion.plan_hash) {
            throw new PlanDriftError(id, planDifferences(promotion.plan!, plan));
          }
          const written = await writePlan(tx, id, plan, plaintexts);
          for (const [system, record] of effects) await system.record(tx, record);
          await tx`
            select ops.append_audit('promotion.changes_written', 'promotion', ${id},
              ${
            tx.json({ summary: plan.summary, snapshots: written.snapshots })
          }, ${ctx.targetEnv})`;
        });
      } catch (err) {
        // The transaction rolled back: the target is untouched; undo what Stripe got.
        const reverted = effects.size ? await revertEffects(ctx, ctx.target, id, req.scope) : [];
        if (err instanceof ApiError) throw err;
        const reason = [(err as Error).message, ...reverted].join("; ");
        await guarded(() =>
          asCaller(ctx.target, ctx.claims, async (tx) => {
            await tx`update ops.promotions set status = 'applying' where id = ${id}`;
            await tx`update ops.promotions set status = 'failed', failure = ${
              tx.json({ error: reason })
            } where id = ${id}`;
          })
        );
        promotion = await asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id, false));
        return { promotion, validation: [], rolled_back: false };
      }
    }

    const custom = await ctx.customChecks();
    const validation = await runChecks(ctx.target, {
      custom,
      // Once applied, the migrations are no longer pending: parity is the data's.
      replan: async () =>
        (await computePlanFromRows(ctx, { ...req, migrations: [] }, await sourceRows())).plan,
    });
    for (const system of externalsIn(ctx, req.scope)) {
      validation.push(...await system.checks(ctx.target));
    }
    await recordResults(ctx, promotion, req.source, validation);
    const failed = validation.filter((r) => !r.passed);
    await guarded(() =>
      asCaller(ctx.target, ctx.claims, async (tx) => {
        if (failed.length) {
          await tx`reset role`;
          await tx`select ops.open_promotion_writes(${id})`;
          await restoreSnapshots(tx, id);
          const problems = await revertEffects(ctx, tx, id, req.scope);
          if (problems.length) console.error(`promotion ${id}: ${problems.join("; ")}`);
          await tx`select set_config('role', 'authenticated', true)`;
          await tx`
            update ops.promotions set status = 'failed',
              failure = ${tx.json({ failed_checks: failed.map((f) => f.name) })}
            where id = ${id}`;
        } else {
          await tx`update ops.promotions set status = 'succeeded' where id = ${id}`;
        }
      })
    );
    promotion = await asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id, false));
    return { promotion, validation, rolled_back: failed.length > 0 };
  });
}

/** Plans from given source rows (e.g. a bundle's) against the target; nothing is written. */
export async function computePlanFromRows(
  ctx: PromotionContext,
  req: PlanRequest,
  sourceRows: RowsByKind,
): Promise<PlannedText> {
  const target = await readSide(ctx.target, readScope(req.scope));
  return await planFrom(ctx, req, sourceRows, target.rows, target.tierUsage);
}

/**
 * Rolls a succeeded promotion back from its snapshots. A second rollback changes nothing;
 * a rollback under later promotions that touched the same keys is refused with the list.
 */
export async function rollbackPromotion(
  ctx: PromotionContext,
  id: string,
): Promise<{ promotion: PromotionRow; restored_rows: number; changed: boolean }> {
  // Who may in which environment (production: approvers and admins) is the database's rule.
  await requireRole(ctx, ["operator", "approver", "admin"], "roll back a promotion");
  return await withApplyLock(ctx, async () => {
    const promotion = await guarded(() =>
      asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id, false))
    );
    if (promotion.status === "rolled_back") return { promotion, restored_rows: 0, changed: false };
    if (promotion.status !== "succeeded") {
      throw new ApiError(
        409,
        "conflict",
        `Cannot roll back promotion ${id}: it is ${promotion.status}`,
      );
    }
    const conflicts = await findRollbackConflicts(ctx.target, id);
    if (conflicts.length) {
      throw new ApiError(
        409,
        "rollback_conflict",
        `Cannot roll back promotion ${id}: later promotions changed the same keys; roll those back first`,
        { conflicts },
      );
    }
    // Authorize first: the caller's own transition is checked by the database before Stripe
    // is touched. Stripe is reverted inside that transaction (idempotently), so a failed revert
    // rolls the transition back and running rollback again finishes the job.
    const restored = await guarded(() =>
      asCaller(ctx.target, ctx.claims, async (tx) => {
        const moved = await tx`
          update ops.promotions set status = 'rolled_back' where id = ${id} and status = 'succeeded'
          returning id`;
        // RLS hides the row from callers who may not move promotions: zero rows, no error.
        if (!moved.length) {
          throw new ApiError(
            403,
            "forbidden",
            `Cannot roll back promotion ${id}: not allowed for this caller`,
          );
        }
        await tx`reset role`;
        const problems = await revertEffects(ctx, tx, id, promotion.scope);
        if (problems.length) {
          throw new ApiError(
            502,
            "external_revert_failed",
            `Cannot roll back promotion ${id}: ${problems.join("; ")}`,
          );
        }
        await tx`select ops.open_promotion_writes(${id})`;
        const n = await restoreSnapshots(tx, id);
        await tx`
          select ops.append_audit('promotion.rows_restored', 'promotion', ${id},
            ${tx.json({ rows: n })}, ${ctx.targetEnv})`;
        return n;
      })
    );
    return {
      promotion: await asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id, false)),
      restored_rows: restored,
      changed: true,
    };
  });
}

/** Standalone parity check (`stagecoach validate`): every check, results recorded. */
export async function validateTarget(
  ctx: PromotionContext,
  req: PlanRequest,
): Promise<CheckResult[]> {
  await requireRole(ctx, ["viewer", "operator", "approver", "admin"], "validate");
  const results = await runChecks(ctx.target, {
    custom: await ctx.customChecks(),
    replan: async () => (await computePlan(ctx, req)).plan,
  });
  for (const system of externalsIn(ctx, req.scope)) {
    results.push(...await system.checks(ctx.target));
  }
  await recordResults(ctx, null, req.source, results);
  return results;
}
