/**
 * Test fixtures for code that needs promotion rows: a minimal valid plan, recorded the only way
 * the database accepts (`ops.create_promotion`, which hashes the plan text itself).
 *
 * @module
 */
import type postgres from "postgres";

/**
 * Runs `fn` in a transaction of the database owner that broke glass (`ops.break_glass`, audited):
 * the only way around the approval gate outside a promotion, e.g. to play someone editing
 * production by hand.
 */
export async function breakGlass<T>(
  sql: postgres.Sql,
  reason: string,
  fn: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  return await sql.begin(async (tx) => {
    await tx`select ops.break_glass(${reason})`;
    return await fn(tx);
  }) as T;
}

/** What {@link recordPlan} records. */
export interface PlanFixture {
  source: string;
  target: string;
  scope: string[];
  risk?: "low" | "high";
  /** How many (config) changes the plan lists; default 1. */
  changes?: number;
}

/** A minimal `stagecoach.plan` of version 1 as canonical JSON text. */
export function planText(f: PlanFixture): string {
  const n = f.changes ?? 1;
  const risk = f.risk ?? "low";
  const tag = crypto.randomUUID().slice(0, 8);
  return JSON.stringify({
    changes: Array.from({ length: n }, (_, i) => ({
      action: "create",
      after: { key: `fixture_${tag}.${i}` },
      before: null,
      key: `fixture_${tag}.${i}`,
      kind: "config",
      reasons: [],
      risk,
    })),
    format: "stagecoach.plan",
    kept: [],
    options: { include_flag_state: false },
    risk,
    scope: [...f.scope].sort(),
    source: f.source,
    summary: { archive: 0, create: n, delete: 0, replace: 0, retire: 0, update: 0 },
    target: f.target,
    version: 1,
  });
}

/** Records a promotion of a minimal plan as the connection's role (postgres: the system). */
export async function recordPlan(
  sql: postgres.Sql | postgres.TransactionSql,
  f: PlanFixture,
): Promise<{ id: string; status: string; plan_hash: string }> {
  const [row] = await sql<{ id: string; status: string; plan_hash: string }[]>`
    select id::text, status::text, plan_hash from ops.create_promotion(${planText(f)})`;
  return row;
}

/**
 * Makes sure tiers exist by slug. Missing ones are inserted as the owner breaking glass (the
 * audited way around production's approval gate): users tests need tiers, not a promotion.
 */
export async function ensureTiers(sql: postgres.Sql, slugs: string[]): Promise<void> {
  const [{ missing }] = await sql<{ missing: string[] }[]>`
    select coalesce(array_agg(s), '{}') as missing from unnest(${slugs}::text[]) as s
    where not exists (select 1 from public.membership_tiers as t where t.slug = s)`;
  if (!missing.length) return;
  await breakGlass(sql, "test fixture: membership tiers for user copies", async (tx) => {
    await tx`
      insert into public.membership_tiers (slug, name)
      select s, initcap(s) from unnest(${missing}::text[]) as s
      on conflict (slug) do nothing`;
  });
}

/**
 * Records an already-approved promotion in an approval-gated environment without approvers: the
 * owner breaks glass (audited), sets the policy to no approval for the insert, and puts it back,
 * in one transaction. For tests of code that consumes approved promotions (e.g. the faithful
 * user copy); approvals themselves are tested in pgTAP and the promotion tests.
 */
export async function recordApprovedPlan(
  sql: postgres.Sql,
  f: PlanFixture,
): Promise<{ id: string; status: string; plan_hash: string }> {
  return await breakGlass(
    sql,
    "test fixture: an approved promotion without approvers",
    async (tx) => {
      const [policy] = await tx`
      select required_approvals, high_risk_approvals from ops.environments where name = ${f.target}`;
      await tx`update ops.environments set required_approvals = 0, high_risk_approvals = 0
             where name = ${f.target}`;
      const row = await recordPlan(tx, f);
      await tx`update ops.environments
             set required_approvals = ${policy.required_approvals},
                 high_risk_approvals = ${policy.high_risk_approvals}
             where name = ${f.target}`;
      return row;
    },
  );
}
