/**
 * The ops-worker's notification step: claim due notifications, deliver them over HTTP with a
 * timeout each, record each outcome (delivered, retry later with backoff, or dead), and stop
 * claiming when the time budget is spent, so one worker call stays far inside the Edge
 * Function wall-clock limit (150 s): at most `budgetMs + requestTimeoutMs`, 30 s by default.
 *
 * Delivery is at-least-once: the claim commits before the HTTP call, so a worker that dies
 * mid-call leaves the row to come back when its lease ends, and the receiver sees the same
 * `webhook-id` again (Standard Webhooks asks receivers to deduplicate on it). A delivered row
 * is never claimed again.
 *
 * The store runs as `service_role` (the worker's named service path): the claim decrypts
 * endpoint URLs and secrets, which no other API role may read.
 *
 * Every request goes through `_shared/outbound/fetch.ts`: https to public addresses only
 * (unless the allow-list names the target), the host resolved and every address checked
 * right before sending, redirects never followed. A refused notification is recorded with the
 * reason (`refused: …`) and nothing is sent; an outcome never holds a response body.
 *
 * @module
 */
import { DEFAULT_RETRY_POLICY, nextRetry, type RetryPolicy } from "./backoff.ts";
import {
  type AttemptResult,
  buildDeliveryRequest,
  type ClaimedNotification,
  classifyError,
  classifyRefusal,
  classifyResponse,
} from "./delivery.ts";
import type { AttemptOutcome } from "./store.ts";
import { outboundFetch, OutboundRefusedError, type Resolver } from "../outbound/fetch.ts";
import { type OutboundPolicy, STRICT_POLICY } from "../outbound/policy.ts";

/**
 * Where the worker claims notifications and records outcomes: `sqlOutboxStore(sql)` in
 * production (as `service_role`), an in-memory stand-in in unit tests.
 */
export interface OutboxStore {
  /** Claims up to `maxRows` notifications due at `asOf`, leased for `leaseMs`. */
  claim(opts: { maxRows: number; leaseMs: number; asOf: Date }): Promise<ClaimedNotification[]>;
  /** Records outcomes; true for each one recorded, false where the claim had been lost. */
  record(outcomes: { n: ClaimedNotification; outcome: AttemptOutcome }[]): Promise<boolean[]>;
}

/** Options of {@link deliverDueNotifications}; every field has a default. */
export interface DeliveryOptions {
  /** Sends requests (after the outbound rules passed them); default the global `fetch`. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * The outbound allow-list (`STAGECOACH_OUTBOUND_ALLOW`); default {@link STRICT_POLICY}:
   * https to public addresses only.
   */
  outbound?: OutboundPolicy;
  /** Resolves endpoint host names before each request; default `Deno.resolveDns` (A, AAAA). */
  resolve?: Resolver;
  /** The clock for due times, retry times and `webhook-timestamp`; default `new Date()`. */
  now?: () => Date;
  /** A source of numbers in [0, 1) for jitter; default `Math.random`. */
  random?: () => number;
  /** Attempts and backoff; default {@link DEFAULT_RETRY_POLICY}. */
  policy?: RetryPolicy;
  /** Stop claiming new batches after this long (wall clock); default 15,000 ms. */
  budgetMs?: number;
  /** Give up on one request after this long; default 15,000 ms (Standard Webhooks: 15–30 s). */
  requestTimeoutMs?: number;
  /** Notifications claimed (and sent concurrently) per batch; default 10. */
  batchSize?: number;
  /** How long a claim holds if the worker dies mid-delivery; default 120,000 ms. */
  leaseMs?: number;
}

/** What one run did. */
export interface DeliveryReport {
  claimed: number;
  delivered: number;
  retried: number;
  dead: number;
  /** Outcomes not recorded because another worker had taken the row over. */
  lost: number;
  batches: number;
  elapsed_ms: number;
  /** `drained`: nothing due was left; `budget`: the time budget ran out first. */
  stopped: "drained" | "budget";
}

async function attempt(
  n: ClaimedNotification,
  at: Date,
  opts: Pick<DeliveryOptions, "fetch" | "outbound" | "resolve">,
  timeoutMs: number,
): Promise<AttemptResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const req = await buildDeliveryRequest(n, at);
    // Checked against the outbound rules (the URL, then every address its host resolves
    // to) right before sending; redirects are never followed.
    const res = await outboundFetch(req.url, { ...req.init, signal: timeout }, {
      policy: opts.outbound ?? STRICT_POLICY,
      resolve: opts.resolve,
      fetch: opts.fetch,
    });
    // The body is never read: only the status (and Retry-After) decide, and a body is
    // whatever the address answered, not something to store and show.
    await res.body?.cancel().catch(() => {});
    return classifyResponse(res.status, res.headers, at);
  } catch (err) {
    if (err instanceof OutboundRefusedError) return classifyRefusal(err);
    return classifyError(err, timeout.aborted, timeoutMs);
  }
}

function outcomeOf(
  n: ClaimedNotification,
  result: AttemptResult,
  at: Date,
  policy: RetryPolicy,
  random: () => number,
): AttemptOutcome {
  if (result.ok) return { status: "delivered", at, result };
  const decision = nextRetry(n.attempt, policy, {
    permanent: result.permanent,
    retryAfterMs: result.retryAfterMs,
    random,
  });
  return decision.action === "retry"
    ? { status: "pending", nextAttemptAt: new Date(at.getTime() + decision.delayMs), result }
    : { status: "dead", result, reason: decision.reason };
}

/**
 * Delivers every due notification it can within the time budget.
 *
 * @param store the outbox (`sqlOutboxStore(sql)`)
 * @param opts clock, fetch, policy, budget, timeouts (see {@link DeliveryOptions})
 * @returns counts of what happened
 * @throws {Error} only for database failures; a receiver's failure is an outcome, not an error
 * @example
 * ```ts
 * const report = await deliverDueNotifications(sqlOutboxStore(sql));
 * report; // { claimed: 2, delivered: 2, retried: 0, dead: 0, lost: 0, batches: 2, … }
 * ```
 */
export async function deliverDueNotifications(
  store: OutboxStore,
  opts: DeliveryOptions = {},
): Promise<DeliveryReport> {
  const now = opts.now ?? (() => new Date());
  const random = opts.random ?? Math.random;
  const policy = opts.policy ?? DEFAULT_RETRY_POLICY;
  const budgetMs = opts.budgetMs ?? 15_000;
  const timeoutMs = opts.requestTimeoutMs ?? 15_000;
  const batchSize = opts.batchSize ?? 10;
  const leaseMs = opts.leaseMs ?? 120_000;

  const started = performance.now();
  const report: DeliveryReport = {
    claimed: 0,
    delivered: 0,
    retried: 0,
    dead: 0,
    lost: 0,
    batches: 0,
    elapsed_ms: 0,
    stopped: "drained",
  };
  while (true) {
    if (performance.now() - started >= budgetMs) {
      report.stopped = "budget";
      break;
    }
    const asOf = now();
    const batch = await store.claim({ maxRows: batchSize, leaseMs, asOf });
    if (!batch.length) break;
    report.batches++;
    report.claimed += batch.length;
    const outcomes = await Promise.all(batch.map(async (n) => {
      const at = now();
      const result = await attempt(n, at, opts, timeoutMs);
      return outcomeOf(n, result, at, policy, random);
    }));
    const recorded = await store.record(batch.map((n, i) => ({ n, outcome: outcomes[i] })));
    batch.forEach((_n, i) => {
      if (!recorded[i]) report.lost++;
      else if (outcomes[i].status === "delivered") report.delivered++;
      else if (outcomes[i].status === "pending") report.retried++;
      else report.dead++;
    });
  }
  report.elapsed_ms = Math.round(performance.now() - started);
  return report;
}
