/** The faithful-copy gate against `ops.promotions` of the production database (rolled back). */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../../../../scripts/local/config.ts";
import { recordPlan } from "../promotion/fixtures_test.ts";
import { assertUsersPromotion } from "./promotion_gate.ts";

class Rollback extends Error {}

Deno.test("assertUsersPromotion accepts an approved users promotion and names why others fail", async () => {
  const sql = postgres(localEnv("production").dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      const make = async (scope: string[], source = "staging") => {
        return await recordPlan(tx, { source, target: "production", scope });
      };
      const opts = { sourceEnv: "staging", targetEnv: "production" };
      const waiting = await make(["users"]);
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: waiting.id }),
        /its status is awaiting_approval, not approved/,
      );
      // Approvals are 41-approvals' business: here production needs none for the rest of this
      // (rolled-back) transaction — a policy change only the owner's break glass may make alone.
      await tx`select ops.break_glass('test: promotion_gate_test needs approved promotions')`;
      await tx`update ops.environments set required_approvals = 0, high_risk_approvals = 0
               where name = 'production'`;
      const approved = await make(["users"]);
      assert.equal(approved.status, "approved");
      const ok = await assertUsersPromotion(tx, { ...opts, promotionId: approved.id });
      assert.deepEqual(ok.scope, ["users"]);

      const config = await make(["config"]);
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, promotionId: config.id }),
        (err: Error & { code?: string }) =>
          err.code === "promotion_not_approved" &&
          /scope \(config\) does not include users/.test(err.message),
      );
      await assert.rejects(
        assertUsersPromotion(tx, { ...opts, sourceEnv: "development", promotionId: approved.id }),
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
