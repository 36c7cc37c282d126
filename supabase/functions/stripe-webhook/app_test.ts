import assert from "node:assert/strict";
import Stripe from "stripe";
import type { Sql } from "../_shared/db.ts";
import { cryptoProvider } from "../_shared/stripe/client.ts";
import { createStripeWebhookApp, verifyEvent } from "./app.ts";

const secret = "whsec_unit_test_secret_0001";
const stripe = new Stripe("sk_test_unit_00000000", { httpClient: Stripe.createFetchHttpClient() });
// Refused requests must never reach the database: any use of this pool fails the test.
const noDb = new Proxy({}, {
  get() {
    throw new Error("the database was touched");
  },
  apply() {
    throw new Error("the database was touched");
  },
}) as unknown as Sql;
const app = createStripeWebhookApp({ sql: noDb, stripe, webhookSecret: secret });

async function post(body: string, signature?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (signature) headers["stripe-signature"] = signature;
  const res = await app.request("/stripe-webhook", { method: "POST", headers, body });
  return { status: res.status, code: (await res.json()).error?.code };
}

function sign(payload: string, opts: { secret?: string; timestamp?: number } = {}) {
  return stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: opts.secret ?? secret,
    timestamp: opts.timestamp,
    cryptoProvider,
  });
}

const body = JSON.stringify({
  id: "evt_unit",
  object: "event",
  type: "product.created",
  created: 1,
  livemode: false,
  data: { object: { id: "prod_1", object: "product" } },
});

Deno.test("stripe-webhook app refuses missing, wrong and stale signatures before any write", async () => {
  assert.deepEqual(await post(body), { status: 400, code: "missing_signature" });
  assert.deepEqual(await post(body, await sign(body, { secret: "whsec_other_secret_000" })), {
    status: 400,
    code: "invalid_signature",
  });
  const old = Math.floor(Date.now() / 1000) - 301;
  assert.deepEqual(await post(body, await sign(body, { timestamp: old })), {
    status: 400,
    code: "stale_signature",
  });
});

Deno.test("stripe-webhook app refuses malformed JSON and non-events", async () => {
  const broken = "{not json";
  assert.deepEqual(await post(broken, await sign(broken)), { status: 400, code: "invalid_json" });
  const notEvent = JSON.stringify({ hello: "world" });
  assert.deepEqual(await post(notEvent, await sign(notEvent)), {
    status: 400,
    code: "invalid_event",
  });
});

Deno.test("stripe-webhook app answers 404 for other paths", async () => {
  const res = await app.request("/stripe-webhook/else", { method: "POST" });
  assert.equal(res.status, 404);
});

Deno.test("verifyEvent falls back to the secret catalog sync stored when the function's own does not verify", async () => {
  const signature = await sign(body, { secret: "whsec_new_endpoint_secret_02" });
  const stored = () => Promise.resolve("whsec_new_endpoint_secret_02");
  const event = await verifyEvent(
    { stripe, webhookSecret: secret, storedSecret: stored },
    body,
    signature,
  );
  assert.equal((event as { id: string }).id, "evt_unit");
  await assert.rejects(
    verifyEvent(
      { stripe, webhookSecret: secret, storedSecret: () => Promise.resolve(null) },
      body,
      signature,
    ),
    (err: { code?: string }) => err.code === "invalid_signature",
  );
});
