/**
 * The emulator's HTTP layer: Stripe's `/v1` routes, secret-key authentication (each key is
 * one account), form-encoded parameters, idempotency-key replay, a per-account rate limit,
 * and Stripe's error objects. The resources live in `catalog.ts`, `billing.ts`,
 * `webhooks.ts` and `test_helpers.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import * as billing from "./billing.ts";
import * as catalog from "./catalog.ts";
import { type Ctx, type Handler, recordEvent } from "./context.ts";
import type { Deliverer } from "./delivery.ts";
import { StripeApiError } from "./errors.ts";
import { decodeForm, FormDecodeError, type FormObject } from "./form.ts";
import type { Account } from "./store.ts";
import { newId } from "./store.ts";
import * as helpers from "./test_helpers.ts";
import * as webhooks from "./webhooks.ts";

/** What the emulator app needs. */
export interface EmulatorDeps {
  /** Accounts by secret key. */
  accounts: Map<string, Account>;
  deliverer: Deliverer;
  /** Unix seconds; default the wall clock. */
  now?: () => number;
  /** API requests per second per account before 429s (Stripe's test mode allows 25). */
  rateLimitPerSecond?: number;
}

type Method = "GET" | "POST" | "DELETE";

/** Every route: method, path under `/v1`, handler. */
function routes(deliverer: Deliverer): [Method, string, Handler][] {
  const h = "/test_helpers/emulator";
  return [
    ["POST", "/products", catalog.createProduct],
    ["GET", "/products", catalog.listProducts],
    ["GET", "/products/:id", catalog.retrieveProduct],
    ["POST", "/products/:id", catalog.updateProduct],
    ["DELETE", "/products/:id", catalog.deleteProduct],
    ["POST", "/prices", catalog.createPriceHandler],
    ["GET", "/prices", catalog.listPrices],
    ["GET", "/prices/:id", catalog.retrievePrice],
    ["POST", "/prices/:id", catalog.updatePrice],
    ["POST", "/customers", billing.createCustomer],
    ["GET", "/customers", billing.listCustomers],
    ["GET", "/customers/:id", billing.retrieveCustomer],
    ["POST", "/customers/:id", billing.updateCustomer],
    ["DELETE", "/customers/:id", billing.deleteCustomer],
    ["POST", "/subscriptions", billing.createSubscription],
    ["GET", "/subscriptions", billing.listSubscriptions],
    ["GET", "/subscriptions/:id", billing.retrieveSubscription],
    ["POST", "/subscriptions/:id", billing.updateSubscription],
    ["DELETE", "/subscriptions/:id", billing.cancelSubscription],
    ["GET", "/subscription_items", billing.listSubscriptionItems],
    ["GET", "/invoices/:id", billing.retrieveInvoice],
    ["POST", "/checkout/sessions", billing.createCheckoutSession],
    ["GET", "/checkout/sessions", billing.listCheckoutSessions],
    ["GET", "/checkout/sessions/:id", billing.retrieveCheckoutSession],
    ["POST", "/checkout/sessions/:id/expire", billing.expireCheckoutSession],
    ["POST", "/webhook_endpoints", webhooks.createWebhookEndpoint],
    ["GET", "/webhook_endpoints", webhooks.listWebhookEndpoints],
    ["GET", "/webhook_endpoints/:id", webhooks.retrieveWebhookEndpoint],
    ["POST", "/webhook_endpoints/:id", webhooks.updateWebhookEndpoint],
    ["DELETE", "/webhook_endpoints/:id", webhooks.deleteWebhookEndpoint],
    ["GET", "/events", webhooks.listEvents],
    ["GET", "/events/:id", webhooks.retrieveEvent],
    ["POST", `${h}/checkout/sessions/:id/complete`, helpers.completeCheckout],
    ["POST", `${h}/subscriptions/:id/advance`, helpers.advanceSubscription],
    ["POST", `${h}/customers/:id/payments`, helpers.setCustomerPayments],
    ["GET", `${h}/delivery`, helpers.deliveryMode(deliverer)],
    ["POST", `${h}/delivery`, helpers.deliveryMode(deliverer)],
    ["POST", `${h}/delivery/release`, helpers.releaseDeliveries(deliverer)],
    ["POST", `${h}/delivery/discard`, helpers.discardDeliveries(deliverer)],
    ["POST", `${h}/delivery/settle`, helpers.settleDeliveries(deliverer)],
    ["POST", `${h}/rate_limit`, helpers.forceRateLimit],
  ];
}

/** Reads the secret key from `Authorization: Bearer sk_…` or Basic (`curl -u sk_…:`). */
export function secretKeyOf(header: string | undefined): string | null {
  if (!header) return null;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) {
    try {
      return atob(basic[1]).split(":")[0] || null;
    } catch {
      return null;
    }
  }
  return null;
}

function redactKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 8)}${"*".repeat(8)}${key.slice(-4)}` : "****";
}

/** A canonical fingerprint of a request, to compare idempotent retries. */
function fingerprint(method: string, path: string, params: FormObject): string {
  const canon = (v: unknown): unknown =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
        Object.keys(v as object).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]),
      )
      : Array.isArray(v)
      ? v.map(canon)
      : v;
  return `${method} ${path} ${JSON.stringify(canon(params))}`;
}

/**
 * Creates the emulator's app.
 *
 * @example
 * ```ts
 * const app = createEmulatorApp({ accounts, deliverer: new Deliverer() });
 * Deno.serve({ port: 12111 }, app.fetch);
 * ```
 */
export function createEmulatorApp(deps: EmulatorDeps): Hono {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const rate = deps.rateLimitPerSecond ?? 100;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const inFlight = new Set<string>();
  const app = new Hono();

  function takeToken(account: Account): boolean {
    const t = performance.now();
    const b = buckets.get(account.id) ?? { tokens: rate, at: t };
    b.tokens = Math.min(rate, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(account.id, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function errorResponse(c: Context, err: StripeApiError, requestId: string): Response {
    return c.json(err.toBody(), err.status as 400, { "Request-Id": requestId, ...err.headers });
  }

  async function readParams(c: Context, method: Method): Promise<FormObject> {
    if (method !== "POST") return decodeForm(new URL(c.req.url).searchParams);
    const text = await c.req.text();
    return decodeForm(new URLSearchParams(text));
  }

  async function serve(c: Context, method: Method, handler: Handler, helper: boolean) {
    const requestId = newId("req");
    const key = secretKeyOf(c.req.header("authorization"));
    if (!key) {
      return errorResponse(
        c,
        new StripeApiError(
          401,
          "invalid_request_error",
          "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ),
        requestId,
      );
    }
    const account = deps.accounts.get(key);
    if (!account) {
      return errorResponse(
        c,
        new StripeApiError(
          401,
          "invalid_request_error",
          // Stripe's answer to an unknown key: 401, no `code` (`api_key_expired` is only for
          // an expired key, with "Expired API Key provided").
          `Invalid API Key provided: ${redactKey(key)}`,
        ),
        requestId,
      );
    }
    if (!helper) {
      if (account.forcedRateLimits > 0 || !takeToken(account)) {
        if (account.forcedRateLimits > 0) account.forcedRateLimits--;
        return errorResponse(
          c,
          new StripeApiError(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            { code: "rate_limit", headers: { "Retry-After": "1", "Stripe-Should-Retry": "true" } },
          ),
          requestId,
        );
      }
    }
    let params: FormObject;
    try {
      params = await readParams(c, method);
    } catch (err) {
      if (err instanceof FormDecodeError) {
        return errorResponse(
          c,
          new StripeApiError(400, "invalid_request_error", err.message, { param: err.param }),
          requestId,
        );
      }
      throw err;
    }
    const idempotencyKey = method === "POST" ? c.req.header("idempotency-key") ?? null : null;
    const print = fingerprint(method, c.req.path, params);
    const slot = idempotencyKey ? `${account.id} ${idempotencyKey}` : null;
    if (idempotencyKey && slot) {
      if (idempotencyKey.length > 255) {
        return errorResponse(
          c,
          new StripeApiError(
            400,
            "invalid_request_error",
            "Invalid Idempotency-Key: it must be at most 255 characters long.",
          ),
          requestId,
        );
      }
      const saved = account.idempotency.get(idempotencyKey);
      if (saved) {
        if (saved.fingerprint !== print) {
          return errorResponse(
            c,
            new StripeApiError(
              400,
              "idempotency_error",
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            ),
            requestId,
          );
        }
        return c.json(saved.body as object, saved.status as 200, {
          "Request-Id": requestId,
          "Idempotent-Replayed": "true",
          "Original-Request": saved.fingerprint.split(" ")[0],
        });
      }
      if (inFlight.has(slot)) {
        return errorResponse(
          c,
          new StripeApiError(
            409,
            "idempotency_error",
            "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " +
              `${idempotencyKey}. Please try again later.`,
          ),
          requestId,
        );
      }
      inFlight.add(slot);
    }
    const at = now();
    const ctx: Ctx = {
      account,
      params,
      path: c.req.param() as Record<string, string>,
      now: () => at,
      requestId,
      idempotencyKey,
      emit: (type, object, previous) => {
        recordEvent(account, {
          type,
          object,
          previous,
          created: at,
          request: helper ? null : { id: requestId, idempotency_key: idempotencyKey },
          deliver: (event) => deps.deliverer.enqueue(account, event),
        });
      },
    };
    let status = 200;
    let body: unknown;
    let save = true;
    try {
      const answer = await handler(ctx);
      status = answer.status ?? 200;
      body = answer.body;
    } catch (err) {
      if (!(err instanceof StripeApiError)) {
        console.error(`${method} ${c.req.path} failed:`, err);
      }
      const apiErr = err instanceof StripeApiError
        ? err
        : new StripeApiError(500, "api_error", "An unknown error occurred in the emulator.");
      status = apiErr.status;
      body = apiErr.toBody();
      // Stripe saves results once the endpoint began executing; parameter errors come first.
      save = !(apiErr.code ?? "").startsWith("parameter_");
    } finally {
      if (slot) inFlight.delete(slot);
    }
    if (idempotencyKey && save) {
      account.idempotency.set(idempotencyKey, { fingerprint: print, status, body, created: at });
    }
    return c.json(body as object, status as 200, { "Request-Id": requestId });
  }

  app.get("/health", (c) => c.json({ ok: true, accounts: deps.accounts.size }));
  for (const [method, path, handler] of routes(deps.deliverer)) {
    const helper = path.startsWith("/test_helpers/emulator");
    app.on(method, `/v1${path}`, (c) => serve(c, method, handler, helper));
  }
  app.notFound((c) =>
    c.json(
      new StripeApiError(
        404,
        "invalid_request_error",
        `Unrecognized request URL (${c.req.method}: ${c.req.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      ).toBody(),
      404,
    )
  );
  return app;
}
