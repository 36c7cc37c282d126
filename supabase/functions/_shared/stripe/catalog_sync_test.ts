import assert from "node:assert/strict";
import { startInProcessEmulator } from "../../../../scripts/local/stripe_emulator/testing.ts";
import type { Sql } from "../db.ts";
import { JsonNumber } from "../json/lossless.ts";
import type { RowsByKind } from "../promotion/plan.ts";
import { planCatalog } from "./catalog_plan.ts";
import { readCatalogState, stripeCatalogFromEnv, stripeCatalogSystem } from "./catalog_sync.ts";

const WEBHOOK_URL = "http://127.0.0.1:9/functions/v1/stripe-webhook";
const EVENTS = ["customer.subscription.trial_will_end"];
// apply and revert never touch the database (plan, record and checks do).
const NO_DB = null as unknown as Sql;

function desired(amount = 1200): RowsByKind {
  return {
    tiers: [{ slug: "pro", name: "Pro", description: "For pros", active: true }],
    tier_prices: [{
      tier: "pro",
      lookup_key: "pro_monthly",
      currency: "usd",
      unit_amount: new JsonNumber(String(amount)),
      billing_interval: "month",
      interval_count: new JsonNumber("1"),
      active: true,
    }],
  };
}

type Emulator = Awaited<ReturnType<typeof startInProcessEmulator>>;

/** Runs `fn` with a fresh emulator account and the catalog system over it. */
async function withEmulator(
  fn: (emu: Emulator, system: ReturnType<typeof stripeCatalogSystem>) => Promise<void>,
) {
  const emu = await startInProcessEmulator();
  try {
    await fn(
      emu,
      stripeCatalogSystem(emu.stripe, { webhookUrl: WEBHOOK_URL, target: NO_DB, events: EVENTS }),
    );
  } finally {
    await emu.close();
  }
}

Deno.test("stripeCatalogSystem apply creates once, however often it is re-run", async () => {
  await withEmulator(async (emu, system) => {
    const plan = async (links: Record<string, string>) =>
      planCatalog({
        desired: desired(),
        state: await readCatalogState(emu.stripe),
        links,
        webhook: { url: WEBHOOK_URL, events: EVENTS, secretHeld: () => true },
      });
    const changes = await plan({});
    assert.equal(changes.length, 3);
    const first = await system.apply("promo-1", changes);
    const again = await system.apply("promo-1", changes); // a killed apply, run again
    assert.deepEqual(again, first, "the re-run replays Stripe's answers");
    assert.doesNotMatch(JSON.stringify(first), /whsec_/, "no secret in the effects");

    const state = await readCatalogState(emu.stripe);
    assert.equal(state.products.length, 1);
    assert.equal(state.prices.length, 1);
    assert.equal(state.endpoints.length, 1);
    const ids = first.price_ids as Record<string, string>;
    assert.equal(ids.pro_monthly, state.prices[0].id);
    assert.deepEqual(await plan(ids), [], "nothing left to do");
  });
});

Deno.test("stripeCatalogSystem replaces a price and reverts it, twice harmlessly", async () => {
  await withEmulator(async (emu, system) => {
    const product = await emu.stripe.products.create({
      name: "Pro",
      description: "For pros",
      metadata: { tier_slug: "pro" },
    });
    const old = await emu.stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 1200,
      recurring: { interval: "month" },
      lookup_key: "pro_monthly",
      metadata: { tier_slug: "pro" },
    });
    const changes = planCatalog({
      desired: desired(1500),
      state: await readCatalogState(emu.stripe),
      links: { pro_monthly: old.id },
      webhook: { url: WEBHOOK_URL, events: EVENTS, secretHeld: () => true },
    }).filter((c) => c.kind === "stripe_prices");
    assert.deepEqual(changes.map((c) => c.action), ["replace"]);

    const effects = await system.apply("promo-2", changes);
    const fresh = (effects.price_ids as Record<string, string>).pro_monthly;
    const [byKey] = (await emu.stripe.prices.list({ lookup_keys: ["pro_monthly"] })).data;
    assert.equal(byKey.id, fresh);
    assert.equal(byKey.unit_amount, 1500);
    const archived = await emu.stripe.prices.retrieve(old.id);
    assert.equal(archived.active, false);
    assert.equal(archived.lookup_key, null);

    await system.revert("promo-2", effects);
    await system.revert("promo-2", effects);
    const back = await emu.stripe.prices.retrieve(old.id);
    assert.equal(back.active, true);
    assert.equal(back.lookup_key, "pro_monthly", "the lookup key moved back");
    assert.equal((await emu.stripe.prices.retrieve(fresh)).active, false);
  });
});

Deno.test("stripeCatalogSystem apply undoes its own steps when one fails", async () => {
  await withEmulator(async (emu, system) => {
    const changes = planCatalog({
      desired: desired(),
      state: await readCatalogState(emu.stripe),
      links: {},
      webhook: { url: WEBHOOK_URL, events: EVENTS, secretHeld: () => true },
    });
    // The price names a product the account does not have: Stripe refuses it.
    const broken = changes.map((c) =>
      c.kind === "stripe_prices" ? { ...c, after: { ...c.after!, product: "prod_missing" } } : c
    );
    await assert.rejects(
      system.apply("promo-3", broken),
      /^Error: Cannot apply the Stripe catalog changes: .*prod_missing.*; what was done is undone$/,
    );
    const state = await readCatalogState(emu.stripe);
    assert.deepEqual(state.products.map((p) => p.active), [false], "the product is archived");
    assert.deepEqual(state.endpoints, [], "the endpoint was never made");
  });
});

Deno.test("stripeCatalogFromEnv: none without a key, a clear refusal of a bad one", () => {
  assert.equal(stripeCatalogFromEnv({}, "http://127.0.0.1:54321"), undefined);
  assert.throws(
    () => stripeCatalogFromEnv({ STRIPE_SECRET_KEY: "pk_live_oops12345678" }, "http://x"),
    (err: Error) =>
      /^Cannot read the Stripe settings: STRIPE_SECRET_KEY: expected a Stripe secret key/.test(
        err.message,
      ) && !err.message.includes("pk_live_oops"),
  );
  const build = stripeCatalogFromEnv(
    { STRIPE_SECRET_KEY: "sk_test_unit12345678", STRIPE_API_BASE: "http://127.0.0.1:9" },
    "http://127.0.0.1:54321/",
  );
  assert.equal(build?.(NO_DB).scope, "stripe");
});
