/**
 * The one way Stagecoach makes a `stripe` SDK client: from an environment's settings.
 *
 * - A Stripe secret key (`STRIPE_SECRET_KEY`, `sk_test_…`, `sk_live_…` or a restricted
 *   `rk_…`) and no `STRIPE_API_BASE`: the client talks to Stripe itself.
 * - With `STRIPE_API_BASE` (e.g. `http://127.0.0.1:12111`, the local emulator): the client
 *   talks to that server, as `{ host, port, protocol, httpClient: fetch }`.
 *
 * Edge Functions get these as function secrets; the CLI reads them from the local stack
 * (the emulator's per-environment key) or from the operator's environment. The webhook's
 * signing secret (`STRIPE_WEBHOOK_SECRET`, `whsec_…`) is read here too.
 *
 * @module
 */
import Stripe from "stripe";
import { z } from "zod";

/**
 * The Stripe API version Stagecoach is written for: the one the `stripe` package of
 * import_map.json targets (`Stripe.API_VERSION`, checked by client_test.ts). Every client
 * sends it and every webhook endpoint Stagecoach creates is pinned to it, so events and
 * re-reads have one shape; the ledger records each event's own version
 * (`stripe.events.api_version`). Change it with the package, after reading Stripe's
 * changelog for the versions in between.
 */
export const STRIPE_API_VERSION = "2026-10-28.endive" as const;

/** The Stripe settings of one environment; unknown variables are ignored. */
export const StripeEnvSchema = z.object({
  STRIPE_SECRET_KEY: z.string().regex(
    /^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$/,
    "expected a Stripe secret key (sk_test_…, sk_live_… or rk_…)",
  ),
  STRIPE_API_BASE: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z.url({ protocol: /^https?$/ }).optional(),
  ),
  STRIPE_WEBHOOK_SECRET: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z.string().regex(/^whsec_[A-Za-z0-9_]{8,}$/, "expected a webhook signing secret (whsec_…)")
      .optional(),
  ),
});

/** Validated Stripe settings. */
export type StripeEnv = z.infer<typeof StripeEnvSchema>;

/**
 * Validates Stripe settings.
 *
 * @param vars e.g. `Deno.env.toObject()`
 * @throws {Error} naming each missing or invalid variable, never echoing its value
 * @example
 * ```ts
 * const settings = parseStripeEnv({ STRIPE_SECRET_KEY: "sk_test_…" });
 * ```
 */
export function parseStripeEnv(vars: Record<string, string | undefined>): StripeEnv {
  const parsed = StripeEnvSchema.safeParse(vars);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Cannot read the Stripe settings: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/** Where a client sends its requests (for logs and status; never the key). */
export function describeStripeTarget(
  env: Pick<StripeEnv, "STRIPE_SECRET_KEY" | "STRIPE_API_BASE">,
): string {
  if (env.STRIPE_API_BASE) return `emulator at ${env.STRIPE_API_BASE}`;
  return env.STRIPE_SECRET_KEY.includes("_live_") ? "Stripe (live mode)" : "Stripe (test mode)";
}

/** Options of {@link createStripeClient}. */
export interface StripeClientOptions {
  /** SDK retries on network errors and 409s; default 1. Reconciliation passes 0 (it paces itself). */
  maxNetworkRetries?: number;
  /** Per-request timeout, default 20 s. */
  timeoutMs?: number;
}

/**
 * Creates a `stripe` SDK client for an environment: real Stripe, or the server named by
 * `STRIPE_API_BASE`. Always uses `fetch` (works in Edge Functions, Deno and Node).
 *
 * @example
 * ```ts
 * const stripe = createStripeClient(parseStripeEnv(Deno.env.toObject()));
 * await stripe.products.list({ limit: 1 });
 * ```
 */
export function createStripeClient(
  env: Pick<StripeEnv, "STRIPE_SECRET_KEY" | "STRIPE_API_BASE">,
  opts: StripeClientOptions = {},
): Stripe {
  const common = {
    apiVersion: STRIPE_API_VERSION,
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: opts.maxNetworkRetries ?? 1,
    timeout: opts.timeoutMs ?? 20_000,
    appInfo: { name: "stagecoach" },
  };
  if (!env.STRIPE_API_BASE) return new Stripe(env.STRIPE_SECRET_KEY, common);
  const url = new URL(env.STRIPE_API_BASE);
  const protocol = url.protocol === "https:" ? "https" : "http";
  return new Stripe(env.STRIPE_SECRET_KEY, {
    ...common,
    host: url.hostname,
    port: Number(url.port || (protocol === "https" ? 443 : 80)),
    protocol,
  });
}

/**
 * `crypto.subtle` with the HMAC keys it imported kept, by secret: Stripe's SubtleCrypto
 * provider imports the signing secret again for every event, which costs as much as the
 * signature itself. Only raw keys are cached, at most a few (one endpoint secret, perhaps a
 * rolled one beside it).
 */
function cachingSubtle(): SubtleCrypto {
  const subtle = crypto.subtle;
  const keys = new Map<string, Promise<CryptoKey>>();
  return {
    importKey(...args: Parameters<SubtleCrypto["importKey"]>) {
      const [format, data, algorithm, extractable, usages] = args;
      if (format !== "raw" || !ArrayBuffer.isView(data)) return subtle.importKey(...args);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const id = `${JSON.stringify(algorithm)}:${extractable}:${usages.join()}:${bytes.join()}`;
      let key = keys.get(id);
      if (!key) {
        if (keys.size >= 8) keys.clear();
        key = subtle.importKey(format, data, algorithm, extractable, usages);
        key.catch(() => keys.delete(id));
        keys.set(id, key);
      }
      return key;
    },
    sign: (...args: Parameters<SubtleCrypto["sign"]>) => subtle.sign(...args),
    digest: (...args: Parameters<SubtleCrypto["digest"]>) => subtle.digest(...args),
  } as SubtleCrypto;
}

/**
 * A SubtleCrypto provider for the SDK's webhook helpers (works in Edge Functions), over
 * `crypto.subtle` with imported keys cached: tests and benchmarks sign events with it. The
 * webhook itself checks signatures with `checkSignature` (`signature.ts`), in the same turn.
 */
export const cryptoProvider: Stripe.CryptoProvider = Stripe.createSubtleCryptoProvider(
  cachingSubtle(),
);

/**
 * Stripe's clock at the time of a response: its `Date` header in unix seconds, or null.
 * Objects fetched then reflect every event created before that second.
 */
export function responseTime(
  response: { lastResponse?: { headers?: Headers | Record<string, string> } },
): number | null {
  const headers = response.lastResponse?.headers;
  // The fetch client keeps the raw Response (a Headers object); the node client a plain object.
  const date = headers instanceof Headers ? headers.get("date") : headers?.date;
  const ms = date ? Date.parse(date) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}
