import assert from "node:assert/strict";
import type Stripe from "stripe";
import { priceObject, productObject, webhookEndpointObject, type Wire } from "./objects.ts";

Deno.test("priceObject builds recurring and one-time prices", () => {
  const base = {
    id: "price_1",
    created: 1,
    product: "prod_1",
    active: true,
    currency: "usd",
    unit_amount: 1200,
    interval_count: 1,
    lookup_key: null,
    nickname: null,
    metadata: {},
  };
  const monthly: Wire<Stripe.Price> = priceObject({ ...base, interval: "month" });
  assert.equal(monthly.type, "recurring");
  assert.equal(monthly.unit_amount_decimal, "1200");
  const once = priceObject({ ...base, interval: null });
  assert.equal(once.type, "one_time");
  assert.equal(once.recurring, null);
});

Deno.test("webhookEndpointObject shows the secret only when given", () => {
  const input = {
    id: "we_1",
    created: 1,
    url: "http://x.test",
    enabled_events: ["*"],
    description: null,
    metadata: {},
    status: "enabled" as const,
    api_version: null,
  };
  assert.equal("secret" in webhookEndpointObject(input), false);
  assert.equal(webhookEndpointObject(input, "whsec_1").secret, "whsec_1");
});

Deno.test("productObject survives a JSON round trip unchanged (what goes on the wire)", () => {
  const p = productObject({
    id: "prod_1",
    created: 1,
    updated: 2,
    name: "x",
    active: true,
    description: null,
    metadata: { a: "b" },
    default_price: null,
  });
  assert.deepEqual(JSON.parse(JSON.stringify(p)), p);
});
