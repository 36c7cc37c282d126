/**
 * What every promotion operation shares: the context the `ops` function builds per request,
 * the promotion row as the API returns it, reading it, the caller's role check, the apply
 * lock, and the mapping of database refusals to API errors.
 *
 * @module
 */
import type { CallerClaims } from "../auth.ts";
import { asCaller, type Sql, type Tx } from "../db.ts";
import { ApiError } from "../http.ts";
import { canonicalJson, type JsonValue, parseJson } from "../json/lossless.ts";
import type { CheckResult, CustomCheck } from "../validation/checks.ts";
import type { ExternalSystem } from "./external.ts";
import { CARRIED_SCOPES, kindsInScope, type Scope } from "./kinds.ts";
import type { Plan } from "./plan.ts";

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
  external?: Partial<Record<ExternalSystem["scope"], ExternalSystem>>;
}

/**
 * The external systems a scope selects: every scope word that names no database kind and is
 * not `schema` is an external system's.
 *
 * @throws {ApiError} 400 when one is not configured
 */
export function externalsIn(ctx: PromotionContext, scope: readonly string[]): ExternalSystem[] {
  const out: ExternalSystem[] = [];
  for (const name of scope) {
    if (CARRIED_SCOPES.includes(name) || kindsInScope([name]).length) continue;
    const system = ctx.external?.[name as ExternalSystem["scope"]];
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

/** The columns of a promotion summary (no plan). */
export const SUMMARY_COLUMNS = `id::text, source_env, target_env, scope, options::text as options,
  plan_hash, risk, change_count, required_approvals, status::text as status,
  created_by::text, created_at, expires_at, applied_by::text, applied_at, finished_at,
  rolled_back_at, failure::text as failure`;
const PROMOTION_COLUMNS = `${SUMMARY_COLUMNS}, plan::text as plan`;

/** A promotion row as read (JSON columns as text, numbers exact). */
export function toPromotion(row: Record<string, unknown>): PromotionRow {
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
  // 55000: a row in a state that forbids the change (e.g. a flag's percentage while a rollout runs).
  if (["23514", "23505", "P0001", "55000"].includes(e?.code ?? "")) {
    return new ApiError(409, "conflict", e.message ?? "Cannot do that");
  }
  return err;
}

/** Runs `fn`, mapping database refusals to API errors ({@link toApiError}). */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApiError(err);
  }
}

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

/**
 * Reads a promotion; without `withPlan` the (possibly large) plan is left out.
 *
 * @throws {ApiError} 404 when it does not exist (or the caller cannot see it)
 */
export async function loadPromotion(
  db: Tx | Sql,
  id: string,
  withPlan = true,
): Promise<PromotionRow> {
  const cols = withPlan ? PROMOTION_COLUMNS : SUMMARY_COLUMNS;
  const [row] = await db.unsafe(`select ${cols} from ops.promotions where id = $1`, [id]);
  if (!row) throw new ApiError(404, "not_found", `Cannot find promotion ${id}`);
  return toPromotion(row);
}

/** A promotion's summary, read as the caller. */
export async function promotionSummary(ctx: PromotionContext, id: string): Promise<PromotionRow> {
  return await asCaller(ctx.target, ctx.claims, (tx) => loadPromotion(tx, id, false));
}

/**
 * The data plane inside a caller's transaction (see `service.ts`): the connection's own role,
 * with the promotion's write permit (refused unless it is being applied or just rolled back).
 * The caller's role is back when `fn` returns.
 */
export async function asDataPlane<T>(tx: Tx, id: string, fn: () => Promise<T>): Promise<T> {
  await tx`reset role`;
  await tx`select ops.open_promotion_writes(${id})`;
  const out = await fn();
  await tx`select set_config('role', 'authenticated', true)`;
  return out;
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
export async function withApplyLock<T>(ctx: PromotionContext, fn: () => Promise<T>): Promise<T> {
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

/** Stores check results (of a promotion, or of a standalone `validate`). */
export async function recordResults(
  ctx: PromotionContext,
  promotionId: string | null,
  opts: { source: string; results: CheckResult[] },
): Promise<void> {
  await asCaller(ctx.target, { ...ctx.claims, role: "service_role" }, async (tx) => {
    for (const r of opts.results) {
      await tx.unsafe(
        `insert into ops.validation_results (promotion_id, source_env, target_env, check_name, passed, details, run_by)
         values ($1, $2, $3, $4, $5, $6::text::jsonb, $7)`,
        [
          promotionId,
          opts.source,
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
