/**
 * Promotions through the real HTTP API (the `ops` function of each environment behind its
 * gateway, with users' tokens) and the CLI: running twice, approvals, the apply lock, drift,
 * and the planner's rules (environment-specific config, immutable prices, retired tiers, flag
 * state, secrets as fingerprints).
 *
 * Each test levels its target with its source first, then changes keys of its own.
 */
import assert from "node:assert/strict";
import { localEnv, readKeys } from "../scripts/local/config.ts";
import { renderPlan } from "../supabase/functions/_shared/promotion/render.ts";
import {
  actorEmail,
  auditTextSince,
  breakGlass,
  changeOf,
  cli,
  configText,
  createTier,
  deleteConfig,
  deleteTiers,
  lastAuditId,
  readSecret,
  setConfig,
  setSecret,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

const NO_HASH = "0".repeat(64);

Deno.test("a promotion run a second time plans nothing and records nothing", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const key = `test_${uniqueSuffix()}.twice`;
    await setConfig(h.db.development, key, '{"n": 1, "big": 123456789012345678901}');
    try {
      for (
        const [source, target] of [["development", "staging"], ["staging", "production"]] as const
      ) {
        const first = await h.plan(source, target);
        assert.equal(first.status, 201, first.text);
        assert.equal(first.body.empty, false);
        const plan = first.body.promotion.plan;
        assert.deepEqual(
          plan.changes.map((
            c: { kind: string; key: string; action: string },
          ) => [c.kind, c.key, c.action]),
          [["config", key, "create"]],
          "levelled first: the plan holds only this test's change",
        );
        assert.equal(await h.approveAsNeeded(target, first.body.promotion), "approved");
        const applied = await h.apply(target, first.body.promotion.id);
        assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
        assert.equal(await configText(h.db[target], key), await configText(h.db[source], key));

        const recorded = await h.promotionCount(target);
        const second = await h.plan(source, target);
        assert.equal(second.status, 200, second.text);
        assert.equal(second.body.empty, true);
        assert.equal(second.body.promotion, undefined);
        assert.deepEqual(second.body.plan.changes, []);
        assert.equal(second.body.plan.risk, "none");
        assert.match(renderPlan(second.body.plan, { color: false }), /No changes/);
        assert.equal(await h.promotionCount(target), recorded, "an empty plan records nothing");
      }
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
      await h.level("staging", "production");
    }
  });
});

Deno.test("approvals: only other approvers decide, bound to the plan hash; two for high risk; a rejection rejects", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const s = uniqueSuffix();
    const approved = `test_${s}.approved`;
    const rejected = `test_${s}.rejected`;
    const { anon_key: anonKey } = await readKeys(localEnv("production"));
    await setConfig(h.db.staging, approved, '"yes"');
    try {
      // A low-risk plan made by an admin: one approval, and never the admin's own.
      const planned = await h.plan("staging", "production", { actor: "admin" });
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.equal(p.risk, "low");
      assert.equal(p.required_approvals, 1);
      assert.equal(p.status, "awaiting_approval");
      assert.equal(p.created_by, await h.userId("production", "admin"));

      const early = await h.apply("production", p.id);
      assert.equal(early.status, 409, early.text);
      assert.equal(early.body.error.code, "not_approved");
      assert.equal(early.body.error.details.status, "awaiting_approval");

      const decide = (who: Parameters<typeof h.call>[1], hash = p.plan_hash) =>
        h.call("production", who, `/promotions/${p.id}/approve`, { body: { plan_hash: hash } });
      const own = await decide("admin");
      assert.equal(own.status, 403, own.text);
      assert.equal(own.body.error.code, "forbidden");
      assert.match(own.body.error.message, /own promotion/);
      for (const who of ["viewer", "operator", "outsider"] as const) {
        const res = await decide(who);
        assert.equal(res.status, 403, `${who}: ${res.text}`);
        assert.equal(res.body.error.code, "forbidden");
      }
      const anonymous = await decide({ bearer: anonKey });
      assert.equal(anonymous.status, 401, anonymous.text);
      const wrongHash = await decide("approver", NO_HASH);
      assert.equal(wrongHash.status, 409, wrongHash.text);
      assert.match(wrongHash.body.error.message, /plan hash/);
      const badHash = await decide("approver", "not-a-hash");
      assert.equal(badHash.status, 400, badHash.text);

      let shown = await h.call("production", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "awaiting_approval");
      assert.deepEqual(shown.body.approvals, [], "no refused decision was recorded");

      const ok = await decide("approver");
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.promotion.status, "approved");
      shown = await h.call("production", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.approvals.length, 1);
      assert.equal(shown.body.approvals[0].plan_hash, p.plan_hash);
      assert.equal(shown.body.approvals[0].email, actorEmail("approver"));
      const late = await decide("approver2");
      assert.equal(late.status, 409, "an approved promotion takes no more decisions");

      const asApprover = await h.apply("production", p.id, "approver");
      assert.equal(asApprover.status, 403, `approvers do not apply: ${asApprover.text}`);
      const applied = await h.apply("production", p.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);

      // Deleting it is high risk: two distinct approvers.
      await deleteConfig(h.db.staging, approved);
      const high = await h.plan("staging", "production");
      assert.equal(high.status, 201, high.text);
      const hp = high.body.promotion;
      assert.equal(changeOf(hp.plan, "config", approved)?.action, "delete");
      assert.equal(hp.risk, "high");
      assert.equal(hp.required_approvals, 2);
      const one = await h.call("production", "approver", `/promotions/${hp.id}/approve`, {
        body: { plan_hash: hp.plan_hash },
      });
      assert.equal(one.body.promotion.status, "awaiting_approval", one.text);
      const twice = await h.call("production", "approver", `/promotions/${hp.id}/approve`, {
        body: { plan_hash: hp.plan_hash },
      });
      assert.equal(twice.status, 409, `one decision per person: ${twice.text}`);
      const notYet = await h.apply("production", hp.id);
      assert.equal(notYet.body.error?.code, "not_approved", notYet.text);
      const two = await h.call("production", "approver2", `/promotions/${hp.id}/approve`, {
        body: { plan_hash: hp.plan_hash, comment: "second pair of eyes" },
      });
      assert.equal(two.body.promotion.status, "approved", two.text);
      const appliedHigh = await h.apply("production", hp.id);
      assert.equal(appliedHigh.body.promotion?.status, "succeeded", appliedHigh.text);
      assert.equal(await configText(h.db.production, approved), null);

      // A rejection rejects, and a rejected promotion is never applied.
      await setConfig(h.db.staging, rejected, '"no"');
      const rp = (await h.plan("staging", "production")).body.promotion;
      const rej = await h.call("production", "approver", `/promotions/${rp.id}/reject`, {
        body: { plan_hash: rp.plan_hash, comment: "not now" },
      });
      assert.equal(rej.status, 200, rej.text);
      assert.equal(rej.body.promotion.status, "rejected");
      const after = await h.call("production", "approver2", `/promotions/${rp.id}/approve`, {
        body: { plan_hash: rp.plan_hash },
      });
      assert.equal(after.status, 409, after.text);
      const refused = await h.apply("production", rp.id);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.error.code, "not_approved");
      assert.equal(await configText(h.db.production, rejected), null);

      const trail = await h.db.production<{ action: string }[]>`
        select action from ops.audit_log where subject_id = ${rp.id} order by id`;
      assert.deepEqual(trail.map((r) => r.action), [
        "promotion.planned",
        "promotion.awaiting_approval",
        "approval.reject",
        "promotion.rejected",
      ]);
    } finally {
      await deleteConfig(h.db.staging, approved, rejected);
      await h.level("development", "staging");
      await h.level("staging", "production");
    }
  });
});

Deno.test("apply takes the target's lock: a second apply at once fails with locked, nothing doubles", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const key = `test_${s}.concurrent`;
    const slow = `zz_test_slow_${s}`;
    await setConfig(h.db.development, key, "1");
    try {
      // Someone else holds the lock: apply fails at once and leaves the promotion approved.
      const held = await h.plan("development", "staging");
      const id = held.body.promotion.id;
      const conn = await h.db.staging.reserve();
      try {
        await conn`select pg_advisory_lock(hashtextextended('stagecoach.apply', 0))`;
        const blocked = await h.apply("staging", id);
        assert.equal(blocked.status, 409, blocked.text);
        assert.equal(blocked.body.error.code, "locked");
        assert.match(blocked.body.error.message, /another apply or rollback is running/);
      } finally {
        await conn`select pg_advisory_unlock(hashtextextended('stagecoach.apply', 0))`;
        conn.release();
      }
      const [{ status }] = await h.db
        .staging`select status::text from ops.promotions where id = ${id}`;
      assert.equal(status, "approved");

      // Two applies at once, the writing one slowed down by a trigger: exactly one proceeds.
      await h.db.staging.unsafe(`
        create function public.${slow}() returns trigger language plpgsql as $$
        begin perform pg_sleep(1); return new; end $$;
        create trigger ${slow} before insert on public.app_config
          for each row when (new.key = '${key}') execute function public.${slow}();`);
      const timed = async () => {
        const res = await h.apply("staging", id);
        return { res, done: performance.now() };
      };
      const [a, b] = await Promise.all([timed(), timed()]);
      const winner = a.res.status === 200 ? a : b;
      const loser = winner === a ? b : a;
      assert.equal(winner.res.status, 200, winner.res.text);
      assert.equal(winner.res.body.promotion.status, "succeeded");
      assert.equal(loser.res.status, 409, loser.res.text);
      assert.equal(loser.res.body.error.code, "locked");
      assert.ok(loser.done < winner.done, "the second apply fails at once, not after waiting");

      const [counts] = await h.db.staging`
        select (select count(*)::int from public.app_config where key = ${key}) as rows,
               (select count(*)::int from ops.promotion_snapshots where promotion_id = ${id}) as snapshots,
               (select count(*)::int from ops.audit_log
                 where subject_id = ${id} and action = 'promotion.changes_written') as writes,
               (select count(*)::int from ops.audit_log
                 where subject_id = ${id} and action = 'promotion.succeeded') as successes`;
      assert.deepEqual({ ...counts }, { rows: 1, snapshots: 1, writes: 1, successes: 1 });
    } finally {
      await h.db.staging.unsafe(`drop trigger if exists ${slow} on public.app_config;
        drop function if exists public.${slow}()`);
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a target changed between approval and apply: plan_drift names the key, nothing is written", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const s = uniqueSuffix();
    const key = `test_${s}.drift`;
    const other = `test_${s}.other`;
    await setConfig(h.db.staging, key, '{"v": 1}');
    await setConfig(h.db.staging, other, '{"v": 1}');
    try {
      const planned = await h.plan("staging", "production");
      const p = planned.body.promotion;
      assert.equal(await h.approveAsNeeded("production", p), "approved");

      // Someone edits production by hand after the approval (only the owner can, breaking glass).
      await breakGlass(h.db.production, "test: a hand edit after approval", async (tx) => {
        await setConfig(tx, key, '{"v": 2}');
      });
      const before = await h.hashes("production");
      const audit = await h.db.production`select max(id)::text as id from ops.audit_log`;
      const drift = await h.apply("production", p.id);
      assert.equal(drift.status, 409, drift.text);
      assert.equal(drift.body.error.code, "plan_drift");
      assert.match(drift.body.error.message, /re-plan/);
      const lines: string[] = drift.body.error.details.differences;
      assert.ok(lines.some((l) => l.includes(`config ${key}`)), lines.join("\n"));
      assert.ok(!lines.some((l) => l.includes(other)), "only the drifted key is named");
      assert.deepEqual(await h.hashes("production"), before, "nothing was written");
      assert.equal(await configText(h.db.production, other), null);
      const shown = await h.call("production", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "approved");
      assert.equal(shown.body.touched_rows, 0);
      const [{ n }] = await h.db.production`
        select count(*)::int as n from ops.audit_log where id > ${audit[0].id}::bigint
          and subject_id = ${p.id}`;
      assert.equal(n, 0, "a refused apply leaves no transition behind");

      // Undo the hand edit: the target is as planned again, and the approval holds.
      await breakGlass(h.db.production, "test: undo the hand edit", async (tx) => {
        await deleteConfig(tx, key);
      });
      const applied = await h.apply("production", p.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      assert.equal(await configText(h.db.production, key), '{"v": 1}');

      // The source changing after approval is refused the same way: what was approved is
      // no longer what would be written.
      await setConfig(h.db.staging, other, '{"v": 3}');
      const next = (await h.plan("staging", "production")).body.promotion;
      assert.equal(await h.approveAsNeeded("production", next), "approved");
      await setConfig(h.db.staging, other, '{"v": 4}');
      const moved = await h.apply("production", next.id);
      assert.equal(moved.status, 409, moved.text);
      assert.equal(moved.body.error.code, "plan_drift");
      assert.ok(
        moved.body.error.details.differences.some((l: string) => l.includes(`config ${other}`)),
        moved.text,
      );
      assert.equal(await configText(h.db.production, other), '{"v": 1}');
    } finally {
      await deleteConfig(h.db.staging, key, other);
      await h.level("development", "staging");
      await h.level("staging", "production");
    }
  });
});

Deno.test("environment-specific config (site_url) is kept, listed as kept, never overwritten", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const endpoint = `test_${s}.endpoint`;
    const plain = `test_${s}.plain`;
    const [had] = await h.db.staging`select 1 from public.app_config where key = 'site_url'`;
    if (!had) {
      await setConfig(h.db.staging, "site_url", '"https://staging.example.test"', {
        envSpecific: true,
      });
    }
    const siteUrl = await configText(h.db.staging, "site_url");
    await setConfig(h.db.staging, endpoint, '"https://api.staging.example.test"', {
      envSpecific: true,
    });
    await setConfig(h.db.development, endpoint, '"https://api.dev.example.test"', {
      envSpecific: true,
    });
    await setConfig(h.db.development, plain, "true");
    try {
      const planned = await h.plan("development", "staging");
      assert.equal(planned.status, 201, planned.text);
      const plan = planned.body.promotion.plan;
      for (const key of ["site_url", endpoint]) {
        assert.equal(changeOf(plan, "config", key), undefined, `${key} is not a change`);
        const kept = plan.kept.find((k: { key: string }) => k.key === key);
        assert.ok(kept, `${key} is listed as kept`);
        assert.match(kept.reason, /environment-specific/);
      }
      assert.match(
        renderPlan(plan, { color: false }),
        new RegExp(`= ${endpoint.replace(".", "\\.")} \\(config\\) environment-specific`),
      );
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      assert.equal(await configText(h.db.staging, "site_url"), siteUrl);
      assert.equal(await configText(h.db.staging, endpoint), '"https://api.staging.example.test"');
      assert.equal(await configText(h.db.staging, plain), "true");
    } finally {
      await deleteConfig(h.db.development, endpoint, plain);
      await deleteConfig(h.db.staging, endpoint);
      if (!had) await deleteConfig(h.db.staging, "site_url");
      await h.level("development", "staging");
    }
  });
});

Deno.test("a changed price amount replaces the price; stripe_price_id never crosses", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const slug = `t-${s}`;
    const lookupKey = await createTier(h.db.development, slug, { amount: 1000 });
    try {
      await h.db.development`
        update public.tier_prices set stripe_price_id = ${`price_dev${s}`} where lookup_key = ${lookupKey}`;
      await h.promote("development", "staging");
      const [created] = await h.db.staging`
        select stripe_price_id from public.tier_prices where lookup_key = ${lookupKey}`;
      assert.equal(created.stripe_price_id, null, "the source's Stripe id is not copied");
      await h.db.staging`
        update public.tier_prices set stripe_price_id = ${`price_stg${s}`} where lookup_key = ${lookupKey}`;
      const same = await h.plan("development", "staging");
      assert.equal(same.body.empty, true, `Stripe ids are environment-specific: ${same.text}`);

      await h.db
        .development`update public.tier_prices set unit_amount = 1500 where lookup_key = ${lookupKey}`;
      const planned = await h.plan("development", "staging");
      assert.equal(planned.status, 201, planned.text);
      const change = changeOf(planned.body.promotion.plan, "tier_prices", lookupKey);
      assert.equal(change.action, "replace");
      assert.equal(change.risk, "high");
      assert.equal(change.before.unit_amount, 1000);
      assert.equal(change.after.unit_amount, 1500);
      assert.equal(change.after.stripe_price_id, null);
      assert.ok(!planned.text.includes(`price_dev${s}`), "the source's Stripe id is nowhere");
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);

      const rows = await h.db.staging`
        select p.lookup_key, p.unit_amount::int as amount, p.active, p.stripe_price_id
        from public.tier_prices p join public.membership_tiers t on t.id = p.tier_id
        where t.slug = ${slug} order by p.unit_amount`;
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { lookup_key: null, amount: 1000, active: false, stripe_price_id: `price_stg${s}` },
        { lookup_key: lookupKey, amount: 1500, active: true, stripe_price_id: null },
      ]);
      const again = await h.plan("development", "staging");
      assert.equal(again.body.empty, true, again.text);
    } finally {
      await deleteTiers(h.db.development, slug);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a tier gone from the source is retired when it has memberships, refused when they are live", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const retired = `t-${s}-r`;
    const live = `t-${s}-l`;
    await createTier(h.db.development, retired);
    await createTier(h.db.development, live);
    const member = await h.userId("staging", "outsider");
    try {
      await h.promote("development", "staging");
      await h.db.staging`
        insert into public.memberships (user_id, tier_id, status)
        select ${member}, id, 'canceled' from public.membership_tiers where slug = ${retired}`;
      await h.db.staging`
        insert into public.memberships (user_id, tier_id, status)
        select ${member}, id, 'active' from public.membership_tiers where slug = ${live}`;

      await deleteTiers(h.db.development, retired);
      const planned = await h.plan("development", "staging", { scope: ["tiers"] });
      assert.equal(planned.status, 201, planned.text);
      const plan = planned.body.promotion.plan;
      const change = changeOf(plan, "tiers", retired);
      assert.equal(change.action, "retire");
      assert.equal(change.risk, "high");
      assert.equal(change.after.active, false);
      assert.equal(
        plan.changes.filter((c: { action: string }) => c.action === "delete").length,
        0,
        "nothing of a retired tier is deleted",
      );
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      const [tier] = await h.db.staging`
        select t.active, (select count(*)::int from public.memberships m where m.tier_id = t.id) as members
        from public.membership_tiers t where t.slug = ${retired}`;
      assert.deepEqual({ ...tier }, { active: false, members: 1 });
      assert.equal((await h.plan("development", "staging")).body.empty, true);

      await deleteTiers(h.db.development, live);
      const recorded = await h.promotionCount("staging");
      const before = await h.hashes("staging");
      const refused = await h.plan("development", "staging");
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.error.code, "plan_refused");
      assert.ok(
        refused.body.error.details.reasons.some((r: string) =>
          r.includes(live) && /1 live membership/.test(r)
        ),
        refused.text,
      );
      assert.equal(await h.promotionCount("staging"), recorded);
      assert.deepEqual(await h.hashes("staging"), before);
    } finally {
      await h.db.staging`delete from public.memberships where user_id = ${member}`;
      await deleteTiers(h.db.development, retired, live);
      await h.level("development", "staging");
    }
  });
});

Deno.test("flag enabled and rollout_percent stay in the target unless include_flag_state", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const flag = `test_${uniqueSuffix()}_flag`;
    await h.db.development`
      insert into public.feature_flags (key, description, enabled, rollout_percent)
      values (${flag}, 'first', true, 50)`;
    const state = async () => {
      const [row] = await h.db.staging`
        select description, enabled, rollout_percent from public.feature_flags where key = ${flag}`;
      return { ...row };
    };
    try {
      await h.promote("development", "staging");
      assert.deepEqual(await state(), { description: "first", enabled: false, rollout_percent: 0 });

      await h.db.development`
        update public.feature_flags set description = 'second', rollout_percent = 70 where key = ${flag}`;
      const planned = await h.plan("development", "staging");
      const change = changeOf(planned.body.promotion.plan, "flags", flag);
      assert.equal(change.action, "update");
      assert.deepEqual(change.reasons, ["changes description"]);
      await h.apply("staging", planned.body.promotion.id);
      assert.deepEqual(await state(), {
        description: "second",
        enabled: false,
        rollout_percent: 0,
      });
      assert.equal((await h.plan("development", "staging")).body.empty, true);

      await h.promote("development", "staging", { includeFlagState: true });
      assert.deepEqual(await state(), {
        description: "second",
        enabled: true,
        rollout_percent: 70,
      });
      assert.equal((await h.plan("development", "staging")).body.empty, true);
    } finally {
      await h.db.development`delete from public.feature_flags where key = ${flag}`;
      await h.level("development", "staging");
    }
  });
});

Deno.test("a flag's rules, stickiness and variants travel and evaluate alike; invalid rules refuse the plan", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const flag = `test_${uniqueSuffix()}_flag`;
    const rules = [{ attribute: "tier", op: "in", values: ["pro"], case_insensitive: true }];
    const variants = [
      { name: "blue", weight: 3, payload: { type: "string", value: "b" } },
      { name: "green", weight: 1, overrides: [{ attribute: "targeting_key", values: ["vip"] }] },
    ];
    await h.db.development`
      insert into public.feature_flags (key, enabled, rollout_percent, targeting_rules, stickiness, variants)
      values (${flag}, true, 40, ${JSON.stringify(rules)}::text::jsonb, 'account_id',
              ${JSON.stringify(variants)}::text::jsonb)`;
    try {
      await h.promote("development", "staging", { includeFlagState: true });
      const [row] = await h.db.staging`
        select enabled, rollout_percent, targeting_rules::text as rules, stickiness,
               variants::text as variants
          from public.feature_flags where key = ${flag}`;
      assert.deepEqual(
        { ...row, rules: JSON.parse(row.rules), variants: JSON.parse(row.variants) },
        { enabled: true, rollout_percent: 40, rules, stickiness: "account_id", variants },
      );
      const context = { account_id: "acct-7", tier: "PRO" };
      const [dev] = await h.db.development`select flags.evaluate(${flag}, ${
        JSON.stringify(context)
      }::text::jsonb)::text as r`;
      const [stg] = await h.db.staging`select flags.evaluate(${flag}, ${
        JSON.stringify(context)
      }::text::jsonb)::text as r`;
      assert.deepEqual(JSON.parse(stg.r), JSON.parse(dev.r));

      await h.db.development`
        update public.feature_flags
           set targeting_rules = '[{"attribute": "tier", "op": "matches", "value": "p.*"}]'
         where key = ${flag}`;
      const recorded = await h.promotionCount("staging");
      const refused = await h.plan("development", "staging");
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.error.code, "plan_refused");
      assert.ok(
        refused.body.error.details.reasons.some((r: string) =>
          r.includes(`feature flag ${flag} is invalid in development: targeting_rules.0`)
        ),
        refused.text,
      );
      assert.equal(await h.promotionCount("staging"), recorded);
    } finally {
      await h.db.development`delete from public.feature_flags where key = ${flag}`;
      await h.level("development", "staging");
    }
  });
});

Deno.test("secrets appear in plans only as fingerprints: not in answers, audit or stored plans", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.api_key`;
    const first = `sk_test_${crypto.randomUUID()}`;
    const second = `sk_test_${crypto.randomUUID()}`;
    const since = await lastAuditId(h.db.staging);
    try {
      const fp1 = await setSecret(h.db.development, key, first);
      const planned = await h.plan("development", "staging");
      assert.equal(planned.status, 201, planned.text);
      const create = changeOf(planned.body.promotion.plan, "config", key);
      assert.equal(create.action, "create");
      assert.equal(create.risk, "high");
      assert.equal(create.after.secret_fingerprint, fp1);
      assert.equal(create.after.value, null);
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      assert.equal(await readSecret(h.db.staging, key), first, "decrypts in the target");

      const fp2 = await setSecret(h.db.development, key, second);
      const changed = await h.plan("development", "staging");
      const update = changeOf(changed.body.promotion.plan, "config", key);
      assert.equal(update.action, "update");
      assert.equal(update.risk, "high");
      assert.deepEqual([update.before.secret_fingerprint, update.after.secret_fingerprint], [
        fp1,
        fp2,
      ]);
      const shown = await h.call("staging", "viewer", `/promotions/${changed.body.promotion.id}`);
      const appliedAgain = await h.apply("staging", changed.body.promotion.id);
      assert.equal(appliedAgain.body.promotion?.status, "succeeded", appliedAgain.text);
      assert.equal(await readSecret(h.db.staging, key), second);

      const [stored] = await h.db.staging`
        select string_agg(plan::text, '\n') as plans from ops.promotions
        where id in (${planned.body.promotion.id}, ${changed.body.promotion.id})`;
      const audit = await auditTextSince(h.db.staging, since);
      const [ciphertext] = await h.db.staging`
        select encode(secret_ciphertext, 'base64') as b64 from public.app_config where key = ${key}`;
      for (const secret of [first, second]) {
        for (
          const [where, text] of [
            ["plan answer", planned.text + changed.text],
            ["apply answer", applied.text + appliedAgain.text],
            ["show answer", shown.text],
            ["stored plans", stored.plans],
            ["audit log", audit],
          ]
        ) {
          assert.ok(!text.includes(secret), `no plaintext in the ${where}`);
          assert.ok(!text.includes(ciphertext.b64.slice(0, 24)), `no ciphertext in the ${where}`);
        }
      }
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a plan answer carries the first changes_limit changes and counts the rest; show returns the whole plan", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const prefix = `test_${uniqueSuffix()}.page`;
    const keys = [1, 2, 3].map((i) => `${prefix}_${i}`);
    for (const key of keys) await setConfig(h.db.development, key, '{"paged": true}');
    try {
      const before = await h.promotionCount("staging");
      const bad = await h.call("staging", "operator", "/promotions", {
        body: { source: "development", changes_limit: -1 },
      });
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /changes_limit/);
      assert.equal(await h.promotionCount("staging"), before, "a bad limit records nothing");

      const paged = await h.call("staging", "operator", "/promotions", {
        body: { source: "development", changes_limit: 1 },
      });
      assert.equal(paged.status, 201, paged.text);
      const promotion = paged.body.promotion;
      assert.deepEqual(promotion.plan.changes.map((c: { key: string }) => c.key), [keys[0]]);
      assert.deepEqual(paged.body.omitted, { changes: 2, high_risk: 0 });
      assert.equal(promotion.change_count, 3, "the promotion counts the whole plan");
      assert.equal(promotion.plan.summary.create, 3, "the summary is the whole plan's");

      const shown = await h.call("staging", "viewer", `/promotions/${promotion.id}`);
      assert.equal(shown.status, 200, shown.text);
      assert.equal(shown.body.promotion.plan_hash, paged.body.plan_hash);
      assert.deepEqual(shown.body.promotion.plan.changes.map((c: { key: string }) => c.key), keys);
      assert.equal(shown.body.omitted, undefined);

      const rendered = renderPlan(promotion.plan, {
        color: false,
        omitted: paged.body.omitted,
        id: promotion.id,
      });
      assert.match(
        rendered,
        new RegExp(`… 2 more changes not shown: stagecoach promote show ${promotion.id}`),
      );
      assert.ok(!rendered.includes(keys[1]), rendered);

      const whole = await h.call("staging", "operator", "/promotions", {
        body: { source: "development", dry_run: true },
      });
      assert.equal(whole.body.plan.changes.length, 3, "without a limit the answer is whole");
      assert.equal(whole.body.omitted, undefined);
      assert.equal(whole.body.plan_hash, paged.body.plan_hash, "the hash is the whole plan's");
    } finally {
      for (const key of keys) await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("CLI: promote plan prints the diff and the id, show the status, apply; usage errors exit 2", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.cli`;
    await setConfig(h.db.development, key, '{"from": "cli"}');
    await h.token("staging", "operator");
    await h.token("staging", "viewer");
    const operator = actorEmail("operator");
    try {
      const planned = await cli([
        "promote",
        "plan",
        "--from",
        "development",
        "--to",
        "staging",
        "--as",
        operator,
      ]);
      assert.equal(planned.code, 0, planned.stderr);
      assert.match(planned.stdout, /Plan development → staging/);
      assert.match(planned.stdout, new RegExp(`\\+ ${key.replace(".", "\\.")}\\s+create`));
      assert.ok(!planned.stdout.includes("\x1b["), "plain text when not a terminal");
      const id = planned.stdout.match(/promotion ([0-9a-f-]{36}): approved/)?.[1];
      assert.ok(id, planned.stdout);

      const shown = await cli([
        "promote",
        "show",
        id,
        "--env",
        "staging",
        "--as",
        actorEmail("viewer"),
      ]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`promotion ${id}: approved`));

      const applied = await cli(["promote", "apply", id, "--env", "staging", "--as", operator]);
      assert.equal(applied.code, 0, applied.stderr + applied.stdout);
      assert.match(applied.stdout, /succeeded/);
      assert.match(applied.stdout, /✓ parity/);

      const again = await cli([
        "promote",
        "plan",
        "--from",
        "development",
        "--to",
        "staging",
        "--as",
        operator,
      ]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /Nothing to promote: no promotion recorded/);

      const refused = await cli(["promote", "apply", id, "--env", "staging", "--as", operator]);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /it is succeeded/);

      const usage: [string[], RegExp][] = [
        [["promote", "plan", "--from", "development"], /--to/],
        [["promote", "plan", "--from", "staging", "--to", "staging"], /must differ/],
        [
          ["promote", "plan", "--from", "development", "--to", "staging", "--scope", "users"],
          /--scope/,
        ],
        [["promote", "show", "not-a-uuid", "--env", "staging"], /Invalid promotion id/],
        [["promote", "apply", id, "--env", "qa"], /Cannot find environment "qa"/],
      ];
      for (const [args, message] of usage) {
        const res = await cli(args);
        assert.equal(res.code, 2, `${args.join(" ")}: ${res.stdout}${res.stderr}`);
        assert.match(res.stderr, message);
      }
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("only operators and admins plan and apply; non-members cannot plan or validate at all", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.guarded`;
    // Every refusal is collected, so one run shows every hole at once.
    const outcomes: { who: string; what: string; result: number | boolean }[] = [];
    const expected: typeof outcomes = [];
    const record = (
      who: string,
      what: string,
      result: number | boolean,
      want: number | boolean,
    ) => {
      outcomes.push({ who, what, result });
      expected.push({ who, what, result: want });
    };
    try {
      // Levelled: even an empty plan or a parity report is for ops members only.
      for (const path of ["/promotions", "/validate"]) {
        const res = await h.call("staging", "outsider", path, { body: { source: "development" } });
        record("outsider", `POST ${path} (levelled)`, res.status, 403);
      }
      await setConfig(h.db.development, key, "1");
      const recorded = await h.promotionCount("staging");
      const byViewer = await h.plan("development", "staging", { actor: "viewer" });
      record("viewer", "POST /promotions", byViewer.status, 403);
      const byOutsider = await h.plan("development", "staging", { actor: "outsider" });
      record("outsider", "POST /promotions", byOutsider.status, 403);
      const validate = await h.call("staging", "outsider", "/validate", {
        body: { source: "development" },
      });
      record("outsider", "POST /validate (pending change)", validate.status, 403);
      record(
        "outsider",
        "POST /promotions shows the pending key",
        byOutsider.text.includes(key),
        false,
      );
      record(
        "outsider",
        "POST /validate shows the pending key",
        validate.text.includes(key),
        false,
      );
      assert.equal(await h.promotionCount("staging"), recorded);

      const p = (await h.plan("development", "staging")).body.promotion;
      const viewerApply = await h.apply("staging", p.id, "viewer");
      record("viewer", "POST /promotions/:id/apply", viewerApply.status, 403);
      const outsiderShow = await h.call("staging", "outsider", `/promotions/${p.id}`);
      record("outsider", "GET /promotions/:id", outsiderShow.status, 404);
      assert.equal(await configText(h.db.staging, key), null);
      const applied = await h.apply("staging", p.id, "admin");
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      assert.deepEqual(outcomes, expected);
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("validate: parity passes when levelled, names what a promotion would still change", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.pending`;
    try {
      const levelled = await h.call("staging", "viewer", "/validate", {
        body: { source: "development" },
      });
      assert.equal(levelled.status, 200, levelled.text);
      assert.equal(levelled.body.passed, true, levelled.text);

      await setConfig(h.db.development, key, "1");
      const [{ since }] = await h.db.staging`
        select coalesce(max(id), 0)::text as since from ops.validation_results`;
      const pending = await h.call("staging", "viewer", "/validate", {
        body: { source: "development", scope: ["config"] },
      });
      assert.equal(pending.body.passed, false, pending.text);
      const parity = pending.body.results.find((r: { name: string }) => r.name === "parity");
      assert.equal(parity.passed, false);
      assert.deepEqual(parity.details.remaining, [`config ${key}: create`]);
      const stored = await h.db.staging`
        select check_name, passed from ops.validation_results
        where id > ${since}::bigint and promotion_id is null and check_name = 'parity'`;
      assert.deepEqual(stored.map((r) => ({ ...r })), [{ check_name: "parity", passed: false }]);

      await h.token("staging", "viewer");
      const viaCli = await cli([
        "validate",
        "--from",
        "development",
        "--to",
        "staging",
        "--as",
        actorEmail("viewer"),
      ]);
      assert.equal(viaCli.code, 1, viaCli.stdout + viaCli.stderr);
      assert.match(viaCli.stdout, /some checks FAIL/);
      assert.match(viaCli.stdout, /✗ parity/);
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a secret changed in the source after approval is refused as drift, nothing written", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.api_key`;
    await setSecret(h.db.development, key, `sk_test_${crypto.randomUUID()}`);
    try {
      const p = (await h.plan("development", "staging")).body.promotion;
      assert.equal(p.status, "approved");
      await setSecret(h.db.development, key, `sk_test_${crypto.randomUUID()}`);
      const before = await h.hashes("staging");
      const applied = await h.apply("staging", p.id);
      assert.equal(applied.status, 409, applied.text);
      assert.equal(applied.body.error.code, "plan_drift");
      assert.deepEqual(await h.hashes("staging"), before);
      const shown = await h.call("staging", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "approved");
    } finally {
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});
