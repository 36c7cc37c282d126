/**
 * The local functions gateway of one environment: serves
 * `http://127.0.0.1:<apiPort>/functions/v1/<name>/…` as Supabase does (see `gateway_app.ts`),
 * running each deployed function in its own process from exactly the files
 * `supabase functions deploy` uploaded (`function_store.ts`), never from the checkout.
 *
 * Usage: `deno run -A scripts/local/gateway.ts --env <development|staging|production>`
 *
 * Reads `STAGECOACH_HOME` / `STAGECOACH_PORT_OFFSET` (see `config.ts`), the environment's
 * `keys.json`, the stack's Management API token (required), and what was deployed and set:
 * `<env>/functions/registry.json` and `<env>/secrets.json`, again on every reload
 * (`POST /_stagecoach/reload`, called by the Management API after a change). Prints
 * `READY gateway <env> <url>` once listening with every deployed function started. Stops its
 * function processes and exits 0 on SIGTERM or SIGINT.
 *
 * @module
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { localEnv, parseEnvName, readAccessToken, readKeys, REPO_ROOT } from "./config.ts";
import { createAuthApp } from "./auth_api.ts";
import { createGatewayApp, type GatewayFunction } from "./gateway_app.ts";
import { composeFunctionEnv } from "./gateway_env.ts";
import { createFunctionPool } from "./gateway_processes.ts";
import { liveFunctions } from "./function_store.ts";
import { readSecrets } from "./secret_store.ts";

/** Starts the gateway of the environment named by `--env`; resolves once it is ready. */
async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { env: { type: "string" } } });
  const env = localEnv(parseEnvName(values.env ?? ""));
  const keys = await readKeys(env);
  const accessToken = await readAccessToken();
  const platform = {
    SUPABASE_URL: env.apiUrl,
    SUPABASE_ANON_KEY: keys.anon_key,
    SUPABASE_SERVICE_ROLE_KEY: keys.service_role_key,
    SUPABASE_DB_URL: env.dbUrl,
  };

  const functions = new Map<string, GatewayFunction>();
  const pool = createFunctionPool([], { env: {}, cwd: REPO_ROOT });
  /** Serves what is deployed now, with the secrets set now. */
  const load = async () => {
    const [live, stored] = await Promise.all([
      liveFunctions(env.deployDir),
      readSecrets(env.secretsFile),
    ]);
    const { env: childEnv, skipped } = composeFunctionEnv({
      process: Deno.env.toObject(),
      defaults: { STAGECOACH_ENV: env.name },
      secrets: Object.fromEntries(Object.entries(stored).map(([k, s]) => [k, s.value])),
      platform,
    });
    for (const name of skipped) {
      console.error(`gateway: skipping secret ${name}: names starting with SUPABASE_ are reserved`);
    }
    functions.clear();
    for (const fn of live) functions.set(fn.slug, { name: fn.slug, verifyJwt: fn.verifyJwt });
    pool.replace(
      live.map((fn) => ({ name: fn.slug, entry: fn.entry, importMap: fn.importMap, cwd: fn.dir })),
      childEnv,
    );
    console.log(`gateway: serving ${live.map((fn) => `${fn.slug}@${fn.version}`).join(", ")}`);
  };
  // One reload at a time, in the order asked.
  let loading = Promise.resolve();
  const reload = () => (loading = loading.then(load, load));

  const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
  const app = createGatewayApp({
    envName: env.name,
    jwtSecret: keys.jwt_secret,
    functions,
    resolveUpstream: (name) => pool.resolve(name),
    reload: { token: accessToken, run: reload },
    auth: createAuthApp({
      sql,
      env,
      jwtSecret: keys.jwt_secret,
      apiKeys: [keys.anon_key, keys.service_role_key],
    }),
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
    await Promise.allSettled([pool.stop(), server.shutdown(), sql.end()]);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);

  await reload();
  await pool.startAll();
  console.log(
    `READY gateway ${env.name} ${env.apiUrl} functions=${[...functions.keys()].join(",")}`,
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
