/**
 * Helpers for tests that drive the emulator through the `stripe` SDK: a client of an
 * environment's emulator account, the emulator's delivery controls (through
 * `stripe.rawRequest`), and fixtures in an environment's database (a user, a tier with a
 * Stripe price).
 *
 * @module
 */
import type Stripe from "stripe";
import type { Sql } from "postgres";
import {
  type LocalEnv,
  localStripeKey,
  stackOptionsFromEnv,
  stripeEmulatorConfig,
} from "../config.ts";
import { createStripeClient } from "../../../supabase/functions/_shared/stripe/client.ts";

/** A client of an environment's emulator account (fails when the stack is not up). */
export async function emulatorClient(env: LocalEnv): Promise<Stripe> {
  const config = stripeEmulatorConfig(stackOptionsFromEnv());
  return createStripeClient({
    STRIPE_SECRET_KEY: await localStripeKey(env, config),
    STRIPE_API_BASE: config.url,
  }, { maxNetworkRetries: 0 });
}

/** The delivery state of an account. */
export interface DeliveryState {
  mode: "immediate" | "hold" | "drop";
  held: number;
  pending: number;
  released?: number;
  delivered?: number;
  failed?: number;
  discarded?: number;
}

/** The emulator's test helpers of one account. */
export function emulatorControls(stripe: Stripe) {
  const call = async <T>(
    method: "GET" | "POST",
    path: string,
    params: Record<string, unknown> = {},
  ) => await stripe.rawRequest(method, `/v1/test_helpers/emulator${path}`, params) as unknown as T;
  return {
    /** Sets how events reach the webhook endpoints. */
    mode: (mode: DeliveryState["mode"]) => call<DeliveryState>("POST", "/delivery", { mode }),
    /** Delivers held events and waits for each first attempt. */
    release: (opts: {
      order?: "in_order" | "reversed" | "shuffled";
      repeat?: number;
      concurrency?: number;
      seed?: number;
      mode?: DeliveryState["mode"];
    } = {}) => call<DeliveryState>("POST", "/delivery/release", opts),
    /** Forgets held events (lost deliveries). */
    discard: () => call<DeliveryState>("POST", "/delivery/discard"),
    /** Waits until no delivery is in flight or due a retry. */
    settle: (timeoutMs = 30_000) =>
      call<DeliveryState>("POST", "/delivery/settle", { timeout_ms: timeoutMs }),
    /** Pays an open checkout session. */
    completeCheckout: (id: string) =>
      call<Stripe.Checkout.Session>("POST", `/checkout/sessions/${id}/complete`),
    /** Starts a subscription's next period. */
    advance: (id: string) => call<Stripe.Subscription>("POST", `/subscriptions/${id}/advance`),
    /** Declines (or accepts again) a customer's payments. */
    declinePayments: (id: string, decline: boolean) =>
      call<Stripe.Customer>("POST", `/customers/${id}/payments`, { decline }),
    /** Answers the next n API requests with 429. */
    rateLimitNext: (n: number) => call<unknown>("POST", "/rate_limit", { next: n }),
  };
}

/** A unique suffix for test data. */
export function uniqueSuffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

/** Creates a user in `auth.users` (as the local auth stand-in would) and returns its id. */
export async function createUser(sql: Sql, label = "stripe"): Promise<string> {
  const id = crypto.randomUUID();
  await sql`
    insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,
                            created_at, updated_at)
    values ('00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated',
            ${`${label}-${
    id.slice(0, 8)
  }@stagecoach.test`}, '{"provider":"email"}', '{}', now(), now())`;
  return id;
}

/** A tier whose monthly price exists in Stripe and in `tier_prices`. */
export interface TierFixture {
  tierId: string;
  slug: string;
  product: Stripe.Product;
  price: Stripe.Price;
  lookupKey: string;
}

/**
 * Creates a tier with one monthly price, in Stripe (product + price with a unique lookup key)
 * and in the database (`membership_tiers`, `tier_prices` with the Stripe price id unless
 * `mapById` is false, in which case only the lookup key maps it).
 */
export async function createTier(
  sql: Sql,
  stripe: Stripe,
  opts: { amount?: number; mapById?: boolean } = {},
): Promise<TierFixture> {
  const suffix = uniqueSuffix();
  const slug = `t-${suffix}`;
  const lookupKey = `t_${suffix}_monthly`;
  const product = await stripe.products.create({
    name: `Tier ${suffix}`,
    metadata: { tier_slug: slug },
  });
  const price = await stripe.prices.create({
    product: product.id,
    currency: "usd",
    unit_amount: opts.amount ?? 1500,
    recurring: { interval: "month" },
    lookup_key: lookupKey,
  });
  const [tier] = await sql<{ id: string }[]>`
    insert into public.membership_tiers (slug, name) values (${slug}, ${`Tier ${suffix}`}) returning id`;
  await sql`
    insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
    values (${tier.id}, ${lookupKey}, 'usd', ${opts.amount ?? 1500}, 'month',
            ${opts.mapById === false ? null : price.id})`;
  return { tierId: tier.id, slug, product, price, lookupKey };
}

/** Polls until `probe` returns a value (not undefined/null/false) or the time is up. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** An emulator served in this process (unit tests that need no stack). */
export interface InProcessEmulator {
  url: string;
  secretKey: string;
  stripe: Stripe;
  close(): Promise<void>;
}

/**
 * Serves an emulator with one fresh account on a free port of 127.0.0.1.
 *
 * @example
 * ```ts
 * const emu = await startInProcessEmulator();
 * await emu.stripe.products.create({ name: "x" });
 * await emu.close();
 * ```
 */
export async function startInProcessEmulator(
  opts: { rateLimitPerSecond?: number; retryBaseMs?: number } = {},
): Promise<InProcessEmulator> {
  const { createEmulatorApp } = await import("./app.ts");
  const { Deliverer } = await import("./delivery.ts");
  const { restore } = await import("./store.ts");
  const secretKey = `sk_test_unit_${uniqueSuffix()}`;
  const accounts = restore([{
    id: `acct_${uniqueSuffix()}`,
    label: "development",
    secret_key: secretKey,
  }], null);
  const deliverer = new Deliverer({ retryBaseMs: opts.retryBaseMs ?? 20, maxAttempts: 3 });
  const app = createEmulatorApp({
    accounts,
    deliverer,
    rateLimitPerSecond: opts.rateLimitPerSecond,
  });
  let port = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (addr) => (port = addr.port) },
    app.fetch,
  );
  const url = `http://127.0.0.1:${port || server.addr.port}`;
  return {
    url,
    secretKey,
    stripe: createStripeClient({ STRIPE_SECRET_KEY: secretKey, STRIPE_API_BASE: url }, {
      maxNetworkRetries: 0,
    }),
    async close() {
      deliverer.stop();
      await server.shutdown();
    },
  };
}
