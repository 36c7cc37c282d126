/**
 * The console's build-time settings: which environment it serves, that environment's API URL
 * and its anon key — read from the build environment (App Platform `envs` with
 * `scope: BUILD_TIME`, the local stack's own values) and embedded in `index.html`.
 *
 * Only a public key may be embedded: a key whose JWT says any role but `anon` (the
 * service-role key) or a secret API key (`sb_secret_…`) is refused, so a mistaken variable can
 * never put a service key into the page.
 *
 * @module
 */
import { z } from "zod";

/** The build environment variables the console needs; unknown variables are ignored. */
export const ConsoleBuildEnvSchema = z.object({
  /** The environment this console manages: `development`, `staging` or `production`. */
  CONSOLE_ENV: z.enum(["development", "staging", "production"]),
  /** The environment's API URL, e.g. `https://<ref>.supabase.co` (auth and functions under it). */
  CONSOLE_SUPABASE_URL: z.url({ protocol: /^https?$/ }),
  /** The environment's anon (or publishable) key: public by design. */
  CONSOLE_ANON_KEY: z.string().min(1),
  /**
   * The path the console is served under, `/` by default; on App Platform `/console/`, so the
   * page finds its script and style whether it is opened as `/console` or `/console/`.
   */
  CONSOLE_BASE_PATH: z.string().regex(
    /^\/([A-Za-z0-9._-]+\/)*$/,
    "expected a path such as /console/",
  )
    .default("/"),
});

/** What the console is built with (embedded in `index.html`). */
export interface ConsoleConfig {
  env: "development" | "staging" | "production";
  supabaseUrl: string;
  anonKey: string;
  /** Where the page's files are served, ending in `/`. */
  basePath: string;
}

/** The `role` claim of a JWT-shaped key, or null when the key is not a JWT. */
function jwtRole(key: string): string | null {
  const parts = key.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replaceAll("-", "+").replaceAll("_", "/"));
    const role = (JSON.parse(json) as { role?: unknown }).role;
    return typeof role === "string" ? role : "";
  } catch {
    return "";
  }
}

/**
 * Validates the build environment.
 *
 * @param vars the variables, e.g. `Deno.env.toObject()`
 * @returns the console's settings; the URL without a trailing slash
 * @throws {Error} naming every missing or invalid variable (never echoing a value), and
 *   refusing a key that is not public
 * @example
 * ```ts
 * parseConsoleConfig({
 *   CONSOLE_ENV: "staging",
 *   CONSOLE_SUPABASE_URL: "https://abc.supabase.co",
 *   CONSOLE_ANON_KEY: "eyJ…",
 * }).supabaseUrl; // "https://abc.supabase.co"
 * ```
 */
export function parseConsoleConfig(vars: Record<string, string | undefined>): ConsoleConfig {
  const parsed = ConsoleBuildEnvSchema.safeParse(vars);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Cannot read the console settings: ${problems.join("; ")}`);
  }
  const { CONSOLE_ENV, CONSOLE_SUPABASE_URL, CONSOLE_ANON_KEY, CONSOLE_BASE_PATH } = parsed.data;
  const role = jwtRole(CONSOLE_ANON_KEY);
  const secretKey = CONSOLE_ANON_KEY.startsWith("sb_secret_");
  if (secretKey || (role !== null && role !== "anon")) {
    throw new Error(
      `Cannot read the console settings: CONSOLE_ANON_KEY is not a public key (${
        secretKey ? "a secret API key" : `role ${role || "unreadable"}`
      }); give the anon key, never the service-role key`,
    );
  }
  return {
    env: CONSOLE_ENV,
    supabaseUrl: CONSOLE_SUPABASE_URL.replace(/\/+$/, ""),
    anonKey: CONSOLE_ANON_KEY,
    basePath: CONSOLE_BASE_PATH,
  };
}
