/**
 * Customers, subscriptions, their invoices, and checkout sessions in subscription mode.
 *
 * A subscription starts `active` with a paid invoice (or `trialing`), or `incomplete` when
 * the customer's payments are declined (a test helper declines them); with
 * `payment_behavior=error_if_incomplete` a declined payment is a 402 `card_declined` and
 * nothing is created. Cancelling sets `canceled`; `cancel_at_period_end` is honoured when
 * the period is advanced (`test_helpers.ts`). Periods live on the subscription items, as
 * in API versions since 2025-03-31.
 *
 * @module
 */
import { z } from "zod";
import {
  type Answer,
  type Ctx,
  expand,
  type Handler,
  previousAttributes,
  retrieveHandler,
} from "./context.ts";
import { StripeApiError } from "./errors.ts";
import { recurringPrice } from "./catalog.ts";
import {
  apiList,
  checkoutSessionObject,
  customerObject,
  deletedObject,
  invoiceObject,
  subscriptionItemObject,
  subscriptionObject,
  type Wire,
} from "./objects.ts";
import {
  boolParam,
  expandParam,
  intParam,
  listParams,
  mergeMetadata,
  metadataParam,
  nullableStr,
  parseParams,
  strParam,
} from "./params.ts";
import {
  getLive,
  getObject,
  ID_PREFIX,
  newId,
  paginate,
  putObject,
  type StoredObject,
} from "./store.ts";
import type Stripe from "stripe";

const CustomerCreate = z.strictObject({
  email: z.email().optional(),
  name: nullableStr.optional(),
  description: nullableStr.optional(),
  metadata: metadataParam.optional(),
  expand: expandParam.optional(),
});
const CustomerUpdate = CustomerCreate.extend({
  email: z.union([z.email(), z.literal("")]).optional(),
});
const CustomerList = z.strictObject({ ...listParams, email: z.string().optional() });

const paymentBehavior = z.enum([
  "allow_incomplete",
  "default_incomplete",
  "error_if_incomplete",
  "pending_if_incomplete",
]);
const quantityParam = intParam.pipe(z.number().int().min(1).max(10_000));
const SubscriptionCreate = z.strictObject({
  customer: strParam,
  items: z.array(z.strictObject({
    price: strParam,
    quantity: quantityParam.optional(),
    metadata: metadataParam.optional(),
  })).min(1).max(20),
  metadata: metadataParam.optional(),
  description: nullableStr.optional(),
  cancel_at_period_end: boolParam.optional(),
  trial_period_days: intParam.pipe(z.number().int().min(1).max(730)).optional(),
  payment_behavior: paymentBehavior.optional(),
  expand: expandParam.optional(),
});
const SubscriptionUpdate = z.strictObject({
  items: z.array(z.strictObject({
    id: strParam.optional(),
    price: strParam.optional(),
    quantity: quantityParam.optional(),
    metadata: metadataParam.optional(),
    deleted: boolParam.optional(),
  })).max(20).optional(),
  metadata: metadataParam.optional(),
  description: nullableStr.optional(),
  cancel_at_period_end: boolParam.optional(),
  proration_behavior: z.enum(["always_invoice", "create_prorations", "none"]).optional(),
  payment_behavior: paymentBehavior.optional(),
  expand: expandParam.optional(),
});
const SubscriptionList = z.strictObject({
  ...listParams,
  customer: strParam.optional(),
  price: strParam.optional(),
  status: z.enum([
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
  ]).optional(),
});
const CheckoutCreate = z.strictObject({
  mode: z.literal("subscription", { message: "the emulator supports mode=subscription only" }),
  line_items: z.array(z.strictObject({ price: strParam, quantity: quantityParam.optional() }))
    .min(1).max(20),
  customer: strParam.optional(),
  customer_email: z.email().optional(),
  client_reference_id: z.string().min(1).max(200).optional(),
  metadata: metadataParam.optional(),
  subscription_data: z.strictObject({ metadata: metadataParam.optional() }).optional(),
  success_url: z.url().optional(),
  cancel_url: z.url().optional(),
  expand: expandParam.optional(),
});
const CheckoutList = z.strictObject({
  ...listParams,
  customer: strParam.optional(),
  subscription: strParam.optional(),
  status: z.enum(["open", "complete", "expired"]).optional(),
});

/** Adds `count` intervals to a unix time, on calendar months and years as Stripe bills. */
export function addInterval(
  unix: number,
  interval: "day" | "week" | "month" | "year",
  count: number,
): number {
  const d = new Date(unix * 1000);
  if (interval === "day") d.setUTCDate(d.getUTCDate() + count);
  else if (interval === "week") d.setUTCDate(d.getUTCDate() + 7 * count);
  else if (interval === "month") d.setUTCMonth(d.getUTCMonth() + count);
  else d.setUTCFullYear(d.getUTCFullYear() + count);
  return Math.floor(d.getTime() / 1000);
}

type Item = Wire<Stripe.SubscriptionItem>;

function itemPeriodEnd(price: StoredObject, start: number): number {
  const r = price.recurring as {
    interval: "day" | "week" | "month" | "year";
    interval_count: number;
  };
  return addInterval(start, r.interval, r.interval_count);
}

/** `POST /v1/customers` */
export function createCustomer(ctx: Ctx): Answer {
  const p = parseParams(CustomerCreate, ctx.params);
  const customer = customerObject({
    id: newId(ID_PREFIX.customer),
    created: ctx.now(),
    email: p.email ?? null,
    name: p.name ?? null,
    description: p.description ?? null,
    metadata: mergeMetadata({}, p.metadata),
  }) as unknown as StoredObject;
  putObject(ctx.account, "customer", customer);
  ctx.emit("customer.created", customer);
  return { body: expand(ctx.account, customer, p.expand) };
}

/** `GET /v1/customers/:id` (a deleted customer answers its `deleted: true` stub). */
export const retrieveCustomer: Handler = retrieveHandler("customer");

/** `POST /v1/customers/:id` */
export function updateCustomer(ctx: Ctx): Answer {
  const p = parseParams(CustomerUpdate, ctx.params);
  const before = getLive(ctx.account, { kind: "customer", id: ctx.path.id });
  const after = { ...before } as StoredObject;
  if (p.email !== undefined) after.email = p.email === "" ? null : p.email;
  if (p.name !== undefined) after.name = p.name;
  if (p.description !== undefined) after.description = p.description;
  if (p.metadata !== undefined) {
    after.metadata = mergeMetadata(before.metadata as never, p.metadata);
  }
  const previous = previousAttributes(before, after);
  putObject(ctx.account, "customer", after);
  if (Object.keys(previous).length) ctx.emit("customer.updated", after, previous);
  return { body: expand(ctx.account, after, p.expand) };
}

/** `DELETE /v1/customers/:id`: also cancels the customer's live subscriptions, as Stripe does. */
export function deleteCustomer(ctx: Ctx): Answer {
  parseParams(z.strictObject({}), ctx.params);
  const customer = getLive(ctx.account, { kind: "customer", id: ctx.path.id });
  for (const sub of ctx.account.objects.subscription.values()) {
    if (sub.customer === customer.id && !ENDED.includes(sub.status as string)) {
      cancelNow(ctx, sub);
    }
  }
  const stub = deletedObject("customer", customer.id) as unknown as StoredObject;
  putObject(ctx.account, "customer", stub);
  ctx.emit("customer.deleted", customer);
  return { body: stub };
}

/** `GET /v1/customers` */
export function listCustomers(ctx: Ctx): Answer {
  const p = parseParams(CustomerList, ctx.params);
  const items = [...ctx.account.objects.customer.values()].filter((c) =>
    c.deleted !== true && (p.email === undefined || c.email === p.email)
  );
  const page = paginate(items, p);
  return {
    body: expand(ctx.account, apiList(page.data, "/v1/customers", page.has_more), p.expand),
  };
}

const ENDED = ["canceled", "incomplete_expired"];

/**
 * Bills a subscription period: an invoice, paid unless the customer's payments are declined,
 * with Stripe's invoice events. Returns the invoice and whether it was paid.
 *
 * @param opts.reason Stripe's `billing_reason` of the invoice
 * @param opts.amount what is billed, default the items' prices times their quantities (0 for
 * a trial)
 */
export function billPeriod(
  ctx: Ctx,
  sub: StoredObject,
  opts: { reason: Stripe.Invoice.BillingReason; amount?: number },
): { invoice: StoredObject; paid: boolean } {
  const reason = opts.reason;
  const items = (sub.items as { data: Item[] }).data;
  const amount = opts.amount ??
    items.reduce((sum, i) => sum + (i.price.unit_amount ?? 0) * (i.quantity ?? 1), 0);
  const paid = !ctx.account.decliningCustomers.has(sub.customer as string);
  const customer = ctx.account.objects.customer.get(sub.customer as string);
  ctx.account.invoiceSequence++;
  const invoice = invoiceObject({
    id: newId(ID_PREFIX.invoice, 24),
    created: ctx.now(),
    customer: sub.customer as string,
    customer_email: (customer?.email as string | null) ?? null,
    subscription: sub.id,
    status: paid ? "paid" : "open",
    amount_due: amount,
    currency: sub.currency as string,
    period_start: items[0].current_period_start,
    period_end: items[0].current_period_end,
    billing_reason: reason,
    attempt_count: 1,
    number: `EMU-${String(ctx.account.invoiceSequence).padStart(6, "0")}`,
  }) as unknown as StoredObject;
  putObject(ctx.account, "invoice", invoice);
  ctx.emit("invoice.created", invoice);
  ctx.emit("invoice.finalized", invoice);
  if (paid) {
    ctx.emit("invoice.paid", invoice);
    ctx.emit("invoice.payment_succeeded", invoice);
  } else {
    ctx.emit("invoice.payment_failed", invoice);
  }
  return { invoice, paid };
}

/** Creates a subscription (shared by the API and checkout completion). */
export function createSubscriptionFor(
  ctx: Ctx,
  input: z.infer<typeof SubscriptionCreate>,
): StoredObject {
  const customer = getLive(ctx.account, {
    kind: "customer",
    id: input.customer,
    param: "customer",
  });
  const prices = input.items.map((i, n) =>
    recurringPrice(ctx.account, i.price, `items[${n}][price]`)
  );
  const currency = prices[0].currency as string;
  if (prices.some((p) => p.currency !== currency)) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "All prices on a subscription must have the same `currency`.",
      { param: "items" },
    );
  }
  const declined = ctx.account.decliningCustomers.has(customer.id);
  const trial = input.trial_period_days !== undefined;
  if (declined && !trial && input.payment_behavior === "error_if_incomplete") {
    throw new StripeApiError(402, "card_error", "Your card was declined.", {
      code: "card_declined",
      declineCode: "generic_decline",
    });
  }
  const now = ctx.now();
  const id = newId(ID_PREFIX.subscription);
  const trialEnd = trial ? addInterval(now, "day", input.trial_period_days!) : null;
  const items: Item[] = input.items.map((i, n) =>
    subscriptionItemObject({
      id: newId(ID_PREFIX.subscription_item),
      created: now,
      subscription: id,
      price: prices[n] as unknown as Wire<Stripe.Price>,
      quantity: i.quantity ?? 1,
      metadata: mergeMetadata({}, i.metadata),
      current_period_start: now,
      current_period_end: trialEnd ?? itemPeriodEnd(prices[n], now),
    })
  );
  let sub = subscriptionObject({
    id,
    created: now,
    customer: customer.id,
    status: trial ? "trialing" : "incomplete",
    currency,
    items,
    metadata: mergeMetadata({}, input.metadata),
    cancel_at_period_end: input.cancel_at_period_end ?? false,
    cancel_at: null,
    canceled_at: null,
    ended_at: null,
    start_date: now,
    billing_cycle_anchor: trialEnd ?? now,
    latest_invoice: null,
    trial_start: trial ? now : null,
    trial_end: trialEnd,
    description: input.description ?? null,
  }) as unknown as StoredObject;
  if (sub.cancel_at_period_end) sub.cancel_at = items[0].current_period_end;
  putObject(ctx.account, "subscription", sub);
  ctx.emit("customer.subscription.created", sub);
  const { invoice, paid } = billPeriod(ctx, sub, {
    reason: "subscription_create",
    amount: trial ? 0 : undefined,
  });
  const before = sub;
  sub = { ...sub, latest_invoice: invoice.id };
  if (!trial) sub.status = paid ? "active" : "incomplete";
  putObject(ctx.account, "subscription", sub);
  const previous = previousAttributes(before, sub);
  delete previous.latest_invoice;
  if (Object.keys(previous).length) ctx.emit("customer.subscription.updated", sub, previous);
  return sub;
}

/** `POST /v1/subscriptions` */
export function createSubscription(ctx: Ctx): Answer {
  const p = parseParams(SubscriptionCreate, ctx.params);
  return { body: expand(ctx.account, createSubscriptionFor(ctx, p), p.expand) };
}

/** `GET /v1/subscriptions/:id` */
export const retrieveSubscription: Handler = retrieveHandler("subscription");

/** Replaces a subscription, emitting `customer.subscription.updated` when anything changed. */
export function saveSubscription(ctx: Ctx, before: StoredObject, after: StoredObject): void {
  putObject(ctx.account, "subscription", after);
  const previous = previousAttributes(before, after);
  if (Object.keys(previous).length) ctx.emit("customer.subscription.updated", after, previous);
}

/** `POST /v1/subscriptions/:id` */
export function updateSubscription(ctx: Ctx): Answer {
  const p = parseParams(SubscriptionUpdate, ctx.params);
  const before = getObject(ctx.account, { kind: "subscription", id: ctx.path.id });
  if (ENDED.includes(before.status as string)) {
    const allowed = Object.keys(ctx.params).every((k) => ["metadata", "expand"].includes(k));
    if (!allowed) {
      throw new StripeApiError(
        400,
        "invalid_request_error",
        "A canceled subscription can only update its cancellation_details and metadata.",
      );
    }
  }
  const after = structuredClone(before) as StoredObject;
  const list = after.items as { data: Item[] };
  const now = ctx.now();
  for (const [n, change] of (p.items ?? []).entries()) {
    const param = `items[${n}]`;
    if (change.id) {
      const at = list.data.findIndex((i) => i.id === change.id);
      if (at === -1) {
        throw new StripeApiError(
          400,
          "invalid_request_error",
          `Invalid subscription_item id: ${change.id}`,
          { param: `${param}[id]` },
        );
      }
      if (change.deleted) {
        list.data.splice(at, 1);
        continue;
      }
      const item = list.data[at];
      if (change.price && change.price !== item.price.id) {
        const price = recurringPrice(ctx.account, change.price, `${param}[price]`);
        const next = subscriptionItemObject({
          id: item.id,
          created: item.created,
          subscription: before.id,
          price: price as unknown as Wire<Stripe.Price>,
          quantity: change.quantity ?? item.quantity ?? 1,
          metadata: mergeMetadata(item.metadata, change.metadata),
          current_period_start: item.current_period_start,
          current_period_end: item.current_period_end,
        });
        list.data[at] = next;
      } else {
        if (change.quantity !== undefined) item.quantity = change.quantity;
        if (change.metadata !== undefined) {
          item.metadata = mergeMetadata(item.metadata, change.metadata);
        }
      }
    } else {
      if (!change.price) {
        throw new StripeApiError(
          400,
          "invalid_request_error",
          "Missing required param: items[][price] (or items[][id]).",
          { code: "parameter_missing", param: `${param}[price]` },
        );
      }
      const price = recurringPrice(ctx.account, change.price, `${param}[price]`);
      const first = list.data[0];
      list.data.push(subscriptionItemObject({
        id: newId(ID_PREFIX.subscription_item),
        created: now,
        subscription: before.id,
        price: price as unknown as Wire<Stripe.Price>,
        quantity: change.quantity ?? 1,
        metadata: mergeMetadata({}, change.metadata),
        current_period_start: first?.current_period_start ?? now,
        current_period_end: first?.current_period_end ?? itemPeriodEnd(price, now),
      }));
    }
  }
  if (!list.data.length) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "A subscription must have at least one active plan.",
      { param: "items" },
    );
  }
  if (p.metadata !== undefined) {
    after.metadata = mergeMetadata(before.metadata as never, p.metadata);
  }
  if (p.description !== undefined) after.description = p.description;
  if (p.cancel_at_period_end !== undefined) {
    after.cancel_at_period_end = p.cancel_at_period_end;
    after.cancel_at = p.cancel_at_period_end ? list.data[0].current_period_end : null;
    if (p.cancel_at_period_end) {
      after.cancellation_details = {
        comment: null,
        feedback: null,
        feedback_option: null,
        reason: "cancellation_requested",
      };
    } else {
      after.cancellation_details = {
        comment: null,
        feedback: null,
        feedback_option: null,
        reason: null,
      };
    }
  }
  saveSubscription(ctx, before, after);
  return { body: expand(ctx.account, after, p.expand) };
}

/** Cancels a subscription now. */
export function cancelNow(ctx: Ctx, before: StoredObject): StoredObject {
  const now = ctx.now();
  const after = {
    ...structuredClone(before),
    status: "canceled",
    canceled_at: now,
    ended_at: now,
    cancellation_details: {
      comment: null,
      feedback: null,
      feedback_option: null,
      reason: "cancellation_requested",
    },
  } as StoredObject;
  putObject(ctx.account, "subscription", after);
  ctx.emit("customer.subscription.deleted", after, previousAttributes(before, after));
  return after;
}

/** `DELETE /v1/subscriptions/:id` */
export function cancelSubscription(ctx: Ctx): Answer {
  const p = parseParams(
    z.strictObject({
      invoice_now: boolParam.optional(),
      prorate: boolParam.optional(),
      expand: expandParam.optional(),
    }),
    ctx.params,
  );
  const before = getObject(ctx.account, { kind: "subscription", id: ctx.path.id });
  if (ENDED.includes(before.status as string)) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `A canceled subscription can only update its cancellation_details and metadata.`,
      { code: "resource_missing" },
    );
  }
  return { body: expand(ctx.account, cancelNow(ctx, before), p.expand) };
}

/** `GET /v1/subscriptions` (canceled ones only with `status=canceled|ended|all`, as Stripe). */
export function listSubscriptions(ctx: Ctx): Answer {
  const p = parseParams(SubscriptionList, ctx.params);
  const status = p.status;
  const items = [...ctx.account.objects.subscription.values()].filter((s) => {
    if (p.customer && s.customer !== p.customer) return false;
    if (p.price && !(s.items as { data: Item[] }).data.some((i) => i.price.id === p.price)) {
      return false;
    }
    if (status === "all") return true;
    if (status === "ended") return ENDED.includes(s.status as string);
    if (status) return s.status === status;
    return s.status !== "canceled";
  });
  const page = paginate(items, p);
  return {
    body: expand(ctx.account, apiList(page.data, "/v1/subscriptions", page.has_more), p.expand),
  };
}

const SubscriptionItemList = z.strictObject({ ...listParams, subscription: strParam });

/**
 * `GET /v1/subscription_items?subscription=…`: the items of one subscription (the list a
 * subscription's embedded `items` points at with `url`), newest first like every list.
 */
export function listSubscriptionItems(ctx: Ctx): Answer {
  const p = parseParams(SubscriptionItemList, ctx.params);
  const sub = ctx.account.objects.subscription.get(p.subscription);
  if (!sub) {
    throw new StripeApiError(
      404,
      "invalid_request_error",
      `No such subscription: '${p.subscription}'`,
      {
        code: "resource_missing",
        param: "subscription",
      },
    );
  }
  const page = paginate((sub.items as { data: Item[] }).data, p);
  const url = `/v1/subscription_items?subscription=${p.subscription}`;
  return { body: expand(ctx.account, apiList(page.data, url, page.has_more), p.expand) };
}

/** `GET /v1/invoices/:id` */
export const retrieveInvoice: Handler = retrieveHandler("invoice");

/** `POST /v1/checkout/sessions` (subscription mode). */
export function createCheckoutSession(ctx: Ctx): Answer {
  const p = parseParams(CheckoutCreate, ctx.params);
  if (p.customer) getLive(ctx.account, { kind: "customer", id: p.customer, param: "customer" });
  if (p.customer && p.customer_email) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      "You may only specify one of these parameters: customer, customer_email.",
      { param: "customer_email" },
    );
  }
  const prices = p.line_items.map((l, n) =>
    recurringPrice(ctx.account, l.price, `line_items[${n}][price]`)
  );
  const now = ctx.now();
  const session = checkoutSessionObject({
    id: newId(ID_PREFIX["checkout.session"], 24),
    created: now,
    expires_at: now + 24 * 3600,
    status: "open",
    customer: p.customer ?? null,
    customer_email: p.customer_email ?? null,
    client_reference_id: p.client_reference_id ?? null,
    subscription: null,
    metadata: mergeMetadata({}, p.metadata),
    success_url: p.success_url ?? null,
    cancel_url: p.cancel_url ?? null,
    amount_total: prices.reduce(
      (sum, price, n) => sum + (price.unit_amount as number) * (p.line_items[n].quantity ?? 1),
      0,
    ),
    currency: prices[0].currency as string,
  }) as unknown as StoredObject;
  putObject(ctx.account, "checkout.session", session);
  ctx.account.checkoutData.set(session.id, {
    line_items: p.line_items,
    subscription_metadata: p.subscription_data?.metadata ?? undefined,
  });
  return { body: expand(ctx.account, session, p.expand) };
}

/** `GET /v1/checkout/sessions/:id` */
export const retrieveCheckoutSession: Handler = retrieveHandler("checkout.session");

/** `POST /v1/checkout/sessions/:id/expire` */
export function expireCheckoutSession(ctx: Ctx): Answer {
  parseParams(z.strictObject({ expand: expandParam.optional() }), ctx.params);
  const before = getObject(ctx.account, { kind: "checkout.session", id: ctx.path.id });
  if (before.status !== "open") {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `Only Checkout Sessions with a status in ["open"] can be expired.`,
    );
  }
  const after = { ...before, status: "expired", url: null } as StoredObject;
  putObject(ctx.account, "checkout.session", after);
  ctx.account.checkoutData.delete(after.id);
  ctx.emit("checkout.session.expired", after);
  return { body: after };
}

/** `GET /v1/checkout/sessions` */
export function listCheckoutSessions(ctx: Ctx): Answer {
  const p = parseParams(CheckoutList, ctx.params);
  const items = [...ctx.account.objects["checkout.session"].values()].filter((s) =>
    (!p.customer || s.customer === p.customer) &&
    (!p.subscription || s.subscription === p.subscription) &&
    (!p.status || s.status === p.status)
  );
  const page = paginate(items, p);
  return {
    body: expand(ctx.account, apiList(page.data, "/v1/checkout/sessions", page.has_more), p.expand),
  };
}

/**
 * Completes an open session as a paying customer would: creates the customer when the
 * session has none, the subscription, and sends `checkout.session.completed`.
 */
export function completeCheckoutSession(ctx: Ctx, sessionId: string): StoredObject {
  const before = getObject(ctx.account, { kind: "checkout.session", id: sessionId });
  const pending = ctx.account.checkoutData.get(sessionId);
  if (before.status !== "open" || !pending) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `Cannot complete checkout session ${sessionId}: its status is ${before.status}`,
    );
  }
  let customerId = before.customer as string | null;
  if (!customerId) {
    const created = createCustomer({
      ...ctx,
      params: before.customer_email ? { email: before.customer_email as string } : {},
    }).body as StoredObject;
    customerId = created.id;
  }
  const sub = createSubscriptionFor(ctx, {
    customer: customerId,
    items: pending.line_items,
    metadata: pending.subscription_metadata ?? undefined,
  });
  const customer = getObject(ctx.account, { kind: "customer", id: customerId });
  const after = {
    ...before,
    status: "complete",
    customer: customerId,
    subscription: sub.id,
    payment_status: "paid",
    url: null,
    customer_details: {
      address: null,
      business_name: null,
      email: customer.email ?? null,
      individual_name: null,
      name: customer.name ?? null,
      phone: null,
      tax_exempt: "none",
      tax_ids: [],
    },
  } as StoredObject;
  putObject(ctx.account, "checkout.session", after);
  ctx.account.checkoutData.delete(sessionId);
  ctx.emit("checkout.session.completed", after);
  return after;
}

/** Starts the next billing period (or ends the subscription when it was set to cancel). */
export function advancePeriod(ctx: Ctx, subId: string): StoredObject {
  const before = getObject(ctx.account, { kind: "subscription", id: subId });
  if (ENDED.includes(before.status as string)) {
    throw new StripeApiError(
      400,
      "invalid_request_error",
      `Cannot advance subscription ${subId}: it is ${before.status}`,
    );
  }
  if (before.cancel_at_period_end) return cancelNow(ctx, before);
  const after = structuredClone(before) as StoredObject;
  const items = (after.items as { data: Item[] }).data;
  for (const item of items) {
    const start = item.current_period_end;
    item.current_period_start = start;
    item.current_period_end = itemPeriodEnd(item.price as unknown as StoredObject, start);
  }
  const wasTrial = before.status === "trialing";
  putObject(ctx.account, "subscription", after);
  const { invoice, paid } = billPeriod(ctx, after, { reason: "subscription_cycle" });
  after.latest_invoice = invoice.id;
  after.status = paid ? "active" : "past_due";
  if (wasTrial) after.trial_end = after.trial_end ?? ctx.now();
  saveSubscription(ctx, before, after);
  return after;
}
