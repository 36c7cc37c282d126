/**
 * Scope `users`: the permission for one faithful copy of user data (auth users, identities,
 * profiles, memberships; password hashes and real emails included) from the promotion's source
 * into its target, run by `stagecoach users copy --mode faithful --promotion <id>` while the
 * promotion is approved (`users/promotion_gate.ts`). The plan carries one change that says so,
 * always high risk; the apply writes nothing for it (the copy job moves the data).
 *
 * @module
 */
import type { PlanChange } from "./plan.ts";

/** The plan change kind of a faithful users copy. */
export const USERS_COPY_KIND = "users_copy" as const;

/**
 * The plan change that asks for a faithful copy of users from `source` into `target`.
 *
 * @example
 * ```ts
 * usersCopyChange("staging", "production").key; // "staging→production"
 * ```
 */
export function usersCopyChange(source: string, target: string): PlanChange {
  return {
    kind: USERS_COPY_KIND,
    key: `${source}→${target}`,
    action: "create",
    risk: "high",
    reasons: [
      `allows one faithful copy of real user data (auth users and identities with password hashes, profiles, memberships) from ${source} into ${target}`,
    ],
    before: null,
    after: { source_env: source, target_env: target, mode: "faithful" },
  };
}
