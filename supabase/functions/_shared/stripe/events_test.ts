import assert from "node:assert/strict";
import { invoiceSubscription, planEvent, sessionUser, StripeEventSchema } from "./events.ts";

function event(type: string, object: Record<string, unknown>) {
  return StripeEventSchema.parse({
    id: "evt_1",
    object: "event",
    type,
    created: 1700000000,
    livemode: false,
    data: { object },
  });
}

Deno.test("planEvent syncs catalog, customers and subscriptions; deletions are soft", () => {
  const price = planEvent(event("price.updated", { id: "price_1", object: "price" }));
  assert.deepEqual(price.plan, {
    action: "sync",
    kind: "price",
    object: { id: "price_1", object: "price" },
    deleted: false,
  });
  assert.equal(price.meta.object_id, "price_1");
  const gone = planEvent(event("customer.deleted", { id: "cus_1", object: "customer" })).plan;
  assert.equal(gone.action === "sync" && gone.deleted, true);
  const canceled =
    planEvent(event("customer.subscription.deleted", { id: "sub_1", object: "subscription" })).plan;
  assert.equal(canceled.action === "sync" && canceled.kind, "subscription");
  assert.equal(canceled.action === "sync" && canceled.deleted, false);
});

Deno.test("planEvent links checkout customers to the user the session names", () => {
  const { meta, plan } = planEvent(event("checkout.session.completed", {
    id: "cs_1",
    object: "checkout.session",
    mode: "subscription",
    customer: "cus_1",
    subscription: "sub_1",
    client_reference_id: "3f6c1e0e-0000-4000-8000-000000000001",
  }));
  assert.deepEqual(plan, {
    action: "link",
    customer: "cus_1",
    user: "3f6c1e0e-0000-4000-8000-000000000001",
    subscription: "sub_1",
    source: "checkout.session.completed:cs_1",
  });
  assert.equal(meta.object_id, "sub_1");
  assert.equal(sessionUser({ metadata: { supabase_user_id: "u" } }), "u");
  const payment = planEvent(
    event("checkout.session.completed", {
      id: "cs_2",
      object: "checkout.session",
      mode: "payment",
    }),
  );
  assert.deepEqual(payment.plan, { action: "ignore" });
});

Deno.test("planEvent re-reads the subscription of a paid or failed invoice", () => {
  const invoice = {
    id: "in_1",
    object: "invoice",
    parent: { type: "subscription_details", subscription_details: { subscription: "sub_9" } },
  };
  assert.equal(invoiceSubscription(invoice), "sub_9");
  assert.equal(invoiceSubscription({ subscription: "sub_old" }), "sub_old");
  const { meta, plan } = planEvent(event("invoice.payment_failed", invoice));
  assert.deepEqual(plan, { action: "refresh", kind: "subscription", id: "sub_9" });
  assert.equal(meta.object_id, "sub_9");
});

Deno.test("planEvent reads a subscription only from a subscription_details parent", () => {
  const quote = {
    id: "in_2",
    object: "invoice",
    parent: {
      type: "quote_details",
      quote_details: { quote: "qt_1" },
      subscription_details: { subscription: "sub_wrong" },
    },
  };
  assert.equal(invoiceSubscription(quote), null);
  assert.deepEqual(planEvent(event("invoice.paid", quote)).plan, { action: "ignore" });
  assert.equal(invoiceSubscription({ id: "in_3", parent: null, subscription: null }), null);
});

Deno.test("planEvent ignores types it does not handle", () => {
  assert.deepEqual(planEvent(event("charge.succeeded", { id: "ch_1", object: "charge" })).plan, {
    action: "ignore",
  });
  assert.deepEqual(planEvent(event("invoice.created", { id: "in_1", object: "invoice" })).plan, {
    action: "ignore",
  });
});

Deno.test("StripeEventSchema refuses what is not an event", () => {
  assert.equal(StripeEventSchema.safeParse({ id: "x", object: "event" }).success, false);
});
