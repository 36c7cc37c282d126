/**
 * Rollouts as the `ops` API serves them (routes `rollout.*` of `api/contract.ts`): reads as the
 * caller under RLS (ops members read), and pause / resume / abort through the database's
 * operator wrappers (`ops.operator_pause_rollout` & co., migration `20261208000300`), which
 * check the caller's ops role and call the owner-only functions. The database decides; this
 * module only maps its refusals to API errors.
 *
 * @module
 */
import type { z } from "zod";
import type {
  RolloutActionsSchema,
  RolloutListQuery,
  RolloutSampleSchema,
  RolloutSchema,
} from "../api/contract.ts";
import type { UserClaims } from "../auth.ts";
import { asCaller, type Queryable, type Sql } from "../db.ts";
import { ApiError } from "../http.ts";
import { toApiError } from "../promotion/context.ts";

/** A rollout row as postgres.js reads it (times as `Date`s). */
export type RolloutRow = z.input<typeof RolloutSchema>;
type SampleRow = z.input<typeof RolloutSampleSchema>;
type Actions = z.input<typeof RolloutActionsSchema>;

/** What an operator may do to a rollout through the API. */
export type RolloutAction = "pause" | "resume" | "abort";

/** The columns of {@link RolloutRow}, health queries by name. */
export const ROLLOUT_COLUMNS = `id::text, flag_key, environment, status, stages, stage_index,
  percent, from_percent, every_s, sample_every_s, breach_after, on_breach, next_advance_at,
  started_by, promotion_id::text, halted, created_at, finished_at,
  array(select q->>'name' from jsonb_array_elements(health_queries) q) as health`;

/** Reads one rollout (as whoever `tx` is); null when there is none (or RLS hides it). */
export async function readRolloutRow(tx: Queryable, id: string): Promise<RolloutRow | null> {
  const [row] = await tx.unsafe<RolloutRow[]>(
    `select ${ROLLOUT_COLUMNS} from ops.flag_rollouts where id = $1`,
    [id],
  );
  return row ?? null;
}

/** The newest samples of a rollout (at most `limit`), oldest first. */
export async function readRolloutSamples(
  tx: Queryable,
  id: string,
  limit = 20,
): Promise<SampleRow[]> {
  const rows = await tx<SampleRow[]>`
    select seq, taken_at, percent, healthy, metrics from ops.flag_rollout_samples
    where rollout_id = ${id}::uuid order by seq desc limit ${limit}`;
  return [...rows].reverse();
}

/**
 * The rollouts the caller may read, newest first, filtered by status and flag.
 *
 * @param sql the environment's pool
 * @param claims the caller
 */
export async function listRollouts(
  sql: Sql,
  claims: UserClaims,
  query: z.output<typeof RolloutListQuery>,
): Promise<RolloutRow[]> {
  return await asCaller(sql, claims, async (tx) => [
    ...await tx.unsafe<RolloutRow[]>(
      `select ${ROLLOUT_COLUMNS} from ops.flag_rollouts
       where ($1::text is null or status = $1) and ($2::text is null or flag_key = $2)
       order by created_at desc, id limit $3`,
      [query.status ?? null, query.flag ?? null, query.limit],
    ),
  ]);
}

/**
 * One rollout with its newest samples, the promotion that approved it and what the caller may
 * do now (`ops.rollout_actions`).
 *
 * @throws {ApiError} 404 when the caller cannot read it
 */
export async function showRollout(sql: Sql, claims: UserClaims, id: string) {
  const shown = await asCaller(sql, claims, async (tx) => {
    const rollout = await readRolloutRow(tx, id);
    if (!rollout) return null;
    const samples = await readRolloutSamples(tx, id);
    const [{ actions }] = await tx<{ actions: Actions | null }[]>`
      select ops.rollout_actions(${id}::uuid) as actions`;
    const [promotion] = rollout.promotion_id
      ? await tx<{ id: string; status: string; plan_hash: string; approver_ids: string[] }[]>`
          select p.id::text, p.status::text, p.plan_hash,
                 array(select a.approver_id::text from ops.approvals a
                       where a.promotion_id = p.id and a.decision = 'approve'
                       order by a.created_at) as approver_ids
          from ops.promotions p where p.id = ${rollout.promotion_id}::uuid`
      : [];
    return { rollout, samples, actions, promotion };
  });
  if (!shown) throw new ApiError(404, "not_found", `Cannot find rollout ${id}`);
  const { promotion, ...rest } = shown;
  if (!promotion) return { ...rest, promotion: null };
  // Who approved, by email: auth.users is not readable as the caller (service read, as
  // `showPromotion` names approvers).
  const ids = promotion.approver_ids;
  const emails = new Map(
    (ids.length
      ? await sql<{ id: string; email: string }[]>`
          select id::text, email from auth.users where id = any(${ids}::uuid[])`
      : []).map((u) => [u.id, u.email]),
  );
  return {
    ...rest,
    promotion: {
      id: promotion.id,
      status: promotion.status,
      plan_hash: promotion.plan_hash,
      approved_by: ids.map((i) => emails.get(i) ?? i),
    },
  };
}

const WRAPPERS: Record<RolloutAction, string> = {
  pause: "ops.operator_pause_rollout",
  resume: "ops.operator_resume_rollout",
  abort: "ops.operator_abort_rollout",
};

/**
 * Pauses, resumes or aborts a rollout as the caller. The database checks the role (operators
 * and admins) and the state, records the actor and the comment, and refuses otherwise.
 *
 * @throws {ApiError} 403 (role), 404 (no such rollout), 409 (not in a state that allows it),
 *   400 (comment)
 */
export async function actOnRollout(
  sql: Sql,
  claims: UserClaims,
  opts: { id: string; action: RolloutAction; comment?: string },
): Promise<RolloutRow> {
  try {
    return await asCaller(sql, claims, async (tx) => {
      await tx.unsafe(`select 1 from ${WRAPPERS[opts.action]}($1::uuid, $2)`, [
        opts.id,
        opts.comment ?? null,
      ]);
      const row = await readRolloutRow(tx, opts.id);
      if (!row) throw new ApiError(404, "not_found", `Cannot find rollout ${opts.id}`);
      return row;
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e?.code === "P0002") throw new ApiError(404, "not_found", e.message ?? "No such rollout");
    if (e?.code === "22023") throw new ApiError(400, "invalid_request", e.message ?? "Invalid");
    throw toApiError(err);
  }
}
