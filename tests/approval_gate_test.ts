/**
 * Approvals that cannot be bypassed, tried as an attacker and as a careless insider would
 * against the running stack: each finding of the security review reproduced, and shown refused
 * with nothing changed anywhere (database, Stripe, audit), through the `ops` API and directly
 * in SQL as `authenticated` with the caller's claims (as the Data API runs it).
 *
 * The job, `--where`, outbound-URL and size-limit findings have their own tests beside their
 * code (`users_copy_test.ts`, `notifications_test.ts`, `stripe_webhook_test.ts`, …).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { emulatorClient } from "../scripts/local/stripe_emulator/testing.ts";
import { secretFingerprint } from "../supabase/functions/_shared/config/bundle.ts";
import { parseJson } from "../supabase/functions/_shared/json/lossless.ts";
import { canonicalPlan, type Plan } from "../supabase/functions/_shared/promotion/plan.ts";
import { cryptoProvider } from "../supabase/functions/_shared/stripe/client.ts";
import {
  type Actor,
  breakGlass,
  createTier,
  deleteTiers,
  type Harness,
  lastAuditId,
  readSecret,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

/** Runs `sql` in a transaction as `authenticated` with `who`'s claims, as PostgREST would. */
async function asDataApi<T>(
  h: Harness,
  env: "development" | "staging" | "production",
  who: Actor | "service_role",
  fn: (tx: postgres.TransactionSql) => Promise<T>,
): Promise<T> {
  const claims = who === "service_role"
    ? { role: "service_role" }
    : { sub: await h.userId(env, who), role: "authenticated" };
  return await h.db[env].begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    await tx.unsafe(`set local role ${who === "service_role" ? "service_role" : "authenticated"}`);
    return await fn(tx);
  }) as T;
}

/** The SQLSTATE of what `fn` threw, or "none". */
async function sqlstate(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "none";
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

Deno.test("finding 1: an operator's refused rollback in production leaves Stripe, effects and audit untouched", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const slug = `t-${uniqueSuffix()}`;
    const lookupKey = await createTier(h.db.staging, slug, { amount: 4200 });
    const stripe = await emulatorClient(localEnv("production"));
    let id = "";
    try {
      id = await h.promote("staging", "production", { scope: ["tiers", "stripe"] });
      const [price] = (await stripe.prices.list({ lookup_keys: [lookupKey], limit: 1 })).data;
      assert.ok(price?.active, "the apply created the price in production's account");
      const since = await lastAuditId(h.db.production);

      for (const who of ["operator", "viewer", "outsider"] as const) {
        const refused = await h.rollback("production", id, who);
        assert.equal(refused.status, 403, `${who}: ${refused.text}`);
      }
      assert.equal((await stripe.prices.retrieve(price.id)).active, true, "Stripe untouched");
      const [effects] = await h.db.production`
        select reverted_at from ops.promotion_effects where promotion_id = ${id}`;
      assert.equal(effects.reverted_at, null, "effects not marked reverted");
      const [row] = await h.db.production`select status::text from ops.promotions where id = ${id}`;
      assert.equal(row.status, "succeeded");
      const [{ n }] = await h.db.production`
        select count(*)::int as n from ops.audit_log where id > ${since}::bigint`;
      assert.equal(n, 0, "no audit entry");

      // The same transition in SQL as the Data API would run it is refused by the database.
      assert.equal(
        await sqlstate(() =>
          asDataApi(
            h,
            "production",
            "operator",
            (tx) => tx`update ops.promotions set status = 'rolled_back' where id = ${id}`,
          )
        ),
        "42501",
      );

      const allowed = await h.rollback("production", id, "approver");
      assert.equal(allowed.status, 200, allowed.text);
      assert.equal((await stripe.prices.retrieve(price.id)).active, false, "reverted now");
    } finally {
      await deleteTiers(h.db.staging, slug);
      await h.level("staging", "production");
    }
  });
});

Deno.test("finding 1: a refused apply of a Stripe-scoped promotion changes nothing in Stripe", async () => {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    await h.level("staging", "production");
    const slug = `t-${uniqueSuffix()}`;
    const lookupKey = await createTier(h.db.staging, slug, { amount: 4300 });
    const stripe = await emulatorClient(localEnv("production"));
    try {
      const planned = await h.plan("staging", "production", { scope: ["tiers", "stripe"] });
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.equal(await h.approveAsNeeded("production", p), "approved");
      for (const who of ["approver", "viewer", "outsider"] as const) {
        const refused = await h.apply("production", p.id, who);
        assert.equal(refused.status, 403, `${who}: ${refused.text}`);
      }
      assert.deepEqual(
        (await stripe.prices.list({ lookup_keys: [lookupKey], limit: 1 })).data,
        [],
        "no price was created",
      );
      const [{ n }] = await h.db.production`
        select count(*)::int as n from ops.promotion_effects where promotion_id = ${p.id}`;
      assert.equal(n, 0, "no effects recorded");
    } finally {
      await deleteTiers(h.db.staging, slug);
    }
  });
});

Deno.test("finding 2: a secret stored with set-secret never signs webhook events", async () => {
  await withHarness(async (h) => {
    const env = localEnv("development");
    const [before] = await h.db.development`
      select * from public.app_config where key = 'stripe.webhook_secret'`;
    const chosen = `whsec_${crypto.randomUUID().replaceAll("-", "")}`;
    const set = await h.call("development", "operator", "/config/secrets/stripe.webhook_secret", {
      method: "PUT",
      body: { value: chosen },
    });
    try {
      assert.equal(set.status, 200, set.text);
      assert.equal(await readSecret(h.db.development, "stripe.webhook_secret"), chosen);
      const stripe = await emulatorClient(env);
      const id = `evt_gate${uniqueSuffix()}`;
      const body = JSON.stringify({
        id,
        object: "event",
        api_version: "2026-10-28.endive",
        created: Math.floor(Date.now() / 1000),
        data: { object: { id: `cus_gate${uniqueSuffix()}`, object: "customer", email: "x@y.z" } },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type: "customer.created",
      });
      const signature = await stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret: chosen,
        cryptoProvider,
      });
      const res = await fetch(`${env.functionsUrl}/stripe-webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body,
      });
      const answer = await res.json();
      assert.equal(res.status, 400, JSON.stringify(answer));
      assert.equal(answer.error.code, "invalid_signature");
      const [{ n }] = await h.db.development`
        select count(*)::int as n from stripe.events where id = ${id}`;
      assert.equal(n, 0, "nothing written");
    } finally {
      await h.db.development`delete from public.app_config where key = 'stripe.webhook_secret'`;
      if (before) await h.db.development`insert into public.app_config ${h.db.development(before)}`;
    }
  });
});

Deno.test("finding 3: a production secret is a high-risk promotion; direct writes are refused for every role", async () => {
  await withHarness(async (h) => {
    const key = `test_${uniqueSuffix()}.api_key`;
    const value = `sk_live_${uniqueSuffix()}`;
    const since = await lastAuditId(h.db.production);
    const put = await h.call("production", "operator", `/config/secrets/${key}`, {
      method: "PUT",
      body: { value },
    });
    assert.equal(put.status, 202, put.text);
    const p = put.body.promotion;
    assert.equal(p.source_env, "secret");
    assert.equal(p.risk, "high");
    assert.equal(p.status, "awaiting_approval");
    assert.equal(p.required_approvals, 2);
    assert.equal(await readSecret(h.db.production, key), null, "nothing stored yet");
    const [{ text }] = await h.db.production`
      select plan::text || coalesce(source_bundle::text, '') ||
             (select coalesce(string_agg(details::text, ''), '') from ops.audit_log
               where id > ${since}::bigint) as text
      from ops.promotions where id = ${p.id}`;
    assert.ok(!text.includes(value), "the value is in no plan, proposal or audit entry");

    // Direct SQL as each role, as the Data API runs it: refused, nothing written.
    for (const who of ["operator", "approver", "admin", "viewer", "service_role"] as const) {
      for (
        const stmt of [
          `update public.app_config set value = '"x"' where key = 'site_name'`,
          `insert into public.app_config (key, value) values ('test_gate.x', '1')`,
          `delete from public.feature_flags where key = 'zz_none'`,
          `update public.membership_tiers set name = 'x' where slug = 'zz_none'`,
          `update public.tier_prices set active = false where lookup_key = 'zz_none'`,
          `update public.tier_features set value = '1' where feature_key = 'zz_none'`,
          `select ops.set_config_secret('${key}', 'sk_live_chosen', null)`,
        ]
      ) {
        const code = await sqlstate(() => asDataApi(h, "production", who, (tx) => tx.unsafe(stmt)));
        assert.equal(code, "42501", `${who}: ${stmt}`);
      }
    }
    assert.equal(await readSecret(h.db.production, key), null);

    const approved = await h.approveAsNeeded("production", p);
    assert.equal(approved, "approved");
    const applied = await h.apply("production", p.id);
    assert.equal(applied.status, 200, applied.text);
    assert.equal(applied.body.promotion.status, "succeeded", applied.text);
    assert.equal(await readSecret(h.db.production, key), value, "applied once approved");
    const [{ n }] = await h.db.production`
      select count(*)::int as n from ops.audit_log
      where action = 'promotable.insert' and subject_id = 'public.app_config'
        and details->>'promotion_id' = ${p.id}`;
    assert.equal(n, 1, "the write is audited with its promotion");
    await breakGlass(h.db.production, "test: remove the secret of the gate test", async (tx) => {
      await tx`delete from public.app_config where key = ${key}`;
    });
  });
});

Deno.test("finding 5: a crafted plan cannot be recorded with another plan's hash or a lower risk", async () => {
  await withHarness(async (h) => {
    // Direct inserts: refused for every API role.
    for (const who of ["operator", "admin", "service_role"] as const) {
      const code = await sqlstate(() =>
        asDataApi(
          h,
          "production",
          who,
          (tx) =>
            tx`insert into ops.promotions (source_env, target_env, scope, plan, plan_hash, risk, change_count)
             values ('staging', 'production', '{flags}', '{}', ${"a".repeat(64)}, 'low', 1)`,
        )
      );
      assert.equal(code, "42501", who);
    }
    // Through the function: the stored hash is the hash of the stored plan, and a plan that
    // claims less risk than its changes is refused.
    const plan = {
      changes: [{
        action: "create",
        after: { key: "hidden", enabled: true },
        before: null,
        key: "hidden_flag",
        kind: "flags",
        reasons: [],
        risk: "high",
      }],
      format: "stagecoach.plan",
      kept: [],
      options: { include_flag_state: true },
      risk: "low",
      scope: ["flags"],
      source: "staging",
      summary: { archive: 0, create: 1, delete: 0, replace: 0, retire: 0, update: 0 },
      target: "production",
      version: 1,
    };
    const refused = await sqlstate(() =>
      asDataApi(
        h,
        "production",
        "operator",
        (tx) => tx`select id from ops.create_promotion(${JSON.stringify(plan)})`,
      )
    );
    assert.equal(refused, "23514", "risk low with a high-risk change");
    const honest = JSON.stringify({ ...plan, risk: "high" });
    const [row] = await asDataApi(
      h,
      "production",
      "operator",
      (tx) =>
        tx`select id::text, plan_hash, risk, change_count, status::text
         from ops.create_promotion(${honest})`,
    );
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(honest));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(row.plan_hash, hex, "the database hashed the text it stores");
    assert.deepEqual([row.risk, row.change_count, row.status], ["high", 1, "awaiting_approval"]);
    // Approved as shown, it still cannot be applied: it is not what the planner computes.
    assert.equal(
      await h.approveAsNeeded("production", { id: row.id, plan_hash: row.plan_hash }),
      "approved",
    );
    const before = await h.hashes("production");
    const applied = await h.apply("production", row.id);
    assert.equal(applied.status, 409, applied.text);
    assert.equal(applied.body.error.code, "plan_drift");
    assert.deepEqual(await h.hashes("production"), before, "nothing written");
  });
});

Deno.test("finding 8: an approval-gated environment's secrets are exported by admins only, audited", async () => {
  await withHarness(async (h) => {
    const key = `test_${uniqueSuffix()}.token`;
    await breakGlass(h.db.production, "test: a secret to export in the gate test", async (tx) => {
      await tx`select ops.set_config_secret(${key}, 'sk_live_export', null)`;
    });
    try {
      const headers = { "x-stagecoach-transfer-key": "a transfer key of at least 32 characters!" };
      const since = await lastAuditId(h.db.production);
      const refused = await h.call("production", "operator", "/config/export", {
        headers,
        body: {},
      });
      assert.equal(refused.status, 403, refused.text);
      assert.match(refused.body.error.message, /admin/);
      const [{ n }] = await h.db.production`
        select count(*)::int as n from ops.audit_log where id > ${since}::bigint`;
      assert.equal(n, 0);
      const ok = await h.call("production", "admin", "/config/export", { headers, body: {} });
      assert.equal(ok.status, 200, ok.text);
      assert.ok(ok.body.secrets >= 1);
      const [entry] = await h.db.production`
        select actor::text, actor_role from ops.audit_log
        where id > ${since}::bigint and action = 'config.exported'`;
      assert.deepEqual(
        { ...entry },
        { actor: await h.userId("production", "admin"), actor_role: "admin" },
      );
    } finally {
      await breakGlass(h.db.production, "test: remove the exported secret", async (tx) => {
        await tx`delete from public.app_config where key = ${key}`;
      });
    }
  });
});

Deno.test("finding 9: no API role appends to the audit log; a forged approval is refused", async () => {
  await withHarness(async (h) => {
    const since = await lastAuditId(h.db.production);
    for (const who of ["viewer", "operator", "approver", "admin", "service_role"] as const) {
      const code = await sqlstate(() =>
        asDataApi(
          h,
          "production",
          who,
          (tx) => tx`select ops.append_audit('approval.approve', 'promotion', 'forged', '{}')`,
        )
      );
      assert.equal(code, "42501", who);
    }
    const [{ n }] = await h.db.production`
      select count(*)::int as n from ops.audit_log where id > ${since}::bigint`;
    assert.equal(n, 0);
    const verify = await h.call("production", "viewer", "/audit/verify");
    assert.equal(verify.body.intact, true);
  });
});

Deno.test("finding 9: lowering production's required approvals needs a second admin", async () => {
  await withHarness(async (h) => {
    const code = await sqlstate(() =>
      asDataApi(
        h,
        "production",
        "admin",
        (tx) =>
          tx`update ops.environments set required_approvals = 0, high_risk_approvals = 0
           where name = 'production'`,
      )
    );
    assert.equal(code, "42501");
    const [env] = await h.db.production`
      select required_approvals, high_risk_approvals from ops.environments where name = 'production'`;
    assert.deepEqual({ ...env }, { required_approvals: 1, high_risk_approvals: 2 });
  });
});

Deno.test("finding 3: a secret promotion whose stored value is not the one planned is refused at apply", async () => {
  await withHarness(async (h) => {
    const key = `test_${uniqueSuffix()}.api_key`;
    const put = await h.call("production", "operator", `/config/secrets/${key}`, {
      method: "PUT",
      body: { value: `sk_live_${uniqueSuffix()}` },
    });
    assert.equal(put.status, 202, put.text);
    // An operator replays that proposal's ciphertext under a plan naming another value's
    // fingerprint (canonical text, so the hash check alone would not catch it).
    const [stored] = await h.db.production`
      select plan::text as plan, source_bundle #>> '{}' as bundle
      from ops.promotions where id = ${put.body.promotion.id}`;
    const other = await secretFingerprint("sk_live_what_approvers_think");
    const plan = parseJson(stored.plan) as unknown as Plan;
    (plan.changes[0].after as Record<string, unknown>).secret_fingerprint = other;
    const proposal = { ...JSON.parse(stored.bundle), fingerprint: other };
    const { text } = await canonicalPlan(plan);
    const rows = await asDataApi(
      h,
      "production",
      "operator",
      (tx) =>
        tx`select id::text, plan_hash from ops.create_promotion(${text}, ${
          JSON.stringify(proposal)
        })`,
    );
    const crafted = rows[0] as unknown as { id: string; plan_hash: string };
    assert.equal(await h.approveAsNeeded("production", crafted), "approved");
    const before = await h.hashes("production");
    const applied = await h.apply("production", crafted.id);
    assert.equal(applied.status, 409, applied.text);
    assert.match(applied.body.error.message, /does not match the fingerprint/);
    assert.deepEqual(await h.hashes("production"), before, "nothing written");
    assert.equal(await readSecret(h.db.production, key), null);
  });
});
