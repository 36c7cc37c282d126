/** The faithful-copy gate against `ops.promotions` of the production database (rolled back). */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import { assertUsersPromotion } from "./promotion_gate.ts";

class Rollback extends Error {}

Deno.test("assertUsersPromotion accepts an approved users promotion and names why others fail", async () => {
  const sql = postgres(localEnv("production").dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      const make = async (scope: string[], source = "staging") => {
        const [p] = await tx`
          insert into ops.promotions (source_env, target_env, scope, plan, plan_hash, risk, change_count)
          values (${source}, 'production', ${scope}, '{}', ${"cd".repeat(32)}, 'low', 1)
          returning id, status::text`;
        return p as { id: string; status: string };
      };
      const opts = { sourceEnv: "staging", targetEnv: "production" };
      const waiting = await make(["users"]);
      if (waiting.status === "awaiting_approval") {
        await assert.rejects(
          assertUsersPromotion(tx, { ...opts, promotionId: waiting.id }),
          /its status is awaiting_approval, not approved/,
        );
        await tx`update ops.promotions set status = 'approved' where id = ${waiting.id}`;
      }
      const ok = await assertUsersPromotion(tx, { ...opts, promotionId: waiting.id });
      assert.deepEqual(ok.scope, ["users"]);

      const config = await make(["config"]);
      await tx`update ops.promotions set status = 'approved' where id = ${config.id} and status <> 'approved'`;
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: config.id }),
        (err: Error & { code?: string }) =>
          err.code === "promotion_not_approved" &&
          /scope \(config\) does not include users/.test(err.message),
      );
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, sourceEnv: "development", promotionId: waiting.id }),
        /its source is staging, not development/,
      );
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: crypto.randomUUID() }),
        /no such promotion in production/,
      );
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: "nope" }),
        /it is not a promotion id/,
      );
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: undefined }),
        (err: Error & { code?: string }) => err.code === "promotion_required",
      );
      throw new Rollback();
    }).catch((err) => {
      if (!(err instanceof Rollback)) throw err;
    });
  } finally {
    await sql.end();
  }
});
