/**
 * Webhook delivery, as Stripe does it: each event goes to every enabled endpoint of its
 * account that listens for its type, as a JSON POST signed with the endpoint's secret
 * (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), re-signed on every
 * attempt. A failed attempt (network error or non-2xx) is retried with exponential backoff.
 *
 * For tests an account can `hold` its deliveries and `release` them later — in order,
 * reversed or shuffled, each delivered once or several times — or `drop` them (lost
 * deliveries, for reconciliation tests).
 *
 * @module
 */
import type { Account, StoredObject } from "./store.ts";

/** How released deliveries are ordered. */
export type ReleaseOrder = "in_order" | "reversed" | "shuffled";

/** What a delivery worker needs. */
export interface DeliveryOptions {
  /** Delay before the first retry; doubles each time. Default 500 ms. */
  retryBaseMs?: number;
  /** Attempts per delivery, the first included. Default 6. */
  maxAttempts?: number;
  /** Per-attempt timeout. Default 10 s. */
  timeoutMs?: number;
  /** The HTTP client (tests pass a fake). */
  fetch?: typeof fetch;
  /** Logs one line per failed attempt. */
  log?: (line: string) => void;
}

/** The outcome of a release. */
export interface ReleaseResult {
  released: number;
  delivered: number;
  failed: number;
}

interface Job {
  account: Account;
  eventId: string;
  endpointId: string;
  body: string;
  attempt: number;
}

/**
 * The `Stripe-Signature` header for a payload.
 *
 * @param payload the exact request body
 * @param secret the endpoint's signing secret (`whsec_…`), used whole as the HMAC key
 * @param timestamp unix seconds
 * @example
 * ```ts
 * await signPayload('{"id":"evt_1"}', "whsec_abc", 1700000000); // "t=1700000000,v1=5f…"
 * ```
 */
export async function signPayload(
  payload: string,
  secret: string,
  timestamp: number,
): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign(
    "HMAC",
    key,
    new TextEncoder().encode(`${timestamp}.${payload}`),
  );
  const hex = Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
  return `t=${timestamp},v1=${hex}`;
}

/** True when an endpoint listens for an event type (`*` listens for all). */
export function listensFor(endpoint: StoredObject, type: string): boolean {
  if (endpoint.deleted === true || endpoint.status !== "enabled") return false;
  const events = endpoint.enabled_events as string[];
  return events.includes("*") || events.includes(type);
}

/**
 * A seeded shuffle (mulberry32 + Fisher–Yates), so a failing test can be replayed.
 *
 * @example
 * ```ts
 * seededShuffle([1, 2, 3], 42); // the same permutation on every run
 * ```
 */
export function seededShuffle<T>(items: T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Delivers events to webhook endpoints, holding, dropping and retrying as told. */
export class Deliverer {
  readonly #opts: Required<Omit<DeliveryOptions, "log">> & Pick<DeliveryOptions, "log">;
  readonly #held = new Map<string, Job[]>();
  readonly #pending = new Map<string, number>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #waiters = new Map<string, (() => void)[]>();
  #stopped = false;

  constructor(opts: DeliveryOptions = {}) {
    this.#opts = {
      retryBaseMs: opts.retryBaseMs ?? 500,
      maxAttempts: opts.maxAttempts ?? 6,
      timeoutMs: opts.timeoutMs ?? 10_000,
      fetch: opts.fetch ?? fetch,
      log: opts.log,
    };
  }

  /**
   * Queues an event for every endpoint of the account that listens for it, following the
   * account's delivery mode; returns how many endpoints it is for (`pending_webhooks`).
   */
  enqueue(account: Account, event: StoredObject): number {
    const endpoints = [...account.objects.webhook_endpoint.values()]
      .filter((e) => listensFor(e, event.type as string));
    if (!endpoints.length || account.deliveryMode === "drop") return endpoints.length;
    const body = JSON.stringify(event, null, 2);
    const jobs = endpoints.map((e) => ({
      account,
      eventId: event.id,
      endpointId: e.id,
      body,
      attempt: 0,
    }));
    if (account.deliveryMode === "hold") {
      this.#held.set(account.id, [...(this.#held.get(account.id) ?? []), ...jobs]);
    } else {
      for (const job of jobs) this.#start(job);
    }
    return endpoints.length;
  }

  /** Deliveries held for an account and deliveries still in flight or awaiting a retry. */
  status(account: Account): { mode: string; held: number; pending: number } {
    return {
      mode: account.deliveryMode,
      held: this.#held.get(account.id)?.length ?? 0,
      pending: this.#pending.get(account.id) ?? 0,
    };
  }

  /** Forgets the deliveries held for an account. */
  discardHeld(account: Account): number {
    const n = this.#held.get(account.id)?.length ?? 0;
    this.#held.delete(account.id);
    return n;
  }

  /**
   * Delivers the held deliveries of an account and waits for each one's first attempt
   * (retries go on in the background; {@link settle} waits for them).
   */
  async release(
    account: Account,
    opts: { order: ReleaseOrder; repeat: number; concurrency: number; seed: number },
  ): Promise<ReleaseResult> {
    const held = this.#held.get(account.id) ?? [];
    this.#held.delete(account.id);
    let jobs: Job[] = [];
    for (let r = 0; r < opts.repeat; r++) jobs.push(...held.map((j) => ({ ...j })));
    if (opts.order === "reversed") jobs.reverse();
    if (opts.order === "shuffled") jobs = seededShuffle(jobs, opts.seed);
    const result: ReleaseResult = { released: jobs.length, delivered: 0, failed: 0 };
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        this.#track(account.id, +1);
        const ok = await this.#attempt(job);
        if (ok) result.delivered++;
        else result.failed++;
        this.#afterAttempt(job, ok);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
    return result;
  }

  /** Resolves once the account has no delivery in flight or awaiting a retry (or on timeout). */
  async settle(account: Account, timeoutMs: number): Promise<number> {
    if ((this.#pending.get(account.id) ?? 0) === 0) return 0;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, timeoutMs);
      this.#timers.add(timer);
      const list = this.#waiters.get(account.id) ?? [];
      list.push(() => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        resolve();
      });
      this.#waiters.set(account.id, list);
    });
    return this.#pending.get(account.id) ?? 0;
  }

  /** Cancels pending retries (the emulator is stopping). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #track(accountId: string, delta: number): void {
    const n = (this.#pending.get(accountId) ?? 0) + delta;
    this.#pending.set(accountId, n);
    if (n === 0) {
      for (const wake of this.#waiters.get(accountId) ?? []) wake();
      this.#waiters.delete(accountId);
    }
  }

  #start(job: Job): void {
    this.#track(job.account.id, +1);
    this.#attempt(job).then((ok) => this.#afterAttempt(job, ok));
  }

  #afterAttempt(job: Job, ok: boolean): void {
    if (ok) {
      const event = job.account.objects.event.get(job.eventId);
      if (event) {
        event.pending_webhooks = Math.max(0, (event.pending_webhooks as number) - 1);
      }
      this.#track(job.account.id, -1);
      return;
    }
    if (this.#stopped || job.attempt >= this.#opts.maxAttempts) {
      this.#opts.log?.(
        `gave up on ${job.eventId} → ${job.endpointId} after ${job.attempt} attempts`,
      );
      this.#track(job.account.id, -1);
      return;
    }
    const delay = this.#opts.retryBaseMs * 2 ** (job.attempt - 1);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#attempt(job).then((again) => this.#afterAttempt(job, again));
    }, delay);
    this.#timers.add(timer);
  }

  async #attempt(job: Job): Promise<boolean> {
    job.attempt++;
    const endpoint = job.account.objects.webhook_endpoint.get(job.endpointId);
    const secret = job.account.endpointSecrets.get(job.endpointId);
    if (!endpoint || endpoint.deleted === true || !secret) return true; // nowhere to deliver
    try {
      const signature = await signPayload(job.body, secret, Math.floor(Date.now() / 1000));
      const res = await this.#opts.fetch(endpoint.url as string, {
        method: "POST",
        headers: {
          "content-type": "application/json; charset=utf-8",
          "stripe-signature": signature,
          "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
        body: job.body,
        signal: AbortSignal.timeout(this.#opts.timeoutMs),
      });
      await res.body?.cancel();
      if (!res.ok) {
        this.#opts.log?.(
          `${job.eventId} → ${endpoint.url}: HTTP ${res.status} (attempt ${job.attempt})`,
        );
      }
      return res.ok;
    } catch (err) {
      this.#opts.log?.(
        `${job.eventId} → ${endpoint.url}: ${(err as Error).message} (attempt ${job.attempt})`,
      );
      return false;
    }
  }
}
