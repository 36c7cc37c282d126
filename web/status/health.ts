/**
 * One health check of an environment through its `ops` function (`GET /ops/health`, answered
 * `{ ok, env }`). The function is deployed with `verify_jwt = true`, so the anon key goes as
 * the bearer token and as `apikey`, as supabase-js sends it.
 *
 * @module
 */
import type { StatusConfig } from "./config.ts";

/**
 * The answer's shape, checked by hand rather than with zod: this module runs in the browser,
 * and zod would make the page's script a hundred times larger.
 */
function readHealthBody(body: unknown): { ok: boolean; env: string | null } | null {
  if (typeof body !== "object" || body === null) return null;
  const { ok, env } = body as Record<string, unknown>;
  if (typeof ok !== "boolean" || (env !== null && typeof env !== "string")) return null;
  return { ok, env };
}

/** What the page shows for an environment. */
export interface HealthReport {
  env: StatusConfig["env"];
  /** `up`: answered ok for the expected environment; `down`: anything else. */
  state: "up" | "down";
  /** A short human reason: `ok`, `http 503`, `answered as staging`, the network error. */
  detail: string;
  /** Milliseconds from request to answer (or failure). */
  ms: number;
}

/**
 * Asks an environment's `ops` function for its health.
 *
 * @param config the environment (functions URL, anon key)
 * @param options `fetch` (the browser's by default) and `timeoutMs` (default 10 s)
 * @returns the report; never throws
 * @example
 * ```ts
 * const report = await checkHealth(config);
 * report.state; // "up"
 * ```
 */
export async function checkHealth(
  config: StatusConfig,
  options: { fetch?: typeof fetch; timeoutMs?: number } = {},
): Promise<HealthReport> {
  const doFetch = options.fetch ?? fetch;
  const started = performance.now();
  const report = (state: HealthReport["state"], detail: string): HealthReport => ({
    env: config.env,
    state,
    detail,
    ms: Math.round(performance.now() - started),
  });
  try {
    const res = await doFetch(`${config.functionsUrl}/ops/health`, {
      headers: { authorization: `Bearer ${config.anonKey}`, apikey: config.anonKey },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return report("down", `http ${res.status}`);
    }
    const body = readHealthBody(await res.json().catch(() => null));
    if (!body) return report("down", "unexpected answer");
    if (!body.ok) return report("down", "not ok");
    if (body.env !== config.env) {
      return report("down", `answered as ${body.env ?? "no environment"}`);
    }
    return report("up", "ok");
  } catch (err) {
    return report("down", (err as Error).name === "TimeoutError" ? "timeout" : "unreachable");
  }
}
