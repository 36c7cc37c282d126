/**
 * What the local functions gateway costs: the same function process reached through the
 * gateway and called directly (the baseline, hosted the same way), in the same run, at 1, 10
 * and 50 concurrent senders, for two requests:
 *
 * - `GET /ops/health` with the service-role key: JWT verification + proxy, a tiny answer;
 * - `POST /stripe-webhook` with a ~4 KB Stripe-like JSON event and a `Stripe-Signature` that
 *   does not match: what Stripe sends to a `verify_jwt = false` function. The function checks
 *   the signature over the raw body and answers 400 `invalid_signature` without writing
 *   anything, a cheap and deterministic answer, so the figures are about the hop. The 400 is
 *   the expected answer here; any other status counts as an error.
 *
 * @module
 */
import { type LocalEnv, localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import type { BenchContext } from "./run.ts";
import { composeFunctionEnv } from "../scripts/local/gateway_env.ts";
import { liveFunctions } from "../scripts/local/function_store.ts";
import { readSecrets } from "../scripts/local/secret_store.ts";
import { createFunctionPool, type FunctionPool } from "../scripts/local/gateway_processes.ts";
import { type LoadRequest, type LoadResult, runLoad } from "./load.ts";

/** One row of the report. */
export interface GatewayBenchRow {
  /** Which request, e.g. `GET /ops/health`. */
  request: string;
  path: "gateway" | "direct (baseline)";
  result: LoadResult;
}

/** One request the benchmark sends, by the path it takes. */
interface BenchRequest {
  name: string;
  /** The status the function answers it with. */
  status: number;
  make: (url: string) => LoadRequest;
  gateway: string;
  direct: string;
}

/** A Stripe-like event of about 4 KB, with non-ASCII text as real customer data has. */
function stripeLikeEvent(): string {
  const event = {
    id: "evt_bench_gateway_0001",
    object: "event",
    api_version: "2025-03-31.basil",
    created: Math.floor(Date.now() / 1000),
    type: "customer.subscription.updated",
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: {
      object: {
        id: "sub_bench_gateway_0001",
        object: "subscription",
        customer: "cus_bench_gateway_0001",
        status: "active",
        metadata: { note: "Zoë’s plan — 月額 ✓" },
        items: {
          object: "list",
          data: Array.from({ length: 6 }, (_, i) => ({
            id: `si_bench_gateway_000${i}`,
            object: "subscription_item",
            price: {
              id: `price_bench_gateway_000${i}`,
              object: "price",
              currency: "eur",
              unit_amount: 900 + i,
              recurring: { interval: "month", interval_count: 1 },
              product: `prod_bench_gateway_000${i}`,
              nickname: `Tier ${i} — mensuel`,
            },
            quantity: 1,
            current_period_start: 1_764_000_000,
            current_period_end: 1_766_592_000,
          })),
        },
      },
      previous_attributes: { status: "trialing" },
    },
  };
  return JSON.stringify(event, null, 2);
}

/**
 * Functions of an environment hosted as the gateway hosts them (same host script, same
 * environment variables and secrets), but reached directly: the baseline of the gateway's
 * cost. Start it with `startAll()`, find each with `resolve(name)`, `stop()` it after.
 */
export async function directFunctionPool(env: LocalEnv, names: string[]): Promise<FunctionPool> {
  const keys = await readKeys(env);
  // The deployed versions, as the gateway runs them.
  const functions = (await liveFunctions(env.deployDir)).filter((f) => names.includes(f.slug));
  // The same environment the gateway gives its functions (stripe-webhook needs its Stripe keys).
  const secrets = await readSecrets(env.secretsFile);
  const { env: childEnv } = composeFunctionEnv({
    process: Deno.env.toObject(),
    defaults: { STAGECOACH_ENV: env.name },
    secrets: Object.fromEntries(Object.entries(secrets).map(([k, s]) => [k, s.value])),
    platform: {
      SUPABASE_URL: env.apiUrl,
      SUPABASE_ANON_KEY: keys.anon_key,
      SUPABASE_SERVICE_ROLE_KEY: keys.service_role_key,
      SUPABASE_DB_URL: env.dbUrl,
    },
  });
  return createFunctionPool(
    functions.map((f) => ({ name: f.slug, entry: f.entry, importMap: f.importMap, cwd: f.dir })),
    { env: childEnv, cwd: REPO_ROOT, log: () => {} },
  );
}

/** Runs the comparison on one environment of a running stack. */
export async function benchGateway(
  env: LocalEnv,
  opts: { requests: number; concurrencies: number[] },
): Promise<GatewayBenchRow[]> {
  const keys = await readKeys(env);
  const pool = await directFunctionPool(env, ["ops", "stripe-webhook"]);
  const rows: GatewayBenchRow[] = [];
  try {
    await pool.startAll();
    const ops = await pool.resolve("ops");
    const webhook = await pool.resolve("stripe-webhook");
    const authorization = `Bearer ${keys.service_role_key}`;
    const event = stripeLikeEvent();
    const requests: BenchRequest[] = [
      {
        name: "GET /ops/health (service-role JWT)",
        status: 200,
        make: (url) => ({ url, headers: { Authorization: authorization } }),
        gateway: `${env.functionsUrl}/ops/health`,
        direct: `${ops}/ops/health`,
      },
      {
        name: `POST /stripe-webhook (${
          new TextEncoder().encode(event).length
        } B JSON, bad signature: 400 invalid_signature)`,
        status: 400,
        make: (url) => ({
          url,
          method: "POST",
          headers: {
            "Content-Type": "application/json; charset=utf-8",
            // Fresh enough to be checked (not stale), never matching: always the same 400.
            "Stripe-Signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}`,
          },
          body: event,
        }),
        gateway: `${env.functionsUrl}/stripe-webhook`,
        direct: `${webhook}/stripe-webhook`,
      },
    ];
    for (const r of requests) {
      const targets = [
        { path: "gateway" as const, url: r.gateway },
        { path: "direct (baseline)" as const, url: r.direct },
      ];
      // Warm both paths (JIT, connection pools, the webhook's cached secret) before measuring.
      for (const t of targets) {
        await runLoad(() => r.make(t.url), {
          requests: 300,
          concurrency: 10,
          expect: r.status,
        });
      }
      for (const concurrency of opts.concurrencies) {
        for (const t of targets) {
          const result = await runLoad(() => r.make(t.url), {
            requests: opts.requests,
            concurrency,
            expect: r.status,
          });
          rows.push({ request: r.name, path: t.path, result });
        }
      }
    }
  } finally {
    await pool.stop();
  }
  return rows;
}

/** The benchmark as `bench/run.ts` runs it: on development, 3,000 requests per row. */
export async function run(ctx: BenchContext): Promise<void> {
  printGatewayBench(
    await benchGateway(localEnv("development", ctx.stack), {
      requests: 3000,
      concurrencies: [1, 10, 50],
    }),
  );
}

/**
 * Prints the rows as one table per request; each gateway row is followed by a line with what
 * the gateway adds to the direct row after it (p50 latency) and its share of direct req/s.
 */
export function printGatewayBench(rows: GatewayBenchRow[]): void {
  const requests = [...new Set(rows.map((r) => r.request))];
  for (const request of requests) {
    console.log(`\ngateway: ${request}, through /functions/v1 vs the function process directly`);
    console.log(
      "  path               senders  requests   req/s   p50 ms   p99 ms  errors",
    );
    const mine = rows.filter((r) => r.request === request);
    for (const [i, { path, result: r }] of mine.entries()) {
      console.log(
        `  ${path.padEnd(18)} ${String(r.concurrency).padStart(7)} ${
          String(r.requests).padStart(9)
        } ${r.perSecond.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(2).padStart(8)} ${
          r.p99Ms.toFixed(2).padStart(8)
        } ${String(r.errors).padStart(7)}`,
      );
      const direct = mine[i + 1];
      if (path === "gateway" && direct?.path === "direct (baseline)") {
        console.log(
          `    gateway adds ${(r.p50Ms - direct.result.p50Ms).toFixed(2)} ms at p50; ${
            (100 * r.perSecond / direct.result.perSecond).toFixed(0)
          }% of direct req/s`,
        );
      }
    }
  }
}
