/**
 * The `stripe-webhook` Edge Function: Stripe → the `stripe` mirror and memberships.
 * Deployed with `verify_jwt = false`: Stripe's signature replaces the JWT.
 *
 * `POST /stripe-webhook` with Stripe's JSON event and its `Stripe-Signature` header:
 * - a body over {@link MAX_EVENT_BYTES} (1 MiB) is refused with 413 `payload_too_large` before
 *   it is read whole: a `Content-Length` over the limit is refused without reading anything,
 *   and a body without one (chunked) is counted while it streams and cut off at the limit.
 *   Nothing is written;
 * - the signature is checked on the raw body (`checkSignature`: HMAC-SHA256 as Stripe signs,
 *   300 s tolerance): missing → 400 `missing_signature`, wrong → 400 `invalid_signature`, too old
 *   → 400 `stale_signature`; a body that is not JSON → 400 `invalid_json`; not an event →
 *   400 `invalid_event`. Nothing is written for any of them;
 * - otherwise the event is recorded in `stripe.events` and applied (see `_shared/stripe`):
 *   200 `{ received: true, outcome }` with outcome `processed`, `stale` (newer state was
 *   already mirrored), `ignored` (a type we do not handle), `unresolved` (mirrored; the
 *   membership waits for reconciliation) or `duplicate`;
 * - an unexpected failure is recorded on the event (`failed`) and answered 500, so Stripe
 *   retries it.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type Stripe from "stripe";
import type { Sql } from "../_shared/db.ts";
import { ApiError, notFound, onError } from "../_shared/http.ts";
import { StripeEventSchema } from "../_shared/stripe/events.ts";
import {
  createIngestBatcher,
  type IngestBatcher,
  ingestEvent,
  recordFailure,
  replaceNul,
} from "../_shared/stripe/mirror.ts";
import { checkSignature, type SignatureProblem } from "../_shared/stripe/signature.ts";

/** Stripe's default tolerance for a signature's timestamp, in seconds. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The largest webhook body accepted: 1 MiB. The signature can only be checked on the whole
 * body, so without a limit any sender could make the function hold any amount in memory
 * (200 MB took it from 87 to 545 MB).
 *
 * Measured against Stripe's own fixtures (`stripe/openapi` `openapi/fixtures3.json`): the
 * largest objects we handle are a subscription (4.0 KB), an invoice (3.8 KB) and a checkout
 * session (3.1 KB), and an event adds about 0.6 KB around its object; a subscription with
 * three items and a little metadata is about 7 KB. Metadata is what makes events big (up to 50
 * keys of 40 characters with 500-character values: 27 KB per object), and only a subscription
 * at Stripe's 20-item maximum with full metadata on itself and every item, price and plan
 * passes 1 MiB (1.6 MiB). Such an event would be refused, Stripe would retry it, and the
 * nightly reconciliation (which reads objects from the API, not from events) would repair the
 * mirror.
 */
export const MAX_EVENT_BYTES = 1024 * 1024;

/** What the webhook app needs. */
export interface StripeWebhookDeps {
  sql: Sql;
  /** A client of this environment's Stripe account (re-reads objects). */
  stripe: Stripe;
  /** The endpoint's signing secret (`whsec_…`) from the function's secrets; may be empty. */
  webhookSecret: string;
  /**
   * The secret the catalog sync's apply recorded for the endpoint it created or rolled
   * (`ops.stripe_endpoint_secrets`, encrypted; never a value someone stored under a config
   * key): tried when the function's own secret does not verify, so a new endpoint works
   * before anyone updates the function secrets.
   */
  storedSecret?: () => Promise<string | null>;
  /** Signature tolerance, default {@link SIGNATURE_TOLERANCE_SECONDS}. */
  toleranceSeconds?: number;
  /**
   * Shares transactions among concurrent deliveries; default: one made over `sql` by
   * {@link createReceiver} (see `createIngestBatcher`).
   */
  batcher?: IngestBatcher;
}

/**
 * Verifies and parses a webhook body.
 *
 * @throws {ApiError} 400 `missing_signature`, `invalid_signature`, `stale_signature`,
 * `invalid_json` or `invalid_event`
 */
export async function verifyEvent(
  deps: Pick<StripeWebhookDeps, "webhookSecret" | "toleranceSeconds" | "storedSecret">,
  body: string,
  signature: string | undefined,
) {
  try {
    return verifyWith(deps, deps.webhookSecret, body, signature);
  } catch (err) {
    const stored = err instanceof ApiError && err.code === "invalid_signature" && deps.storedSecret
      ? await deps.storedSecret()
      : null;
    if (!stored || stored === deps.webhookSecret) throw err;
    return verifyWith(deps, stored, body, signature);
  }
}

/** The answer to each refused signature. */
const SIGNATURE_ERRORS: Record<SignatureProblem, () => ApiError> = {
  missing: () =>
    new ApiError(
      400,
      "missing_signature",
      "Cannot verify the event: the Stripe-Signature header is missing",
    ),
  invalid: () =>
    new ApiError(
      400,
      "invalid_signature",
      "Cannot verify the event: the signature does not match the body",
    ),
  stale: () =>
    new ApiError(
      400,
      "stale_signature",
      "Cannot verify the event: its signature is older than the tolerance",
    ),
};

function verifyWith(
  deps: Pick<StripeWebhookDeps, "toleranceSeconds">,
  secret: string,
  body: string,
  signature: string | undefined,
) {
  const verdict = checkSignature(body, {
    header: signature,
    secret,
    toleranceSeconds: deps.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS,
  });
  if (!verdict.ok) throw SIGNATURE_ERRORS[verdict.problem]();
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ApiError(400, "invalid_json", "Cannot read the event: the body is not JSON");
  }
  const event = StripeEventSchema.safeParse(parsed);
  if (!event.success) {
    throw new ApiError(400, "invalid_event", "Cannot accept the event: it is not a Stripe event", {
      issues: event.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
  }
  return event.data;
}

/** What {@link createReceiver}'s receiver answers with. */
export interface Received {
  event: string;
  outcome: string;
}

/**
 * The webhook's whole work for one delivery, without HTTP: verify, record, apply. Made once
 * per function instance, so its deliveries share one batcher; the route below wraps it and
 * benchmarks call it in process.
 *
 * @returns `(body, signature) => Promise<Received>`, which throws {@link ApiError} 400 as
 * {@link verifyEvent}, or 500 `ingest_failed` after recording the event as failed
 * @example
 * ```ts
 * const receive = createReceiver({ sql, stripe, webhookSecret });
 * await receive(rawBody, req.headers.get("stripe-signature") ?? undefined);
 * ```
 */
export function createReceiver(
  deps: StripeWebhookDeps,
): (body: string, signature: string | undefined) => Promise<Received> {
  const ingestDeps = { ...deps, batcher: deps.batcher ?? createIngestBatcher(deps.sql) };
  return async (body, signature) => {
    const verified = await verifyEvent(deps, body, signature);
    // U+0000 (escaped in the JSON as \u0000) cannot enter jsonb: mirror U+FFFD instead and say
    // so on the ledger row. The cheap text test spares the walk for every other event.
    const nul = body.includes("\\u0000") ? replaceNul(verified) : { value: verified, replaced: 0 };
    const event = nul.value as typeof verified;
    const raw = nul.replaced > 0 ? JSON.stringify(event) : body;
    try {
      const result = await ingestEvent(ingestDeps, event, raw);
      if (nul.replaced > 0) {
        await deps.sql`update stripe.events set nul_replaced = ${nul.replaced}
          where id = ${event.id}`;
      }
      return { event: event.id, outcome: result.outcome };
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      console.error(`stripe-webhook: ${event.id} (${event.type}) failed: ${message}`);
      await recordFailure(deps.sql, event, message);
      throw new ApiError(
        500,
        "ingest_failed",
        "Cannot apply the event: it was recorded as failed",
        {
          event: event.id,
        },
      );
    }
  };
}

/**
 * Creates the webhook app, rooted at `/stripe-webhook` as Supabase routes functions.
 *
 * @example
 * ```ts
 * const app = createStripeWebhookApp({ sql, stripe, webhookSecret });
 * Deno.serve(app.fetch);
 * ```
 */
export function createStripeWebhookApp(deps: StripeWebhookDeps) {
  const app = new Hono().basePath("/stripe-webhook");
  app.onError(onError);
  app.notFound(notFound);

  const receive = createReceiver(deps);
  // Hono's bodyLimit refuses a Content-Length over the limit without reading, and otherwise
  // counts the stream and stops reading at the limit (a chunked body is never buffered past it).
  const limit = bodyLimit({
    maxSize: MAX_EVENT_BYTES,
    onError: () => {
      throw new ApiError(
        413,
        "payload_too_large",
        `Cannot accept the event: the body is larger than ${MAX_EVENT_BYTES} bytes`,
        { max_bytes: MAX_EVENT_BYTES },
      );
    },
  });
  app.post("/", limit, async (c) => {
    const received = await receive(await c.req.text(), c.req.header("stripe-signature"));
    return c.json({ received: true, ...received });
  });

  return app;
}
