/**
 * `stripe.ingest_events` on its own: the server CPU one event costs, now and as before
 * 20261206000300 (the function of 20261205000500, with its `stripe.apply_membership`, kept in
 * a scratch schema `stripe_bench_old` from that migration's text and owned by the Stripe sync
 * role as the real one is). Both get fresh events of the same shape (the stripe_webhook
 * corpus: customer, product, price, subscription created and updated), one event per call as a
 * lone delivery sends it, each side in a session of its own (kept, as the webhook's pool keeps
 * its connections), taking turns event by event (which goes first alternates). The figure is
 * the CPU time of that session's backend process (`/proc/<pid>/schedstat`, the stack's
 * Postgres runs on this machine) across the call — parse, plan, execution and commit — which
 * the machine's load changes little; the statement's elapsed time as the server saw it
 * (`clock_timestamp() - statement_timestamp()`) is printed beside it.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { type LocalEnv, localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import type { BenchContext } from "./run.ts";
import { ensureBenchTier, linkCustomers, makeCorpus } from "./stripe_webhook_bench.ts";
import { planEvent, StripeEventSchema } from "../supabase/functions/_shared/stripe/events.ts";
import { itemJson, jsonbLiteral } from "../supabase/functions/_shared/stripe/mirror.ts";

/** The migration whose `stripe.ingest_events` and `stripe.apply_membership` are "before". */
const BEFORE =
  "supabase/migrations/20261205000500_show_membership_cancel_at_and_event_api_version.sql";
const OLD_SCHEMA = "stripe_bench_old";

/** One function's definition (`create or replace function <name>(` … `$$;`) out of a migration. */
function definition(text: string, name: string): string {
  const start = text.indexOf(`create or replace function ${name}(`);
  const end = text.indexOf("\n$$;", start);
  if (start < 0 || end < 0) throw new Error(`Cannot find ${name} in ${BEFORE}`);
  return text.slice(start, end + 4);
}

/** Creates the scratch schema with the functions as they were before. */
async function installBefore(sql: postgres.Sql): Promise<void> {
  const text = await Deno.readTextFile(join(REPO_ROOT, BEFORE));
  const rename = (s: string) =>
    s.replaceAll("stripe.apply_membership(", `${OLD_SCHEMA}.apply_membership(`)
      .replaceAll("stripe.ingest_events(", `${OLD_SCHEMA}.ingest_events(`);
  await sql.unsafe(`drop schema if exists ${OLD_SCHEMA} cascade`);
  await sql.unsafe(`create schema ${OLD_SCHEMA}`);
  await sql.unsafe(rename(definition(text, "stripe.apply_membership")));
  await sql.unsafe(rename(definition(text, "stripe.ingest_events")));
  await sql.unsafe(`grant usage, create on schema ${OLD_SCHEMA} to stagecoach_stripe_sync`);
  await sql.unsafe(
    `alter function ${OLD_SCHEMA}.apply_membership(text) owner to stagecoach_stripe_sync`,
  );
  await sql.unsafe(
    `alter function ${OLD_SCHEMA}.ingest_events(jsonb) owner to stagecoach_stripe_sync`,
  );
}

/** Batch literals of one event each, as the webhook sends a lone delivery. */
function literals(events: Record<string, unknown>[]): { kind: string; literal: string }[] {
  return events.map((e) => {
    const body = JSON.stringify(e, null, 2);
    const { meta, plan } = planEvent(StripeEventSchema.parse(JSON.parse(body)));
    const kind = String((e.data as { object: { object: string } }).object.object);
    return { kind, literal: jsonbLiteral(`[${itemJson({ meta, plan, body })}]`) };
  });
}

/** Server microseconds per event, by kind, for each side. */
export interface IngestSqlFigures {
  side: "before" | "now";
  kind: string;
  events: number;
  /** CPU of the session's backend across the call. */
  cpuMedianUs: number;
  cpuMeanUs: number;
  /** The statement's elapsed time as the server measured it. */
  elapsedMedianUs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** CPU nanoseconds a process has run (first field of its schedstat). */
function cpuNs(pid: number): number {
  return Number(Deno.readTextFileSync(`/proc/${pid}/schedstat`).split(" ")[0]);
}

/**
 * Runs the comparison on the development environment of a running stack (its Postgres on
 * this machine).
 *
 * @param opts.units corpus units per side (5 events each)
 * @throws when an event did not come out `processed`
 */
export async function benchIngestSql(
  env: LocalEnv,
  opts: { units: number },
): Promise<IngestSqlFigures[]> {
  const admin = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const sessions: postgres.Sql[] = [];
  try {
    await ensureBenchTier(admin);
    await installBefore(admin);
    const now = Math.floor(Date.now() / 1000);
    const before = makeCorpus(opts.units, now);
    const after = makeCorpus(opts.units, now);
    await linkCustomers(admin, [...before.customers, ...after.customers]);
    const side = async (name: IngestSqlFigures["side"], fn: string, events: typeof before) => {
      // As the webhook's pool (`createDb`): no named prepared statements.
      const sql = postgres(env.dbUrl, { max: 1, prepare: false, onnotice: () => {} });
      sessions.push(sql);
      const [{ pid }] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
      return { name, fn, sql, pid, items: literals(events.events) };
    };
    const sides = [
      await side("before", `${OLD_SCHEMA}.ingest_events`, before),
      await side("now", "stripe.ingest_events", after),
    ];
    const cpu = new Map<string, number[]>();
    const elapsed = new Map<string, number[]>();
    const add = (map: Map<string, number[]>, key: string, x: number) => {
      if (!map.has(key)) map.set(key, []);
      map.get(key)!.push(x);
    };
    // The first events warm each session's plan caches (a webhook connection is kept).
    const warm = Math.min(10, sides[0].items.length);
    for (let i = 0; i < sides[0].items.length; i++) {
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      for (const { name, fn, sql, pid, items } of order) {
        const { kind, literal } = items[i];
        const start = cpuNs(pid);
        const [row] = await sql.unsafe<{ r: { outcome: string }[]; us: number }[]>(
          `select ${fn}(${literal}) as r,
                  extract(epoch from clock_timestamp() - statement_timestamp()) * 1e6 as us`,
        );
        const used = (cpuNs(pid) - start) / 1000;
        if (row.r[0].outcome !== "processed") {
          throw new Error(`stripe_ingest_sql: ${name} answered ${JSON.stringify(row.r[0])}`);
        }
        if (i < warm) continue;
        for (const key of [`${name} ${kind}`, `${name} all`]) {
          add(cpu, key, used);
          add(elapsed, key, Number(row.us));
        }
      }
    }
    const figures: IngestSqlFigures[] = [];
    for (const [key, us] of cpu) {
      const [name, kind] = key.split(" ");
      figures.push({
        side: name as IngestSqlFigures["side"],
        kind,
        events: us.length,
        cpuMedianUs: median(us),
        cpuMeanUs: us.reduce((a, b) => a + b, 0) / us.length,
        elapsedMedianUs: median(elapsed.get(key)!),
      });
    }
    return figures;
  } finally {
    for (const sql of sessions) await sql.end();
    await admin.unsafe(`drop schema if exists ${OLD_SCHEMA} cascade`).catch(() => {});
    await admin.end();
  }
}

/** Prints before and now side by side, by kind. */
export function printIngestSql(figures: IngestSqlFigures[]): void {
  console.log(
    "\nstripe.ingest_events: server µs per event (one event per call), before 20261206000300 vs now",
  );
  console.log(
    "  kind           events   CPU p50 before   now   CPU mean before   now   now/before   elapsed p50 before   now",
  );
  const kinds = [...new Set(figures.map((f) => f.kind))];
  for (const kind of kinds) {
    const b = figures.find((f) => f.kind === kind && f.side === "before");
    const n = figures.find((f) => f.kind === kind && f.side === "now");
    if (!b || !n) continue;
    const us = (x: number, width: number) => x.toFixed(0).padStart(width);
    console.log(
      `  ${kind.padEnd(14)} ${String(n.events).padStart(6)} ${us(b.cpuMedianUs, 16)} ${
        us(n.cpuMedianUs, 5)
      } ${us(b.cpuMeanUs, 17)} ${us(n.cpuMeanUs, 5)} ${
        (n.cpuMeanUs / b.cpuMeanUs).toFixed(2).padStart(12)
      } ${us(b.elapsedMedianUs, 20)} ${us(n.elapsedMedianUs, 5)}`,
    );
  }
}

/**
 * `npm run bench -- stripe_ingest_sql`: 400 units (2,000 events) per side by default
 * (`STRIPE_BENCH_UNITS` changes it). Also runnable alone against a running stack
 * (`STAGECOACH_HOME=… STAGECOACH_PORT_OFFSET=… deno run -A bench/stripe_ingest_sql_bench.ts`).
 */
export async function run(ctx: BenchContext): Promise<void> {
  printIngestSql(
    await benchIngestSql(localEnv("development", ctx.stack), {
      units: Number(Deno.env.get("STRIPE_BENCH_UNITS") ?? "400"),
    }),
  );
}

if (import.meta.main) {
  const { stackOptionsFromEnv } = await import("../scripts/local/config.ts");
  await run({ stack: stackOptionsFromEnv() });
}
