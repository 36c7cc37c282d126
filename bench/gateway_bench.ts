/**
 * What the local functions gateway costs: `GET /ops/health` through the gateway (JWT
 * verification + proxy to the function's process) against the same function process called
 * directly (the baseline), in the same run, at 1, 10 and 50 concurrent senders.
 *
 * @module
 */
import { type LocalEnv, localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import type { BenchContext } from "./run.ts";
import { composeFunctionEnv } from "../scripts/local/gateway_env.ts";
import { discoverFunctions } from "../scripts/local/gateway_functions.ts";
import { createFunctionPool } from "../scripts/local/gateway_processes.ts";
import { type LoadResult, runLoad } from "./load.ts";

/** One row of the report. */
export interface GatewayBenchRow {
  path: "gateway" | "direct (baseline)";
  result: LoadResult;
}

/** Runs the comparison on one environment of a running stack. */
export async function benchGateway(
  env: LocalEnv,
  opts: { requests: number; concurrencies: number[] },
): Promise<GatewayBenchRow[]> {
  const keys = await readKeys(env);
  const functions = (await discoverFunctions(REPO_ROOT)).filter((f) => f.name === "ops");
  const { env: childEnv } = composeFunctionEnv({
    process: Deno.env.toObject(),
    defaults: { STAGECOACH_ENV: env.name },
    stackSecrets: {},
    userSecrets: {},
    platform: {
      SUPABASE_URL: env.apiUrl,
      SUPABASE_ANON_KEY: keys.anon_key,
      SUPABASE_SERVICE_ROLE_KEY: keys.service_role_key,
      SUPABASE_DB_URL: env.dbUrl,
    },
  });
  // The baseline: the same function, hosted the same way, without the gateway in front.
  const pool = createFunctionPool(functions, { env: childEnv, cwd: REPO_ROOT, log: () => {} });
  const rows: GatewayBenchRow[] = [];
  try {
    await pool.startAll();
    const direct = await pool.resolve("ops");
    const headers = { Authorization: `Bearer ${keys.service_role_key}` };
    const targets = [
      { path: "gateway" as const, url: `${env.functionsUrl}/ops/health` },
      { path: "direct (baseline)" as const, url: `${direct}/ops/health` },
    ];
    // Warm both paths (JIT, connection pools) before measuring.
    for (const t of targets) {
      await runLoad(() => new Request(t.url, { headers }), { requests: 300, concurrency: 10 });
    }
    for (const concurrency of opts.concurrencies) {
      for (const t of targets) {
        const result = await runLoad(() => new Request(t.url, { headers }), {
          requests: opts.requests,
          concurrency,
        });
        rows.push({ path: t.path, result });
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

/** Prints the rows as a table. */
export function printGatewayBench(rows: GatewayBenchRow[]): void {
  console.log("\ngateway: GET /functions/v1/ops/health vs the function process called directly");
  console.log(
    "  path               senders  requests   req/s   p50 ms   p99 ms  errors",
  );
  for (const { path, result: r } of rows) {
    console.log(
      `  ${path.padEnd(18)} ${String(r.concurrency).padStart(7)} ${
        String(r.requests).padStart(9)
      } ${r.perSecond.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(2).padStart(8)} ${
        r.p99Ms.toFixed(2).padStart(8)
      } ${String(r.errors).padStart(7)}`,
    );
  }
}
