/**
 * The local functions gateway of one environment: serves
 * `http://127.0.0.1:<apiPort>/functions/v1/<name>/…` as Supabase does (see `gateway_app.ts`),
 * running each function of `supabase/functions/` in its own process.
 *
 * Usage: `deno run -A scripts/local/gateway.ts --env <development|staging|production>`
 *
 * Reads `STAGECOACH_HOME` / `STAGECOACH_PORT_OFFSET` (see `config.ts`), the environment's
 * `keys.json` (required) and `functions.env` (optional), and `supabase/functions/.env`
 * (optional). Prints `READY gateway <env> <url>` once listening with every function started.
 * Stops its function processes and exits 0 on SIGTERM or SIGINT.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { localEnv, parseEnvName, readKeys, REPO_ROOT } from "./config.ts";
import { readDotenvFile } from "./dotenv.ts";
import { createGatewayApp } from "./gateway_app.ts";
import { composeFunctionEnv } from "./gateway_env.ts";
import { discoverFunctions } from "./gateway_functions.ts";
import { createFunctionPool } from "./gateway_processes.ts";

/** Starts the gateway of the environment named by `--env`; resolves once it is ready. */
async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { env: { type: "string" } } });
  const env = localEnv(parseEnvName(values.env ?? ""));
  const keys = await readKeys(env);
  const functions = await discoverFunctions(REPO_ROOT);

  const { env: childEnv, skipped } = composeFunctionEnv({
    process: Deno.env.toObject(),
    defaults: { STAGECOACH_ENV: env.name },
    stackSecrets: await readDotenvFile(env.functionsEnvFile),
    userSecrets: await readDotenvFile(join(REPO_ROOT, "supabase/functions/.env")),
    platform: {
      SUPABASE_URL: env.apiUrl,
      SUPABASE_ANON_KEY: keys.anon_key,
      SUPABASE_SERVICE_ROLE_KEY: keys.service_role_key,
      SUPABASE_DB_URL: env.dbUrl,
    },
  });
  for (const name of skipped) {
    console.error(`gateway: skipping secret ${name}: names starting with SUPABASE_ are reserved`);
  }

  const pool = createFunctionPool(functions, { env: childEnv, cwd: REPO_ROOT });
  const app = createGatewayApp({
    envName: env.name,
    jwtSecret: keys.jwt_secret,
    functions,
    resolveUpstream: (name) => pool.resolve(name),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: "127.0.0.1", port: env.apiPort, onListen: () => {} },
      app.fetch,
    );
  } catch (err) {
    throw new Error(`Cannot listen on ${env.apiUrl}: ${(err as Error).message}`, { cause: err });
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.allSettled([pool.stop(), server.shutdown()]);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);

  await pool.startAll();
  console.log(
    `READY gateway ${env.name} ${env.apiUrl} functions=${functions.map((f) => f.name).join(",")}`,
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (err) {
    console.error(`gateway: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
