/**
 * The local stack: three Supabase-like environments without Docker.
 *
 * `deno task start` (npm start) creates or reuses, for each environment, a Postgres 15
 * cluster with the Supabase platform shim and every migration (applied with the real
 * `supabase db push`), a functions gateway and the pg_net stand-in's delivery worker; then,
 * with the real CLI against the stack's Management API stand-in, sets each environment's
 * function secrets (`supabase secrets set`) and deploys its functions (`supabase functions
 * deploy --use-api`), builds and serves each environment's console (`console/`), and prints
 * the status. A second start on a running stack only applies
 * new migrations and deploys only what changed.
 * `deno task stop` stops everything; state stays in the home folder for the next start.
 *
 * @module
 */
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { writeCustomChecksModule } from "../build/custom_checks.ts";
import { buildConsole } from "../../console/build.ts";
import {
  busyPorts,
  type EnvKeys,
  LOCAL_OUTBOUND_ALLOW,
  localConsoleOrigin,
  type LocalEnv,
  localEnvs,
  managementApiConfig,
  REPO_ROOT,
  type StackOptions,
  stackOptionsFromEnv,
  supabaseCliDbUrl,
} from "./config.ts";
import { deployFunctions, startManagement, stopManagement, syncSecrets } from "./deploy.ts";
import { mintApiKeys } from "./jwt.ts";
import { clusterRunning, initCluster, psqlFiles, startCluster, stopCluster } from "./postgres.ts";
import { livePid, pidAlive, run, spawnDetached, stopDetached, waitFor } from "./process.ts";
import { collectStatus, printStatus } from "./status.ts";
import {
  appendStripeSecrets,
  startStripeEmulator,
  stopStripeEmulator,
} from "./stripe_emulator/local_stack.ts";

const SHIM_DIR = join(REPO_ROOT, "scripts/local/shim");

/** Prints one progress line of the stack. */
export type Logger = (line: string) => void;

function supabaseBin(): string {
  return join(REPO_ROOT, "node_modules/.bin/supabase");
}

/** Reads the environment's keys, minting a JWT secret and API keys on first start. */
async function ensureKeys(env: LocalEnv): Promise<EnvKeys> {
  try {
    return JSON.parse(await Deno.readTextFile(env.keysFile)) as EnvKeys;
  } catch {
    const secret = Array.from(crypto.getRandomValues(new Uint8Array(32)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const keys: EnvKeys = { jwt_secret: secret, ...(await mintApiKeys(secret)) };
    await Deno.writeTextFile(env.keysFile, JSON.stringify(keys, null, 2) + "\n", { mode: 0o600 });
    return keys;
  }
}

/** Function secrets every function of this environment receives (dotenv). */
async function writeFunctionsEnv(
  env: LocalEnv,
  all: LocalEnv[],
  opts: StackOptions,
): Promise<void> {
  const lines = [
    "# Written by scripts/local/stack.ts at every start and set with `supabase secrets set`;",
    "# put your own secrets in supabase/functions/.env (set after these, so yours win).",
    `STAGECOACH_ENV=${env.name}`,
    // Promotions are planned in their target, which reads the source through these (on a
    // hosted project: `supabase secrets set STAGECOACH_DB_URL_STAGING=…`).
    ...all.filter((other) => other.name !== env.name).map((other) =>
      `STAGECOACH_DB_URL_${other.name.toUpperCase()}=${other.dbUrl}`
    ),
    // Local notification receivers (tests, a developer's) listen on 127.0.0.1; a hosted
    // project sets no allow-list (https to public addresses only).
    `STAGECOACH_OUTBOUND_ALLOW=${LOCAL_OUTBOUND_ALLOW}`,
    // The console served locally calls ops from its own origin (CORS): each environment's own
    // console (console/serve.ts) and the one shared origin tests and tools use; a hosted
    // project lists its deployed console's origin.
    `STAGECOACH_CONSOLE_ORIGINS=${env.consoleUrl},${localConsoleOrigin(opts)}`,
    "",
  ];
  await Deno.writeTextFile(env.functionsEnvFile, lines.join("\n"), { mode: 0o600 });
}

/**
 * The Supabase platform shim's files, in the order they are applied (before migrations).
 * Roles are the server's; everything else is created in the database the files run in, so a
 * scratch database gets the shim by running them there (the revert proof does).
 *
 * @example
 * ```ts
 * await platformShimFiles(); // ["<repo>/scripts/local/shim/00_roles.sql", …]
 * ```
 */
export async function platformShimFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(SHIM_DIR)) {
    if (entry.isFile && entry.name.endsWith(".sql")) files.push(join(SHIM_DIR, entry.name));
  }
  return files.sort();
}

/** SHA-256 over the shim files' names and contents. */
async function shimDigest(files: string[]): Promise<string> {
  const parts = await Promise.all(
    files.map(async (f) => `${basename(f)}\n${await Deno.readTextFile(f)}`),
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\n")));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Applies pending migrations with the real Supabase CLI; seeds development only. */
async function pushMigrations(env: LocalEnv, log: Logger): Promise<void> {
  // --include-all: on a long-lived local stack, a migration merged from another branch may
  // carry an older timestamp than the last one applied; apply it instead of refusing.
  const args = ["db", "push", "--db-url", supabaseCliDbUrl(env), "--yes", "--include-all"];
  if (env.name === "development") args.push("--include-seed");
  const { stdout, stderr } = await run(supabaseBin(), args, { cwd: REPO_ROOT });
  const applied = (stdout + stderr).split("\n").filter((l) => /^Applying migration /.test(l));
  log(
    `${env.name}: ${
      applied.length ? `applied ${applied.length} migration(s)` : "migrations up to date"
    }`,
  );
}

/**
 * Tells the database where it lives: its `ops.environments` row and the two Vault secrets
 * the `ops-worker` cron job reads (`project_url`, `service_role_key`).
 */
async function registerEnvironment(env: LocalEnv, keys: EnvKeys): Promise<void> {
  const secrets = { project_url: env.apiUrl, service_role_key: keys.service_role_key };
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      for (const [name, value] of Object.entries(secrets)) {
        const [row] = await tx`
          select id, decrypted_secret = ${value} as same
          from vault.decrypted_secrets where name = ${name}`;
        if (!row) {
          await tx`select vault.create_secret(${value}, ${name}, 'Set by the Stagecoach stack')`;
        } else if (!row.same) await tx`select vault.update_secret(${row.id}, ${value})`;
      }
      // Re-running changes nothing: the row is only touched when the URL moved. `is_self`
      // makes its policy the one that gates promotable rows in this database.
      await tx`
        insert into ops.environments (name, kind, functions_url, is_self)
        values (${env.name}, ${env.kind}, ${env.functionsUrl}, true)
        on conflict (name) do update
          set functions_url = excluded.functions_url, is_self = true
        where ops.environments.functions_url is distinct from excluded.functions_url
           or not ops.environments.is_self`;
    });
  } finally {
    await sql.end();
  }
}

function processEnv(opts: StackOptions): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    STAGECOACH_HOME: opts.home,
    STAGECOACH_PORT_OFFSET: String(opts.portOffset),
  };
}

async function gatewayHealthy(env: LocalEnv): Promise<boolean> {
  const res = await fetch(`${env.apiUrl}/health`, { signal: AbortSignal.timeout(1000) });
  await res.body?.cancel();
  return res.ok;
}

/** Starts the functions gateway and the pg_net worker of an environment unless they run. */
async function startProcesses(env: LocalEnv, opts: StackOptions, log: Logger): Promise<void> {
  const deno = Deno.execPath();
  const daemons = [
    { name: "gateway", script: "scripts/local/gateway.ts" },
    { name: "net_worker", script: "scripts/local/net_worker.ts" },
  ];
  for (const d of daemons) {
    const pidFile = join(env.runDir, `${d.name}.pid`);
    if (await livePid(pidFile) !== null) continue;
    await spawnDetached(deno, ["run", "-A", "--no-prompt", d.script, "--env", env.name], {
      logFile: join(env.logDir, `${d.name}.log`),
      pidFile,
      cwd: REPO_ROOT,
      env: processEnv(opts),
    });
    log(`${env.name}: started ${d.name}`);
  }
  await waitFor(`the ${env.name} gateway on ${env.apiUrl}`, () => gatewayHealthy(env), {
    timeoutMs: 60_000,
  });
}

/**
 * Builds the console for every environment (bundled once; each gets its own `index.html` with
 * its API URL and anon key) into `<env dir>/console`, and serves each on its console port.
 * A running server keeps serving the rebuilt files.
 */
async function startConsoles(envs: LocalEnv[], keys: EnvKeys[], opts: StackOptions, log: Logger) {
  let script: string | undefined;
  for (const [i, env] of envs.entries()) {
    const dir = join(env.dir, "console");
    const vars = {
      CONSOLE_ENV: env.name,
      CONSOLE_SUPABASE_URL: env.apiUrl,
      CONSOLE_ANON_KEY: keys[i].anon_key,
    };
    const built = await buildConsole(vars, { outDir: dir, script });
    script ??= join(built.outDir, "console.js");
    const pidFile = join(env.runDir, "console.pid");
    if (await livePid(pidFile) !== null) continue;
    await spawnDetached(
      Deno.execPath(),
      [
        "run",
        "-A",
        "--no-prompt",
        "console/serve.ts",
        "--dir",
        dir,
        "--port",
        String(env.consolePort),
        "--api",
        env.apiUrl,
      ],
      { logFile: join(env.logDir, "console.log"), pidFile, cwd: REPO_ROOT, env: processEnv(opts) },
    );
    log(`${env.name}: serving the console on ${env.consoleUrl}`);
  }
}

/** Cluster, keys, function secrets and platform shim of one environment. */
async function prepareEnv(
  env: LocalEnv,
  all: LocalEnv[],
  opts: StackOptions,
  log: Logger,
): Promise<EnvKeys> {
  if (await initCluster(env)) log(`${env.name}: created cluster in ${env.pgdata}`);
  if (!(await clusterRunning(env))) {
    await startCluster(env);
    log(`${env.name}: postgres listening on 127.0.0.1:${env.dbPort}`);
  }
  const keys = await ensureKeys(env);
  await writeFunctionsEnv(env, all, opts);
  // The shim is idempotent, but it is applied only when it changed (or the cluster is new),
  // so a restart never re-runs platform grants over what migrations have tightened since.
  const files = await platformShimFiles();
  const digest = await shimDigest(files);
  const marker = join(env.dir, "shim.sha256");
  if ((await Deno.readTextFile(marker).catch(() => "")).trim() !== digest) {
    await psqlFiles(env, files);
    await Deno.writeTextFile(marker, digest + "\n");
  }
  return keys;
}

/**
 * Starts (or reuses) every environment of a stack.
 *
 * @example
 * ```ts
 * await startStack(stackOptionsFromEnv(), console.log);
 * ```
 */
export async function startStack(opts: StackOptions, log: Logger): Promise<void> {
  await Deno.mkdir(opts.home, { recursive: true });
  await refuseForeignPorts(opts);
  const envs = localEnvs(opts);
  const keys = await Promise.all(envs.map((env) => prepareEnv(env, envs, opts, log)));
  // Stripe: the emulator (one account per environment) and each environment's Stripe secrets.
  const api = managementApiConfig(opts);
  await Promise.all([startStripeEmulator(opts, log), startManagement(api, opts, log)]);
  for (const env of envs) await appendStripeSecrets(env, opts);
  // The Supabase CLI keeps state in supabase/.temp: one push at a time.
  for (const env of envs) await pushMigrations(env, log);
  await Promise.all(envs.map(async (env, i) => {
    await registerEnvironment(env, keys[i]);
    await startProcesses(env, opts, log);
  }));
  if (await writeCustomChecksModule(REPO_ROOT)) {
    log("regenerated the embedded validation checks (commit custom_checks.generated.ts)");
  }
  // Deployed as to a hosted project: the real CLI, through the Management API stand-in.
  for (const env of envs) {
    if (await syncSecrets(env, api)) log(`${env.name}: set function secrets`);
    const deployed = await deployFunctions(env, api);
    log(`${env.name}: ${deployed ? "deployed functions" : "functions up to date"}`);
  }
  await startConsoles(envs, keys, opts, log);
}

/** Every pid file of a stack's processes under its home (postgres's `postmaster.pid` included). */
async function pidFiles(dir: string, depth = 3): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isFile && e.name.endsWith(".pid")) out.push(path);
    else if (e.isDirectory && depth > 0) out.push(...await pidFiles(path, depth - 1));
  }
  return out;
}

/**
 * When nothing of this stack runs yet, its ports must be free: otherwise another stack (an
 * `npm start` in another folder, a test's) or some other program holds them, and this one would
 * talk to that stack's daemons (a foreign emulator answers its probe) or fail half-started.
 *
 * @throws {Error} naming the ports in use and the two ways out
 */
async function refuseForeignPorts(opts: StackOptions): Promise<void> {
  for (const file of await pidFiles(opts.home)) {
    // A pid file's first line is the pid (postgres's has more lines after it).
    const pid = Number((await Deno.readTextFile(file).catch(() => "")).split("\n")[0].trim());
    if (pidAlive(pid)) return;
  }
  const busy = busyPorts(opts.portOffset);
  if (busy.length) {
    throw new Error(
      `Cannot start the stack in ${opts.home}: port(s) ${busy.join(", ")} in use by another ` +
        `process (another Stagecoach stack?). Stop it (\`npm run stop\` in its folder) or shift ` +
        `this one with STAGECOACH_PORT_OFFSET.`,
    );
  }
}

/** Stops every process and cluster of a stack; the state folder stays. */
export async function stopStack(opts: StackOptions, log: Logger): Promise<void> {
  await Promise.all(
    localEnvs(opts).map(async (env) => {
      for (const name of ["gateway", "net_worker", "console"]) {
        await stopDetached(join(env.runDir, `${name}.pid`));
      }
      if (await clusterRunning(env)) {
        await stopCluster(env);
        log(`${env.name}: stopped`);
      }
    }),
  );
  await Promise.all([stopStripeEmulator(opts), stopManagement(managementApiConfig(opts))]);
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" }, json: { type: "boolean" } },
  });
  const command = positionals[0];
  if (values.help || !["start", "stop"].includes(command ?? "")) {
    console.log("usage: deno task start | deno task stop   (scripts/local/stack.ts start|stop)");
    Deno.exit(values.help ? 0 : 2);
  }
  const opts = stackOptionsFromEnv();
  const log: Logger = (line) => console.log(`stack: ${line}`);
  try {
    if (command === "start") {
      const t0 = performance.now();
      await startStack(opts, log);
      log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      printStatus(await collectStatus(opts), { json: values.json ?? false });
    } else {
      await stopStack(opts, log);
    }
  } catch (err) {
    console.error(`stack: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
