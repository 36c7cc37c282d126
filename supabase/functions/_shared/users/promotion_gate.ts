/**
 * The one gate of faithful copies: a real move of user data (password hashes, emails, names)
 * may only go into a production-kind target through an approved promotion recorded in that
 * target (`ops.promotions`: status `approved`, or `applying` while its apply runs; same source
 * and target; `users` in its scope; not expired).
 *
 * @module
 */
import type { Queryable } from "../db.ts";
import { JobFailure } from "../jobs/runner.ts";

/** What the gate found. */
export interface ApprovedPromotion {
  id: string;
  status: string;
  source_env: string;
  target_env: string;
  scope: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks that `promotionId` names an approved promotion of users from `sourceEnv` to
 * `targetEnv` in the target database.
 *
 * @param target the target database (where promotions are recorded and approved)
 * @returns the promotion
 * @throws {JobFailure} `promotion_required` without an id, `promotion_not_approved` when it
 * does not exist or does not allow this copy (the message says which condition failed)
 */
export async function assertUsersPromotion(
  target: Queryable,
  opts: { promotionId: string | undefined; sourceEnv: string; targetEnv: string },
): Promise<ApprovedPromotion> {
  const id = opts.promotionId;
  if (!id) {
    throw new JobFailure(
      "promotion_required",
      `Cannot copy users faithfully into ${opts.targetEnv}: a faithful copy needs --promotion <id> of an approved promotion with scope users`,
    );
  }
  const refuse = (why: string) =>
    new JobFailure(
      "promotion_not_approved",
      `Cannot copy users faithfully with promotion ${id}: ${why}`,
      { promotion_id: id },
    );
  if (!UUID.test(id)) throw refuse("it is not a promotion id (uuid)");
  const [row] = await target<
    (ApprovedPromotion & { expired: boolean })[]
  >`
    select id::text, status::text, source_env, target_env, scope,
           coalesce(expires_at <= now(), false) as expired
    from ops.promotions where id = ${id}::uuid`;
  if (!row) throw refuse(`no such promotion in ${opts.targetEnv}`);
  if (!["approved", "applying"].includes(row.status)) {
    throw refuse(`its status is ${row.status}, not approved`);
  }
  if (row.expired) throw refuse("its approval has expired");
  if (row.target_env !== opts.targetEnv) {
    throw refuse(`it targets ${row.target_env}, not ${opts.targetEnv}`);
  }
  if (row.source_env !== opts.sourceEnv) {
    throw refuse(`its source is ${row.source_env}, not ${opts.sourceEnv}`);
  }
  if (!row.scope.includes("users")) {
    throw refuse(`its scope (${row.scope.join(", ")}) does not include users`);
  }
  return {
    id: row.id,
    status: row.status,
    source_env: row.source_env,
    target_env: row.target_env,
    scope: [...row.scope],
  };
}
