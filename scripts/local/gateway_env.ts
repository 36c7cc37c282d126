/**
 * The environment variables each local Edge Function process gets, composed as Supabase
 * composes them: the platform's `SUPABASE_*` variables, plus function secrets.
 *
 * @module
 */

/** The variables Supabase gives every function. */
export interface PlatformVars {
  SUPABASE_URL: string;
  SUPABASE_ANON_KEY: string;
  SUPABASE_SERVICE_ROLE_KEY: string;
  SUPABASE_DB_URL: string;
}

/** Inputs of {@link composeFunctionEnv}, lowest precedence first. */
export interface FunctionEnvSources {
  /** The gateway's own environment (PATH, HOME, DENO_DIR… that a Deno process needs). */
  process: Record<string, string>;
  /** Defaults the gateway adds, e.g. `STAGECOACH_ENV`. */
  defaults: Record<string, string>;
  /** The function secrets set through the Management API (`supabase secrets set`). */
  secrets: Record<string, string>;
  /** The platform variables; always win. */
  platform: PlatformVars;
}

/** The composed environment and the secret names that were refused. */
export interface ComposedEnv {
  env: Record<string, string>;
  /** Secret names starting with `SUPABASE_`, which Supabase reserves (and so do we). */
  skipped: string[];
}

/**
 * Composes a function's environment. Like `supabase secrets set`, secret names starting with
 * `SUPABASE_` are refused (reported in `skipped`), and `SUPABASE_*` variables of the
 * gateway's own environment (a developer's access token, say) never reach a function.
 *
 * @param sources the variables, from lowest to highest precedence
 * @returns the environment to start the function process with
 * @example
 * ```ts
 * const { env } = composeFunctionEnv({
 *   process: Deno.env.toObject(),
 *   defaults: { STAGECOACH_ENV: "development" },
 *   secrets: {},
 *   platform: { SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_DB_URL },
 * });
 * ```
 */
export function composeFunctionEnv(sources: FunctionEnvSources): ComposedEnv {
  const env: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(sources.process)) {
    if (!name.startsWith("SUPABASE_")) env[name] = value;
  }
  Object.assign(env, sources.defaults);
  for (const [name, value] of Object.entries(sources.secrets)) {
    if (name.startsWith("SUPABASE_")) skipped.push(name);
    else env[name] = value;
  }
  Object.assign(env, sources.platform);
  return { env, skipped };
}
