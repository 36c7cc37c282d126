/**
 * Pacing calls to Stripe: a token bucket (25 requests/s by default, Stripe's test-mode
 * limit) and, when Stripe still answers 429, a wait of its `Retry-After` (or a growing
 * backoff) before trying again.
 *
 * @module
 */

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Requests per second (and burst size). Default 25. */
  perSecond?: number;
  /** Retries of one call after 429s. Default 6. */
  maxRetries?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Sleeps ms (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Told about every 429 (e.g. to count them). */
  onRateLimited?: (waitMs: number) => void;
}

/** Runs calls to Stripe no faster than the limit, retrying 429s. */
export interface RateLimiter {
  run<T>(call: () => Promise<T>): Promise<T>;
  /** 429s seen so far. */
  readonly limited: number;
}

/** The wait a 429 asks for: its `Retry-After` seconds, else 1 s doubled per retry (max 30 s). */
export function retryDelayMs(err: unknown, retry: number): number {
  const headers = (err as { headers?: Record<string, string> }).headers ?? {};
  const raw = headers["retry-after"] ?? headers["Retry-After"];
  const seconds = raw === undefined ? NaN : Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 60) * 1000;
  return Math.min(1000 * 2 ** retry, 30_000);
}

function isRateLimited(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string; type?: string };
  return e?.statusCode === 429 || e?.code === "rate_limit" || e?.type === "StripeRateLimitError";
}

/**
 * Creates a limiter.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ perSecond: 25 });
 * const page = await limiter.run(() => stripe.customers.list({ limit: 100 }));
 * ```
 */
export function createRateLimiter(opts: RateLimiterOptions = {}): RateLimiter {
  const rate = opts.perSecond ?? 25;
  if (!(rate > 0)) throw new Error(`Cannot pace Stripe calls: ${rate} requests/s is not positive`);
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let tokens = rate;
  let at = now();
  let limited = 0;
  let queue: Promise<void> = Promise.resolve();

  function take(): Promise<void> {
    // Serialise the bucket so concurrent callers each wait their turn.
    const turn = queue.then(async () => {
      for (;;) {
        const t = now();
        tokens = Math.min(rate, tokens + ((t - at) / 1000) * rate);
        at = t;
        if (tokens >= 1) {
          tokens -= 1;
          return;
        }
        await sleep(Math.ceil(((1 - tokens) / rate) * 1000));
      }
    });
    queue = turn.catch(() => {});
    return turn;
  }

  return {
    get limited() {
      return limited;
    },
    async run<T>(call: () => Promise<T>): Promise<T> {
      for (let retry = 0;; retry++) {
        await take();
        try {
          return await call();
        } catch (err) {
          if (!isRateLimited(err) || retry >= (opts.maxRetries ?? 6)) throw err;
          limited++;
          const wait = retryDelayMs(err, retry);
          opts.onRateLimited?.(wait);
          await sleep(wait);
        }
      }
    },
  };
}
