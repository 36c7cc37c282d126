/**
 * Where each local environment lives: ports, folders, URLs and keys.
 *
 * This is the one contract shared by the stack (`stack.ts`), the gateway, the CLI and the
 * tests. Two knobs move a whole stack so that tests never touch the one `npm start` runs:
 * `STAGECOACH_HOME` (state folder, default `<repo>/.stagecoach`) and `STAGECOACH_PORT_OFFSET`
 * (added to every port, default 0).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The three environments, in promotion order. */
export const ENVIRONMENTS = ["development", "staging", "production"] as const;

/** The name (and kind) of a local environment. */
export type EnvName = typeof ENVIRONMENTS[number];

/** Repository root, resolved from this file. */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url)).replace(
  /\/$/,
  "",
);

/**
 * Base ports, as the Supabase CLI's local defaults: API 5xx21, DB 5xx22; the console where
 * Supabase puts Studio, 5xx23.
 */
const BASE_PORTS: Record<EnvName, { api: number; db: number; console: number }> = {
  development: { api: 54321, db: 54322, console: 54323 },
  staging: { api: 54331, db: 54332, console: 54333 },
  production: { api: 54341, db: 54342, console: 54343 },
};

/**
 * Each environment's project ref, as the Supabase CLI requires one (20 lowercase letters): the
 * stack's Management API stand-in knows its environments by these, as api.supabase.com does.
 */
const PROJECT_REFS: Record<EnvName, string> = {
  development: "stagecoachlocaldevel",
  staging: "stagecoachlocalstage",
  production: "stagecoachlocalprodn",
};

/** Where a stack keeps its state and how far its ports are shifted. */
export interface StackOptions {
  /** Folder holding every cluster, log, key and pid file of this stack. */
  home: string;
  /** Added to every port of the stack (tests use their own ports). */
  portOffset: number;
}

/** One local environment: a Postgres cluster plus a functions gateway. */
export interface LocalEnv {
  name: EnvName;
  /** Environment kind; locally the same as the name. */
  kind: EnvName;
  /** The project ref the Supabase CLI names it by (`--project-ref`), 20 lowercase letters. */
  projectRef: string;
  apiPort: number;
  dbPort: number;
  /** `<home>/<name>`: everything of this environment. */
  dir: string;
  /** Postgres data directory. */
  pgdata: string;
  /** Postgres unix socket directory (also pid files of the helper processes). */
  runDir: string;
  /** Log files: postgres.log, gateway.log, net_worker.log. */
  logDir: string;
  /** `postgresql://postgres:postgres@127.0.0.1:<dbPort>/postgres` */
  dbUrl: string;
  /** `http://127.0.0.1:<apiPort>` */
  apiUrl: string;
  /** `<apiUrl>/functions/v1` */
  functionsUrl: string;
  /** Where the stack serves this environment's console (`console/serve.ts`). */
  consolePort: number;
  /** `http://127.0.0.1:<consolePort>`: also the origin the `ops` function allows (CORS). */
  consoleUrl: string;
  /** JSON file with the environment's JWT secret and API keys ({@link EnvKeys}). */
  keysFile: string;
  /**
   * dotenv file of the function secrets the stack computes at every start; the stack sets them
   * with `supabase secrets set --env-file` (with the user's `supabase/functions/.env`).
   */
  functionsEnvFile: string;
  /**
   * `<dir>/functions`: what `supabase functions deploy` uploaded, per function and version
   * (`<slug>/<version>/files/<path as uploaded>`), and `registry.json`, the live versions.
   */
  deployDir: string;
  /** The function secrets set through the Management API (JSON, mode 600). */
  secretsFile: string;
}

/** The JWT secret and the two API keys of one environment, minted at first start. */
export interface EnvKeys {
  jwt_secret: string;
  anon_key: string;
  service_role_key: string;
}

/**
 * Reads the stack options from `STAGECOACH_HOME` and `STAGECOACH_PORT_OFFSET`.
 *
 * @example
 * ```ts
 * const opts = stackOptionsFromEnv(); // { home: "<repo>/.stagecoach", portOffset: 0 }
 * ```
 */
export function stackOptionsFromEnv(): StackOptions {
  const home = Deno.env.get("STAGECOACH_HOME") || join(REPO_ROOT, ".stagecoach");
  const offset = Number(Deno.env.get("STAGECOACH_PORT_OFFSET") ?? "0");
  // The highest port shifted is production's console (54343): every shifted port stays <= 65535.
  const max = 65535 - BASE_PORTS.production.console;
  if (!Number.isInteger(offset) || offset < 0 || offset > max) {
    throw new Error(
      `Cannot read STAGECOACH_PORT_OFFSET: "${offset}" is not an integer in 0..${max}`,
    );
  }
  return { home, portOffset: offset };
}

/** Parses an environment name, throwing a clear error for anything else. */
export function parseEnvName(name: string): EnvName {
  if ((ENVIRONMENTS as readonly string[]).includes(name)) return name as EnvName;
  throw new Error(`Cannot find environment "${name}": expected one of ${ENVIRONMENTS.join(", ")}`);
}

/**
 * Describes one local environment of a stack.
 *
 * @example
 * ```ts
 * const dev = localEnv("development");
 * dev.dbUrl; // "postgresql://postgres:postgres@127.0.0.1:54322/postgres"
 * ```
 */
export function localEnv(name: EnvName, opts: StackOptions = stackOptionsFromEnv()): LocalEnv {
  const base = BASE_PORTS[name];
  const apiPort = base.api + opts.portOffset;
  const dbPort = base.db + opts.portOffset;
  const dir = join(opts.home, name);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  return {
    name,
    kind: name,
    projectRef: PROJECT_REFS[name],
    apiPort,
    dbPort,
    dir,
    pgdata: join(dir, "pgdata"),
    runDir: join(dir, "run"),
    logDir: join(dir, "logs"),
    dbUrl: `postgresql://postgres:postgres@127.0.0.1:${dbPort}/postgres`,
    apiUrl,
    functionsUrl: `${apiUrl}/functions/v1`,
    consolePort: base.console + opts.portOffset,
    consoleUrl: `http://127.0.0.1:${base.console + opts.portOffset}`,
    keysFile: join(dir, "keys.json"),
    functionsEnvFile: join(dir, "functions.env"),
    deployDir: join(dir, "functions"),
    secretsFile: join(dir, "secrets.json"),
  };
}

/**
 * The database URL the Supabase CLI is given for a local environment: it treats our clusters
 * as remote (not config.toml's port) and would insist on TLS, which they do not have.
 */
export function supabaseCliDbUrl(env: LocalEnv): string {
  return `${env.dbUrl}?sslmode=disable`;
}

/** Every environment of a stack, in promotion order. */
export function localEnvs(opts: StackOptions = stackOptionsFromEnv()): LocalEnv[] {
  return ENVIRONMENTS.map((name) => localEnv(name, opts));
}

/**
 * Finds the environment a project ref names.
 *
 * @returns the environment, or undefined when no environment of the stack has that ref
 * @example
 * ```ts
 * envByProjectRef("stagecoachlocaldevel")?.name; // "development"
 * ```
 */
export function envByProjectRef(
  ref: string,
  opts: StackOptions = stackOptionsFromEnv(),
): LocalEnv | undefined {
  return localEnvs(opts).find((env) => env.projectRef === ref);
}

/**
 * Reads the keys minted for an environment at its first start.
 *
 * @throws {Error} when the stack was never started in this home folder.
 */
export async function readKeys(env: LocalEnv): Promise<EnvKeys> {
  try {
    return JSON.parse(await Deno.readTextFile(env.keysFile)) as EnvKeys;
  } catch (cause) {
    throw new Error(
      `Cannot read the keys of ${env.name}: ${env.keysFile} is missing (run \`npm start\`)`,
      { cause },
    );
  }
}

/**
 * The outbound allow-list (`STAGECOACH_OUTBOUND_ALLOW`) the stack gives its functions: local
 * notification receivers listen on 127.0.0.1, so that host (any port, http allowed) is
 * reachable from a local ops-worker. Nothing else internal is: not `localhost`, not
 * 127.0.0.2, not [::1].
 */
export const LOCAL_OUTBOUND_ALLOW = "127.0.0.1";

/** Base port of the local Stripe emulator (as `stripe-mock`); the stack's offset is added. */
export const STRIPE_EMULATOR_BASE_PORT = 12111;

/** The stack's Stripe emulator: one process, one account (secret key) per environment. */
export interface StripeEmulatorConfig {
  port: number;
  /** `http://127.0.0.1:<port>`: what functions get as `STRIPE_API_BASE`. */
  url: string;
  /** `<home>/stripe_emulator`. */
  dir: string;
  /** The accounts (one secret key per environment) the stack minted, JSON, mode 600. */
  accountsFile: string;
  /** The emulator's saved objects, restored at its next start. */
  stateFile: string;
  logFile: string;
  pidFile: string;
}

/**
 * Describes the Stripe emulator of a stack.
 *
 * @example
 * ```ts
 * stripeEmulatorConfig().url; // "http://127.0.0.1:12111"
 * ```
 */
export function stripeEmulatorConfig(
  opts: StackOptions = stackOptionsFromEnv(),
): StripeEmulatorConfig {
  const port = STRIPE_EMULATOR_BASE_PORT + opts.portOffset;
  const dir = join(opts.home, "stripe_emulator");
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    accountsFile: join(dir, "accounts.json"),
    stateFile: join(dir, "state.json"),
    logFile: join(dir, "emulator.log"),
    pidFile: join(dir, "emulator.pid"),
  };
}

/** One emulator account: the environment it serves and its secret key. */
export interface StripeEmulatorAccount {
  id: string;
  label: EnvName;
  secret_key: string;
}

/**
 * Reads the emulator accounts the stack minted (`npm start`).
 *
 * @throws {Error} when the stack was never started in this home folder
 */
export async function readStripeAccounts(
  emulator: StripeEmulatorConfig = stripeEmulatorConfig(),
): Promise<StripeEmulatorAccount[]> {
  try {
    return JSON.parse(await Deno.readTextFile(emulator.accountsFile)) as StripeEmulatorAccount[];
  } catch (cause) {
    throw new Error(
      `Cannot read the Stripe emulator accounts: ${emulator.accountsFile} is missing (run \`npm start\`)`,
      { cause },
    );
  }
}

/** The emulator secret key of one environment. @throws {Error} as {@link readStripeAccounts} */
export async function localStripeKey(
  env: LocalEnv,
  emulator: StripeEmulatorConfig = stripeEmulatorConfig(),
): Promise<string> {
  const account = (await readStripeAccounts(emulator)).find((a) => a.label === env.name);
  if (!account) throw new Error(`Cannot find the Stripe emulator account of ${env.name}`);
  return account.secret_key;
}

/**
 * Base port of the console (the web app) when served locally; the stack's offset is added.
 * 54330 is free in the port map (Management API 54300, environments 54321/2, 54331/2, 54341/2).
 */
export const CONSOLE_BASE_PORT = 54330;

/**
 * The console's local origin, `http://127.0.0.1:<54330 + offset>`: the stack lists it in every
 * environment's `STAGECOACH_CONSOLE_ORIGINS`, so `ops` answers its CORS requests.
 *
 * @example
 * ```ts
 * localConsoleOrigin({ home: ".stagecoach", portOffset: 0 }); // "http://127.0.0.1:54330"
 * ```
 */
export function localConsoleOrigin(opts: StackOptions = stackOptionsFromEnv()): string {
  return `http://127.0.0.1:${CONSOLE_BASE_PORT + opts.portOffset}`;
}

/** Base port of the stack's Management API stand-in; the stack's offset is added. */
export const MANAGEMENT_API_BASE_PORT = 54300;

/**
 * The stack's Management API stand-in (one for every environment, told apart by project ref):
 * what `supabase functions deploy --use-api` and `supabase secrets …` talk to locally.
 */
export interface ManagementApiConfig {
  port: number;
  /** `http://127.0.0.1:<port>`: the profile's `api_url`. */
  url: string;
  /** `<home>/management`. */
  dir: string;
  /** The access token (`sbp_` + 40 hex digits) the API accepts, minted at first start, mode 600. */
  accessTokenFile: string;
  /** The Supabase CLI profile (JSON) pointing the CLI at {@link url}: `supabase --profile <it>`. */
  profileFile: string;
  logFile: string;
  pidFile: string;
}

/**
 * Describes the Management API stand-in of a stack.
 *
 * @example
 * ```ts
 * const api = managementApiConfig();
 * api.url; // "http://127.0.0.1:54300"
 * // supabase secrets list --project-ref stagecoachlocaldevel --profile <api.profileFile>
 * ```
 */
export function managementApiConfig(
  opts: StackOptions = stackOptionsFromEnv(),
): ManagementApiConfig {
  const port = MANAGEMENT_API_BASE_PORT + opts.portOffset;
  const dir = join(opts.home, "management");
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    accessTokenFile: join(dir, "access_token"),
    profileFile: join(dir, "profile.json"),
    logFile: join(dir, "management.log"),
    pidFile: join(dir, "management.pid"),
  };
}

/**
 * Reads the access token the stack minted for its Management API (what the Supabase CLI needs
 * as `SUPABASE_ACCESS_TOKEN`).
 *
 * @throws {Error} when the stack was never started in this home folder
 */
export async function readAccessToken(
  api: ManagementApiConfig = managementApiConfig(),
): Promise<string> {
  try {
    return (await Deno.readTextFile(api.accessTokenFile)).trim();
  } catch (cause) {
    throw new Error(
      `Cannot read the Management API access token: ${api.accessTokenFile} is missing (run \`npm start\`)`,
      { cause },
    );
  }
}

/**
 * Every fixed port a stack with this offset listens on: each environment's API, database and
 * console, the console origin, the Management API stand-in and the Stripe emulator.
 *
 * @example
 * ```ts
 * stackPorts(0).includes(54322); // true
 * ```
 */
export function stackPorts(portOffset: number): number[] {
  const envPorts = ENVIRONMENTS.flatMap((name) => {
    const b = BASE_PORTS[name];
    return [b.api, b.db, b.console];
  });
  return [...envPorts, CONSOLE_BASE_PORT, MANAGEMENT_API_BASE_PORT, STRIPE_EMULATOR_BASE_PORT]
    .map((p) => p + portOffset);
}

/**
 * The ports of {@link stackPorts} that something already holds on 127.0.0.1. The stack's ports
 * lie in Linux's ephemeral range (32768–60999), so a long-lived outgoing connection of any
 * program may hold one as its local port; a stack started there would fail on it.
 */
export function busyPorts(portOffset: number): number[] {
  return stackPorts(portOffset).filter((port) => {
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * The port offset of a throwaway stack: the one `variable` asks for when set (its ports must
 * be free), else the first of `candidates` whose ports are all free ({@link busyPorts}).
 *
 * @param opts.variable the environment variable that may pin the offset
 * @param opts.candidates the offsets tried in order
 * @param opts.log told about each busy candidate
 * @throws {Error} when the pinned offset or every candidate has a port in use, naming them
 * @example
 * ```ts
 * const offset = freePortOffset({ variable: "STAGECOACH_TEST_PORT_OFFSET", candidates: [1000, 1100] });
 * ```
 */
export function freePortOffset(opts: {
  variable: string;
  candidates: number[];
  log?: (line: string) => void;
}): number {
  const asked = Deno.env.get(opts.variable);
  if (asked !== undefined) {
    const busy = busyPorts(Number(asked));
    if (busy.length) {
      throw new Error(
        `${opts.variable}=${asked}: ports ${busy.join(", ")} are in use; choose another`,
      );
    }
    return Number(asked);
  }
  for (const offset of opts.candidates) {
    const busy = busyPorts(offset);
    if (!busy.length) return offset;
    opts.log?.(`ports ${busy.join(", ")} (+${offset}) are in use; trying the next offset`);
  }
  throw new Error(
    `no free port offset among ${opts.candidates.map((o) => `+${o}`).join(", ")}`,
  );
}
