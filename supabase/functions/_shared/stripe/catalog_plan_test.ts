import assert from "node:assert/strict";
import { canonicalJson, JsonNumber, type JsonObject } from "../json/lossless.ts";
import type { PlanChange, RowsByKind } from "../promotion/plan.ts";
import {
  applyPhase,
  catalogChecks,
  type CatalogPrice,
  type CatalogState,
  endpointOfSecret,
  idempotencyKey,
  parseEffects,
  planCatalog,
  secretDescription,
  type WebhookTarget,
} from "./catalog_plan.ts";
import { STRIPE_API_VERSION } from "./client.ts";

const URL_ = "https://ref.supabase.co/functions/v1/stripe-webhook";
const EVENTS = ["price.created", "product.created"];
const held: WebhookTarget = { url: URL_, events: EVENTS, secretHeld: () => true };
const n = (v: number) => new JsonNumber(String(v));

function desired(): RowsByKind {
  return {
    tiers: [
      { slug: "pro", name: "Pro", description: "For pros", active: true },
      { slug: "free", name: "Free", description: "", active: true },
      { slug: "legacy", name: "Legacy", description: null, active: false },
    ],
    tier_prices: [
      price("pro", "pro_monthly", 1200),
      price("free", "free_monthly", 0),
      { ...price("legacy", "legacy_monthly", 900), active: false },
    ],
  };
}

function price(tier: string, lookup_key: string, amount: number) {
  return {
    tier,
    lookup_key,
    currency: "usd",
    unit_amount: n(amount),
    billing_interval: "month",
    interval_count: n(1),
    active: true,
    stripe_price_id: "price_of_the_source_account",
  };
}

/** The account as a successful apply of `desired()` leaves it. */
function synced(): CatalogState {
  const product = (slug: string, name: string, description: string | null, active = true) => ({
    id: `prod_${slug}`,
    name,
    description,
    active,
    metadata: { tier_slug: slug },
    created: 1,
  });
  const stripePrice = (slug: string, key: string, amount: number): CatalogPrice => ({
    id: `price_${key}`,
    product: `prod_${slug}`,
    active: true,
    currency: "usd",
    unit_amount: amount,
    interval: "month",
    interval_count: 1,
    lookup_key: key,
    metadata: { tier_slug: slug },
    created: 1,
  });
  return {
    products: [product("pro", "Pro", "For pros"), product("free", "Free", null)],
    prices: [stripePrice("pro", "pro_monthly", 1200), stripePrice("free", "free_monthly", 0)],
    endpoints: [{
      id: "we_1",
      url: URL_,
      enabled_events: [...EVENTS],
      status: "enabled",
      api_version: STRIPE_API_VERSION,
      created: 1,
    }],
  };
}

const LINKS = { pro_monthly: "price_pro_monthly", free_monthly: "price_free_monthly" };

function summary(changes: PlanChange[]): string[] {
  return changes.map((c) => `${c.action} ${c.key} ${c.risk}`);
}

Deno.test("planCatalog creates what an empty account lacks, leaving inactive things out", () => {
  const changes = planCatalog({
    desired: desired(),
    state: { products: [], prices: [], endpoints: [] },
    links: {},
    webhook: held,
  });
  assert.deepEqual(summary(changes), [
    "create product:free low",
    "create product:pro low",
    "create price:free_monthly low",
    "create price:pro_monthly low",
    "create endpoint low",
  ]);
  const pro = changes.find((c) => c.key === "price:pro_monthly")!;
  assert.equal(
    canonicalJson(pro.after),
    '{"active":true,"currency":"usd","interval":"month","interval_count":1,"lookup_key":"pro_monthly","product":null,"tier_slug":"pro","unit_amount":1200}',
    "the product is resolved at apply time; the source's stripe_price_id never crosses",
  );
  assert.equal(changes[0].after!.description, null, "an empty description is none");
  assert.deepEqual(changes.at(-1)!.after, {
    url: URL_,
    enabled_events: EVENTS,
    status: "enabled",
    api_version: STRIPE_API_VERSION,
  });
});

Deno.test("planCatalog plans nothing for an account that matches", () => {
  assert.deepEqual(
    planCatalog({ desired: desired(), state: synced(), links: LINKS, webhook: held }),
    [],
  );
});

Deno.test("planCatalog updates a product whose tier changed", () => {
  const d = desired();
  d.tiers![0] = { ...d.tiers![0], name: "Pro+", active: false };
  const [c, ...rest] = planCatalog({ desired: d, state: synced(), links: LINKS, webhook: held });
  assert.deepEqual(rest, []);
  assert.deepEqual(summary([c]), ["update product:pro low"]);
  assert.deepEqual(c.reasons, ["changes name, active"]);
  assert.equal(c.before!.id, "prod_pro");
  assert.equal(c.after!.id, "prod_pro");
});

Deno.test("planCatalog replaces a price whose amount, currency, interval or tier changed", () => {
  const edits: JsonObject[] = [
    { unit_amount: n(1500) },
    { currency: "eur" },
    { billing_interval: "year" },
    { interval_count: n(3) },
    { tier: "free" },
  ];
  for (const edit of edits) {
    const d = desired();
    d.tier_prices![0] = { ...d.tier_prices![0], ...edit };
    const changes = planCatalog({ desired: d, state: synced(), links: LINKS, webhook: held });
    assert.deepEqual(summary(changes), ["replace price:pro_monthly high"], JSON.stringify(edit));
    assert.equal(changes[0].before!.id, "price_pro_monthly");
    assert.equal(changes[0].after!.id, undefined, "the new price has no id yet");
  }
});

Deno.test("planCatalog updates active, links unlinked prices and archives what is gone", () => {
  const d = desired();
  d.tier_prices![0] = { ...d.tier_prices![0], active: false };
  d.tiers = d.tiers!.filter((t) => t.slug !== "free");
  d.tier_prices = d.tier_prices!.filter((p) => p.tier !== "free");
  const state = synced();
  state.prices.push({ ...state.prices[0], id: "price_manual", lookup_key: null, metadata: {} });
  const changes = planCatalog({ desired: d, state, links: {}, webhook: held });
  assert.deepEqual(summary(changes), [
    "update price:pro_monthly high",
    "archive price:free_monthly high",
    "archive product:free high",
  ], "a price without tier_slug is not ours: left alone");

  const linkOnly = planCatalog({
    desired: desired(),
    state: synced(),
    links: { ...LINKS, free_monthly: null },
    webhook: held,
  });
  assert.deepEqual(summary(linkOnly), ["update price:free_monthly low"]);
  assert.equal(linkOnly[0].before!.stripe_price_id, null);
  assert.equal(linkOnly[0].after!.stripe_price_id, "price_free_monthly");
});

Deno.test("planCatalog repairs the endpoint and rolls it when its secret is not held", () => {
  const state = synced();
  state.endpoints[0] = { ...state.endpoints[0], status: "disabled", enabled_events: ["x.y"] };
  const repaired = planCatalog({ desired: desired(), state, links: LINKS, webhook: held });
  assert.deepEqual(summary(repaired), ["update endpoint low"]);
  assert.deepEqual(repaired[0].reasons, ["changes enabled_events, status"]);

  const lost = planCatalog({
    desired: desired(),
    state: synced(),
    links: LINKS,
    webhook: { ...held, secretHeld: (id) => id === "we_other" },
  });
  assert.deepEqual(summary(lost), ["replace endpoint high"]);
  assert.equal(lost[0].before!.id, "we_1");
});

Deno.test("planCatalog replaces an endpoint that is not pinned to STRIPE_API_VERSION", () => {
  for (const api_version of [null, "2025-02-24.acacia"]) {
    const state = synced();
    state.endpoints[0] = { ...state.endpoints[0], api_version };
    const changes = planCatalog({ desired: desired(), state, links: LINKS, webhook: held });
    assert.deepEqual(summary(changes), ["replace endpoint high"]);
    assert.match(changes[0].reasons[0], /not 20\d\d-\d\d-\d\d\.\w+: a new endpoint replaces it/);
    assert.equal(changes[0].after!.api_version, STRIPE_API_VERSION);
  }
});

Deno.test("applyPhase orders products, prices, archivals, then the endpoint", () => {
  const order = [
    { kind: "stripe_webhook_endpoints", action: "create" },
    { kind: "stripe_products", action: "archive" },
    { kind: "stripe_prices", action: "archive" },
    { kind: "stripe_prices", action: "replace" },
    { kind: "stripe_products", action: "create" },
  ] as const;
  assert.deepEqual(order.map(applyPhase), [4, 3, 2, 1, 0]);
});

Deno.test("catalogChecks names every price that does not match and a missing endpoint", () => {
  const rows = [
    {
      lookup_key: "pro_monthly",
      currency: "usd",
      unit_amount: "1200",
      billing_interval: "month",
      interval_count: 1,
      stripe_price_id: "price_pro_monthly",
    },
    {
      lookup_key: "free_monthly",
      currency: "usd",
      unit_amount: "0",
      billing_interval: "month",
      interval_count: 1,
      stripe_price_id: "price_free_monthly",
    },
  ];
  const ok = catalogChecks(rows, synced(), held);
  assert.deepEqual(ok.map((r) => [r.name, r.passed]), [
    ["stripe_prices", true],
    ["stripe_webhook_endpoint", true],
  ]);

  const state = synced();
  state.prices[0] = { ...state.prices[0], unit_amount: 999 };
  state.prices[1] = { ...state.prices[1], active: false };
  state.endpoints[0] = { ...state.endpoints[0], status: "disabled" };
  const bad = catalogChecks(
    [...rows, { ...rows[0], lookup_key: "gone", stripe_price_id: null }],
    state,
    held,
  );
  assert.deepEqual(bad.map((r) => r.passed), [false, false]);
  assert.equal(
    canonicalJson(bad[0].details),
    '{"checked":3,"offending":[' +
      '{"lookup_key":"pro_monthly","problem":"price_pro_monthly charges 999 usd every 1 month"},' +
      '{"lookup_key":"free_monthly","problem":"price_free_monthly is archived"},' +
      '{"lookup_key":"gone","problem":"no Stripe price has this lookup key"}]}',
  );

  const unlinked = catalogChecks([{ ...rows[0], stripe_price_id: null }], synced(), held);
  assert.match(
    canonicalJson(unlinked[0].details),
    /stripe_price_id is null, not price_pro_monthly/,
  );
});

Deno.test("idempotencyKey is stable and fits Stripe's 255 characters", async () => {
  const id = "7b0c6f7e-6a43-4d8e-9d4e-4d1f7b6f1c11";
  assert.equal(
    await idempotencyKey(id, "price:pro_monthly", "create"),
    `stagecoach:${id}:price:pro_monthly:create`,
  );
  const long = `price:${"k".repeat(200)}`;
  const a = await idempotencyKey(id, long, "archive-old");
  assert.ok(a.length <= 255, a);
  assert.equal(a, await idempotencyKey(id, long, "archive-old"));
  assert.notEqual(a, await idempotencyKey(id, `${long}x`, "archive-old"));
});

Deno.test("parseEffects refuses a malformed record; secret descriptions name the endpoint", () => {
  assert.throws(
    () => parseEffects({ promotion_id: "p", steps: [{ op: "price.exploded" }] }),
    /^Error: Cannot read the Stripe effects record: steps\.0\.op/,
  );
  assert.equal(endpointOfSecret(secretDescription("we_123abc")), "we_123abc");
  assert.equal(endpointOfSecret("Stripe webhook signing secret"), null);
  assert.equal(endpointOfSecret(null), null);
});
