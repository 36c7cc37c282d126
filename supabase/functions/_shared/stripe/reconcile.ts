/**
 * The `stripe.reconcile` job: repairs the mirror and the memberships from Stripe itself, for
 * whatever the webhook missed (lost or dropped deliveries, failed events, a new environment).
 *
 * Phases, each checkpointed page by page (a run killed at any moment resumes at its last
 * committed page, with no page written twice):
 * 1. `list:<kind>` for product, price, customer, `checkout_session` and subscription: every
 *    object, newest first, 100 per request (`starting_after`), written as Stripe had it when it
 *    answered (newer than every event created before), memberships re-derived; completed
 *    checkout sessions re-link customers to their users;
 * 2. `unseen:<kind>`: mirrored objects the listing did not contain are re-read one by one and
 *    marked deleted when Stripe says so;
 * 3. `events`: ledger events that failed (or were interrupted) are read again from Stripe and
 *    applied.
 * Calls to Stripe are paced (25 requests/s by default) and 429s wait for `Retry-After`.
 * The result (`ops.jobs.result`, and an audit entry) says what changed.
 *
 * @module
 */
import type Stripe from "stripe";
import { z } from "zod";
import type { Sql } from "../db.ts";
import { JobFailure } from "../jobs/runner.ts";
import type { JobContext, JobKind } from "../jobs/registry.ts";
import { createStripeClient, parseStripeEnv, responseTime } from "./client.ts";
import { planEvent, StripeEventSchema } from "./events.ts";
import { applyPlan, fetchObject, replaceNul, withAllItems } from "./mirror.ts";
import { createRateLimiter, type RateLimiter } from "./rate_limit.ts";

/** The job kind's name. */
export const RECONCILE_KIND = "stripe.reconcile";

/** Parameters of a reconciliation (no secrets: the Stripe key comes from the host). */
export const ReconcileParamsSchema = z.object({
  /** Requests per second to Stripe. */
  rate_limit: z.number().int().min(1).max(100).default(25),
  /** Objects per list request. */
  page_size: z.number().int().min(1).max(100).default(100),
  /** Who asked, e.g. `cli` or `pg_cron`. */
  source: z.string().max(64).optional(),
});

/** Reconciliation parameters. */
export type ReconcileParams = z.infer<typeof ReconcileParamsSchema>;

const LISTED = ["product", "price", "customer", "checkout_session", "subscription"] as const;
const MIRRORED = ["product", "price", "customer", "subscription"] as const;
type Mirrored = typeof MIRRORED[number];

/** Every phase, in order. */
export const PHASES: readonly string[] = [
  ...LISTED.map((k) => `list:${k}`),
  ...MIRRORED.map((k) => `unseen:${k}`),
  "events",
];

/** What a run changed, per kind: `{ product: { created, updated, unchanged, deleted }, … }`. */
export type Changes = Record<string, Record<string, number>>;

/** Adds counts into a changes record (pure). */
export function addChanges(
  changes: Changes,
  kind: string,
  counts: Record<string, number>,
): Changes {
  const current = { ...(changes[kind] ?? {}) };
  for (const [k, v] of Object.entries(counts)) {
    if (v) current[k] = (current[k] ?? 0) + v;
  }
  return { ...changes, [kind]: current };
}

/** The phase after `phase` (null at the end). */
export function nextPhase(phase: string): string | null {
  const i = PHASES.indexOf(phase);
  return i >= 0 && i + 1 < PHASES.length ? PHASES[i + 1] : null;
}

interface Resources {
  stripe: Stripe;
  limiter: RateLimiter;
  /** 429s counted by earlier slices. */
  limitedBefore: number;
}

function limited(r: Resources): number {
  return r.limitedBefore + r.limiter.limited;
}

type ListFn = (
  params: { limit: number; starting_after?: string },
) => Promise<Stripe.ApiList<{ id: string }>>;

function lister(stripe: Stripe, kind: typeof LISTED[number]): ListFn {
  switch (kind) {
    case "product":
      return (p) => stripe.products.list(p);
    case "price":
      return (p) => stripe.prices.list(p);
    case "customer":
      return (p) => stripe.customers.list(p);
    case "checkout_session":
      return (p) => stripe.checkout.sessions.list({ ...p, status: "complete" });
    case "subscription":
      return (p) => stripe.subscriptions.list({ ...p, status: "all" });
  }
}

function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}

async function listPage(
  ctx: JobContext<ReconcileParams>,
  r: Resources,
  kind: typeof LISTED[number],
  phase: string,
): Promise<boolean> {
  const after = ctx.job.cursor[phase] as string | undefined;
  const page = await r.limiter.run(() =>
    lister(r.stripe, kind)({ limit: ctx.params.page_size, starting_after: after })
  );
  const stamp = responseTime(page as never) ?? Math.floor(Date.now() / 1000);
  let listed = plain(page.data) as unknown as Record<string, unknown>[];
  if (kind === "subscription") {
    // A subscription's embedded items may have more: read the rest rather than delete them.
    listed = await Promise.all(
      listed.map((s) =>
        (s.items as { has_more?: boolean } | undefined)?.has_more
          ? r.limiter.run(() => withAllItems(r.stripe, s))
          : s
      ),
    );
  }
  const data = replaceNul(listed).value as Record<string, unknown>[];
  let changes = (ctx.job.state.changes ?? {}) as Changes;
  await ctx.sql.begin(async (tx) => {
    if (kind === "checkout_session") {
      const counts: Record<string, number> = {};
      for (const session of data) {
        if (session.mode !== "subscription" || !session.customer) continue;
        const user = (session.client_reference_id ??
          (session.metadata as Record<string, string> | null)?.supabase_user_id ?? null) as
            | string
            | null;
        if (!user) continue;
        const [row] = await tx<{ r: string }[]>`
          select stripe.reconcile_link(${session.customer as string}, ${user},
                                       ${`reconcile:${session.id}`}) as r`;
        counts[row.r] = (counts[row.r] ?? 0) + 1;
      }
      changes = addChanges(changes, "customer_link", counts);
    } else {
      const [row] = await tx<{ r: Record<string, number> }[]>`
        select stripe.reconcile_write(${ctx.job.id}, ${kind}, ${tx.json(data as never)},
                                      to_timestamp(${stamp})) as r`;
      changes = addChanges(changes, kind, row.r);
    }
    await ctx.checkpoint({
      cursor: { [phase]: data.at(-1)?.id ?? after ?? null },
      counts: { [kind]: Number(ctx.job.counts[kind] ?? 0) + data.length },
      state: {
        changes,
        phase: page.has_more ? phase : nextPhase(phase),
        rate_limited: limited(r),
      },
    }, tx);
  });
  return page.has_more;
}

async function unseenPage(
  ctx: JobContext<ReconcileParams>,
  r: Resources,
  kind: Mirrored,
  phase: string,
) {
  const after = (ctx.job.cursor[phase] as string | undefined) ?? null;
  const batch = 25;
  const ids = (await ctx.sql<{ id: string }[]>`
    select stripe.reconcile_unseen(${ctx.job.id}, ${kind}, ${after}, ${batch}) as id`).map((x) =>
    x.id
  );
  const fetched: { object: Record<string, unknown>; stamp: number }[] = [];
  let vanished = 0;
  for (const id of ids) {
    try {
      fetched.push(await r.limiter.run(() => fetchObject(r.stripe, kind, id)));
    } catch (err) {
      // A subscription Stripe no longer knows (its customer's data was purged, a test clock
      // deleted) has no deleted state to mirror: it is reported, and left as it was.
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      vanished++;
    }
  }
  let changes = addChanges((ctx.job.state.changes ?? {}) as Changes, kind, {
    missing_in_stripe: vanished,
  });
  await ctx.sql.begin(async (tx) => {
    for (const { object, stamp } of fetched) {
      const [row] = await tx<{ r: Record<string, number> }[]>`
        select stripe.reconcile_write(${ctx.job.id}, ${kind}, ${tx.json([object] as never)},
                                      to_timestamp(${stamp})) as r`;
      changes = addChanges(changes, kind, object.deleted === true ? { deleted: 1 } : row.r);
    }
    await ctx.checkpoint({
      cursor: { [phase]: ids.at(-1) ?? after },
      state: {
        changes,
        phase: ids.length < batch ? nextPhase(phase) : phase,
        rate_limited: limited(r),
      },
    }, tx);
  });
}

async function eventsPage(ctx: JobContext<ReconcileParams>, r: Resources) {
  const cursor = (ctx.job.cursor.events ?? null) as { at: string; id: string } | null;
  const batch = 20;
  const rows = await ctx.sql<{ id: string; at: string }[]>`
    select id, to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
    from stripe.events
    where (status = 'failed' or (status = 'processing' and received_at < now() - interval '5 minutes'))
      and (${cursor?.at ?? null}::timestamptz is null
           or (received_at, id) > (${cursor?.at ?? null}::timestamptz, ${cursor?.id ?? ""}))
    order by received_at, id
    limit ${batch}`;
  const counts: Record<string, number> = {};
  for (const row of rows) {
    let outcome: string;
    try {
      const event = await r.limiter.run(() => r.stripe.events.retrieve(row.id));
      const parsed = StripeEventSchema.parse(replaceNul(plain(event)).value);
      const { meta, plan } = planEvent(parsed);
      outcome = (await applyPlan({ sql: ctx.sql, stripe: r.stripe }, meta, plan)).outcome;
    } catch (err) {
      const e = err as { statusCode?: number };
      outcome = e.statusCode === 404 ? "unretrievable" : "still_failed";
    }
    counts[outcome] = (counts[outcome] ?? 0) + 1;
  }
  const changes = addChanges((ctx.job.state.changes ?? {}) as Changes, "event", counts);
  await ctx.checkpoint({
    cursor: { events: rows.length ? { at: rows.at(-1)!.at, id: rows.at(-1)!.id } : cursor },
    counts: { event: Number(ctx.job.counts.event ?? 0) + rows.length },
    state: { changes, phase: rows.length < batch ? null : "events", rate_limited: limited(r) },
  });
}

/** What is still wrong after a run (subscriptions without a membership, failed events). */
async function leftovers(sql: Sql): Promise<Record<string, number>> {
  const [row] = await sql<{ unresolved: number; failed: number }[]>`
    select
      (select count(*) from stripe.subscriptions where membership_error is not null)::int as unresolved,
      (select count(*) from stripe.events where status = 'failed')::int as failed`;
  return { subscriptions_without_membership: row.unresolved, events_failed: row.failed };
}

/**
 * The reconciliation job kind. The ops-worker (which pg_cron has queue it nightly) and the CLI
 * put it in the registries they build.
 */
export const reconcileKind: JobKind<ReconcileParams, Resources> = {
  kind: RECONCILE_KIND,
  paramsSchema: ReconcileParamsSchema as z.ZodType<ReconcileParams>,
  open(ctx) {
    const key = ctx.host.secret("STRIPE_SECRET_KEY");
    if (!key) {
      throw new JobFailure(
        "stripe_not_configured",
        "Cannot reconcile Stripe: this host has no STRIPE_SECRET_KEY",
      );
    }
    const env = parseStripeEnv({
      STRIPE_SECRET_KEY: key,
      STRIPE_API_BASE: ctx.host.secret("STRIPE_API_BASE"),
    });
    return Promise.resolve({
      // The limiter paces and retries 429s itself; the SDK must not retry behind its back.
      stripe: createStripeClient(env, { maxNetworkRetries: 0 }),
      limiter: createRateLimiter({
        perSecond: ctx.params.rate_limit,
        onRateLimited: (ms) => ctx.host.log?.(`Stripe answered 429; waiting ${ms} ms`),
      }),
      limitedBefore: Number(ctx.job.state.rate_limited ?? 0),
    });
  },
  async step(ctx, r) {
    const phase = (ctx.job.state.phase === undefined ? PHASES[0] : ctx.job.state.phase) as
      | string
      | null;
    if (phase === null) {
      const result = {
        changes: ctx.job.state.changes ?? {},
        seen: ctx.job.counts,
        rate_limited: limited(r),
        ...(await leftovers(ctx.sql)),
      };
      await ctx.sql`select stripe.reconcile_forget(${ctx.job.id})`;
      await ctx.sql`
        select ops.append_audit('stripe.reconcile', 'job', ${ctx.job.id}, ${
        ctx.sql.json(result as never)
      })`;
      return { done: true, result };
    }
    const [what, kind] = phase.split(":");
    if (what === "list") {
      await listPage(ctx, r, kind as typeof LISTED[number], phase);
    } else if (what === "unseen") {
      await unseenPage(ctx, r, kind as Mirrored, phase);
    } else if (phase === "events") {
      await eventsPage(ctx, r);
    } else {
      throw new JobFailure("unknown_phase", `Cannot reconcile Stripe: unknown phase ${phase}`);
    }
    return { done: false };
  },
};
