/**
 * `npm run bench`: benchmarks on a throwaway stack of their own (ports shifted by 1500, a
 * temporary folder), printing figures beside a baseline measured in the same run. Nothing
 * here passes or fails on timing.
 *
 * @module
 */
import { localEnv, type StackOptions } from "../scripts/local/config.ts";
import { startStack, stopStack } from "../scripts/local/stack.ts";
import { benchGateway, printGatewayBench } from "./gateway_bench.ts";

async function main(): Promise<void> {
  const opts: StackOptions = {
    home: await Deno.makeTempDir({ prefix: "stagecoach-bench-" }),
    portOffset: Number(Deno.env.get("STAGECOACH_BENCH_PORT_OFFSET") ?? "1500"),
  };
  console.log(`bench: throwaway stack in ${opts.home} (ports +${opts.portOffset})`);
  console.log(`bench: ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}`);
  try {
    await startStack(opts, () => {});
    const rows = await benchGateway(localEnv("development", opts), {
      requests: 3000,
      concurrencies: [1, 10, 50],
    });
    printGatewayBench(rows);
  } finally {
    await stopStack(opts, () => {});
    await Deno.remove(opts.home, { recursive: true });
  }
}

if (import.meta.main) await main();
