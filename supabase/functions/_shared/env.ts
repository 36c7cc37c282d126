/**
 * The environment every Stagecoach Edge Function reads, validated once at boot.
 *
 * Supabase sets the `SUPABASE_*` variables for every function (the local gateway does the
 * same); `STAGECOACH_ENV` is a function secret naming the environment kind.
 *
 * @module
 */
import { z } from "zod";

/** The variables a function needs; unknown variables are ignored. */
export const FunctionEnvSchema = z.object({
  SUPABASE_URL: z.url(),
  SUPABASE_ANON_KEY: z.string().min(1),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1),
  SUPABASE_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL"),
  STAGECOACH_ENV: z.enum(["development", "staging", "production"]).optional(),
  /** Browser origins allowed to call `GET /ops/health` (comma-separated; `_shared/cors.ts`). */
  STAGECOACH_ALLOWED_ORIGINS: z.string().optional(),
  /** Browser origins of the console, allowed to call every `ops` route (comma-separated). */
  STAGECOACH_CONSOLE_ORIGINS: z.string().optional(),
});

/** A validated function environment. */
export type FunctionEnv = z.infer<typeof FunctionEnvSchema>;

/**
 * Validates a set of environment variables.
 *
 * @param vars the variables, e.g. `Deno.env.toObject()`
 * @returns only the variables of {@link FunctionEnvSchema}
 * @throws {Error} naming every missing or invalid variable (never echoing its value)
 * @example
 * ```ts
 * const env = parseFunctionEnv(Deno.env.toObject());
 * env.SUPABASE_DB_URL; // "postgresql://postgres:postgres@127.0.0.1:54322/postgres"
 * ```
 */
export function parseFunctionEnv(vars: Record<string, string | undefined>): FunctionEnv {
  const parsed = FunctionEnvSchema.safeParse(vars);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Cannot read the function environment: ${problems.join("; ")}`);
  }
  return parsed.data;
}

/**
 * Reads and validates this process's environment.
 *
 * @throws {Error} as {@link parseFunctionEnv}
 */
export function functionEnv(): FunctionEnv {
  return parseFunctionEnv(Deno.env.toObject());
}
