/**
 * Builders of the Stripe objects the emulator serves, typed against the `stripe` SDK's own
 * TypeScript types: `deno check` proves every response has each field the SDK declares,
 * with the right types. {@link Wire} maps the SDK's parsed `Decimal` fields back to the
 * strings Stripe sends (the SDK turns them into `Decimal` objects when it reads a response).
 *
 * Builders are pure: they take what the resource handlers decided and return objects.
 *
 * @module
 */
import Stripe from "stripe";

/** The API version the emulator speaks and stamps on events: the SDK's pinned version. */
export const API_VERSION: string = Stripe.API_VERSION;

/** An SDK type as it travels on the wire: `Decimal` fields are decimal strings. */
export type Wire<T> = T extends string | number | boolean | bigint | null | undefined ? T
  : T extends Stripe.Decimal ? string
  : T extends (infer U)[] ? Wire<U>[]
  : T extends object ? { [K in keyof T]: Wire<T[K]> }
  : T;

/** Stripe's metadata: string keys and values. */
export type Metadata = Record<string, string>;

/** A list as Stripe returns it. */
export function apiList<T>(data: T[], url: string, hasMore = false): Wire<Stripe.ApiList<T>> {
  return { object: "list", data, has_more: hasMore, url } as Wire<Stripe.ApiList<T>>;
}

/** What a product is made of. */
export interface ProductInput {
  id: string;
  created: number;
  name: string;
  active: boolean;
  description: string | null;
  metadata: Metadata;
  default_price: string | null;
}

/** A product, as `GET /v1/products/:id` returns it. */
export function productObject(p: ProductInput & { updated: number }): Wire<Stripe.Product> {
  return {
    id: p.id,
    object: "product",
    active: p.active,
    created: p.created,
    default_price: p.default_price,
    description: p.description,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: p.metadata,
    name: p.name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    tax_details: null,
    type: "service",
    unit_label: null,
    updated: p.updated,
    url: null,
  };
}

/** What a recurring price is made of. */
export interface PriceInput {
  id: string;
  created: number;
  product: string;
  active: boolean;
  currency: string;
  unit_amount: number;
  /** Null for a one-time price. */
  interval: Stripe.Price.Recurring.Interval | null;
  interval_count: number;
  lookup_key: string | null;
  nickname: string | null;
  metadata: Metadata;
}

/** A per-unit price: recurring when it has an interval, one-time otherwise. */
export function priceObject(p: PriceInput): Wire<Stripe.Price> {
  return {
    id: p.id,
    object: "price",
    active: p.active,
    billing_scheme: "per_unit",
    created: p.created,
    currency: p.currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: p.lookup_key,
    metadata: p.metadata,
    nickname: p.nickname,
    product: p.product,
    recurring: p.interval
      ? {
        interval: p.interval,
        interval_count: p.interval_count,
        meter: null,
        trial_period_days: null,
        usage_type: "licensed",
      }
      : null,
    tax_behavior: "unspecified",
    tiers_mode: null,
    transform_quantity: null,
    type: p.interval ? "recurring" : "one_time",
    unit_amount: p.unit_amount,
    unit_amount_decimal: String(p.unit_amount),
  };
}

/** The legacy `plan` twin of a recurring price, embedded in subscription items. */
export function planObject(price: Wire<Stripe.Price>): Wire<Stripe.Plan> {
  const recurring = price.recurring!;
  return {
    id: price.id,
    object: "plan",
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: "per_unit",
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: price.metadata,
    meter: null,
    nickname: price.nickname,
    product: price.product as string,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: "licensed",
  };
}

/** What a customer is made of. */
export interface CustomerInput {
  id: string;
  created: number;
  email: string | null;
  name: string | null;
  description: string | null;
  metadata: Metadata;
}

/** A customer. */
export function customerObject(c: CustomerInput): Wire<Stripe.Customer> {
  return {
    id: c.id,
    object: "customer",
    address: null,
    balance: 0,
    created: c.created,
    currency: null,
    default_source: null,
    delinquent: false,
    description: c.description,
    discount: null,
    email: c.email,
    invoice_prefix: c.id.slice(4, 12).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: c.metadata,
    name: c.name,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
  };
}

/** What a deleted object looks like: `{ id, object, deleted: true }`. */
export function deletedObject<O extends string>(
  object: O,
  id: string,
): { id: string; object: O; deleted: true } {
  return { id, object, deleted: true };
}

/** One item of a subscription: a price, a quantity and the item's billing period. */
export interface SubscriptionItemInput {
  id: string;
  created: number;
  subscription: string;
  price: Wire<Stripe.Price>;
  quantity: number;
  metadata: Metadata;
  current_period_start: number;
  current_period_end: number;
}

/** A subscription item, with its price and plan embedded as Stripe does. */
export function subscriptionItemObject(i: SubscriptionItemInput): Wire<Stripe.SubscriptionItem> {
  return {
    id: i.id,
    object: "subscription_item",
    billing_thresholds: null,
    created: i.created,
    current_period_end: i.current_period_end,
    current_period_start: i.current_period_start,
    current_trial: null,
    discounts: [],
    metadata: i.metadata,
    plan: planObject(i.price),
    price: i.price,
    quantity: i.quantity,
    subscription: i.subscription,
    tax_rates: [],
  };
}

/** What a subscription is made of. */
export interface SubscriptionInput {
  id: string;
  created: number;
  customer: string;
  status: Stripe.Subscription.Status;
  currency: string;
  items: Wire<Stripe.SubscriptionItem>[];
  metadata: Metadata;
  cancel_at_period_end: boolean;
  cancel_at: number | null;
  canceled_at: number | null;
  ended_at: number | null;
  start_date: number;
  billing_cycle_anchor: number;
  latest_invoice: string | null;
  trial_start: number | null;
  trial_end: number | null;
  description: string | null;
}

/** A subscription (API versions since 2025-03-31 keep the period on the items). */
export function subscriptionObject(s: SubscriptionInput): Wire<Stripe.Subscription> {
  return {
    id: s.id,
    object: "subscription",
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: s.billing_cycle_anchor,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: "classic" },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: s.cancel_at,
    cancel_at_period_end: s.cancel_at_period_end,
    canceled_at: s.canceled_at,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: "charge_automatically",
    created: s.created,
    currency: s.currency,
    customer: s.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: s.description,
    discounts: [],
    ended_at: s.ended_at,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: "self" },
    },
    items: apiList(s.items, `/v1/subscription_items?subscription=${s.id}`),
    latest_invoice: s.latest_invoice,
    livemode: false,
    managed_payments: null,
    metadata: s.metadata,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: "off",
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: s.start_date,
    status: s.status,
    test_clock: null,
    transfer_data: null,
    trial_end: s.trial_end,
    trial_settings: {
      end_behavior: { billing_cycle_anchor: null, missing_payment_method: "create_invoice" },
    },
    trial_start: s.trial_start,
  };
}

/** What an invoice of a subscription period is made of. */
export interface InvoiceInput {
  id: string;
  created: number;
  customer: string;
  customer_email: string | null;
  subscription: string;
  status: "open" | "paid";
  amount_due: number;
  currency: string;
  period_start: number;
  period_end: number;
  billing_reason: Stripe.Invoice.BillingReason;
  attempt_count: number;
  number: string;
}

/** A subscription invoice (the subscription is under `parent.subscription_details`). */
export function invoiceObject(i: InvoiceInput): Wire<Stripe.Invoice> {
  const paid = i.status === "paid";
  return {
    id: i.id,
    object: "invoice",
    account_country: "US",
    account_name: "Stagecoach emulator",
    account_tax_ids: null,
    amount_due: i.amount_due,
    amount_overpaid: 0,
    amount_paid: paid ? i.amount_due : 0,
    amount_paid_off_stripe: 0,
    amount_remaining: paid ? 0 : i.amount_due,
    amount_shipping: 0,
    application: null,
    attempt_count: i.attempt_count,
    attempted: i.attempt_count > 0,
    auto_advance: !paid,
    automatic_tax: {
      disabled_reason: null,
      enabled: false,
      liability: null,
      provider: null,
      status: null,
    },
    automatically_finalizes_at: null,
    billing_reason: i.billing_reason,
    collection_method: "charge_automatically",
    created: i.created,
    currency: i.currency,
    custom_fields: null,
    customer: i.customer,
    customer_account: null,
    customer_address: null,
    customer_email: i.customer_email,
    customer_name: null,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: "none",
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: i.created,
    ending_balance: 0,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: "self" },
    last_finalization_error: null,
    latest_revision: null,
    lines: apiList([], `/v1/invoices/${i.id}/lines`),
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: i.number,
    on_behalf_of: null,
    parent: {
      quote_details: null,
      subscription_details: { metadata: {}, subscription: i.subscription },
      type: "subscription_details",
    },
    payment_settings: {
      default_mandate: null,
      payment_method_options: null,
      payment_method_types: null,
    },
    period_end: i.period_end,
    period_start: i.period_start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: i.status,
    status_transitions: {
      finalized_at: i.created,
      marked_uncollectible_at: null,
      paid_at: paid ? i.created : null,
      voided_at: null,
    },
    subtotal: i.amount_due,
    subtotal_excluding_tax: i.amount_due,
    test_clock: null,
    total: i.amount_due,
    total_discount_amounts: [],
    total_excluding_tax: i.amount_due,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
}

/** What a checkout session in subscription mode is made of. */
export interface CheckoutSessionInput {
  id: string;
  created: number;
  expires_at: number;
  status: Stripe.Checkout.Session.Status;
  customer: string | null;
  customer_email: string | null;
  client_reference_id: string | null;
  subscription: string | null;
  metadata: Metadata;
  success_url: string | null;
  cancel_url: string | null;
  amount_total: number;
  currency: string;
}

/** A checkout session (`mode: subscription`). */
export function checkoutSessionObject(s: CheckoutSessionInput): Wire<Stripe.Checkout.Session> {
  const complete = s.status === "complete";
  return {
    id: s.id,
    object: "checkout.session",
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: null,
    amount_subtotal: s.amount_total,
    amount_total: s.amount_total,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: s.cancel_url,
    client_reference_id: s.client_reference_id,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: s.created,
    currency: s.currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: null,
    },
    customer: s.customer,
    customer_account: null,
    customer_creation: s.customer ? null : "always",
    customer_details: complete
      ? {
        address: null,
        business_name: null,
        email: s.customer_email,
        individual_name: null,
        name: null,
        phone: null,
        tax_exempt: "none",
        tax_ids: [],
      }
      : null,
    customer_email: s.customer_email,
    discounts: [],
    expires_at: s.expires_at,
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: null,
    managed_payments: null,
    metadata: s.metadata,
    mode: "subscription",
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: "always",
    payment_method_configuration_details: null,
    payment_method_options: null,
    payment_method_types: ["card"],
    payment_status: complete ? "paid" : "unpaid",
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: s.status,
    submit_type: null,
    subscription: s.subscription,
    success_url: s.success_url,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: "hosted_page",
    url: complete ? null : `https://checkout.stripe.com/c/pay/${s.id}`,
    wallet_options: null,
  };
}

/** What a webhook endpoint is made of (the secret is kept apart: Stripe shows it once). */
export interface WebhookEndpointInput {
  id: string;
  created: number;
  url: string;
  enabled_events: string[];
  description: string | null;
  metadata: Metadata;
  status: "enabled" | "disabled";
  api_version: string | null;
}

/** A webhook endpoint; pass `secret` only in the answer to its creation. */
export function webhookEndpointObject(
  w: WebhookEndpointInput,
  secret?: string,
): Wire<Stripe.WebhookEndpoint> {
  const out: Wire<Stripe.WebhookEndpoint> = {
    id: w.id,
    object: "webhook_endpoint",
    api_version: w.api_version,
    application: null,
    created: w.created,
    description: w.description,
    enabled_events: w.enabled_events,
    livemode: false,
    metadata: w.metadata,
    status: w.status,
    url: w.url,
  };
  if (secret !== undefined) out.secret = secret;
  return out;
}

/** What an event is made of. */
export interface EventInput {
  id: string;
  created: number;
  type: Stripe.Event.Type;
  object: Record<string, unknown>;
  previous_attributes?: Record<string, unknown>;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null } | null;
}

/** An event (snapshot payload). */
export function eventObject(e: EventInput): Wire<Stripe.Event> {
  const data: Stripe.Event.Data = { object: e.object as unknown as Stripe.Event.Data.Object };
  if (e.previous_attributes) {
    data.previous_attributes = e.previous_attributes as Stripe.Event.Data.PreviousAttributes;
  }
  return {
    id: e.id,
    object: "event",
    api_version: API_VERSION,
    created: e.created,
    data,
    livemode: false,
    pending_webhooks: e.pending_webhooks,
    request: e.request,
    type: e.type,
  } as Wire<Stripe.Event>;
}
