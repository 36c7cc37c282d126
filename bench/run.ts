/**
 * `npm run bench [-- <name> …]`: benchmarks on a throwaway stack of their own (ports shifted
 * by 1500, or the next free offset; a temporary folder), each printing its figures beside a baseline measured in the
 * same run. Nothing here passes or fails on timing. Without names, every benchmark runs.
 *
 * To add one: export `async function run(opts: BenchContext)` from `bench/<name>_bench.ts`
 * and list it in BENCHES below.
 *
 * @module
 */
import { freePortOffset, type StackOptions } from "../scripts/local/config.ts";
import { startStack, stopStack } from "../scripts/local/stack.ts";
import * as gateway from "./gateway_bench.ts";
import * as promotion from "./promotion_bench.ts";
import * as usersCopy from "./users_copy_bench.ts";
import * as stripeWebhook from "./stripe_webhook_bench.ts";
import * as stripeIngestSql from "./stripe_ingest_sql_bench.ts";
import * as backup from "./backup_bench.ts";
import * as flags from "./flags_bench.ts";
import * as ofrep from "./ofrep_bench.ts";

/** What every benchmark gets: the stack it may use. */
export interface BenchContext {
  stack: StackOptions;
}

const BENCHES: Record<string, (ctx: BenchContext) => Promise<void>> = {
  gateway: gateway.run,
  promotion: promotion.run,
  // STAGECOACH_BENCH_USERS sets its size (default 1,000,000 users, about 4 million rows).
  users_copy: usersCopy.run,
  // STRIPE_BENCH_UNITS sets its size (default 600 units: 3,000 signed events per run).
  stripe_webhook: stripeWebhook.run,
  // stripe.ingest_events alone, before and after 20261206000300: server µs per event.
  stripe_ingest_sql: stripeIngestSql.run,
  // STAGECOACH_BENCH_BACKUP_ROWS sets the larger size (default 1,000,000 rows; also a 4× smaller run).
  backup: backup.run,
  // 100,000 flag evaluations in SQL and TypeScript, beside C hashes of the same strings.
  flags: flags.run,
  // OFREP bulk evaluation of 200 flags per request (the flags function), beside SQL's evaluate_all.
  ofrep: ofrep.run,
};

async function main(names: string[]): Promise<void> {
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length) {
    console.error(
      `bench: unknown benchmark(s) ${unknown.join(", ")}; known: ${
        Object.keys(BENCHES).join(", ")
      }`,
    );
    Deno.exit(2);
  }
  const stack: StackOptions = {
    home: await Deno.makeTempDir({ prefix: "stagecoach-bench-" }),
    // +1500, or the next free one: the stack's ports lie in Linux's ephemeral range, and an
    // outgoing connection of an earlier benchmark may still hold one as its local port.
    portOffset: freePortOffset({
      variable: "STAGECOACH_BENCH_PORT_OFFSET",
      candidates: [1500, 2100, 2200, 2300, 2400],
      log: (line) => console.log(`bench: ${line}`),
    }),
  };
  console.log(`bench: throwaway stack in ${stack.home} (ports +${stack.portOffset})`);
  console.log(`bench: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`);
  try {
    await startStack(stack, () => {});
    for (const name of names.length ? names : Object.keys(BENCHES)) {
      console.log(`\n=== ${name}`);
      await BENCHES[name]({ stack });
    }
  } finally {
    await stopStack(stack, () => {});
    await Deno.remove(stack.home, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
