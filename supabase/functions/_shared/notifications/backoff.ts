/**
 * When to try a failed notification again: exponential backoff with jitter, and a maximum
 * number of attempts after which the notification is dead.
 *
 * Attempt n (1-based) that fails waits `min(maxDelay, base × 2^(n-1))`, scaled by a random
 * factor in `[1 - jitter, 1 + jitter]`. With the defaults (1 minute base, jitter 0.2, 8
 * attempts) the waits are about 1, 2, 4, 8, 16, 32 and 64 minutes: a receiver that is down
 * for up to two hours still gets the message. With jitter below 1/3 every wait is longer
 * than the one before (until the cap), which is what makes the schedule easy to reason about.
 *
 * @module
 */

/** How a notification is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included; the notification is dead after the last fails. */
  maxAttempts: number;
  /** Wait after the first failed attempt. */
  baseDelayMs: number;
  /** No wait is longer than this (before jitter). */
  maxDelayMs: number;
  /** Fraction of random spread around each wait, 0 (none) to 1. */
  jitter: number;
}

/** 8 attempts over about two hours. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 60_000,
  maxDelayMs: 6 * 60 * 60_000,
  jitter: 0.2,
};

/** What to do after a failed attempt. */
export type RetryDecision =
  | { action: "retry"; delayMs: number }
  | { action: "dead"; reason: "attempts_exhausted" | "permanent_failure" };

/**
 * The wait after failed attempt `attempt` (1-based).
 *
 * @param attempt the attempt that failed, 1 for the first
 * @param policy the retry policy
 * @param random a source of numbers in [0, 1), default `Math.random`
 * @returns milliseconds, rounded
 * @throws {Error} when attempt is not a positive integer
 * @example
 * ```ts
 * retryDelayMs(3, DEFAULT_RETRY_POLICY, () => 0.5); // 240000 (4 minutes, no jitter at 0.5)
 * ```
 */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new Error(`Cannot compute a retry delay: attempt ${attempt} is not a positive integer`);
  }
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(exponential * factor);
}

/**
 * Decides what follows a failed attempt.
 *
 * @param attempt the attempt that failed, 1 for the first
 * @param policy the retry policy
 * @param opts.permanent the receiver said never to retry (e.g. 410 Gone)
 * @param opts.retryAfterMs the receiver's `Retry-After`, honoured when longer than the
 * backoff (never beyond `maxDelayMs`)
 * @param opts.random a source of numbers in [0, 1)
 * @returns retry after a delay, or dead
 * @example
 * ```ts
 * nextRetry(8, DEFAULT_RETRY_POLICY); // { action: "dead", reason: "attempts_exhausted" }
 * ```
 */
export function nextRetry(
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  opts: { permanent?: boolean; retryAfterMs?: number; random?: () => number } = {},
): RetryDecision {
  if (opts.permanent) return { action: "dead", reason: "permanent_failure" };
  if (attempt >= policy.maxAttempts) return { action: "dead", reason: "attempts_exhausted" };
  const backoff = retryDelayMs(attempt, policy, opts.random);
  const asked = Math.min(opts.retryAfterMs ?? 0, policy.maxDelayMs);
  return { action: "retry", delayMs: Math.max(backoff, asked) };
}
