/**
 * The status page's build-time settings, read from the environment of its build (App
 * Platform `envs` with `scope: BUILD_TIME`, filled per environment by the release workflows).
 *
 * @module
 */
import { z } from "zod";

/** The build environment variables the page needs; unknown variables are ignored. */
export const StatusBuildEnvSchema = z.object({
  /** The environment this page reports on: `staging`, `production`, … */
  STATUS_ENV: z.enum(["development", "staging", "production"]),
  /** The environment's functions URL, e.g. `https://<ref>.supabase.co/functions/v1`. */
  STATUS_FUNCTIONS_URL: z.url({ protocol: /^https?$/ }),
  /** The environment's anon key: public by design (it is shipped to every browser). */
  STATUS_ANON_KEY: z.string().min(1),
});

/** What the page is built with (embedded in `index.html`). */
export interface StatusConfig {
  env: "development" | "staging" | "production";
  functionsUrl: string;
  anonKey: string;
}

/**
 * Validates the build environment.
 *
 * @param vars the variables, e.g. `Deno.env.toObject()`
 * @returns the page's settings; the functions URL without a trailing slash
 * @throws {Error} naming every missing or invalid variable (never echoing its value)
 * @example
 * ```ts
 * parseStatusConfig({
 *   STATUS_ENV: "staging",
 *   STATUS_FUNCTIONS_URL: "https://abc.supabase.co/functions/v1",
 *   STATUS_ANON_KEY: "eyJ…",
 * }).functionsUrl; // "https://abc.supabase.co/functions/v1"
 * ```
 */
export function parseStatusConfig(vars: Record<string, string | undefined>): StatusConfig {
  const parsed = StatusBuildEnvSchema.safeParse(vars);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Cannot read the status page settings: ${problems.join("; ")}`);
  }
  const { STATUS_ENV, STATUS_FUNCTIONS_URL, STATUS_ANON_KEY } = parsed.data;
  return {
    env: STATUS_ENV,
    functionsUrl: STATUS_FUNCTIONS_URL.replace(/\/+$/, ""),
    anonKey: STATUS_ANON_KEY,
  };
}
