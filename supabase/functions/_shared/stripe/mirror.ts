/**
 * Writing Stripe into the mirror: the I/O around the pure `events.ts`. Every write goes
 * through the `stripe.*` SQL entry points (owned by the `stagecoach_stripe_sync` role), so
 * the webhook and the reconciliation job run exactly one narrow service path.
 *
 * @module
 */
import type Stripe from "stripe";
import type { Sql } from "../db.ts";
import { type Batcher, createBatcher } from "./batcher.ts";
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
    const plain = JSON.parse(JSON.stringify(found)) as Record<string, unknown>;
    const complete = kind === "subscription" ? await withAllItems(stripe, plain) : plain;
    return {
      object: replaceNul(complete).value as Record<string, unknown>,
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

/** U+0000, which a jsonb or text value cannot hold, and what replaces it. */
const NUL = "\u0000";
const REPLACEMENT = "\uFFFD";

/**
 * A copy of a JSON value with every U+0000 (in strings and keys) replaced by U+FFFD, and how
 * many strings were changed. Postgres refuses `\u0000` in jsonb; Stripe allows it in any
 * string (names, metadata, descriptions), so a valid event must not fail for it.
 */
export function replaceNul(value: unknown): { value: unknown; replaced: number } {
  let replaced = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (!v.includes(NUL)) return v;
      replaced++;
      return v.replaceAll(NUL, REPLACEMENT);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [walk(k) as string, walk(x)]));
    }
    return v;
  };
  const out = walk(value);
  return { value: out, replaced };
}

/**
 * A subscription with its whole `items` list: when the embedded list says `has_more`, the
 * rest is read from `GET /v1/subscription_items?subscription=…` (every page), so items that
 * were not embedded are not taken for deleted.
 */
export async function withAllItems(
  stripe: Stripe,
  subscription: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const items = subscription.items as { data?: unknown[]; has_more?: boolean } | undefined;
  if (!items?.has_more || typeof subscription.id !== "string") return subscription;
  const data: unknown[] = [];
  for await (
    const item of stripe.subscriptionItems.list({ subscription: subscription.id, limit: 100 })
  ) {
    data.push(JSON.parse(JSON.stringify(item)));
  }
  return { ...subscription, items: { ...items, data, has_more: false } };
}

/**
 * Fetches an object while holding its lock, and writes it (finishing the event, if any).
 * The lock keeps two writers of the same object from crossing: what is written is what
 * Stripe said last.
 *
 * @param opts.kind what the object is (`customer`, `subscription`, …)
 * @param opts.id its Stripe id
 * @param opts.meta the event that asked for it, finished in the same transaction; null for none
 * @example
 * ```ts
 * await fetchAndApply(sql, stripe, { kind: "subscription", id: "sub_123", meta: null });
 * ```
 */
export async function fetchAndApply(
  sql: Sql,
  stripe: Stripe,
  opts: { kind: MirrorKind; id: string; meta: EventMeta | null },
): Promise<SqlOutcome> {
  const { kind, id, meta } = opts;
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

/** One event for `stripe.ingest_events`: its ledger record, its plan and, optionally, its raw body. */
export interface IngestItem {
  meta: EventMeta;
  plan: EventPlan;
  /**
   * The event exactly as Stripe sent it (already verified and parsed once). When given, a
   * sync plan's object is read from it in SQL instead of being serialised again.
   */
  body?: string;
}

/** The key of the advisory lock an item takes first (batches are sorted by it). */
function lockKey(plan: EventPlan): string {
  if (plan.action === "sync") return String(plan.object.id ?? "");
  if (plan.action === "link") return plan.customer ?? "";
  return "";
}

/**
 * An item of `stripe.ingest_events`' batch as JSON text (also what the stripe_ingest_sql bench
 * sends). The raw body is spliced in as it came: it is one JSON value (it parsed), so it cannot
 * break out of its place, and its numbers reach Postgres exactly.
 */
export function itemJson(item: IngestItem): string {
  if (item.body === undefined || item.plan.action !== "sync") {
    return JSON.stringify({ event: item.meta, plan: item.plan });
  }
  const { object: _fromBody, ...plan } = item.plan;
  return `{"event":${JSON.stringify(item.meta)},"plan":${
    JSON.stringify(plan)
  },"body":${item.body}}`;
}

/**
 * A SQL literal of a JSON text, cast to jsonb. An escape string (`E'…'`) with backslashes and
 * quotes doubled means the same whatever `standard_conforming_strings` says; JSON text holds
 * no NUL (control characters only appear escaped), the one byte a literal cannot carry.
 *
 * @throws {Error} when the text holds a NUL anyway
 */
export function jsonbLiteral(json: string): string {
  if (json.includes("\0")) {
    throw new Error("Cannot quote the JSON: it holds a NUL character");
  }
  return `E'${json.replaceAll("\\", "\\\\").replaceAll("'", "''")}'::jsonb`;
}

/**
 * Records and applies a batch of events in one transaction (one call of
 * `stripe.ingest_events`), returning one outcome per item, in order. The items are sent in
 * lock-key order, so concurrent batches take their object locks in the same order.
 *
 * @throws whatever the database threw; nothing of the batch is written then
 */
export async function ingestBatch(sql: Sql, items: IngestItem[]): Promise<SqlOutcome[]> {
  const order = items.map((_, i) => i).sort((a, b) => {
    const ka = lockKey(items[a].plan);
    const kb = lockKey(items[b].plan);
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  const text = `[${order.map((i) => itemJson(items[i])).join(",")}]`;
  // The batch goes as a literal, not a parameter: with `prepare: false` (what Supabase's
  // transaction pooler needs) postgres.js describes every parameterised statement in a round
  // trip of its own first, which would double the webhook's round trips. Without parameters
  // the simple query protocol suffices: one Query message instead of Parse, Describe, Bind
  // and Execute, so both sides build and read fewer messages per event.
  const [row] = await sql.unsafe<{ r: SqlOutcome[] }[]>(
    `select stripe.ingest_events(${jsonbLiteral(text)}) as r`,
  ).simple();
  const outcomes: SqlOutcome[] = new Array(items.length);
  order.forEach((itemIndex, position) => outcomes[itemIndex] = row.r[position]);
  return outcomes;
}

/**
 * Runs a batch; if it fails (a deadlock with another batch, one bad event), replays its
 * items one by one, each with deadlock retries, so an item fails only for its own reason.
 */
export async function ingestBatchOrEach(
  sql: Sql,
  items: IngestItem[],
): Promise<PromiseSettledResult<SqlOutcome>[]> {
  if (items.length > 1) {
    try {
      const outcomes = await ingestBatch(sql, items);
      return outcomes.map((value) => ({ status: "fulfilled", value }));
    } catch {
      // A failed statement wrote nothing of the batch: each item gets its own transaction
      // below (should the connection have dropped after a commit, they answer `duplicate`).
    }
  }
  const settled: PromiseSettledResult<SqlOutcome>[] = [];
  for (const item of items) {
    try {
      const [value] = await withRetries(() => ingestBatch(sql, [item]));
      settled.push({ status: "fulfilled", value });
    } catch (reason) {
      settled.push({ status: "rejected", reason });
    }
  }
  return settled;
}

/** Shares transactions among concurrent deliveries (see `batcher.ts`). */
export type IngestBatcher = Batcher<IngestItem, SqlOutcome>;

/**
 * Creates the batcher the webhook submits its events to: concurrent deliveries are recorded
 * and applied together, one round trip and one commit per batch; a lone delivery goes at once.
 *
 * @param sql the pool
 * @param opts batch limits (see {@link createBatcher}): default 32 events per batch, 2
 * batches at once
 */
export function createIngestBatcher(
  sql: Sql,
  opts: { maxBatch?: number; maxInFlight?: number } = {},
): IngestBatcher {
  return createBatcher<IngestItem, SqlOutcome>({
    run: (items) => ingestBatchOrEach(sql, items),
    maxBatch: opts.maxBatch ?? 32,
    maxInFlight: opts.maxInFlight ?? 2,
  });
}

/**
 * Applies one verified event: records it in the ledger and mirrors it (a duplicate has no
 * second effect). Same-second ties, invoice events and links to a subscription not mirrored
 * yet re-read the object from Stripe.
 *
 * @param deps the database pool, a Stripe client of the same account and, optionally, the
 * batcher to share transactions with concurrent deliveries
 * @param event the verified event
 * @param body the raw body it was verified from (spares serialising its object again)
 * @throws whatever the database or Stripe threw (after retrying deadlocks); the caller
 * records the failure with {@link recordFailure} and answers 500 so Stripe retries
 */
export async function ingestEvent(
  deps: { sql: Sql; stripe: Stripe; batcher?: IngestBatcher },
  event: StripeEventEnvelope,
  body?: string,
): Promise<IngestResult> {
  const { meta, plan: planned } = planEvent(event);
  const plan = await completePlan(deps.stripe, planned);
  // The raw body stands for the plan's object only while nothing was changed in it.
  const raw = plan === planned ? body : undefined;
  if (!deps.batcher) return await applyPlan(deps, meta, plan);
  const first = await deps.batcher.submit({ meta, plan, body: raw });
  return await finishOutcome(deps, meta, first);
}

/**
 * A sync plan as it can be written: a subscription's `items` completed when the event's list
 * has more ({@link withAllItems}). The same plan when nothing had to change.
 */
export async function completePlan(stripe: Stripe, plan: EventPlan): Promise<EventPlan> {
  if (plan.action !== "sync" || plan.kind !== "subscription") return plan;
  const object = await withAllItems(stripe, plan.object);
  return object === plan.object ? plan : { ...plan, object };
}

/** Applies a plan (see {@link ingestEvent}); reconciliation replays failed events with it. */
export async function applyPlan(
  deps: { sql: Sql; stripe: Stripe },
  meta: EventMeta,
  plan: EventPlan,
): Promise<IngestResult> {
  // Each transaction is retried on its own (deadlock, serialization): retrying the first
  // would count the delivery twice.
  const complete = await completePlan(deps.stripe, plan);
  const [first] = await withRetries(() => ingestBatch(deps.sql, [{ meta, plan: complete }]));
  return await finishOutcome(deps, meta, first);
}

/** Follows a first outcome of `fetch` with the fetch under the object's lock. */
async function finishOutcome(
  deps: { sql: Sql; stripe: Stripe },
  meta: EventMeta,
  first: SqlOutcome,
): Promise<IngestResult> {
  let result = first;
  let fetched = false;
  if (result.outcome === "fetch" && result.fetch) {
    const { kind, id } = result.fetch;
    fetched = true;
    result = await withRetries(() => fetchAndApply(deps.sql, deps.stripe, { kind, id, meta }));
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
