/**
 * Catalog sync between environments (promotion scope `stripe`) on the running stack: the
 * staging `ops` function promotes development's tiers and prices into staging's Stripe
 * emulator account. Stripe is inspected only through the `stripe` SDK with staging's own key
 * (from the stack's accounts file), the database as postgres.
 *
 * Each test levels staging with development, then works on a tier of its own and asserts on
 * its product and prices (the account is shared by the whole run).
 */
import assert from "node:assert/strict";
import type Stripe from "stripe";
import { localEnv } from "../scripts/local/config.ts";
import { emulatorClient } from "../scripts/local/stripe_emulator/testing.ts";
import { readRows } from "../supabase/functions/_shared/promotion/read.ts";
import {
  planCatalog,
  WEBHOOK_SECRET_KEY,
} from "../supabase/functions/_shared/stripe/catalog_plan.ts";
import {
  readCatalogState,
  stripeCatalogSystem,
} from "../supabase/functions/_shared/stripe/catalog_sync.ts";
import {
  changeOf,
  createTier,
  deleteTiers,
  type Harness,
  lastAuditId,
  readSecret,
  stageApplying,
  swapConfigValue,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

const SCOPE = ["tiers", "stripe"];
const staging = localEnv("staging");
const WEBHOOK_URL = `${staging.functionsUrl}/stripe-webhook`;

/** Staging's products of a tier (by `metadata.tier_slug`). */
async function productsOf(stripe: Stripe, slug: string): Promise<Stripe.Product[]> {
  const out: Stripe.Product[] = [];
  for await (const p of stripe.products.list({ limit: 100 })) {
    if (p.metadata.tier_slug === slug) out.push(p);
  }
  return out;
}

/** Staging's prices of a product, oldest first. */
async function pricesOf(stripe: Stripe, product: string): Promise<Stripe.Price[]> {
  return (await stripe.prices.list({ product, limit: 100 })).data.reverse();
}

/** The Stripe price holding a lookup key. */
async function priceByKey(stripe: Stripe, key: string): Promise<Stripe.Price | undefined> {
  return (await stripe.prices.list({ lookup_keys: [key] })).data[0];
}

/** `tier_prices.stripe_price_id` of a lookup key in staging. */
async function link(h: Harness, key: string): Promise<string | null> {
  const [row] = await h.db.staging<{ id: string | null }[]>`
    select stripe_price_id as id from public.tier_prices where lookup_key = ${key}`;
  return row?.id ?? null;
}

/** The stored plan of a promotion. */
// deno-lint-ignore no-explicit-any
async function planOf(h: Harness, id: string): Promise<any> {
  const shown = await h.call("staging", "viewer", `/promotions/${id}`);
  assert.equal(shown.status, 200, shown.text);
  return shown.body.promotion.plan;
}

/** A test's tier in development (levelled into staging first) and its cleanup. */
async function withTier(
  fn: (h: Harness, t: { slug: string; key: string; stripe: Stripe }) => Promise<void>,
): Promise<void> {
  await withHarness(async (h) => {
    await h.level("development", "staging");
    const stripe = await emulatorClient(staging);
    const slug = `t-${uniqueSuffix()}`;
    const key = await createTier(h.db.development, slug, { amount: 1000 });
    try {
      await fn(h, { slug, key, stripe });
    } finally {
      await deleteTiers(h.db.development, slug);
      // Deletes the tier in staging and archives its product and prices.
      await h.promote("development", "staging", { scope: SCOPE });
    }
  });
}

Deno.test("promote --scope tiers,stripe creates the product and price, links them, then plans nothing", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    // h.promote asserts that a second plan is empty.
    const id = await h.promote("development", "staging", { scope: SCOPE });
    const plan = await planOf(h, id);
    assert.equal(changeOf(plan, "stripe_products", `product:${slug}`)?.action, "create");
    const priceChange = changeOf(plan, "stripe_prices", `price:${key}`);
    assert.equal(priceChange?.action, "create");
    assert.equal(priceChange.after.unit_amount, 1000);

    const [product, ...more] = await productsOf(stripe, slug);
    assert.deepEqual(more, [], "one product per tier");
    assert.equal(product.name, `Tier ${slug}`);
    assert.equal(product.description, "made by a promotion test");
    assert.equal(product.active, true);
    const price = await priceByKey(stripe, key);
    assert.ok(price, "the price carries the lookup key");
    assert.equal(price.product, product.id);
    assert.equal(price.unit_amount, 1000);
    assert.equal(price.currency, "usd");
    assert.deepEqual([price.recurring?.interval, price.recurring?.interval_count], ["month", 1]);
    assert.equal(price.metadata.tier_slug, slug);
    assert.equal(await link(h, key), price.id, "tier_prices.stripe_price_id is filled");

    const shown = await h.call("staging", "viewer", `/promotions/${id}`);
    const checks = Object.fromEntries(
      shown.body.validation.map((v: { check_name: string; passed: boolean }) => [
        v.check_name,
        v.passed,
      ]),
    );
    assert.equal(checks.stripe_prices, true);
    assert.equal(checks.stripe_webhook_endpoint, true);
    const [effects] = await h.db.staging<{ text: string }[]>`
      select effects::text as text from ops.promotion_effects where promotion_id = ${id}`;
    assert.match(effects.text, new RegExp(price.id), "the effects record what was created");
    assert.doesNotMatch(effects.text, /whsec_/);
  });
});

Deno.test("a renamed tier updates its product; a changed amount replaces the price", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    await h.promote("development", "staging", { scope: SCOPE });
    const [product] = await productsOf(stripe, slug);
    const old = (await priceByKey(stripe, key))!;

    await h.db.development`
      update public.membership_tiers set name = 'Renamed' where slug = ${slug}`;
    const renamed = await planOf(h, await h.promote("development", "staging", { scope: SCOPE }));
    const productChange = changeOf(renamed, "stripe_products", `product:${slug}`);
    assert.equal(productChange.action, "update");
    assert.deepEqual(productChange.reasons, ["changes name"]);
    assert.deepEqual((await productsOf(stripe, slug)).map((p) => [p.id, p.name]), [
      [product.id, "Renamed"],
    ]);

    await h.db
      .development`update public.tier_prices set unit_amount = 2000 where lookup_key = ${key}`;
    const repriced = await planOf(h, await h.promote("development", "staging", { scope: SCOPE }));
    const priceChange = changeOf(repriced, "stripe_prices", `price:${key}`);
    assert.equal(priceChange.action, "replace");
    assert.equal(priceChange.risk, "high");
    assert.equal(priceChange.before.id, old.id);
    const fresh = (await priceByKey(stripe, key))!;
    assert.notEqual(fresh.id, old.id);
    assert.equal(fresh.unit_amount, 2000);
    assert.equal(fresh.product, product.id);
    const archived = await stripe.prices.retrieve(old.id);
    assert.deepEqual([archived.active, archived.lookup_key], [false, null]);
    assert.equal(await link(h, key), fresh.id);
    const rows = await h.db.staging`
      select p.lookup_key, p.stripe_price_id from public.tier_prices p
      join public.membership_tiers t on t.id = p.tier_id where t.slug = ${slug}
      order by p.unit_amount`;
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { lookup_key: null, stripe_price_id: old.id },
      { lookup_key: key, stripe_price_id: fresh.id },
    ], "the archived row keeps its Stripe price");
  });
});

Deno.test("a failed database step reverts Stripe: the new price archived, the lookup key back", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    await h.promote("development", "staging", { scope: SCOPE });
    const [product] = await productsOf(stripe, slug);
    const old = (await priceByKey(stripe, key))!;
    await h.db
      .development`update public.tier_prices set unit_amount = 2000 where lookup_key = ${key}`;
    const constraint = `zz_test_refuse_${slug.replaceAll("-", "_")}`;
    await h.db.staging.unsafe(
      `alter table public.tier_prices add constraint ${constraint}
         check (unit_amount <> 2000 or lookup_key is distinct from '${key}')`,
    );
    try {
      const before = await h.hashes("staging");
      const planned = await h.plan("development", "staging", { scope: SCOPE });
      assert.equal(planned.status, 201, planned.text);
      const p = planned.body.promotion;
      assert.equal(changeOf(p.plan, "stripe_prices", `price:${key}`).action, "replace");
      const applied = await h.apply("staging", p.id);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "failed");
      assert.match(applied.body.promotion.failure.error, new RegExp(constraint));
      assert.deepEqual(await h.hashes("staging"), before, "the database is untouched");

      const back = await stripe.prices.retrieve(old.id);
      assert.deepEqual([back.active, back.lookup_key], [true, key], "the lookup key moved back");
      const prices = await pricesOf(stripe, product.id);
      assert.equal(prices.length, 2);
      assert.deepEqual(
        [prices[1].unit_amount, prices[1].active, prices[1].lookup_key],
        [2000, false, null],
        "the price the apply created is archived",
      );
      const [row] = await h.db.staging`
        select reverted_at is not null as reverted from ops.promotion_effects
        where promotion_id = ${p.id}`;
      assert.equal(row.reverted, true, "the effects are marked reverted");
    } finally {
      await h.db.staging.unsafe(
        `alter table public.tier_prices drop constraint if exists ${constraint}`,
      );
    }
    // A new plan makes the change for real, once.
    await h.promote("development", "staging", { scope: SCOPE });
    const active = (await pricesOf(stripe, product.id)).filter((p) => p.active);
    assert.deepEqual(active.map((p) => [p.unit_amount, p.lookup_key]), [[2000, key]]);
    assert.equal((await productsOf(stripe, slug)).length, 1);
  });
});

Deno.test("a killed apply run again duplicates nothing in Stripe", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    const planned = await h.plan("development", "staging", { scope: SCOPE });
    assert.equal(planned.status, 201, planned.text);
    const p = planned.body.promotion;
    // The first apply made its Stripe changes and died before recording them: the system's
    // apply, called twice with the promotion's id, stands for that run and its re-run.
    const system = stripeCatalogSystem(stripe, {
      webhookUrl: WEBHOOK_URL,
      target: h.db.staging,
      functionsHoldSecret: true,
    });
    const changes = planCatalog({
      desired: await readRows(h.db.development, ["tiers"]),
      state: await readCatalogState(stripe),
      links: {},
      webhook: { url: WEBHOOK_URL, events: [], secretHeld: () => true },
    }).filter((c) => c.key === `product:${slug}` || c.key === `price:${key}`);
    assert.deepEqual(changes.map((c) => c.action), ["create", "create"]);
    const first = await system.apply(p.id, changes);
    const second = await system.apply(p.id, changes);
    assert.deepEqual(second, first, "the re-run replays Stripe's answers");
    assert.equal((await productsOf(stripe, slug)).length, 1);

    // Through the pipeline: Stripe changed since the plan, so the apply is refused as drift…
    const refused = await h.apply("staging", p.id);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, "plan_drift");
    assert.ok(
      refused.body.error.details.differences.some((d: string) => d.includes(`product:${slug}`)),
      refused.text,
    );
    // …and a new plan adopts what the killed run made instead of making it again.
    const replanned = await h.plan("development", "staging", { scope: SCOPE });
    assert.equal(replanned.status, 201, replanned.text);
    const again = replanned.body.promotion.plan;
    assert.equal(changeOf(again, "stripe_products", `product:${slug}`), undefined);
    assert.equal(
      changeOf(again, "stripe_prices", `price:${key}`).reasons[0],
      `links tier_prices.stripe_price_id to ${(first.price_ids as Record<string, string>)[key]}`,
    );
    assert.equal(await h.approveAsNeeded("staging", replanned.body.promotion), "approved");
    const applied = await h.apply("staging", replanned.body.promotion.id);
    assert.equal(applied.body.promotion.status, "succeeded", applied.text);
    const [product, ...more] = await productsOf(stripe, slug);
    assert.deepEqual(more, []);
    assert.equal((await pricesOf(stripe, product.id)).length, 1);
    assert.equal(await link(h, key), (first.price_ids as Record<string, string>)[key]);
  });
});

Deno.test("rolling back a catalog promotion reverts Stripe and the links, byte for byte", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    await h.promote("development", "staging", { scope: SCOPE });
    const old = (await priceByKey(stripe, key))!;
    await h.db
      .development`update public.tier_prices set unit_amount = 2500 where lookup_key = ${key}`;
    const before = await h.hashes("staging");
    const id = await h.promote("development", "staging", { scope: SCOPE });
    const fresh = (await priceByKey(stripe, key))!;
    assert.equal(fresh.unit_amount, 2500);

    const rolled = await h.rollback("staging", id);
    assert.equal(rolled.status, 200, rolled.text);
    assert.equal(rolled.body.promotion.status, "rolled_back");
    assert.deepEqual(await h.hashes("staging"), before, "the database as it was");
    assert.equal(await link(h, key), old.id);
    const back = await stripe.prices.retrieve(old.id);
    assert.deepEqual([back.active, back.lookup_key], [true, key]);
    assert.equal((await stripe.prices.retrieve(fresh.id)).active, false);
    const again = await h.rollback("staging", id);
    assert.equal(again.body.changed, false, "a second rollback changes nothing");

    // Rolling back the promotion that created the tier archives its product too.
    await h.db
      .development`update public.tier_prices set unit_amount = 1000 where lookup_key = ${key}`;
    const s2 = `${slug}-b`;
    const key2 = await createTier(h.db.development, s2, { amount: 700 });
    try {
      const created = await h.promote("development", "staging", { scope: SCOPE });
      const [product] = await productsOf(stripe, s2);
      assert.equal(product.active, true);
      assert.equal((await h.rollback("staging", created)).body.promotion.status, "rolled_back");
      assert.equal((await stripe.products.retrieve(product.id)).active, false);
      assert.equal((await priceByKey(stripe, key2))?.active, false);
    } finally {
      await deleteTiers(h.db.development, s2);
    }
  });
});

Deno.test("Stripe changed between plan and apply: plan_drift, nothing made", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    await h.promote("development", "staging", { scope: SCOPE });
    const price = (await priceByKey(stripe, key))!;
    await h.db
      .development`update public.membership_tiers set name = 'Renamed' where slug = ${slug}`;
    const planned = await h.plan("development", "staging", { scope: SCOPE });
    assert.equal(planned.status, 201, planned.text);
    const p = planned.body.promotion;
    // Someone archives the price in the Stripe dashboard after the plan was approved.
    await stripe.prices.update(price.id, { active: false });
    const before = await h.hashes("staging");
    const applied = await h.apply("staging", p.id);
    assert.equal(applied.status, 409, applied.text);
    assert.equal(applied.body.error.code, "plan_drift");
    assert.deepEqual(
      applied.body.error.details.differences,
      [`stripe_prices price:${key}: new change not in the approved plan`],
    );
    assert.equal((await productsOf(stripe, slug))[0].name, `Tier ${slug}`, "nothing applied");
    assert.deepEqual(await h.hashes("staging"), before);
    const shown = await h.call("staging", "viewer", `/promotions/${p.id}`);
    assert.equal(shown.body.promotion.status, "approved", "it can be re-planned, not applied");
    // A new plan repairs it (the price is reactivated, the product renamed).
    const id = await h.promote("development", "staging", { scope: SCOPE });
    assert.equal(changeOf(await planOf(h, id), "stripe_prices", `price:${key}`).action, "update");
    assert.equal((await stripe.prices.retrieve(price.id)).active, true);
  });
});

Deno.test("a failed validation reverts Stripe with the database", async () => {
  await withTier(async (h, { slug, key, stripe }) => {
    // A registered key of the target set to what its schema refuses: validation fails.
    const restore = await swapConfigValue(h.db.staging, "billing.trial_days", '"forever"');
    try {
      const before = await h.hashes("staging");
      const planned = await h.plan("development", "staging", { scope: SCOPE });
      assert.equal(planned.status, 201, planned.text);
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.status, 200, applied.text);
      assert.equal(applied.body.promotion.status, "failed");
      assert.equal(applied.body.rolled_back, true);
      assert.deepEqual(applied.body.promotion.failure.failed_checks, ["config_schemas"]);
      const stripeChecks = applied.body.validation.filter((r: { name: string }) =>
        r.name.startsWith("stripe_")
      );
      assert.deepEqual(stripeChecks.map((r: { passed: boolean }) => r.passed), [true, true]);
      assert.deepEqual(await h.hashes("staging"), before);
      const [product] = await productsOf(stripe, slug);
      assert.equal(product.active, false, "the product it created is archived");
      assert.equal((await priceByKey(stripe, key))?.active, false);
    } finally {
      await restore();
    }
    // Once the target is fixed, a new plan reuses the archived objects: nothing twice.
    await h.promote("development", "staging", { scope: SCOPE });
    const [product, ...more] = await productsOf(stripe, slug);
    assert.deepEqual([product.active, more.length], [true, 0]);
    assert.equal((await pricesOf(stripe, product.id)).length, 1);
    assert.equal(await link(h, key), (await priceByKey(stripe, key))?.id);
  });
});

Deno.test("--scope stripe alone repairs the endpoint; a new endpoint's secret is stored encrypted", async () => {
  await withHarness(async (h) => {
    const stripe = await emulatorClient(staging);
    const [endpoint] = (await stripe.webhookEndpoints.list({ limit: 100 })).data.filter((e) =>
      e.url === WEBHOOK_URL
    );
    assert.ok(endpoint, "the stack registered staging's endpoint");
    await stripe.webhookEndpoints.update(endpoint.id, { disabled: true });
    try {
      const planned = await h.plan("development", "staging", { scope: ["stripe"] });
      assert.equal(planned.status, 201, planned.text);
      const change = changeOf(planned.body.promotion.plan, "stripe_webhook_endpoints", "endpoint");
      assert.equal(change.action, "update");
      assert.deepEqual([change.before.status, change.after.status], ["disabled", "enabled"]);
      assert.equal(await h.approveAsNeeded("staging", planned.body.promotion), "approved");
      const applied = await h.apply("staging", planned.body.promotion.id);
      assert.equal(applied.body.promotion.status, "succeeded", applied.text);
      assert.equal((await stripe.webhookEndpoints.retrieve(endpoint.id)).status, "enabled");
    } finally {
      await stripe.webhookEndpoints.update(endpoint.id, { disabled: false });
    }

    // A missing endpoint (here: of another URL, so staging's own keeps working) is created,
    // and its secret goes from apply to record in memory, then into the config encrypted.
    const url = `${WEBHOOK_URL}?catalog_test=${uniqueSuffix()}`;
    const events = ["customer.subscription.trial_will_end"];
    const system = stripeCatalogSystem(stripe, { webhookUrl: url, target: h.db.staging, events });
    const changes = (await system.plan({ tiers: [], tier_prices: [] })).filter((c) =>
      c.kind === "stripe_webhook_endpoints"
    );
    assert.deepEqual(changes.map((c) => c.action), ["create"]);
    // Recorded as the apply path records it: inside the apply of a stripe-scoped promotion
    // (staged in a transaction that is rolled back, with Stripe's effects reverted after).
    let promotionId = "";
    let effects: Awaited<ReturnType<typeof system.apply>> | null = null;
    try {
      const since = await lastAuditId(h.db.staging);
      await h.db.staging.begin(async (tx) => {
        promotionId = await stageApplying(tx, "staging", ["stripe"]);
        effects = await system.apply(promotionId, changes);
        const created = effects.endpoint_id as string;
        assert.doesNotMatch(JSON.stringify(effects), /whsec_/, "never in the effects record");
        await system.record(tx, effects);
        const [row] = await tx<
          { is_secret: boolean; env_specific: boolean; description: string; value: null }[]
        >`select is_secret, env_specific, description, value from public.app_config
          where key = ${WEBHOOK_SECRET_KEY}`;
        assert.deepEqual({ ...row }, {
          is_secret: true,
          env_specific: true,
          description: `Stripe webhook signing secret of ${created}`,
          value: null,
        });
        const [{ plaintext }] = await tx<{ plaintext: string }[]>`
          select private.decrypt_config_secret(secret_ciphertext) as plaintext
          from public.app_config where key = ${WEBHOOK_SECRET_KEY}`;
        assert.match(plaintext, /^whsec_/);
        const [{ trusted }] = await tx<{ trusted: string }[]>`
          select private.trusted_endpoint_secret() as trusted`;
        assert.equal(trusted, plaintext, "the webhook trusts it: the apply path recorded it");
        const [{ text }] = await tx<{ text: string }[]>`
          select coalesce(string_agg(details::text, e'\\n'), '') as text from ops.audit_log
          where id > ${since}::bigint`;
        assert.doesNotMatch(text, new RegExp(plaintext), "the audit shows a fingerprint only");
        assert.match(text, /sha256:/);
        throw new Error("roll back: this endpoint is the test's, not staging's");
      }).catch((err) => {
        if (!String(err).includes("roll back")) throw err;
      });
      assert.equal(await readSecret(h.db.staging, WEBHOOK_SECRET_KEY), null, "rolled back");
    } finally {
      if (effects) {
        await system.revert(promotionId, effects);
        await system.revert(promotionId, effects);
      }
    }
    const left = (await stripe.webhookEndpoints.list({ limit: 100 })).data.filter((e) =>
      e.url === url
    );
    assert.deepEqual(left, [], "revert deleted the endpoint it created");
  });
});
