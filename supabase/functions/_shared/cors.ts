/**
 * CORS for what browsers call directly, limited to the origins an operator lists in a function
 * secret (comma-separated, e.g. `https://stagecoach-status-staging-abcde.ondigitalocean.app`):
 * `STAGECOACH_ALLOWED_ORIGINS` (the status page: `GET /ops/health` only) and
 * `STAGECOACH_CONSOLE_ORIGINS` (the console: every `ops` route, through supabase-js
 * `functions.invoke`). With no origins listed, or from any other origin, nothing CORS-related
 * is added and a preflight falls through to the routes (a 404), so a browser refuses the call.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/**
 * Parses an origin list.
 *
 * @param text the secret's value, e.g. `"https://a.example, https://b.example"`
 * @param setting the secret's name, for the error; default `STAGECOACH_ALLOWED_ORIGINS`
 * @returns the origins (`scheme://host[:port]`), empty when `text` is empty or absent
 * @throws {Error} "Cannot read <setting>: …" naming an entry that is not an origin (a path, a
 *   trailing slash or a wildcard would never match a browser's `Origin`)
 * @example
 * ```ts
 * parseAllowedOrigins("https://a.example,http://localhost:8080");
 * // ["https://a.example", "http://localhost:8080"]
 * ```
 */
export function parseAllowedOrigins(
  text: string | undefined,
  setting = "STAGECOACH_ALLOWED_ORIGINS",
): string[] {
  const entries = (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    let origin: string | null = null;
    try {
      origin = new URL(entry).origin;
    } catch {
      // reported below
    }
    if (origin !== entry || !/^https?:/.test(entry)) {
      throw new Error(`Cannot read ${setting}: ${entry} is not an origin`);
    }
  }
  return entries;
}

/** The request headers supabase-js (`functions.invoke`) and the status page send. */
export const BROWSER_REQUEST_HEADERS = ["authorization", "x-client-info", "apikey", "content-type"];

/**
 * Creates the middleware: Hono's `cors` for a listed origin, nothing otherwise.
 *
 * @param origins the allowed origins (see {@link parseAllowedOrigins})
 * @param opts.methods the methods a preflight allows; default `GET`
 * @returns a middleware answering preflights (`OPTIONS`) and decorating responses
 * @example
 * ```ts
 * app.use("/health", allowedOriginsCors(parseAllowedOrigins(env.STAGECOACH_ALLOWED_ORIGINS)));
 * ```
 */
export function allowedOriginsCors(
  origins: string[],
  opts: { methods?: string[] } = {},
): MiddlewareHandler {
  const allowed = new Set(origins);
  const listed = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: opts.methods ?? ["GET"],
    allowHeaders: BROWSER_REQUEST_HEADERS,
    maxAge: 600,
  });
  return async function allowedOriginsCors(c, next) {
    if (!allowed.has(c.req.header("origin") ?? "")) {
      await next();
      // The answer depends on Origin whenever some origin is allowed: keep caches honest.
      if (allowed.size > 0) c.res.headers.append("Vary", "Origin");
      return;
    }
    return await listed(c, next);
  };
}
