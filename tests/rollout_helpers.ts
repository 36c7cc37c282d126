/**
 * A running production rollout for tests of the rollout routes, the CLI and the console: a
 * flag at 0 % (in staging too), a rollout promotion planned through the ops API and approved, then started by
 * the database owner (`ops.start_rollout`, as the CLI's `rollout start --promotion` does).
 * Stages last an hour, so nothing advances while a test looks at it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { rolloutPlan } from "../supabase/functions/_shared/rollouts/plan.ts";
import { breakGlass, type Harness, uniqueSuffix } from "./promotion_helpers.ts";

/** A started rollout and how to remove it. */
export interface RunningRollout {
  id: string;
  flag: string;
  promotionId: string;
  cleanup(): Promise<void>;
}

/** Starts an approved production rollout of a new flag at stages 5, 25, 100 (an hour each). */
export async function runningRollout(h: Harness): Promise<RunningRollout> {
  const db = h.db.production;
  const flag = `rollout_ui.f${uniqueSuffix().replace(/[^a-z0-9]/g, "")}`;
  // Staging has the flag too, so a staging → production plan made meanwhile leaves it alone
  // (its percentage is production's own state).
  for (const each of [h.db.staging, db]) {
    await breakGlass(each, "tests: a flag to roll out", async (tx) => {
      await tx`insert into public.feature_flags (key, enabled, rollout_percent)
               values (${flag}, true, 0)`;
    });
  }
  const stages = [5, 25, 100];
  const plan = rolloutPlan({ flag, stages, everyS: 3600, onBreach: "pause", healthQueries: [] });
  const planned = await h.call("production", "operator", "/promotions", {
    body: { source: "production", scope: ["rollout"], rollout: plan },
  });
  assert.equal(planned.status, 201, planned.text);
  const promotionId = planned.body.promotion.id;
  assert.equal(await h.approveAsNeeded("production", planned.body.promotion), "approved");
  const [r] = await db<{ id: string }[]>`
    select id::text from ops.start_rollout(${flag}, ${stages}::int[], 3600, 'pause', '[]'::jsonb,
      'test', ${promotionId}::uuid)`;
  return {
    id: r.id,
    flag,
    promotionId,
    async cleanup() {
      for (const each of [h.db.staging, db]) {
        await breakGlass(each, "tests: remove the rolled-out flag", async (tx) => {
          await tx`delete from public.feature_flags where key = ${flag}`;
        });
      }
    },
  };
}

/** The flag's percentage now. */
export async function flagPercent(h: Harness, flag: string): Promise<number> {
  const [f] = await h.db.production<{ p: number }[]>`
    select rollout_percent as p from public.feature_flags where key = ${flag}`;
  return f.p;
}
