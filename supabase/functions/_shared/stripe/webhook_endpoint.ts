/**
 * Making sure a Stripe account sends its events to an environment's `stripe-webhook`
 * function, and that we hold the endpoint's signing secret — which Stripe returns only when
 * the endpoint is created. Used by the local stack at start and by catalog sync (#4 item 5);
 * the webhook reads the secret catalog sync recorded through {@link storedEndpointSecret}.
 *
 * @module
 */
import type Stripe from "stripe";
import type { Queryable } from "../db.ts";
import { STRIPE_API_VERSION } from "./client.ts";
import { HANDLED_EVENT_TYPES } from "./events.ts";

/** A signing secret we hold, and the endpoint it belongs to. */
export interface KnownSecret {
  endpoint_id: string;
  secret: string;
}

/** What {@link ensureWebhookEndpoint} did. */
export interface EnsuredEndpoint {
  endpoint_id: string;
  secret: string;
  /** `kept`: nothing to do; `updated`: events or status fixed; `created`; `rolled`: the secret was lost, or the endpoint is on another API version, so it was replaced. */
  action: "kept" | "updated" | "created" | "rolled";
}

/**
 * Ensures one enabled endpoint for `url` listening for `events`. An endpoint whose secret we
 * no longer hold is replaced by a new one ("rolled"): Stripe cannot show a secret again.
 *
 * @param stripe a client of the account
 * @param opts.url the function's URL, e.g. `https://<ref>.supabase.co/functions/v1/stripe-webhook`
 * @param opts.known the secret we hold (null when none)
 * @param opts.idempotencyKey prefix for the POSTs' idempotency keys (a retried call never duplicates)
 * @example
 * ```ts
 * const { secret } = await ensureWebhookEndpoint(stripe, { url, known: null });
 * ```
 */
export async function ensureWebhookEndpoint(
  stripe: Stripe,
  opts: {
    url: string;
    known: KnownSecret | null;
    events?: readonly string[];
    description?: string;
    idempotencyKey?: string;
  },
): Promise<EnsuredEndpoint> {
  const events = [...(opts.events ?? HANDLED_EVENT_TYPES)].sort();
  const matching: Stripe.WebhookEndpoint[] = [];
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
    if (endpoint.url === opts.url) matching.push(endpoint);
  }
  const ours = matching.find((e) => e.id === opts.known?.endpoint_id);
  const key = (step: string) =>
    opts.idempotencyKey ? { idempotencyKey: `${opts.idempotencyKey}:${step}` } : undefined;
  // Stripe cannot change an endpoint's API version: one on another version is rolled.
  if (ours && opts.known && ours.api_version === STRIPE_API_VERSION) {
    const sameEvents = JSON.stringify([...ours.enabled_events].sort()) === JSON.stringify(events);
    if (sameEvents && ours.status === "enabled") {
      return { endpoint_id: ours.id, secret: opts.known.secret, action: "kept" };
    }
    await stripe.webhookEndpoints.update(
      ours.id,
      {
        enabled_events: events as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
        disabled: false,
      },
      key(`update:${ours.id}`),
    );
    return { endpoint_id: ours.id, secret: opts.known.secret, action: "updated" };
  }
  // Endpoints for this URL whose secret we do not hold deliver events we cannot verify.
  for (const stale of matching) await stripe.webhookEndpoints.del(stale.id);
  const created = await stripe.webhookEndpoints.create(
    {
      url: opts.url,
      enabled_events: events as Stripe.WebhookEndpointCreateParams.EnabledEvent[],
      api_version: STRIPE_API_VERSION,
      description: opts.description ?? "Stagecoach stripe-webhook",
    },
    key(`create:${matching.map((m) => m.id).join(",") || "new"}`),
  );
  if (!created.secret) throw new Error(`Cannot read the signing secret of ${created.id}`);
  return {
    endpoint_id: created.id,
    secret: created.secret,
    action: matching.length ? "rolled" : "created",
  };
}

/**
 * The reader of the signing secret catalog sync's apply recorded for an endpoint it created or
 * rolled (`private.trusted_endpoint_secret()`: never a value a person stored under a config
 * key). A named service read of the `stripe-webhook` function, cached so a burst of deliveries
 * costs one query.
 *
 * @param sql the function's pool
 * @param opts.ttlMs how long a read is kept, default 60 s
 * @param opts.now clock (tests)
 * @returns a function answering the secret, or null when none is recorded
 * @example
 * ```ts
 * const app = createStripeWebhookApp({ sql, stripe, webhookSecret, storedSecret: storedEndpointSecret(sql) });
 * ```
 */
export function storedEndpointSecret(
  sql: Queryable,
  opts: { ttlMs?: number; now?: () => number } = {},
): () => Promise<string | null> {
  const ttlMs = opts.ttlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  let cached: { at: number; secret: string | null } | null = null;
  return async () => {
    if (cached && now() - cached.at < ttlMs) return cached.secret;
    const [row] = await sql<{ secret: string | null }[]>`
      select private.trusted_endpoint_secret() as secret`;
    cached = { at: now(), secret: row?.secret ?? null };
    return cached.secret;
  };
}
