/**
 * How the stack deploys to its environments: with the real Supabase CLI against the stack's
 * Management API stand-in, as CI deploys to a hosted project — `supabase secrets set
 * --env-file …` and `supabase functions deploy --use-api`, each only when something changed
 * since the last time (so a second `npm start` costs a few file hashes, not a deploy).
 *
 * @module
 */
import { join } from "node:path";
import {
  type LocalEnv,
  type ManagementApiConfig,
  readAccessToken,
  REPO_ROOT,
  type StackOptions,
} from "./config.ts";
import { readDotenvFile } from "./dotenv.ts";
import { createFunctionStore } from "./function_store.ts";
import { discoverFunctions } from "./gateway_functions.ts";
import { ensureStackDaemon, run, stopDetached, waitFor } from "./process.ts";
import { readSecrets } from "./secret_store.ts";

/** The user's own function secrets, set after the stack's so theirs win. */
export const USER_SECRETS_FILE = join(REPO_ROOT, "supabase/functions/.env");

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Mints the Management API's access token (`sbp_` + 40 hex digits, the format the CLI checks)
 * and writes the CLI profile pointing at the API, unless they exist.
 */
export async function ensureManagementFiles(api: ManagementApiConfig): Promise<void> {
  await Deno.mkdir(api.dir, { recursive: true });
  const token = await Deno.readTextFile(api.accessTokenFile).catch(() => null);
  if (token === null) {
    const hex = Array.from(crypto.getRandomValues(new Uint8Array(20)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(api.accessTokenFile, `sbp_${hex}\n`, { mode: 0o600 });
  }
  // The fields the CLI requires of a profile (`name`, `api_url`, `dashboard_url`,
  // `project_host`); it refuses unknown ones.
  const profile = {
    name: "stagecoach-local",
    api_url: api.url,
    dashboard_url: `${api.url}/dashboard`,
    project_host: "localhost",
  };
  await Deno.writeTextFile(api.profileFile, JSON.stringify(profile, null, 2) + "\n");
}

/** Starts the Management API process unless it runs, and waits until it answers. */
export async function startManagement(
  api: ManagementApiConfig,
  opts: StackOptions,
  log: (line: string) => void,
): Promise<void> {
  await ensureManagementFiles(api);
  const started = await ensureStackDaemon("scripts/local/management.ts", {
    ...api,
    cwd: REPO_ROOT,
    home: opts.home,
    portOffset: opts.portOffset,
  });
  if (started) {
    log(`started the Management API on ${api.url}`);
  }
  await waitFor(`the Management API on ${api.url}`, async () => {
    const res = await fetch(`${api.url}/v1/projects/none`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 401;
  }, { timeoutMs: 60_000, logFile: api.logFile });
}

/** Stops the Management API process. */
export async function stopManagement(api: ManagementApiConfig): Promise<void> {
  await stopDetached(api.pidFile);
}

/**
 * Runs the Supabase CLI against a local environment, as a hosted project would be addressed:
 * `--project-ref`, the stack's profile and access token.
 *
 * @param args the command, e.g. `["secrets", "list"]`
 * @param opts.env the environment (its project ref)
 * @param opts.api the Management API stand-in (its CLI profile and access token)
 * @param opts.cwd where the CLI runs, default the repository root
 * @returns the CLI's output
 * @throws {Error} with the CLI's output when it fails
 * @example
 * ```ts
 * await supabaseCli(["functions", "deploy", "--use-api"], { env, api });
 * ```
 */
export async function supabaseCli(
  args: string[],
  opts: { env: LocalEnv; api: ManagementApiConfig; cwd?: string },
): Promise<{ stdout: string; stderr: string }> {
  const { env, api } = opts;
  return await run(
    join(REPO_ROOT, "node_modules/.bin/supabase"),
    [...args, "--project-ref", env.projectRef, "--profile", api.profileFile],
    {
      cwd: opts.cwd ?? REPO_ROOT,
      env: {
        ...Deno.env.toObject(),
        SUPABASE_ACCESS_TOKEN: await readAccessToken(api),
        SUPABASE_TELEMETRY_DISABLED: "1",
      },
    },
  );
}

/**
 * Sets the environment's function secrets — the stack's (`functions.env`) then the user's
 * (`supabase/functions/.env`) — with `supabase secrets set --env-file`, when one differs from
 * what is set. Secrets are only ever added or changed, as on Supabase: one removed from a file
 * stays until `supabase secrets unset`.
 *
 * @returns whether the CLI ran
 */
export async function syncSecrets(env: LocalEnv, api: ManagementApiConfig): Promise<boolean> {
  const files = [env.functionsEnvFile, USER_SECRETS_FILE];
  const wanted: Record<string, string> = {};
  const present: string[] = [];
  for (const file of files) {
    const vars = await readDotenvFile(file);
    if (await Deno.stat(file).then(() => true, () => false)) present.push(file);
    Object.assign(wanted, vars);
  }
  const stored = await readSecrets(env.secretsFile);
  const same = Object.entries(wanted).every(([name, value]) =>
    name.startsWith("SUPABASE_") || stored[name]?.value === value
  );
  if (same) return false;
  for (const file of present) {
    await supabaseCli(["secrets", "set", "--env-file", file], { env, api });
  }
  return true;
}

/**
 * Whether the environment serves exactly the functions of the checkout: the same function
 * folders, each deployed from files whose content has not changed since, under the same
 * `supabase/config.toml`.
 */
export async function functionsUpToDate(env: LocalEnv): Promise<boolean> {
  const specs = await discoverFunctions(REPO_ROOT);
  const live = await createFunctionStore(env.deployDir).list();
  if (specs.map((s) => s.name).join() !== live.map((d) => d.slug).join()) return false;
  const marker = await Deno.readTextFile(join(env.deployDir, "config.sha256")).catch(() => "");
  const config = await Deno.readFile(join(REPO_ROOT, "supabase/config.toml"));
  if (marker.trim() !== await sha256Hex(config)) return false;
  for (const deployment of live) {
    for (const file of deployment.files) {
      const bytes = await Deno.readFile(join(REPO_ROOT, file.path)).catch(() => null);
      if (bytes === null || await sha256Hex(bytes) !== file.sha256) return false;
    }
  }
  return true;
}

/**
 * Deploys every function of the checkout with `supabase functions deploy --use-api`, unless
 * {@link functionsUpToDate}.
 *
 * @returns whether the CLI ran
 */
export async function deployFunctions(env: LocalEnv, api: ManagementApiConfig): Promise<boolean> {
  if (await functionsUpToDate(env)) return false;
  await supabaseCli(["functions", "deploy", "--use-api"], { env, api });
  const config = await Deno.readFile(join(REPO_ROOT, "supabase/config.toml"));
  await Deno.writeTextFile(join(env.deployDir, "config.sha256"), await sha256Hex(config) + "\n");
  return true;
}
