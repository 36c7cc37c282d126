/**
 * Where the CLI reaches an environment: the one module that knows. Every command (promotions,
 * users copy, ETL, reconcile, release, …) asks it for a {@link Target}; no other CLI file
 * imports the local stack's configuration (`tests/layering_test.ts` enforces it).
 *
 * An environment is **hosted** when any of its variables is set, and then described by them
 * alone (`<NAME>` is `DEVELOPMENT`, `STAGING` or `PRODUCTION`):
 *
 * | variable                          | what                                                   |
 * | --------------------------------- | ------------------------------------------------------ |
 * | `STAGECOACH_<NAME>_PROJECT_REF`   | the Supabase project ref (Management API, defaults)    |
 * | `STAGECOACH_<NAME>_DB_URL`        | Postgres connection string (pooler session mode is ok) |
 * | `STAGECOACH_<NAME>_API_URL`       | default `https://<ref>.supabase.co`                    |
 * | `STAGECOACH_<NAME>_FUNCTIONS_URL` | default `<API_URL>/functions/v1`                       |
 * | `STAGECOACH_<NAME>_ANON_KEY`      | the project's anon (publishable) key, for sign-in      |
 *
 * plus `SUPABASE_ACCESS_TOKEN` (Management API: functions deploy, secrets), and who acts:
 * `STAGECOACH_TOKEN` (an access token) or `STAGECOACH_EMAIL` + `STAGECOACH_PASSWORD` (signed
 * in through Supabase Auth's password grant). Otherwise the environment is the local stack's,
 * with its URLs and keys, and `--as <email>` mints that user's token.
 *
 * @module
 */
import postgres from "postgres";
import { z } from "zod";
import {
  ENVIRONMENTS,
  type EnvName,
  type LocalEnv,
  localEnv,
  managementApiConfig,
  parseEnvName,
  readAccessToken,
  readKeys,
  REPO_ROOT,
  type StackOptions,
  stackOptionsFromEnv,
  supabaseCliDbUrl as localCliDbUrl,
} from "../local/config.ts";
import { readDotenvFile } from "../local/dotenv.ts";
import { userToken } from "../local/auth.ts";

export { ENVIRONMENTS, type EnvName, REPO_ROOT };
/** The local stack's own commands (`status`, `user create`, `token`) reach it here too. */
export { collectStatus, printStatus } from "../local/status.ts";
export { ensureUser, OPS_ROLES, userToken } from "../local/auth.ts";

/** An environment as the CLI reaches it. */
export interface Target {
  name: EnvName;
  /** `local`: this machine's stack; `hosted`: described by the documented variables. */
  mode: "local" | "hosted";
  /** Postgres connection string; empty for a hosted target resolved without a database. */
  dbUrl: string;
  /** `https://<ref>.supabase.co` or the local API port. */
  apiUrl: string;
  /** `<apiUrl>/functions/v1` unless set. */
  functionsUrl: string;
  /** The anon key (sign-in, status page); absent when not configured. */
  anonKey?: string;
  /** Supabase project ref (Management API); absent for a hosted target without one. */
  projectRef?: string;
  /** The local stack's description of the environment (local targets only). */
  local?: LocalEnv;
}

/** The variable names of a hosted environment. */
export function hostedVariables(name: EnvName) {
  const p = `STAGECOACH_${name.toUpperCase()}_`;
  return {
    projectRef: `${p}PROJECT_REF`,
    dbUrl: `${p}DB_URL`,
    apiUrl: `${p}API_URL`,
    functionsUrl: `${p}FUNCTIONS_URL`,
    anonKey: `${p}ANON_KEY`,
  } as const;
}

const Ref = z.string().regex(/^[a-z0-9]{20}$/, "expected the 20-character project ref");
const DbUrl = z.string().regex(/^postgres(ql)?:\/\//, "expected a postgresql:// URL");
const HttpUrl = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ""));

/**
 * Describes an environment from variables alone; null when none of its variables is set.
 *
 * @param name the environment
 * @param vars the process environment (default `Deno.env`)
 * @throws {Error} naming the variable that is missing or malformed
 * @example
 * ```ts
 * hostedTarget("staging", {
 *   STAGECOACH_STAGING_PROJECT_REF: "abcdefghijklmnopqrst",
 *   STAGECOACH_STAGING_DB_URL: "postgresql://postgres.abcdefghijklmnopqrst:pw@host:5432/postgres",
 * })?.functionsUrl; // "https://abcdefghijklmnopqrst.supabase.co/functions/v1"
 * ```
 */
export function hostedTarget(
  name: EnvName,
  vars: Record<string, string | undefined> = Deno.env.toObject(),
  opts: { database?: boolean } = {},
): Target | null {
  const names = hostedVariables(name);
  const set = Object.values(names).filter((v) => vars[v]);
  if (set.length === 0) return null;
  const read = <T>(key: keyof typeof names, schema: z.ZodType<T>): T | undefined => {
    const raw = vars[names[key]];
    if (!raw) return undefined;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(
        `Cannot read ${names[key]}: ${parsed.error.issues[0]?.message ?? "invalid value"}`,
      );
    }
    return parsed.data;
  };
  const projectRef = read("projectRef", Ref);
  // A command that only calls the ops API (`database: false`) needs no database URL.
  const dbUrl = read("dbUrl", DbUrl) ?? (opts.database === false ? "" : undefined);
  if (dbUrl === undefined) {
    throw new Error(`Cannot reach ${name}: ${set.join(", ")} set but ${names.dbUrl} is missing`);
  }
  const apiUrl = read("apiUrl", HttpUrl) ??
    (projectRef ? `https://${projectRef}.supabase.co` : undefined);
  if (!apiUrl) {
    throw new Error(
      `Cannot reach ${name}: set ${names.projectRef} (or ${names.apiUrl}) beside ${names.dbUrl}`,
    );
  }
  return {
    name,
    mode: "hosted",
    dbUrl,
    apiUrl,
    functionsUrl: read("functionsUrl", HttpUrl) ?? `${apiUrl}/functions/v1`,
    anonKey: vars[names.anonKey] || undefined,
    projectRef,
  };
}

/**
 * The target of an environment name: hosted when its variables are set, else the local
 * stack's environment.
 *
 * @throws {Error} for an unknown name or a half-described hosted environment
 */
export function resolveTarget(
  name: string,
  opts: {
    vars?: Record<string, string | undefined>;
    stack?: StackOptions;
    /** false: a hosted target may lack its database URL (`dbUrl` is then empty). */
    database?: boolean;
  } = {},
): Target {
  const env = parseEnvName(name);
  const hosted = hostedTarget(env, opts.vars ?? Deno.env.toObject(), {
    database: opts.database,
  });
  if (hosted) return hosted;
  const local = localEnv(env, opts.stack ?? stackOptionsFromEnv());
  return {
    name: env,
    mode: "local",
    dbUrl: local.dbUrl,
    apiUrl: local.apiUrl,
    functionsUrl: local.functionsUrl,
    projectRef: local.projectRef,
    local,
  };
}

/**
 * The local stack's environment behind a target, for commands that only make sense there
 * (`user create`, `token`, `--as`).
 *
 * @throws {Error} for a hosted target, naming what to do instead
 */
export function localOnly(target: Target, what: string): LocalEnv {
  if (!target.local) {
    throw new Error(
      `Cannot ${what} in ${target.name}: it is a hosted project (its STAGECOACH_${target.name.toUpperCase()}_* variables are set); this works on the local stack only`,
    );
  }
  return target.local;
}

/** The database URL the Supabase CLI is given (`db push`): the stack's without TLS. */
export function supabaseCliDbUrl(target: Target): string {
  return target.local ? localCliDbUrl(target.local) : target.dbUrl;
}

/** The anon key of a target: its variable, or the local stack's minted key. */
export async function anonKey(target: Target): Promise<string | undefined> {
  if (target.anonKey) return target.anonKey;
  return target.local ? (await readKeys(target.local)).anon_key : undefined;
}

/** The stack options of the local stack (for `status`). */
export function localStack(): StackOptions {
  return stackOptionsFromEnv();
}

/**
 * Function secrets as a CLI-run job needs them (the Stripe key of reconcile): the local
 * stack's `functions.env`, or for a hosted target the variables `STAGECOACH_FUNCTION_SECRET_<NAME>`
 * (the same ones `release` sets as the target's function secrets).
 */
export async function functionSecrets(target: Target): Promise<Record<string, string>> {
  if (target.local) {
    return await readDotenvFile(target.local.functionsEnvFile).catch(() => ({}));
  }
  return secretsFromVariables(Deno.env.toObject());
}

/** The prefix of variables that carry function secrets. */
export const FUNCTION_SECRET_PREFIX = "STAGECOACH_FUNCTION_SECRET_";

/**
 * Function secrets given as `STAGECOACH_FUNCTION_SECRET_<NAME>` variables, by `<NAME>`.
 *
 * @example
 * ```ts
 * secretsFromVariables({ STAGECOACH_FUNCTION_SECRET_STRIPE_SECRET_KEY: "sk_test_…" });
 * // { STRIPE_SECRET_KEY: "sk_test_…" }
 * ```
 */
export function secretsFromVariables(
  vars: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) {
    if (k.startsWith(FUNCTION_SECRET_PREFIX) && v) out[k.slice(FUNCTION_SECRET_PREFIX.length)] = v;
  }
  return out;
}

const Session = z.object({ access_token: z.string().min(1) });

/**
 * The access token to act with in a target: `--as` (local stack only: mints that user's
 * token), `STAGECOACH_TOKEN`, or a password sign-in with `STAGECOACH_EMAIL` and
 * `STAGECOACH_PASSWORD` through the target's Supabase Auth.
 *
 * @throws {Error} when no credentials are given or the sign-in is refused
 */
export async function accessToken(
  target: Target,
  opts: { as?: string; vars?: Record<string, string | undefined> } = {},
): Promise<string> {
  const vars = opts.vars ?? Deno.env.toObject();
  if (opts.as) {
    const env = localOnly(target, "mint a token with --as");
    const sql = postgres(env.dbUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      return (await userToken(sql, env, { email: opts.as })).access_token;
    } finally {
      await sql.end({ timeout: 2 });
    }
  }
  if (vars.STAGECOACH_TOKEN) return vars.STAGECOACH_TOKEN;
  if (vars.STAGECOACH_EMAIL && vars.STAGECOACH_PASSWORD) {
    return await signIn(target, vars.STAGECOACH_EMAIL, vars.STAGECOACH_PASSWORD);
  }
  throw new MissingCredentialsError();
}

/** Neither `--as`, `STAGECOACH_TOKEN` nor `STAGECOACH_EMAIL` + `STAGECOACH_PASSWORD`. */
export class MissingCredentialsError extends Error {
  constructor() {
    super(
      "Missing credentials: pass --as <email> (local stack), set STAGECOACH_TOKEN, or STAGECOACH_EMAIL and STAGECOACH_PASSWORD",
    );
    this.name = "MissingCredentialsError";
  }
}

/** Signs in through Supabase Auth's password grant and returns the access token. */
async function signIn(target: Target, email: string, password: string): Promise<string> {
  const key = await anonKey(target);
  if (!key) {
    throw new Error(
      `Cannot sign in to ${target.name}: set ${hostedVariables(target.name).anonKey}`,
    );
  }
  const url = `${target.apiUrl}/auth/v1/token?grant_type=password`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { apikey: key, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
  } catch (cause) {
    throw new Error(`Cannot sign in to ${target.name} at ${url}: ${(cause as Error).message}`);
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const why = body.error_description ?? body.msg ?? body.message ?? `HTTP ${res.status}`;
    throw new Error(`Cannot sign in to ${target.name} as ${email}: ${why}`);
  }
  const parsed = Session.safeParse(body);
  if (!parsed.success) {
    throw new Error(`Cannot sign in to ${target.name}: the answer has no access_token`);
  }
  return parsed.data.access_token;
}

/**
 * How the Supabase CLI reaches a target's Management API (`secrets set`, `functions deploy
 * --use-api`): for a hosted project, its ref and `SUPABASE_ACCESS_TOKEN`; on the local stack,
 * the stack's Management API through a CLI profile.
 *
 * @throws {Error} naming what is missing
 */
export async function managementAccess(
  target: Target,
  vars: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<{ projectRef: string; accessToken: string; profile?: string }> {
  if (target.local) {
    const api = managementApiConfig(localStack());
    return {
      projectRef: target.local.projectRef,
      accessToken: await readAccessToken(api),
      profile: api.profileFile,
    };
  }
  const names = hostedVariables(target.name);
  if (!target.projectRef) {
    throw new Error(`Cannot reach the Management API: set ${names.projectRef}`);
  }
  const accessToken = vars.SUPABASE_ACCESS_TOKEN;
  if (!accessToken) throw new Error("Cannot reach the Management API: set SUPABASE_ACCESS_TOKEN");
  // A profile from SUPABASE_PROFILE (e.g. another Management API) is the CLI's own to read.
  return { projectRef: target.projectRef, accessToken };
}
