/**
 * The emulator's answers checked against Stripe's published OpenAPI definition, not only the
 * SDK's TypeScript types (whose enums accept any string): an emulator in this process is driven
 * through the project's real `stripe` client (products, a recurring and a one-time price, a
 * customer, a subscription with its first invoice, a checkout session paid through the test
 * helper, a webhook endpoint, updates, a period advance, events), every JSON body the SDK
 * received is recorded, and each is validated against the schemas kept in
 * `tests/fixtures/stripe/definition_schemas.json` (facts from stripe/openapi
 * `latest/openapi.spec3.json` at commit 19be337d, API version 2026-07-29.dahlia; our pinned
 * version is 2026-10-28.endive, whose extra fields the fixture lists under `sdk_only`).
 * Unknown properties, missing required ones, wrong types, values outside an enum and objects
 * the fixture did not transcribe all fail.
 */
import assert from "node:assert/strict";
import type Stripe from "stripe";
import { createStripeClient } from "../supabase/functions/_shared/stripe/client.ts";
import {
  emulatorControls,
  startInProcessEmulator,
} from "../scripts/local/stripe_emulator/testing.ts";
import { type Definition, loadDefinition, validate, validateEvent } from "./stripe_definition.ts";

const def = await loadDefinition();

/** A JSON body the SDK received, with the request that produced it. */
interface Recorded {
  request: string;
  status: number;
  body: Record<string, unknown>;
}

/** A client of `url` whose every `/v1` answer (test helpers aside) is recorded. */
function recordingClient(url: string, key: string, recorded: Recorded[]): Stripe {
  const realFetch = globalThis.fetch;
  const recording: typeof fetch = async (input, init) => {
    const res = await realFetch(input, init);
    const u = new URL(input instanceof Request ? input.url : String(input));
    if (!u.pathname.startsWith("/v1/test_helpers/")) {
      recorded.push({
        request: `${init?.method ?? "GET"} ${u.pathname}`,
        status: res.status,
        body: await res.clone().json(),
      });
    }
    return res;
  };
  globalThis.fetch = recording;
  try {
    // The SDK's fetch client takes `globalThis.fetch` when it is built.
    return createStripeClient({ STRIPE_SECRET_KEY: key, STRIPE_API_BASE: url }, {
      maxNetworkRetries: 0,
    });
  } finally {
    globalThis.fetch = realFetch;
  }
}

/** Every difference between a recorded body and the definition, by request. */
function differences(d: Definition, recorded: Recorded[], seen: Set<string>): string[] {
  const out: string[] = [];
  for (const r of recorded) {
    const body = r.body;
    let errors: string[];
    if ("error" in body) errors = validate(d, "error", body, seen);
    else if (body.object === "list") {
      const { data, ...envelope } = body as {
        data: Record<string, unknown>[];
        has_more?: boolean;
        url?: string;
      };
      errors = [];
      if (!Array.isArray(data) || envelope.has_more === undefined || !envelope.url) {
        errors.push("$: not a list envelope");
      }
      for (const [i, item] of (data ?? []).entries()) {
        const kind = String(item.object);
        const found = kind === "event"
          ? validateEvent(d, item, seen)
          : validate(d, kind, item, seen);
        errors.push(...found.map((e) => e.replace(/^\$/, `$.data[${i}]`)));
      }
    } else if (body.object === "event") errors = validateEvent(d, body, seen);
    else errors = validate(d, String(body.object), body, seen);
    out.push(...errors.map((e) => `${r.request} (${r.status}) ${e}`));
  }
  return out;
}

Deno.test("the emulator's answers validate against Stripe's published definition", async () => {
  const emu = await startInProcessEmulator();
  const recorded: Recorded[] = [];
  try {
    const stripe = recordingClient(emu.url, emu.secretKey, recorded);
    const controls = emulatorControls(stripe);

    const product = await stripe.products.create({
      name: "Definition",
      description: "checked against the definition",
      metadata: { tier_slug: "definition" },
    });
    await stripe.products.retrieve(product.id);
    await stripe.products.update(product.id, { name: "Definition (renamed)" });
    const price = await stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 1500,
      recurring: { interval: "month" },
      lookup_key: `definition_${crypto.randomUUID().slice(0, 8)}`,
      nickname: "Monthly",
    });
    const once = await stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 900,
    });
    await stripe.prices.retrieve(price.id);
    await stripe.prices.retrieve(once.id);
    await stripe.prices.list({ limit: 10 });

    const customer = await stripe.customers.create({
      email: "definition@stagecoach.test",
      name: "Definition",
      metadata: { supabase_user_id: "00000000-0000-0000-0000-000000000001" },
    });
    await stripe.customers.retrieve(customer.id);
    await stripe.customers.update(customer.id, { description: "updated" });

    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id, quantity: 2 }],
      metadata: { source: "definition" },
    });
    await stripe.subscriptions.retrieve(sub.id);
    await stripe.subscriptionItems.list({ subscription: sub.id });
    await stripe.invoices.retrieve(sub.latest_invoice as string);
    await stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    await controls.advance(sub.id);
    const advanced = await stripe.subscriptions.retrieve(sub.id);
    await stripe.invoices.retrieve(advanced.latest_invoice as string);
    await stripe.subscriptions.list({ customer: customer.id, status: "all" });

    const declined = await stripe.customers.create({ email: "declined@stagecoach.test" });
    await controls.declinePayments(declined.id, true);
    const unpaid = await stripe.subscriptions.create({
      customer: declined.id,
      items: [{ price: price.id }],
    });
    await stripe.invoices.retrieve(unpaid.latest_invoice as string);
    await stripe.subscriptions.cancel(unpaid.id);
    await stripe.subscriptions.retrieve(unpaid.id);

    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: "https://example.com/ok",
      cancel_url: "https://example.com/cancel",
      client_reference_id: "00000000-0000-0000-0000-000000000002",
      customer_email: "checkout@stagecoach.test",
      metadata: { supabase_user_id: "00000000-0000-0000-0000-000000000002" },
    });
    await stripe.checkout.sessions.retrieve(session.id);
    await controls.completeCheckout(session.id);
    const completed = await stripe.checkout.sessions.retrieve(session.id);
    await stripe.subscriptions.retrieve(completed.subscription as string);
    await stripe.checkout.sessions.list({ limit: 10 });
    const abandoned = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: "https://example.com/ok",
      customer: customer.id,
    });
    await stripe.checkout.sessions.expire(abandoned.id);

    const endpoint = await stripe.webhookEndpoints.create({
      url: "http://127.0.0.1:9/definition",
      enabled_events: ["customer.subscription.updated", "invoice.paid"],
      description: "definition",
    });
    await stripe.webhookEndpoints.retrieve(endpoint.id);
    await stripe.webhookEndpoints.list({ limit: 10 });

    const events = await stripe.events.list({ limit: 100 });
    for (const e of events.data) await stripe.events.retrieve(e.id);

    const bad = recordingClient(emu.url, "sk_test_not_a_key", recorded);
    await assert.rejects(bad.products.list({ limit: 1 }), { statusCode: 401 });
    await assert.rejects(stripe.products.retrieve("prod_missing"), { statusCode: 404 });
    await assert.rejects(stripe.prices.create({ currency: "usd" } as Stripe.PriceCreateParams), {
      statusCode: 400,
    });

    const types = new Set<string>(events.data.map((e) => e.type));
    for (
      const t of [
        "product.created",
        "product.updated",
        "price.created",
        "customer.created",
        "customer.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
        "invoice.created",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        "checkout.session.completed",
        "checkout.session.expired",
      ]
    ) assert.ok(types.has(t), `the run produced a ${t} event`);

    const seen = new Set<string>();
    assert.deepEqual(differences(def, recorded, seen), []);
    for (
      const name of [
        "product",
        "price",
        "recurring",
        "customer",
        "invoice_setting_customer_setting",
        "subscription",
        "subscription_item",
        "subscription_automatic_tax",
        "subscriptions_resource_billing_mode",
        "subscriptions_resource_payment_settings",
        "subscriptions_resource_subscription_invoice_settings",
        "subscriptions_resource_trial_settings_trial_settings",
        "cancellation_details",
        "invoice",
        "automatic_tax",
        "billing_bill_resource_invoicing_parents_invoice_parent",
        "billing_bill_resource_invoicing_parents_invoice_subscription_parent",
        "invoices_payment_settings",
        "invoices_resource_status_transitions",
        "connect_account_reference",
        "checkout.session",
        "payment_pages_checkout_session_automatic_tax",
        "payment_pages_checkout_session_custom_text",
        "payment_pages_checkout_session_customer_details",
        "payment_pages_checkout_session_phone_number_collection",
        "payment_pages_checkout_session_total_details",
        "webhook_endpoint",
        "event",
        "notification_event_data",
        "notification_event_request",
        "error",
        "api_errors",
      ]
    ) assert.ok(seen.has(name), `some answer was checked against "${name}"`);
  } finally {
    await emu.close();
  }
});

Deno.test("the definition check fails on objects that differ from the definition", async () => {
  const emu = await startInProcessEmulator();
  const recorded: Recorded[] = [];
  try {
    const stripe = recordingClient(emu.url, emu.secretKey, recorded);
    const product = await stripe.products.create({ name: "Broken" });
    const price = await stripe.prices.create({
      product: product.id,
      currency: "usd",
      unit_amount: 500,
      recurring: { interval: "month" },
    });
    const session = await stripe.checkout.sessions.create({
      mode: "subscription",
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: "https://example.com/ok",
    });
    const body = (id: string) => structuredClone(recorded.find((r) => r.body.id === id)!.body);
    assert.deepEqual(validate(def, "product", body(product.id)), []);

    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "checkout.session",
        { ...body(session.id), ui_mode: "hosted" },
        /\$\.ui_mode: "hosted" is not one of/,
      ],
      ["product", { ...body(product.id), colour: "red" }, /\$\.colour: not a property of product/],
      ["price", { ...body(price.id), custom_unit_amount: { maximum: 1 } }, /unresolved/],
      [
        "price",
        { ...body(price.id), unit_amount: "500" },
        /\$\.unit_amount: matches none|expected an integer/,
      ],
      ["product", { ...body(product.id), created: null }, /\$\.created: null is not allowed/],
    ];
    for (const [schema, broken, expected] of cases) {
      const errors = validate(def, schema, broken);
      assert.ok(errors.some((e) => expected.test(e)), `${expected} in ${JSON.stringify(errors)}`);
    }
    const missing = body(product.id);
    delete missing.livemode;
    assert.deepEqual(validate(def, "product", missing), [
      '$: missing required property "livemode"',
    ]);
    const event = {
      id: "evt_x",
      object: "event",
      api_version: null,
      created: 1,
      livemode: false,
      pending_webhooks: 0,
      request: null,
      type: "product.updated",
      data: { object: body(product.id), previous_attributes: { name: 7 } },
    };
    assert.deepEqual(validateEvent(def, event, new Set()), [
      "$.data.previous_attributes.name: expected a string, got number",
    ]);
    assert.deepEqual(
      validate(def, "error", { error: { type: "authentication_error", message: "x" } }),
      [
        '$.error.type: "authentication_error" is not one of api_error, card_error, idempotency_error, invalid_request_error',
      ],
    );
  } finally {
    await emu.close();
  }
});

Deno.test("sdk_only lists exactly the fields the SDK declares and the definition lacks", () => {
  // `satisfies` makes `deno check` prove that the SDK's types declare each field.
  const declared = {
    cancellation_details: [
      "feedback_option",
    ] satisfies (keyof Stripe.Subscription.CancellationDetails)[],
    "checkout.session": [
      "allowed_payment_method_types",
    ] satisfies (keyof Stripe.Checkout.Session)[],
    product: ["tax_details", "type"] satisfies (keyof Stripe.Product)[],
    recurring: ["trial_period_days"] satisfies (keyof Stripe.Price.Recurring)[],
    subscription_item: ["current_trial", "plan"] satisfies (keyof Stripe.SubscriptionItem)[],
    subscriptions_resource_trial_settings_end_behavior: [
      "billing_cycle_anchor",
    ] satisfies (keyof Stripe.Subscription.TrialSettings.EndBehavior)[],
  };
  const listed = Object.fromEntries(
    Object.entries(def.sdk_only).map(([schema, fields]) => [schema, Object.keys(fields).sort()]),
  );
  assert.deepEqual(listed, declared);
  for (const [schema, fields] of Object.entries(declared)) {
    for (const field of fields) {
      assert.ok(!(field in def.schemas[schema].properties!), `${schema}.${field} is sdk_only`);
    }
  }
});
