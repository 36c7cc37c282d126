/**
 * The read routes the console lists with, against the running test stack: `GET /ops/promotions`
 * (status, risk, source filters; newest first; no plans) and `GET /ops/audit` (newest first,
 * actors by email, paged by id). RLS decides: members read, others read nothing.
 */
import assert from "node:assert/strict";
import {
  actorEmail,
  deleteConfig,
  setConfig,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

Deno.test("GET /ops/promotions lists newest first with filters; non-members see none; bad filters are 400", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const key = `test_${uniqueSuffix()}.listed`;
    await setConfig(h.db.staging, key, '"x"');
    try {
      const planned = await h.plan("staging", "production", { actor: "admin" });
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;

      const all = await h.call("production", "viewer", "/promotions?limit=5");
      assert.equal(all.status, 200, all.text);
      assert.equal(all.body.promotions[0].id, p.id, "newest first");
      assert.ok(all.body.promotions.length <= 5);
      assert.equal(all.body.promotions[0].plan, undefined, "lists carry no plans");

      const waiting = await h.call(
        "production",
        "viewer",
        `/promotions?status=awaiting_approval&risk=${p.risk}&source=staging`,
      );
      assert.ok(waiting.body.promotions.some((x: { id: string }) => x.id === p.id), waiting.text);
      for (const x of waiting.body.promotions) {
        assert.equal(x.status, "awaiting_approval");
        assert.equal(x.risk, p.risk);
        assert.equal(x.source_env, "staging");
      }
      const other = await h.call("production", "viewer", "/promotions?source=development");
      assert.ok(!other.body.promotions.some((x: { id: string }) => x.id === p.id));
      const before = await h.call(
        "production",
        "viewer",
        `/promotions?before=${encodeURIComponent(p.created_at)}`,
      );
      assert.ok(!before.body.promotions.some((x: { id: string }) => x.id === p.id), "paged");

      const outsider = await h.call("production", "outsider", "/promotions");
      assert.equal(outsider.status, 200, outsider.text);
      assert.deepEqual(outsider.body.promotions, [], "RLS: a non-member reads nothing");

      const bad = await h.call("production", "viewer", "/promotions?status=done");
      assert.equal(bad.status, 400, bad.text);
      assert.equal(bad.body.error.code, "invalid_request");
      assert.match(bad.body.error.message, /status "done"/);
      const badLimit = await h.call("production", "viewer", "/promotions?limit=0");
      assert.equal(badLimit.status, 400, badLimit.text);

      const rejected = await h.call("production", "approver", `/promotions/${p.id}/reject`, {
        body: { plan_hash: p.plan_hash, comment: "listing test" },
      });
      assert.equal(rejected.status, 200, rejected.text);
    } finally {
      await deleteConfig(h.db.staging, key);
    }
  });
});

Deno.test("GET /ops/audit pages the log newest first with actors' emails; non-members see none", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const key = `test_${uniqueSuffix()}.audited`;
    await setConfig(h.db.staging, key, '"y"');
    try {
      const planned = await h.plan("staging", "production", { actor: "admin" });
      const p = planned.body.promotion;
      await h.call("production", "approver", `/promotions/${p.id}/reject`, {
        body: { plan_hash: p.plan_hash },
      });

      assert.equal(planned.status, 201, planned.text);
      const page = await h.call("production", "viewer", "/audit?limit=10");
      assert.equal(page.status, 200, page.text);
      const entries = page.body.entries;
      assert.equal(entries.length, 10);
      const ids = entries.map((e: { id: string }) => Number(e.id));
      assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "newest first");
      // Other writers (the worker, notifications) may append meanwhile: look at ours.
      const ours = entries.filter((e: { subject_id: string }) => e.subject_id === p.id);
      assert.deepEqual(ours.map((e: { action: string }) => e.action).slice(0, 2), [
        "promotion.rejected",
        "approval.reject",
      ]);
      const decision = ours[1];
      assert.equal(decision.actor_email, actorEmail("approver"));
      assert.match(decision.hash, /^[0-9a-f]{64}$/);

      const older = await h.call("production", "viewer", `/audit?before_id=${ids[2]}&limit=2`);
      assert.equal(older.status, 200, older.text);
      assert.ok(older.body.entries.every((e: { id: string }) => Number(e.id) < ids[2]));

      const outsider = await h.call("production", "outsider", "/audit");
      assert.equal(outsider.status, 200, outsider.text);
      assert.deepEqual(outsider.body.entries, []);
      const bad = await h.call("production", "viewer", "/audit?before_id=abc");
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.body.error.message, /before_id "abc"/);
    } finally {
      await deleteConfig(h.db.staging, key);
    }
  });
});
