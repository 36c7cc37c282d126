/**
 * The Stripe emulator of the running stack, driven only through the `stripe` SDK: Stripe's
 * rules (ids, pagination, expand, errors and status codes, idempotency, immutable prices,
 * unique lookup keys, secrets shown once, separate accounts) — and answers that satisfy the
 * SDK's own TypeScript types (the typed assignments below are checked by `deno check`; the
 * emulator builds every object against those types in `objects.ts`).
 */
import assert from "node:assert/strict";
import Stripe from "stripe";
import { localEnv, stripeEmulatorConfig } from "../scripts/local/config.ts";
import { createStripeClient } from "../supabase/functions/_shared/stripe/client.ts";
import {
  emulatorClient,
  emulatorControls,
  uniqueSuffix,
} from "../scripts/local/stripe_emulator/testing.ts";

const dev = localEnv("development");
const staging = localEnv("staging");

async function stripeError(p: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await p;
  } catch (err) {
    return err as Stripe.errors.StripeError;
  }
  throw new Error("expected the call to fail");
}

Deno.test("emulator: objects carry Stripe's id prefixes and satisfy the SDK's types", async () => {
  const stripe = await emulatorClient(dev);
  const product: Stripe.Product = await stripe.products.create({
    name: "Typed",
    metadata: { a: "b" },
  });
  const price: Stripe.Price = await stripe.prices.create({
    product: product.id,
    currency: "usd",
    unit_amount: 1234,
    recurring: { interval: "month", interval_count: 3 },
  });
  const customer: Stripe.Customer = await stripe.customers.create({
    email: "typed@stagecoach.test",
  });
  const sub: Stripe.Subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id, quantity: 2 }],
  });
  const item: Stripe.SubscriptionItem = sub.items.data[0];
  const invoice: Stripe.Invoice = await stripe.invoices.retrieve(sub.latest_invoice as string);
  const events: Stripe.ApiList<Stripe.Event> = await stripe.events.list({ limit: 3 });
  assert.match(product.id, /^prod_/);
  assert.match(price.id, /^price_/);
  assert.match(customer.id, /^cus_/);
  assert.match(sub.id, /^sub_/);
  assert.match(item.id, /^si_/);
  assert.match(invoice.id!, /^in_/);
  assert.match(events.data[0].id, /^evt_/);
  assert.equal(price.unit_amount_decimal?.toString(), "1234");
  assert.deepEqual(product.metadata, { a: "b" });
  assert.equal(sub.status, "active");
  assert.equal(item.quantity, 2);
  assert.equal(invoice.status, "paid");
  assert.equal(invoice.parent?.subscription_details?.subscription, sub.id);
  assert.ok(item.current_period_end > item.current_period_start);
  // Fields and enums of Stripe's definition (spec3): required `amount_paid_off_stripe`,
  // `ui_mode` one of hosted_page | embedded_page | elements.
  assert.equal(invoice.amount_paid_off_stripe, 0);
  const session = await stripe.checkout.sessions.create({
    mode: "subscription",
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: "https://example.com/ok",
  });
  assert.equal(session.ui_mode, "hosted_page");
});

Deno.test("emulator: lists page newest first with limit, starting_after, ending_before and has_more", async () => {
  const stripe = await emulatorClient(dev);
  const email = `page-${uniqueSuffix()}@stagecoach.test`;
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await stripe.customers.create({ email })).id);
  const newest = [...ids].reverse();
  const first = await stripe.customers.list({ email, limit: 2 });
  assert.deepEqual(first.data.map((c) => c.id), newest.slice(0, 2));
  assert.equal(first.has_more, true);
  const second = await stripe.customers.list({ email, limit: 2, starting_after: first.data[1].id });
  assert.deepEqual(second.data.map((c) => c.id), newest.slice(2, 4));
  const last = await stripe.customers.list({ email, limit: 2, starting_after: second.data[1].id });
  assert.deepEqual(last.data.map((c) => c.id), newest.slice(4));
  assert.equal(last.has_more, false);
  const back = await stripe.customers.list({ email, limit: 2, ending_before: newest[4] });
  assert.deepEqual(back.data.map((c) => c.id), newest.slice(2, 4));
  const all: string[] = [];
  for await (const c of stripe.customers.list({ email, limit: 2 })) all.push(c.id);
  assert.deepEqual(all, newest, "the SDK's auto-pagination walks every page");
});

Deno.test("emulator: expand[] replaces ids with objects", async () => {
  const stripe = await emulatorClient(dev);
  const price = await stripe.prices.create({
    currency: "eur",
    unit_amount: 500,
    recurring: { interval: "year" },
    product_data: { name: "Expanded" },
    expand: ["product"],
  });
  assert.equal((price.product as Stripe.Product).name, "Expanded");
  const customer = await stripe.customers.create({});
  const sub = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
  });
  const expanded = await stripe.subscriptions.retrieve(sub.id, {
    expand: ["customer", "latest_invoice", "items.data.price.product"],
  });
  assert.equal((expanded.customer as Stripe.Customer).id, customer.id);
  assert.equal((expanded.latest_invoice as Stripe.Invoice).object, "invoice");
  assert.equal((expanded.items.data[0].price.product as Stripe.Product).name, "Expanded");
  const bad = await stripeError(stripe.customers.retrieve(customer.id, { expand: ["nothing"] }));
  assert.equal(bad.statusCode, 400);
});

Deno.test("emulator: Stripe's errors and status codes", async () => {
  const stripe = await emulatorClient(dev);
  const missing = await stripeError(stripe.products.retrieve("prod_doesnotexist"));
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.code, "resource_missing");
  assert.equal(missing.type, "StripeInvalidRequestError");

  const unknown = await stripeError(
    stripe.customers.create({ colour: "blue" } as unknown as Stripe.CustomerCreateParams),
  );
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.code, "parameter_unknown");
  assert.equal(unknown.param, "colour");

  const invalid = await stripeError(stripe.prices.create({
    currency: "usd",
    unit_amount: 100,
    product_data: { name: "x" },
    recurring: { interval: "fortnight" as "week" },
  }));
  assert.equal(invalid.statusCode, 400);
  assert.equal(invalid.param, "recurring[interval]");

  const wrongKey = await stripeError(
    emulatorClientWithKey("sk_test_notakeyoftheemulator0000").customers.list(),
  );
  assert.equal(wrongKey.statusCode, 401);
  // Stripe's invalid-key error: no `code` (`api_key_expired` is an expired key's).
  assert.equal(wrongKey.rawType, "invalid_request_error");
  assert.equal(wrongKey.code, undefined);
  assert.match(wrongKey.message, /^Invalid API Key provided: sk_test_\*+0000$/);

  const customer = await stripe.customers.create({});
  const price = await stripe.prices.create({
    currency: "usd",
    unit_amount: 100,
    recurring: { interval: "month" },
    product_data: { name: "Declined" },
  });
  await emulatorControls(stripe).declinePayments(customer.id, true);
  const declined = await stripeError(stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
    payment_behavior: "error_if_incomplete",
  }));
  assert.equal(declined.statusCode, 402);
  assert.equal(declined.type, "StripeCardError");
  assert.equal(declined.code, "card_declined");
  const incomplete = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
  });
  assert.equal(incomplete.status, "incomplete");

  // The account is the development environment's, which the stack's own workers also call: one
  // of them may take the forced 429 first, so force it again (a few times at most).
  let limited: Stripe.errors.StripeError | undefined;
  for (let attempt = 0; attempt < 5 && !limited; attempt++) {
    await emulatorControls(stripe).rateLimitNext(1);
    limited = await stripe.customers.list({ limit: 1 }).then(
      () => undefined,
      (err) => err as Stripe.errors.StripeError,
    );
  }
  assert.ok(limited, "a forced 429 arrived");
  assert.equal(limited.statusCode, 429);
  assert.equal((limited.headers as Record<string, string>)["retry-after"], "1");
});

function emulatorClientWithKey(key: string): Stripe {
  return createStripeClient(
    { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: stripeEmulatorConfig().url },
    { maxNetworkRetries: 0 },
  );
}

Deno.test("emulator: an idempotency key replays its first answer and refuses other parameters", async () => {
  const stripe = await emulatorClient(dev);
  const key = `idem-${uniqueSuffix()}`;
  const a = await stripe.customers.create({ email: "idem@stagecoach.test" }, {
    idempotencyKey: key,
  });
  const b = await stripe.customers.create({ email: "idem@stagecoach.test" }, {
    idempotencyKey: key,
  });
  assert.equal(b.id, a.id, "same key, same parameters: same object");
  const other = await stripeError(
    stripe.customers.create({ email: "other@stagecoach.test" }, { idempotencyKey: key }),
  );
  assert.equal(other.statusCode, 400);
  assert.equal(other.type, "StripeIdempotencyError");
});

Deno.test("emulator: prices are immutable but for active, nickname, metadata and lookup_key", async () => {
  const stripe = await emulatorClient(dev);
  const lookup = `lk_${uniqueSuffix()}`;
  const price = await stripe.prices.create({
    currency: "usd",
    unit_amount: 900,
    recurring: { interval: "month" },
    product_data: { name: "Immutable" },
    lookup_key: lookup,
  });
  const changed = await stripe.prices.update(price.id, {
    active: false,
    nickname: "old",
    metadata: { k: "v" },
  });
  assert.deepEqual([changed.active, changed.nickname, changed.metadata], [false, "old", {
    k: "v",
  }]);
  const amount = await stripeError(
    stripe.prices.update(price.id, { unit_amount: 1000 } as unknown as Stripe.PriceUpdateParams),
  );
  assert.equal(amount.statusCode, 400);
  assert.equal(amount.code, "parameter_unknown");

  const taken = await stripeError(stripe.prices.create({
    currency: "usd",
    unit_amount: 1000,
    recurring: { interval: "month" },
    product: price.product as string,
    lookup_key: lookup,
  }));
  assert.equal(taken.statusCode, 400);
  const moved = await stripe.prices.create({
    currency: "usd",
    unit_amount: 1000,
    recurring: { interval: "month" },
    product: price.product as string,
    lookup_key: lookup,
    transfer_lookup_key: true,
  });
  assert.equal(moved.lookup_key, lookup);
  assert.equal((await stripe.prices.retrieve(price.id)).lookup_key, null);
  const found = await stripe.prices.list({ lookup_keys: [lookup] });
  assert.deepEqual(found.data.map((p) => p.id), [moved.id]);
});

Deno.test("emulator: a webhook endpoint's secret is returned only at creation", async () => {
  const stripe = await emulatorClient(dev);
  const endpoint = await stripe.webhookEndpoints.create({
    url: "http://127.0.0.1:9/nowhere",
    enabled_events: ["product.created"],
    metadata: { test: "secret-once" },
  });
  assert.match(endpoint.secret!, /^whsec_/);
  const again = await stripe.webhookEndpoints.retrieve(endpoint.id);
  assert.equal(again.secret, undefined);
  const listed = await stripe.webhookEndpoints.list({ limit: 100 });
  assert.ok(listed.data.every((e) => e.secret === undefined));
  const deleted = await stripe.webhookEndpoints.del(endpoint.id);
  assert.equal(deleted.deleted, true);
});

Deno.test("emulator: each environment's key is its own account; events are listed and retrieved", async () => {
  const devStripe = await emulatorClient(dev);
  const stagingStripe = await emulatorClient(staging);
  const product = await devStripe.products.create({
    name: `Only in development ${uniqueSuffix()}`,
  });
  const elsewhere = await stripeError(stagingStripe.products.retrieve(product.id));
  assert.equal(elsewhere.statusCode, 404);
  const events = await devStripe.events.list({ type: "product.created", limit: 5 });
  const ours = events.data.find((e) => (e.data.object as Stripe.Product).id === product.id);
  assert.ok(ours, "the product.created event is listed");
  const event: Stripe.Event = await devStripe.events.retrieve(ours.id);
  assert.equal(event.type, "product.created");
  assert.equal((event.data.object as Stripe.Product).name, product.name);
});
