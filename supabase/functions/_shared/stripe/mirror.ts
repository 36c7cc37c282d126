/**
 * Writing Stripe into the mirror: the I/O around the pure `events.ts`. Every write goes
 * through the `stripe.*` SQL entry points (owned by the `stagecoach_stripe_sync` role), so
 * the webhook and the reconciliation job run exactly one narrow service path.
 *
 * @module
 */
import type Stripe from "stripe";
import type { Sql } from "../db.ts";
import { responseTime } from "./client.ts";
import {
  type EventMeta,
  type EventPlan,
  type MirrorKind,
  planEvent,
  type StripeEventEnvelope,
} from "./events.ts";

/** How an event ended. */
export type IngestOutcome = "processed" | "stale" | "ignored" | "unresolved" | "duplicate";

/** What {@link ingestEvent} reports. */
export interface IngestResult {
  outcome: IngestOutcome;
  /** Why no membership could be derived (outcome `unresolved`). */
  error: string | null;
  /** True when the object was re-read from Stripe (same-second tie, invoice, missing). */
  fetched: boolean;
}

/** What the SQL entry points answer. */
interface SqlOutcome {
  outcome: IngestOutcome | "fetch";
  error?: string | null;
  write?: string;
  fetch?: { kind: MirrorKind; id: string };
}

/**
 * Reads one object from Stripe with the time Stripe answered (its `Date` header). A deleted
 * or vanished object comes back as Stripe's `{ id, object, deleted: true }` stub.
 */
export async function fetchObject(
  stripe: Stripe,
  kind: MirrorKind,
  id: string,
): Promise<{ object: Record<string, unknown>; stamp: number }> {
  try {
    const found = kind === "product"
      ? await stripe.products.retrieve(id)
      : kind === "price"
      ? await stripe.prices.retrieve(id)
      : kind === "customer"
      ? await stripe.customers.retrieve(id)
      : await stripe.subscriptions.retrieve(id);
    return {
      object: JSON.parse(JSON.stringify(found)) as Record<string, unknown>,
      stamp: responseTime(found as never) ?? Math.floor(Date.now() / 1000),
    };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string };
    if (e.statusCode === 404 && e.code === "resource_missing" && kind !== "subscription") {
      return { object: { id, object: kind, deleted: true }, stamp: Math.floor(Date.now() / 1000) };
    }
    throw err;
  }
}

const RETRYABLE = new Set(["40001", "40P01"]);

async function withRetries<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || !code || !RETRYABLE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 10));
    }
  }
}

/**
 * Fetches an object while holding its lock, and writes it (finishing the event, if any).
 * The lock keeps two writers of the same object from crossing: what is written is what
 * Stripe said last.
 */
export async function fetchAndApply(
  sql: Sql,
  stripe: Stripe,
  meta: EventMeta | null,
  kind: MirrorKind,
  id: string,
): Promise<SqlOutcome> {
  return await sql.begin(async (tx) => {
    await tx`select stripe.lock_object(${id})`;
    const { object, stamp } = await fetchObject(stripe, kind, id);
    const [row] = await tx<{ r: SqlOutcome }[]>`
      select stripe.apply_fetched(
        ${meta ? tx.json(meta as never) : null}, ${kind}, ${tx.json(object as never)},
        to_timestamp(${stamp})
      ) as r`;
    return row.r;
  }) as SqlOutcome;
}

/**
 * Applies one verified event: records it in the ledger and mirrors it (a duplicate has no
 * second effect). Same-second ties, invoice events and links to a subscription not mirrored
 * yet re-read the object from Stripe.
 *
 * @param deps the database pool and a Stripe client of the same account
 * @param event the verified event
 * @throws whatever the database or Stripe threw (after retrying deadlocks); the caller
 * records the failure with {@link recordFailure} and answers 500 so Stripe retries
 */
export async function ingestEvent(
  deps: { sql: Sql; stripe: Stripe },
  event: StripeEventEnvelope,
): Promise<IngestResult> {
  const { meta, plan } = planEvent(event);
  return await applyPlan(deps, meta, plan);
}

/** Applies a plan (see {@link ingestEvent}); reconciliation replays failed events with it. */
export async function applyPlan(
  deps: { sql: Sql; stripe: Stripe },
  meta: EventMeta,
  plan: EventPlan,
): Promise<IngestResult> {
  // Each transaction is retried on its own (deadlock, serialization): retrying the first
  // would count the delivery twice.
  let result = await withRetries(async () => {
    const [row] = await deps.sql<{ r: SqlOutcome }[]>`
      select stripe.ingest_event(${deps.sql.json(meta as never)}, ${
      deps.sql.json(plan as never)
    }) as r`;
    return row.r;
  });
  let fetched = false;
  if (result.outcome === "fetch" && result.fetch) {
    const { kind, id } = result.fetch;
    fetched = true;
    result = await withRetries(() => fetchAndApply(deps.sql, deps.stripe, meta, kind, id));
  }
  return { outcome: result.outcome as IngestOutcome, error: result.error ?? null, fetched };
}

/** Records an event as failed in the ledger (never throws: the failure is already being reported). */
export async function recordFailure(
  sql: Sql,
  event: StripeEventEnvelope,
  error: string,
): Promise<void> {
  const { meta } = planEvent(event);
  await sql`select stripe.record_failure(${sql.json(meta as never)}, ${error.slice(0, 1000)})`
    .catch(() => {});
}
