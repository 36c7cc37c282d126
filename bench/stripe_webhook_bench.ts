/**
 * Stripe webhook throughput: our `stripe-webhook` against the npm package
 * `@supabase/stripe-sync-engine` (the baseline), processing the same signed events — ours
 * into the `stripe` mirror (ledger, ordering guard, memberships), theirs into its own schema
 * in its own database (`stripe_sync_bench`) on the same Postgres — at 1, 10 and 50 concurrent
 * senders, in the same run:
 * - in process: our receiver `(body, signature)` from `createReceiver` (what the function's
 *   route runs, batching concurrent deliveries the same way) vs
 *   `StripeSync.processWebhook(payload, signature)`;
 * - over HTTP with one hop each: ours to the function's own process (as the gateway starts
 *   it, reached directly), theirs behind a minimal `Deno.serve` server in a process of its own
 *   (`stripe_sync_engine_server.ts`); the load generator is this process in both;
 * - as information, ours through the local functions gateway (two hops: the gateway is our
 *   stand-in for Supabase's, not part of the product).
 * Signature checks, the event ledger and the ordering guard stay on. Every run sends fresh
 * events (new ids and objects) and checks afterwards that each one landed. The sides of a
 * comparison take turns in slices (`STRIPE_BENCH_ROUNDS`, order reversed every round), so the
 * swings of a shared machine hit both alike.
 *
 * The baseline is loaded from its CommonJS build (see `stripe_sync_engine.ts`).
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import Stripe from "stripe";
import {
  type LocalEnv,
  localEnv,
  localStripeKey,
  REPO_ROOT,
  type StackOptions,
  stripeEmulatorConfig,
} from "../scripts/local/config.ts";
import type { BenchContext } from "./run.ts";
import { directFunctionPool } from "./gateway_bench.ts";
import {
  customerObject,
  eventObject,
  priceObject,
  productObject,
  subscriptionItemObject,
  subscriptionObject,
  type Wire,
} from "../scripts/local/stripe_emulator/objects.ts";
import { newId } from "../scripts/local/stripe_emulator/store.ts";
import { createDb } from "../supabase/functions/_shared/db.ts";
import { createStripeClient, cryptoProvider } from "../supabase/functions/_shared/stripe/client.ts";
import { createReceiver } from "../supabase/functions/stripe-webhook/app.ts";
import { type LoadResult, mergeLoadResults, runCalls, runLoad } from "./load.ts";
import { type BaselineConfig, createBaseline, migrateBaseline } from "./stripe_sync_engine.ts";
import { LISTENING_PREFIX } from "./stripe_sync_engine_server.ts";

/** One row of the report. */
export interface StripeBenchRow {
  path: string;
  result: LoadResult;
  /** Events that did not land (checked in the database after the run). */
  missing: number;
}

/** A signed event, ready to send. */
interface SignedEvent {
  id: string;
  body: string;
  signature: string;
  objectId: string;
  kind: "customer" | "product" | "price" | "subscription";
}

const PRICE_ID = "price_benchTierMonthly";

/**
 * A corpus of `units` × 5 events: customer.created, product.created, price.created,
 * customer.subscription.created and .updated (a second later), each unit its own objects;
 * every subscription uses the bench tier's price and a customer linked to its own user.
 */
export function makeCorpus(
  units: number,
  created: number,
): { events: Record<string, unknown>[]; customers: string[] } {
  const events: Record<string, unknown>[] = [];
  const customers: string[] = [];
  const sharedPrice = priceObject({
    id: PRICE_ID,
    created,
    product: "prod_benchTier",
    active: true,
    currency: "usd",
    unit_amount: 1200,
    interval: "month",
    interval_count: 1,
    lookup_key: null,
    nickname: null,
    metadata: {},
  });
  const ev = (type: Stripe.Event.Type, object: Record<string, unknown>, at = created) =>
    eventObject({
      id: newId("evt", 24),
      created: at,
      type,
      object,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
    }) as unknown as Record<string, unknown>;
  for (let u = 0; u < units; u++) {
    const customer = customerObject({
      id: newId("cus"),
      created,
      email: `bench${u}@stagecoach.test`,
      name: `Bench ${u}`,
      description: null,
      metadata: {},
    });
    customers.push(customer.id);
    const product = productObject({
      id: newId("prod"),
      created,
      updated: created,
      name: `Bench product ${u}`,
      active: true,
      description: null,
      metadata: { tier_slug: "bench" },
      default_price: null,
    });
    const price = priceObject({
      id: newId("price", 24),
      created,
      product: product.id,
      active: true,
      currency: "usd",
      unit_amount: 1000 + u,
      interval: "month",
      interval_count: 1,
      lookup_key: null,
      nickname: null,
      metadata: {},
    });
    const subId = newId("sub");
    const item = subscriptionItemObject({
      id: newId("si"),
      created,
      subscription: subId,
      price: sharedPrice,
      quantity: 1,
      metadata: {},
      current_period_start: created,
      current_period_end: created + 30 * 86400,
    });
    const sub = (status: Stripe.Subscription.Status, cancel: boolean): Wire<Stripe.Subscription> =>
      subscriptionObject({
        id: subId,
        created,
        customer: customer.id,
        status,
        currency: "usd",
        items: [item],
        metadata: {},
        cancel_at_period_end: cancel,
        cancel_at: null,
        canceled_at: null,
        ended_at: null,
        start_date: created,
        billing_cycle_anchor: created,
        latest_invoice: null,
        trial_start: null,
        trial_end: null,
        description: null,
      });
    events.push(
      ev("customer.created", customer as never),
      ev("product.created", product as never),
      ev("price.created", price as never),
      ev("customer.subscription.created", sub("active", false) as never),
      ev("customer.subscription.updated", sub("active", true) as never, created + 1),
    );
  }
  return { events, customers };
}

export async function sign(
  events: Record<string, unknown>[],
  secret: string,
): Promise<SignedEvent[]> {
  const stripe = new Stripe("sk_test_bench_signer_0000");
  return await Promise.all(events.map(async (e) => {
    const body = JSON.stringify(e, null, 2);
    const object = (e.data as { object: { id: string; object: string } }).object;
    return {
      id: e.id as string,
      body,
      signature: await stripe.webhooks.generateTestHeaderStringAsync({
        payload: body,
        secret,
        cryptoProvider,
      }),
      objectId: object.id,
      kind: object.object as SignedEvent["kind"],
    };
  }));
}

/** Users and customer links for a corpus, so our subscriptions become memberships. */
export async function linkCustomers(sql: postgres.Sql, customers: string[]): Promise<void> {
  await sql`
    with u as (
      insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             c || '@bench.test', '{}', '{}', now(), now()
      from unnest(${customers}::text[]) as c
      returning id, email
    )
    insert into stripe.customer_links (customer_id, user_id, source)
    select split_part(u.email, '@', 1), u.id, 'bench' from u`;
}

/** The bench tier: every corpus subscription uses its price. */
export async function ensureBenchTier(sql: postgres.Sql): Promise<void> {
  await sql`insert into public.membership_tiers (slug, name) values ('bench', 'Bench') on conflict (slug) do nothing`;
  await sql`
    insert into public.tier_prices (tier_id, lookup_key, currency, unit_amount, billing_interval, stripe_price_id)
    select id, 'bench_monthly', 'usd', 1200, 'month', ${PRICE_ID} from public.membership_tiers where slug = 'bench'
    on conflict (lookup_key) do nothing`;
}

/** Counts how many of a corpus's events landed in our mirror (ledger processed, object present). */
async function oursMissing(sql: postgres.Sql, events: SignedEvent[]): Promise<number> {
  const ids = events.map((e) => e.id);
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from stripe.events
    where id = any(${ids}::text[]) and status in ('processed')`;
  return events.length - row.n;
}

/** Counts how many of a corpus's objects are missing from the baseline's schema. */
async function theirsMissing(sql: postgres.Sql, events: SignedEvent[]): Promise<number> {
  const table: Record<SignedEvent["kind"], string> = {
    customer: "customers",
    product: "products",
    price: "prices",
    subscription: "subscriptions",
  };
  let found = 0;
  for (const kind of Object.keys(table) as SignedEvent["kind"][]) {
    const ids = [...new Set(events.filter((e) => e.kind === kind).map((e) => e.objectId))];
    const [row] = await sql.unsafe(
      `select count(*)::int as n from stripe.${table[kind]} where id = any($1::text[])`,
      [ids],
    );
    found += row.n * (kind === "subscription" ? 2 : 1);
  }
  return events.length - found;
}

/** Starts the baseline's HTTP server process; resolves once it listens. */
async function startBaselineServer(
  config: BaselineConfig,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-prompt",
      new URL("./stripe_sync_engine_server.ts", import.meta.url).pathname,
    ],
    cwd: REPO_ROOT,
    env: {
      BASELINE_DB_URL: config.databaseUrl,
      BASELINE_STRIPE_KEY: config.stripeSecretKey,
      BASELINE_WEBHOOK_SECRET: config.webhookSecret,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("Cannot start the baseline server: it exited before listening");
    seen += value;
  }
  const line = seen.split("\n")[0];
  if (!line.startsWith(LISTENING_PREFIX)) {
    throw new Error(`Cannot start the baseline server: it printed ${JSON.stringify(line)}`);
  }
  // Keep draining its output so it never blocks on a full pipe.
  (async () => {
    while (!(await lines.read()).done);
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${Number(line.slice(LISTENING_PREFIX.length))}/`,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/**
 * Runs the comparison on the development environment of a running stack.
 *
 * @param opts.units corpus units per row (5 events each), sent in `rounds` slices
 */
export async function benchStripeWebhook(
  env: LocalEnv,
  opts: { stack: StackOptions; units: number; concurrencies: number[]; rounds: number },
): Promise<StripeBenchRow[]> {
  const admin = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const benchDbUrl = env.dbUrl.replace(/\/postgres$/, "/stripe_sync_bench");
  const secret = JSON.parse(await Deno.readTextFile(join(env.dir, "stripe_webhook.json")))
    .secret as string;
  const emulator = stripeEmulatorConfig(opts.stack);
  const key = await localStripeKey(env, emulator);

  // The baseline's own database on the same cluster, migrated by its own migrations.
  await admin.unsafe("drop database if exists stripe_sync_bench with (force)");
  await admin.unsafe("create database stripe_sync_bench");
  await migrateBaseline(benchDbUrl);
  const baseline = { databaseUrl: benchDbUrl, stripeSecretKey: key, webhookSecret: secret };
  const sync = createBaseline(baseline);
  const theirsDb = postgres(benchDbUrl, { max: 2, onnotice: () => {} });

  // Ours in process: the function's app with the same pool size as the deployed function.
  const oursDb = createDb(env.dbUrl, { max: 8 });
  const receive = createReceiver({
    sql: oursDb,
    stripe: createStripeClient({ STRIPE_SECRET_KEY: key, STRIPE_API_BASE: emulator.url }),
    webhookSecret: secret,
  });
  // Theirs over HTTP: the smallest server that hands the raw body to processWebhook, in a
  // process of its own (as our function runs in its own, behind the gateway).
  const theirsServer = await startBaselineServer(baseline);
  const theirsUrl = theirsServer.url;
  const oursUrl = `${env.functionsUrl}/stripe-webhook`;
  // One HTTP hop each: our function's own process, reached without the gateway, as theirs.
  const direct = await directFunctionPool(env, ["stripe-webhook"]);
  let oursDirectUrl: string;
  try {
    await direct.startAll();
    oursDirectUrl = `${await direct.resolve("stripe-webhook")}/stripe-webhook`;
  } catch (err) {
    await direct.stop();
    await theirsServer.stop();
    throw err;
  }

  await ensureBenchTier(admin);

  const targets = [
    {
      path: "in process   ours",
      // Our handler without HTTP, as theirs is called: (payload, signature) → done.
      call: (e: SignedEvent) => receive(e.body, e.signature).then((r) => r.outcome !== "duplicate"),
      http: null as string | null,
      missing: (events: SignedEvent[]) => oursMissing(admin, events),
    },
    {
      path: "in process   baseline",
      call: (e: SignedEvent) => sync.processWebhook(e.body, e.signature).then(() => true),
      http: null,
      missing: (events: SignedEvent[]) => theirsMissing(theirsDb, events),
    },
    {
      path: "HTTP 1 hop   ours",
      call: null,
      http: oursDirectUrl,
      missing: (events: SignedEvent[]) => oursMissing(admin, events),
    },
    {
      path: "HTTP 1 hop   baseline",
      call: null,
      http: theirsUrl,
      missing: (events: SignedEvent[]) => theirsMissing(theirsDb, events),
    },
    {
      // Information only: the local gateway stands in for Supabase's and is not the product.
      path: "gateway      ours",
      call: null,
      http: oursUrl,
      missing: (events: SignedEvent[]) => oursMissing(admin, events),
    },
  ];

  async function runOnce(t: typeof targets[number], units: number, concurrency: number) {
    const now = Math.floor(Date.now() / 1000);
    const corpus = makeCorpus(units, now);
    await linkCustomers(admin, corpus.customers);
    const events = await sign(corpus.events, secret);
    const result = t.http
      ? await runLoad((i) => ({
        url: t.http!,
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": events[i].signature },
        body: events[i].body,
      }), { requests: events.length, concurrency })
      : await runCalls((i) => t.call!(events[i]), { requests: events.length, concurrency });
    return { result, missing: await t.missing(events) };
  }

  // STRIPE_BENCH_ONLY=<path prefix> (e.g. "HTTP" or "in process") measures a subset.
  const only = Deno.env.get("STRIPE_BENCH_ONLY");
  if (only) targets.splice(0, targets.length, ...targets.filter((t) => t.path.startsWith(only)));
  // The sides compared take turns in slices (the order reversed every round), so a swing of
  // the shared machine hits both alike; each row adds its slices up.
  const groups = [
    targets.filter((t) => t.http === null),
    targets.filter((t) => t.http !== null),
  ].filter((g) => g.length > 0);
  const rounds = Math.max(1, opts.rounds);
  const rows: StripeBenchRow[] = [];
  try {
    for (const t of targets) await runOnce(t, 40, 10); // warm up JIT, pools, the gateway
    for (const concurrency of opts.concurrencies) {
      for (const group of groups) {
        const parts = new Map(group.map((t) => [t, [] as LoadResult[]]));
        const missing = new Map(group.map((t) => [t, 0]));
        for (let round = 0; round < rounds; round++) {
          const units = Math.floor(opts.units / rounds) + (round < opts.units % rounds ? 1 : 0);
          const order = round % 2 === 0 ? group : [...group].reverse();
          for (const t of order) {
            const { result, missing: m } = await runOnce(t, units, concurrency);
            parts.get(t)!.push(result);
            missing.set(t, missing.get(t)! + m);
          }
        }
        for (const t of group) {
          rows.push({
            path: t.path,
            result: mergeLoadResults(parts.get(t)!),
            missing: missing.get(t)!,
          });
        }
      }
    }
  } finally {
    await theirsServer.stop();
    await direct.stop();
    await sync.postgresClient.pool.end().catch(() => {});
    await oursDb.end();
    await theirsDb.end();
    await admin.unsafe("drop database if exists stripe_sync_bench with (force)").catch(() => {});
    await admin.end();
  }
  return rows;
}

/**
 * Prints the rows as a table, then per sender count our throughput as a multiple of the
 * baseline's: in process, over HTTP with one hop each, and (information only) ours through the
 * local gateway — two hops, our stand-in for Supabase's — against the baseline's one hop.
 */
export function printStripeBench(rows: StripeBenchRow[]): void {
  console.log(
    "\nstripe-webhook: signed events/s, ours (ledger + ordering guard + memberships) vs @supabase/stripe-sync-engine",
  );
  console.log(
    "  path                   senders  events   ev/s   p50 ms   p99 ms  errors  missing",
  );
  for (const { path, result: r, missing } of rows) {
    console.log(
      `  ${path.padEnd(22)} ${String(r.concurrency).padStart(7)} ${
        String(r.requests).padStart(7)
      } ${r.perSecond.toFixed(0).padStart(6)} ${r.p50Ms.toFixed(2).padStart(8)} ${
        r.p99Ms.toFixed(2).padStart(8)
      } ${String(r.errors).padStart(7)} ${String(missing).padStart(8)}`,
    );
  }
  const by = (path: string, c: number) =>
    rows.find((r) => r.path === path && r.result.concurrency === c)?.result;
  const figures = (r: LoadResult) =>
    `${r.perSecond.toFixed(0)} ev/s, p50 ${r.p50Ms.toFixed(2)}, p99 ${r.p99Ms.toFixed(2)} ms`;
  for (const c of [...new Set(rows.map((r) => r.result.concurrency))]) {
    console.log(`  ${c} sender${c === 1 ? "" : "s"}:`);
    for (
      const [label, ours, theirs] of [
        ["in process", "in process   ours", "in process   baseline"],
        ["HTTP 1 hop", "HTTP 1 hop   ours", "HTTP 1 hop   baseline"],
        ["gateway (info)", "gateway      ours", "HTTP 1 hop   baseline"],
      ]
    ) {
      const a = by(ours, c);
      const b = by(theirs, c);
      if (a && b) {
        console.log(
          `    ${label.padEnd(15)} ${(a.perSecond / b.perSecond).toFixed(2)}×  (ours ${
            figures(a)
          }; baseline ${figures(b)})`,
        );
      }
    }
  }
}

/**
 * `npm run bench -- stripe_webhook`: 600 units (3,000 signed events) per run by default (a
 * run at 50 senders then lasts a second or two: shorter ones swung with the machine);
 * `STRIPE_BENCH_UNITS` changes it, `STRIPE_BENCH_SENDERS` the concurrencies (default
 * `1,10,50`), `STRIPE_BENCH_ROUNDS` the slices each row is sent in (default 5), `STRIPE_BENCH_ONLY` the paths measured (a prefix, e.g. `HTTP`). Also runnable alone against a running stack
 * (`STAGECOACH_HOME=… STAGECOACH_PORT_OFFSET=… deno run -A bench/stripe_webhook_bench.ts`).
 */
export async function run(ctx: BenchContext): Promise<void> {
  printStripeBench(
    await benchStripeWebhook(localEnv("development", ctx.stack), {
      stack: ctx.stack,
      units: Number(Deno.env.get("STRIPE_BENCH_UNITS") ?? "600"),
      concurrencies: (Deno.env.get("STRIPE_BENCH_SENDERS") ?? "1,10,50").split(",").map(Number),
      rounds: Number(Deno.env.get("STRIPE_BENCH_ROUNDS") ?? "5"),
    }),
  );
}

if (import.meta.main) {
  const { stackOptionsFromEnv } = await import("../scripts/local/config.ts");
  await run({ stack: stackOptionsFromEnv() });
}
