/**
 * The pg_net stand-in's delivery worker of one environment: sends the HTTP requests that SQL
 * queued with `net.http_post()` / `net.http_get()` / `net.http_delete()` and records the
 * responses in `net._http_response` (see `net_worker_loop.ts`).
 *
 * Usage: `deno run -A scripts/local/net_worker.ts --env <development|staging|production>`
 *
 * Connects to the environment's database as `postgres` (reconnecting for as long as it
 * runs), and exits 0 on SIGTERM or SIGINT after in-flight deliveries end.
 *
 * @module
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { localEnv, parseEnvName } from "./config.ts";
import { runNetWorker } from "./net_worker_loop.ts";
import { postgresQueue } from "./net_worker_queue.ts";

/** Runs the worker of the environment named by `--env` until SIGTERM or SIGINT. */
async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { env: { type: "string" } } });
  const env = localEnv(parseEnvName(values.env ?? ""));
  const sql = postgres(env.dbUrl, {
    max: 4,
    connect_timeout: 5,
    // A constant half second between reconnects: postgres.js's default backoff grows to 20 s
    // while the database is down, and would hold deliveries back that long once it is up.
    backoff: () => 0.5,
    onnotice: () => {},
    connection: { application_name: "stagecoach_net_worker" },
  });
  const stop = new AbortController();
  Deno.addSignalListener("SIGTERM", () => stop.abort());
  Deno.addSignalListener("SIGINT", () => stop.abort());

  const log = (line: string) => console.log(`net_worker ${env.name}: ${line}`);
  log(`READY delivering net.http_request_queue of ${env.dbUrl.replace(/:[^:@/]*@/, ":***@")}`);
  await runNetWorker(postgresQueue(sql), { signal: stop.signal, log });
  await sql.end({ timeout: 2 });
  log("stopped");
  Deno.exit(0);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    console.error(`net_worker: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
