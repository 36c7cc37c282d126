/**
 * What happens when an apply goes wrong, and undoing one that went right, through the real
 * HTTP API: a write that fails mid-apply, a validation check that fails after it (automatic
 * rollback), rollback byte for byte (content hashes), its permissions and conflicts, and the
 * hash-chained audit log that records it all (`audit verify`, API and CLI).
 *
 * Each test levels its target with its source first, then changes keys of its own.
 */
import assert from "node:assert/strict";
import {
  actorEmail,
  changeOf,
  cli,
  configText,
  createTier,
  deleteConfig,
  deleteTiers,
  readSecret,
  setConfig,
  setSecret,
  swapConfigValue,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

Deno.test("a write failing in the middle of apply leaves every promotable table as it was", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const slug = `t-${s}`;
    const flag = `test_${s}_flag`;
    const good = `test_${s}.good`;
    const bad = `test_${s}.bad`;
    const constraint = `zz_test_refuse_${s}`;
    await createTier(h.db.development, slug);
    await h.db
      .development`insert into public.feature_flags (key, description) values (${flag}, 'x')`;
    await setConfig(h.db.development, good, "1");
    await setConfig(h.db.development, bad, "2");
    // Only the target refuses one of the rows, and only when it is written (tiers, then
    // config, then flags: the failure comes in the middle).
    await h.db.staging.unsafe(
      `alter table public.app_config add constraint ${constraint} check (key <> '${bad}')`,
    );
    try {
      const planned = await h.plan("development", "staging");
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.equal(p.change_count, 6, "tier, feature, price, two config entries, a flag");
      const before = await h.hashes("staging");
      const applied = await h.apply("staging", p.id);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "failed");
      assert.match(applied.body.promotion.failure.error, new RegExp(constraint));
      assert.deepEqual(await h.hashes("staging"), before, "every table exactly as before");
      assert.equal(await configText(h.db.staging, good), null);
      const [{ n }] = await h.db.staging`
        select count(*)::int as n from ops.promotion_snapshots where promotion_id = ${p.id}`;
      assert.equal(n, 0, "no snapshot survives a failed write");
      const shown = await h.call("staging", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "failed");
      const [audit] = await h.db.staging`
        select details->'failure'->>'error' as error from ops.audit_log
        where subject_id = ${p.id} and action = 'promotion.failed'`;
      assert.match(audit.error, new RegExp(constraint), "the failure is on record");
    } finally {
      await h.db.staging.unsafe(
        `alter table public.app_config drop constraint if exists ${constraint}`,
      );
      await deleteTiers(h.db.development, slug);
      await h.db.development`delete from public.feature_flags where key = ${flag}`;
      await deleteConfig(h.db.development, good, bad);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a failed validation check rolls the apply back automatically, byte for byte", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const extra = `test_${s}.extra`;
    const slug = `t-${s}`;
    const trialDays = await configText(h.db.staging, "billing.trial_days");
    await setConfig(h.db.development, extra, '{"with": "company"}');
    await createTier(h.db.development, slug);
    // A registered key (config/schemas.ts: an integer 0–365) set to what its schema refuses.
    const restore = await swapConfigValue(h.db.development, "billing.trial_days", '"forever"');
    try {
      const planned = await h.plan("development", "staging");
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.equal(changeOf(p.plan, "config", "billing.trial_days")?.action, "update");
      const before = await h.hashes("staging");
      const applied = await h.apply("staging", p.id);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "failed");
      assert.equal(applied.body.rolled_back, true);
      assert.ok(applied.body.promotion.failure.failed_checks.includes("config_schemas"));
      const check = applied.body.validation.find((r: { name: string }) =>
        r.name === "config_schemas"
      );
      assert.equal(check.passed, false);
      assert.equal(check.details.offending[0].key, "billing.trial_days");
      assert.deepEqual(await h.hashes("staging"), before, "rolled back byte for byte");
      assert.equal(await configText(h.db.staging, "billing.trial_days"), trialDays);

      const shown = await h.call("staging", "viewer", `/promotions/${p.id}`);
      assert.equal(shown.body.promotion.status, "failed");
      const stored = shown.body.validation.find((r: { check_name: string }) =>
        r.check_name === "config_schemas"
      );
      assert.equal(stored.passed, false, "validation results are stored with the promotion");
    } finally {
      await restore();
      await deleteConfig(h.db.development, extra);
      await deleteTiers(h.db.development, slug);
      await h.level("development", "staging");
    }
  });
});

Deno.test("rollback restores production byte for byte; approvers only; a second one changes nothing", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const s = uniqueSuffix();
    const slug = `t-${s}`;
    const flag = `test_${s}_flag`;
    const kept = `test_${s}.kept`;
    const gone = `test_${s}.gone`;
    const fresh = `test_${s}.fresh`;
    const secret = `test_${s}.api_key`;
    const doomed = `t-${s}-d`;
    const lookupKey = await createTier(h.db.staging, slug, { amount: 900 });
    await createTier(h.db.staging, doomed);
    const yearly = `${slug.replaceAll("-", "_")}_yearly`;
    await h.db.staging`
      insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval)
      select id, ${yearly}, 'usd', 9000, 'year' from public.membership_tiers where slug = ${slug}`;
    await h.db.staging`
      insert into public.feature_flags (key, description, targeting_rules)
      values (${flag}, 'before', '[{"attribute": "tier", "op": "eq", "value": "pro"}]')`;
    await setConfig(h.db.staging, kept, '{"n": 1.50, "big": 98765432109876543210}');
    await setConfig(h.db.staging, gone, '"bye"');
    await setSecret(h.db.staging, secret, `sk_test_${crypto.randomUUID()}`);
    try {
      await h.promote("staging", "production");
      const plaintext = await readSecret(h.db.production, secret);
      const before = await h.hashes("production");

      // Every kind of change: update, delete, create, replace, archive, a tier deleted with
      // its feature and price, a new feature, a new secret value.
      await deleteTiers(h.db.staging, doomed);
      await h.db.staging`delete from public.tier_prices where lookup_key = ${yearly}`;
      await setConfig(h.db.staging, kept, '{"n": 2.50, "big": 98765432109876543211}');
      await deleteConfig(h.db.staging, gone);
      await setConfig(h.db.staging, fresh, "[1, 2, 3]");
      await setSecret(h.db.staging, secret, `sk_test_${crypto.randomUUID()}`);
      await h.db
        .staging`update public.tier_prices set unit_amount = 1900 where lookup_key = ${lookupKey}`;
      await h.db.staging`
        insert into public.tier_features (tier_id, feature_key, value)
        select id, 'seats', '5' from public.membership_tiers where slug = ${slug}`;
      await h.db.staging`
        update public.membership_tiers set name = 'Renamed', metadata = '{"v": 2}' where slug = ${slug}`;
      await h.db.staging`update public.feature_flags set description = 'after' where key = ${flag}`;
      const planned = await h.plan("staging", "production");
      const actions = planned.body.promotion.plan.changes.map((c: { action: string }) => c.action);
      for (const action of ["create", "update", "delete", "replace", "archive"]) {
        assert.ok(actions.includes(action), `the plan has a ${action}: ${actions}`);
      }
      const id: string = planned.body.promotion.id;
      assert.equal(planned.body.promotion.required_approvals, 2);
      assert.equal(await h.approveAsNeeded("production", planned.body.promotion), "approved");
      const applied = await h.apply("production", id);
      assert.equal(applied.body.promotion?.status, "succeeded", applied.text);
      const after = await h.hashes("production");
      for (const table of Object.keys(before)) {
        assert.notEqual(after[table], before[table], `${table} changed`);
      }

      const byOperator = await h.rollback("production", id, "operator");
      assert.equal(byOperator.status, 403, byOperator.text);
      assert.match(byOperator.body.error.message, /approver or admin/);
      assert.deepEqual(await h.hashes("production"), after, "a refused rollback writes nothing");

      const rolledBack = await h.rollback("production", id, "approver");
      assert.equal(rolledBack.status, 200, rolledBack.text);
      assert.equal(rolledBack.body.changed, true);
      assert.ok(rolledBack.body.restored_rows >= 7, rolledBack.text);
      assert.equal(rolledBack.body.promotion.status, "rolled_back");
      assert.deepEqual(await h.hashes("production"), before, "restored byte for byte");
      assert.equal(await readSecret(h.db.production, secret), plaintext);

      const again = await h.rollback("production", id, "approver2");
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.changed, false);
      assert.equal(again.body.restored_rows, 0);
      assert.deepEqual(await h.hashes("production"), before);

      const trail = await h.db.production<{ action: string }[]>`
        select action from ops.audit_log where subject_id = ${id} order by id`;
      assert.deepEqual(trail.map((r) => r.action).slice(-2), [
        "promotion.rolled_back",
        "promotion.rows_restored",
      ]);
      const [{ by }] = await h.db.production`
        select rolled_back_by::text as by from ops.promotions where id = ${id}`;
      assert.equal(by, await h.userId("production", "approver"));
    } finally {
      await deleteTiers(h.db.staging, slug, doomed);
      await h.db.staging`delete from public.feature_flags where key = ${flag}`;
      await deleteConfig(h.db.staging, kept, gone, fresh, secret);
      await h.level("development", "staging");
      await h.level("staging", "production");
    }
  });
});

Deno.test("rolling back an older promotion under a later one on the same key is refused with the list", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const key = `test_${s}.layered`;
    const alone = `test_${s}.alone`;
    try {
      const empty = await h.hashes("staging");
      await setConfig(h.db.development, key, '"first"');
      const older = await h.promote("development", "staging");
      await setConfig(h.db.development, key, '"second"');
      await setConfig(h.db.development, alone, "true");
      const later = await h.promote("development", "staging");
      const latest = await h.hashes("staging");

      const refused = await h.rollback("staging", older, "operator");
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.error.code, "rollback_conflict");
      assert.deepEqual(refused.body.error.details.conflicts, [
        { promotion_id: later, kind: "config", natural_key: key },
      ]);
      assert.deepEqual(await h.hashes("staging"), latest, "nothing was written");

      // Newest first works: the later one, then the older one.
      const first = await h.rollback("staging", later, "operator");
      assert.equal(first.body.changed, true, first.text);
      assert.equal(await configText(h.db.staging, key), '"first"');
      assert.equal(await configText(h.db.staging, alone), null);
      const second = await h.rollback("staging", older, "operator");
      assert.equal(second.body.changed, true, second.text);
      assert.equal(await configText(h.db.staging, key), null);
      assert.deepEqual(await h.hashes("staging"), empty);

      const notSucceeded = await h.call("staging", "operator", `/promotions/${older}/apply`, {
        body: {},
      });
      assert.equal(notSucceeded.status, 409, "a rolled-back promotion is not applied again");
    } finally {
      await deleteConfig(h.db.development, key, alone);
      await h.level("development", "staging");
    }
  });
});

Deno.test("rollback restores JSON null values (config value, tier feature value) byte for byte", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const s = uniqueSuffix();
    const key = `test_${s}.nothing`;
    const slug = `t-${s}`;
    await setConfig(h.db.development, key, "null");
    await createTier(h.db.development, slug, { feature: "nullable" });
    await h.db.development`
      update public.tier_features set value = 'null'::jsonb
      where tier_id = (select id from public.membership_tiers where slug = ${slug})`;
    try {
      await h.promote("development", "staging");
      assert.equal(await configText(h.db.staging, key), "null");
      const before = await h.hashes("staging");

      await setConfig(h.db.development, key, "1");
      await h.db.development`
        update public.tier_features set value = '5'::jsonb
        where tier_id = (select id from public.membership_tiers where slug = ${slug})`;
      const id = await h.promote("development", "staging");
      const rolledBack = await h.rollback("staging", id, "operator");
      assert.equal(rolledBack.status, 200, rolledBack.text);
      assert.equal(rolledBack.body.changed, true);
      assert.deepEqual(await h.hashes("staging"), before, "restored byte for byte");
      assert.equal(await configText(h.db.staging, key), "null");
    } finally {
      await deleteConfig(h.db.development, key);
      await deleteTiers(h.db.development, slug);
      await h.level("development", "staging");
    }
  });
});

Deno.test("rollback of a deleted tier restores its archived prices too", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const slug = `t-${uniqueSuffix()}`;
    const lookupKey = await createTier(h.db.development, slug, { amount: 1000 });
    try {
      await h.promote("development", "staging");
      // A price change leaves an archived price (inactive, no lookup key) in the target.
      await h.db
        .development`update public.tier_prices set unit_amount = 1200 where lookup_key = ${lookupKey}`;
      await h.promote("development", "staging");
      const prices = async () => {
        const rows = await h.db.staging<{ lookup_key: string | null; active: boolean }[]>`
          select p.lookup_key, p.active from public.tier_prices p
          join public.membership_tiers t on t.id = p.tier_id where t.slug = ${slug}
          order by p.unit_amount`;
        return rows.map((r) => ({ ...r }));
      };
      const archived = [{ lookup_key: null, active: false }, {
        lookup_key: lookupKey,
        active: true,
      }];
      assert.deepEqual(await prices(), archived, "the new price and the archived one");
      const before = await h.hashes("staging");

      await deleteTiers(h.db.development, slug);
      const id = await h.promote("development", "staging");
      const rolledBack = await h.rollback("staging", id, "operator");
      assert.equal(rolledBack.status, 200, rolledBack.text);
      assert.deepEqual(await prices(), archived, "both prices are back, the archived one too");
      assert.deepEqual(await h.hashes("staging"), before, "restored byte for byte");
    } finally {
      await deleteTiers(h.db.development, slug);
      await h.level("development", "staging");
    }
  });
});

Deno.test("a failed check rolls back automatically even when a before-image holds a JSON null", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.nothing`;
    await setConfig(h.db.development, key, "null");
    let id: string | null = null;
    let restore = () => Promise.resolve();
    try {
      await h.promote("development", "staging");
      const before = await h.hashes("staging");
      await setConfig(h.db.development, key, "1");
      restore = await swapConfigValue(h.db.development, "billing.trial_days", "-1");
      id = (await h.plan("development", "staging")).body.promotion.id;
      const applied = await h.apply("staging", id!);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "failed");
      assert.equal(applied.body.rolled_back, true);
      assert.deepEqual(await h.hashes("staging"), before, "rolled back byte for byte");
    } finally {
      // A rollback that could not run leaves the promotion applying: close it as the system.
      if (id) {
        await h.db
          .staging`update ops.promotions set status = 'failed' where id = ${id} and status = 'applying'`;
      }
      await restore();
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
  });
});

Deno.test("rolling back a promotion that created a tier is refused while a later one added to that tier", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const slug = `t-${uniqueSuffix()}`;
    await createTier(h.db.development, slug);
    try {
      const older = await h.promote("development", "staging");
      await h.db.development`
        insert into public.tier_features (tier_id, feature_key, value)
        select id, 'seats', '25' from public.membership_tiers where slug = ${slug}`;
      const later = await h.promote("development", "staging");
      const latest = await h.hashes("staging");

      const res = await h.rollback("staging", older, "operator");
      assert.equal(res.status, 409, `the later promotion's feature would vanish: ${res.text}`);
      assert.equal(res.body.error.code, "rollback_conflict");
      assert.ok(
        res.body.error.details.conflicts.some((c: { promotion_id: string }) =>
          c.promotion_id === later
        ),
        res.text,
      );
      assert.deepEqual(await h.hashes("staging"), latest);
    } finally {
      await deleteTiers(h.db.development, slug);
      await h.level("development", "staging");
    }
  });
});

Deno.test("audit verify: the chain is intact, and a tampered entry is named (API and CLI)", async () => {
  await withHarness(async (h) => {
    for (const env of ["development", "staging", "production"] as const) {
      const res = await h.call(env, "viewer", "/audit/verify");
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.intact, true, `${env}: ${res.text}`);
      assert.equal(res.body.first_broken_id, null);
    }
    const outsider = await h.call("staging", "outsider", "/audit/verify");
    assert.equal(outsider.status, 403, outsider.text);

    await h.level("development", "staging");
    const key = `test_${uniqueSuffix()}.audited`;
    await setConfig(h.db.development, key, "1");
    await h.token("staging", "viewer");
    let original: { id: string; details: string } | null = null;
    // Edits the entry bypassing the append-only triggers for this session only (as a
    // superuser could), so no other writer of the log is affected.
    const rewrite = async (id: string, details: string) => {
      await h.db.staging.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`update ops.audit_log set details = ${details}::text::jsonb where id = ${id}::bigint`;
      });
    };
    try {
      const id = await h.promote("development", "staging");
      const [entry] = await h.db.staging<{ id: string; details: string }[]>`
        select id::text, details::text as details from ops.audit_log
        where subject_id = ${id} and action = 'promotion.changes_written'`;
      original = entry;
      await rewrite(entry.id, JSON.stringify({ ...JSON.parse(entry.details), summary: {} }));

      const broken = await h.call("staging", "viewer", "/audit/verify");
      assert.equal(broken.body.intact, false, broken.text);
      assert.equal(String(broken.body.first_broken_id), entry.id);
      const viaCli = await cli([
        "audit",
        "verify",
        "--env",
        "staging",
        "--as",
        actorEmail("viewer"),
      ]);
      assert.equal(viaCli.code, 1, viaCli.stdout + viaCli.stderr);
      assert.match(viaCli.stdout, new RegExp(`BROKEN at entry #${entry.id}\\b`));
    } finally {
      if (original) await rewrite(original.id, original.details);
      await deleteConfig(h.db.development, key);
      await h.level("development", "staging");
    }
    const restored = await h.call("staging", "viewer", "/audit/verify");
    assert.equal(restored.body.intact, true, restored.text);
    const intactCli = await cli([
      "audit",
      "verify",
      "--env",
      "staging",
      "--as",
      actorEmail("viewer"),
    ]);
    assert.equal(intactCli.code, 0, intactCli.stdout + intactCli.stderr);
    assert.match(intactCli.stdout, /audit chain intact/);
  });
});
