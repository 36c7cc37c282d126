/**
 * What a Stripe event means for the mirror — pure: an event in, a plan out, no I/O.
 *
 * The plan is what `stripe.ingest_events(batch)` (SQL) applies:
 * - `sync`: write the object (products, prices, customers, subscriptions) under the ordering
 *   guard; `*.deleted` events mark it deleted (a subscription's carries its canceled state);
 * - `link`: `checkout.session.completed` links the session's customer to the Supabase user
 *   named by `client_reference_id` (or `metadata.supabase_user_id` / `metadata.user_id`);
 * - `refresh`: `invoice.paid` / `invoice.payment_failed` re-read the invoice's subscription
 *   from Stripe (its status and period are what the membership needs);
 * - `ignore`: any other type (answered 200 and recorded as ignored, so Stripe stops retrying).
 *
 * @module
 */
import { z } from "zod";

/** The event types the mirror acts on: what the webhook endpoint subscribes to. */
export const HANDLED_EVENT_TYPES = [
  "product.created",
  "product.updated",
  "product.deleted",
  "price.created",
  "price.updated",
  "price.deleted",
  "customer.created",
  "customer.updated",
  "customer.deleted",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "customer.subscription.paused",
  "customer.subscription.resumed",
  "customer.subscription.pending_update_applied",
  "customer.subscription.pending_update_expired",
  "customer.subscription.trial_will_end",
  "checkout.session.completed",
  "invoice.paid",
  "invoice.payment_failed",
] as const;

/** The mirrored object kinds. */
export type MirrorKind = "product" | "price" | "customer" | "subscription";

/** The envelope of every event, as the webhook accepts it (anything else is a 400). */
export const StripeEventSchema = z.looseObject({
  id: z.string().regex(/^evt_[A-Za-z0-9_]+$/, "expected an event id (evt_…)"),
  object: z.literal("event"),
  type: z.string().regex(/^[a-z_]+(\.[a-z_]+)+$/, "expected an event type"),
  created: z.number().int().positive(),
  livemode: z.boolean(),
  /** The API version the event was rendered in (null for some events Stripe itself sends). */
  api_version: z.string().max(64).nullable().optional(),
  data: z.looseObject({
    object: z.looseObject({ object: z.string(), id: z.string().optional() }),
  }),
});

/** A verified event's envelope. */
export type StripeEventEnvelope = z.infer<typeof StripeEventSchema>;

/** What the ledger records about an event. */
export interface EventMeta {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  /** The API version the event was rendered in, as sent (recorded in the ledger). */
  api_version: string | null;
  /** The object the event is about (for an invoice event: its subscription). */
  object_id: string | null;
}

/** What to do with an event. */
export type EventPlan =
  | { action: "ignore" }
  | { action: "sync"; kind: MirrorKind; object: Record<string, unknown>; deleted: boolean }
  | {
    action: "link";
    customer: string | null;
    user: string | null;
    subscription: string | null;
    source: string;
  }
  | { action: "refresh"; kind: MirrorKind; id: string };

const SYNC_PREFIXES: [string, MirrorKind][] = [
  ["customer.subscription.", "subscription"],
  ["product.", "product"],
  ["price.", "price"],
  ["customer.", "customer"],
];

/** An id from a field that may hold an id or an expanded object. */
function idOf(value: unknown): string | null {
  if (typeof value === "string" && value !== "") return value;
  if (value && typeof value === "object" && typeof (value as { id?: unknown }).id === "string") {
    return (value as { id: string }).id;
  }
  return null;
}

/**
 * The subscription of an invoice: `parent.subscription_details.subscription` when
 * `parent.type` is `subscription_details` (other parents, e.g. `quote_details`, carry no
 * subscription), else the pre-2025 top-level `subscription`.
 */
export function invoiceSubscription(invoice: Record<string, unknown>): string | null {
  const parent = invoice.parent as
    | { type?: unknown; subscription_details?: { subscription?: unknown } | null }
    | null
    | undefined;
  if (parent && typeof parent === "object") {
    if (parent.type !== "subscription_details") return null;
    return idOf(parent.subscription_details?.subscription);
  }
  return idOf(invoice.subscription);
}

/** The Supabase user a checkout session names, as sent (validated by the database). */
export function sessionUser(session: Record<string, unknown>): string | null {
  const metadata = (session.metadata ?? {}) as Record<string, unknown>;
  for (
    const candidate of [session.client_reference_id, metadata.supabase_user_id, metadata.user_id]
  ) {
    if (typeof candidate === "string" && candidate !== "") return candidate;
  }
  return null;
}

/**
 * Turns a verified event into its ledger record and its plan.
 *
 * @example
 * ```ts
 * planEvent(event); // { meta: { id: "evt_…", … }, plan: { action: "sync", kind: "price", … } }
 * ```
 */
export function planEvent(event: StripeEventEnvelope): { meta: EventMeta; plan: EventPlan } {
  const object = event.data.object as Record<string, unknown> & { object: string; id?: string };
  const meta: EventMeta = {
    id: event.id,
    type: event.type,
    created: event.created,
    livemode: event.livemode,
    api_version: event.api_version ?? null,
    object_id: object.id ?? null,
  };
  const type = event.type;
  if ((HANDLED_EVENT_TYPES as readonly string[]).includes(type)) {
    if (type === "checkout.session.completed") {
      if (object.mode !== "subscription") return { meta, plan: { action: "ignore" } };
      const subscription = idOf(object.subscription);
      meta.object_id = subscription ?? meta.object_id;
      return {
        meta,
        plan: {
          action: "link",
          customer: idOf(object.customer),
          user: sessionUser(object),
          subscription,
          source: `checkout.session.completed:${object.id}`,
        },
      };
    }
    if (type === "invoice.paid" || type === "invoice.payment_failed") {
      const subscription = invoiceSubscription(object);
      if (!subscription) return { meta, plan: { action: "ignore" } };
      meta.object_id = subscription;
      return { meta, plan: { action: "refresh", kind: "subscription", id: subscription } };
    }
    const match = SYNC_PREFIXES.find(([prefix]) => type.startsWith(prefix));
    if (match && object.id) {
      const [, kind] = match;
      const deleted = kind !== "subscription" && type.endsWith(".deleted");
      return { meta, plan: { action: "sync", kind, object, deleted } };
    }
  }
  return { meta, plan: { action: "ignore" } };
}
