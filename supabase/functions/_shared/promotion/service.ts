/**
 * The promotion pipeline as the `ops` function runs it: plan (`createPromotion`), decide,
 * show, roll back, validate; applying is `apply_pipeline.ts`.
 *
 * Who may do what is decided by the database as the caller (`asCaller`: role
 * `authenticated` + the caller's claims): inserting a promotion, recording a decision and
 * every status transition pass RLS policies and triggers. Two named service paths read and
 * write as the connection's owner: reading both sides for a plan (tier membership counts must
 * see every membership), and the data plane of apply and rollback (`asDataPlane`), entered
 * only for a promotion whose transition the caller has just made.
 *
 * @module
 */
import type { z } from "zod";
import type { PromotionActionsSchema } from "../api/contract.ts";
import { asCaller, type Tx } from "../db.ts";
import { asServiceSession } from "../jobs/store.ts";
import { ApiError } from "../http.ts";
import { parseJson } from "../json/lossless.ts";
import { type CheckResult, runChecks } from "../validation/checks.ts";
import {
  asDataPlane,
  externalsIn,
  guarded,
  loadPromotion,
  type PromotionContext,
  type PromotionRow,
  promotionSummary,
  recordResults,
  requireRole,
  SUMMARY_COLUMNS,
  toPromotion,
  withApplyLock,
} from "./context.ts";
import { revertEffects } from "./effects.ts";
import { CARRIED_SCOPES } from "./kinds.ts";
import type { Plan, RowsByKind } from "./plan.ts";
import { computePlan, computePlanFromRows, type PlanRequest } from "./planning.ts";
import { findRollbackConflicts, restoreSnapshots } from "./rollback.ts";
import { appliedVersions, assertPending } from "./schema.ts";
import { countSnapshots } from "./snapshots.ts";

// The names the `ops` routes import from here, wherever they live now.
export { type ApplyOutcome, applyPromotion } from "./apply_pipeline.ts";
export {
  BUNDLE_SOURCE,
  PlanDriftError,
  type PromotionContext,
  type PromotionRow,
  requireRole,
  toApiError,
} from "./context.ts";
export { computePlan, computePlanFromRows, type PlanRequest } from "./planning.ts";

/**
 * Plans a promotion and records it (as the caller: only operators and admins may). An empty
 * plan records nothing.
 */
export async function createPromotion(
  ctx: PromotionContext,
  req: PlanRequest,
  opts: { from?: { rows: RowsByKind; bundle: string }; dryRun?: boolean } = {},
): Promise<{ plan: Plan; plan_hash: string; promotion: PromotionRow | null }> {
  const from = opts.from;
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

/** A decision on a promotion, with who made it by email. */
interface Approval {
  approver_id: string;
  decision: "approve" | "reject";
  plan_hash: string;
  comment: string | null;
  created_at: Date;
  email?: string;
}

/** A promotion with its decisions, validation results and touched rows, read as the caller. */
export async function showPromotion(ctx: PromotionContext, id: string) {
  return await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      const promotion = await loadPromotion(tx, id);
      const approvals = await tx<Approval[]>`
        select approver_id::text, decision, plan_hash, comment, created_at
        from ops.approvals where promotion_id = ${id} order by created_at`;
      const validation = await tx.unsafe<
        { check_name: string; passed: boolean; details: string; run_at: Date }[]
      >(
        `select check_name, passed, details::text as details, run_at from ops.validation_results
         where promotion_id = $1 order by id`,
        [id],
      );
      const touched = await countSnapshots(tx, id);
      // What the caller may do now, ruled as the guards would (the console offers only that).
      const [{ actions }] = await tx<{ actions: PromotionActions | null }[]>`
        select ops.promotion_actions(${id}) as actions`;
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
        validation: validation.map((v) => ({ ...v, details: parseJson(v.details) })),
        touched_rows: touched,
        actions,
      };
    })
  );
}

/** The filters of {@link listPromotions}. */
export interface PromotionFilters {
  status?: string;
  risk?: "low" | "high";
  source?: string;
  /** Only promotions created before this time (keyset paging). */
  before?: string;
  limit: number;
}

/**
 * Lists promotions into this environment, newest first, without their plans, read as the
 * caller (RLS: ops members read).
 *
 * @param ctx the pipeline context (its caller)
 * @param filters status, risk, source, `before` (ISO time) and limit
 * @returns the promotions' summaries
 */
export async function listPromotions(
  ctx: PromotionContext,
  filters: PromotionFilters,
): Promise<PromotionRow[]> {
  return await guarded(() =>
    asCaller(ctx.target, ctx.claims, async (tx) => {
      const rows = await tx.unsafe(
        `select ${SUMMARY_COLUMNS} from ops.promotions
         where ($1::text is null or status::text = $1)
           and ($2::text is null or risk::text = $2)
           and ($3::text is null or source_env = $3)
           and ($4::timestamptz is null or created_at < $4)
         order by ops.promotions.created_at desc, ops.promotions.id desc
         limit $5`,
        [
          filters.status ?? null,
          filters.risk ?? null,
          filters.source ?? null,
          filters.before ?? null,
          filters.limit,
        ],
      );
      return rows.map(toPromotion);
    })
  );
}

/** What the caller may do with a promotion (`ops.promotion_actions`). */
export type PromotionActions = z.input<typeof PromotionActionsSchema>;

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
  const out = await revertPromotion(ctx, id, (fn) => asCaller(ctx.target, ctx.claims, fn));
  return { ...out, promotion: await promotionSummary(ctx, id) };
}

/**
 * The system's rollback of a promotion: a release watch that breached (already approved as
 * part of the release) reverts the release's promotion as the database owner, which the
 * promotion guard lets move `succeeded → rolled_back`. Same checks, effects and audit as
 * {@link rollbackPromotion}; the audit entries name no user.
 */
export async function rollbackPromotionAsSystem(
  ctx: PromotionContext,
  id: string,
): Promise<{ restored_rows: number; changed: boolean }> {
  const asOwner = async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
    const out = await ctx.target.begin(async (tx) => {
      await asServiceSession(tx);
      return [await fn(tx)];
    });
    return (out as unknown as [T])[0];
  };
  return await revertPromotion(ctx, id, asOwner);
}

/** Rolls a promotion back, each transaction run by `inTx` (as the caller, or as the owner). */
async function revertPromotion(
  ctx: PromotionContext,
  id: string,
  inTx: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>,
): Promise<{ restored_rows: number; changed: boolean }> {
  return await withApplyLock(ctx, async () => {
    const promotion = await guarded(() => inTx((tx) => loadPromotion(tx, id, false)));
    if (promotion.status === "rolled_back") return { restored_rows: 0, changed: false };
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
      inTx(async (tx) => {
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
        return await asDataPlane(tx, id, async () => {
          // Every configured system: the effects recorded name theirs.
          const systems = Object.values(ctx.external ?? {});
          const problems = await revertEffects(tx, id, systems);
          if (problems.length) {
            throw new ApiError(
              502,
              "external_revert_failed",
              `Cannot roll back promotion ${id}: ${problems.join("; ")}`,
            );
          }
          const n = await restoreSnapshots(tx, id);
          await tx`
            select ops.append_audit('promotion.rows_restored', 'promotion', ${id},
              ${tx.json({ rows: n })}, ${ctx.targetEnv})`;
          return n;
        });
      })
    );
    return { restored_rows: restored, changed: true };
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
    // Parity is the data's: carried scopes (pending migrations, a copy's permission) are none.
    replan: async () =>
      (await computePlan(ctx, {
        ...req,
        scope: req.scope.filter((s) => !CARRIED_SCOPES.includes(s)),
        migrations: [],
      })).plan,
  });
  for (const system of externalsIn(ctx, req.scope)) {
    results.push(...await system.checks(ctx.target));
  }
  await recordResults(ctx, null, { source: req.source, results });
  return results;
}
