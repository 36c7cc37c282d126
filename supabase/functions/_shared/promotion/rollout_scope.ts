/**
 * Scope `rollout`: the permission to start one rollout of a feature flag in the promotion's
 * target, exactly as planned — the flag, its stages, the minimum time per stage, what a breach
 * does, and the health queries by name and SHA-256 (`rollouts/plan.ts` `rolloutPlan`). Run by
 * `stagecoach rollout start <flag> … --promotion <id>` while the promotion is approved;
 * `ops.start_rollout` compares its arguments with the change's `after` and starts one rollout per
 * approval. Always high risk (production users see the flag); the apply writes nothing for it.
 *
 * Chosen over a new approval table: the existing approvals (roles, count, expiry, the plan hash
 * they bind to, notifications) apply unchanged, as for `restore` and `rollback`.
 *
 * @module
 */
import { z } from "zod";
import { JsonNumber } from "../json/lossless.ts";
import type { PlanChange } from "./plan.ts";

/** The scope name. */
export const ROLLOUT_SCOPE = "rollout" as const;

/** The plan change kind of a rollout. */
export const FLAG_ROLLOUT_KIND = "flag_rollout" as const;

/** The rollout a plan names (wire fields, as `rolloutPlan` builds them). */
export const RolloutPlanSchema = z.strictObject({
  flag: z.string().max(128).regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/, "expected a flag key"),
  stages: z.array(z.number().int().min(1).max(100)).min(1).max(20)
    .refine((s) => s.every((p, i) => i === 0 || p > s[i - 1]), "stages must rise strictly"),
  every_s: z.number().int().min(1).max(604_800),
  on_breach: z.enum(["pause", "rollback"]),
  health: z.array(z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,80}$/),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })).max(100),
});

/**
 * The plan change that asks for one rollout in `target`.
 *
 * @example
 * ```ts
 * flagRolloutChange(plan, "production").key; // plan.flag
 * ```
 */
export function flagRolloutChange(
  plan: z.infer<typeof RolloutPlanSchema>,
  target: string,
): PlanChange {
  return {
    kind: FLAG_ROLLOUT_KIND,
    key: plan.flag,
    action: "update",
    risk: "high",
    reasons: [
      `allows one rollout of flag ${plan.flag} in ${target} through ${
        plan.stages.join(", ")
      } % (each at least ${plan.every_s} s), gated by ${plan.health.length} health quer${
        plan.health.length === 1 ? "y" : "ies"
      } and the release watch's measures; a breach ${
        plan.on_breach === "pause" ? "pauses it" : "returns the flag to 0 %"
      }`,
    ],
    before: null,
    after: {
      flag: plan.flag,
      stages: plan.stages.map((p) => new JsonNumber(String(p))),
      every_s: new JsonNumber(String(plan.every_s)),
      on_breach: plan.on_breach,
      health: plan.health.map((h) => ({ name: h.name, sha256: h.sha256 })),
    },
  };
}
