/**
 * CORS for the few routes a browser calls directly (the status page's `GET /ops/health`),
 * limited to the origins an operator lists in the function secret `STAGECOACH_ALLOWED_ORIGINS`
 * (comma-separated, e.g. `https://stagecoach-status-staging-abcde.ondigitalocean.app`).
 * With no origins listed, or from any other origin, nothing CORS-related is added and a
 * preflight falls through to the routes (a 404), so a browser refuses the call.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/**
 * Parses the origin list.
 *
 * @param text the secret's value, e.g. `"https://a.example, https://b.example"`
 * @returns the origins (`scheme://host[:port]`), empty when `text` is empty or absent
 * @throws {Error} "Cannot read STAGECOACH_ALLOWED_ORIGINS: …" naming an entry that is not an
 *   origin (a path, a trailing slash or a wildcard would never match a browser's `Origin`)
 * @example
 * ```ts
 * parseAllowedOrigins("https://a.example,http://localhost:8080");
 * // ["https://a.example", "http://localhost:8080"]
 * ```
 */
export function parseAllowedOrigins(text: string | undefined): string[] {
  const entries = (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    let origin: string | null = null;
    try {
      origin = new URL(entry).origin;
    } catch {
      // reported below
    }
    if (origin !== entry || !/^https?:/.test(entry)) {
      throw new Error(`Cannot read STAGECOACH_ALLOWED_ORIGINS: ${entry} is not an origin`);
    }
  }
  return entries;
}

/**
 * Creates the middleware: Hono's `cors` for a listed origin, nothing otherwise.
 *
 * @param origins the allowed origins (see {@link parseAllowedOrigins})
 * @returns a middleware answering preflights (`OPTIONS`) and decorating `GET` responses
 * @example
 * ```ts
 * app.use("/health", allowedOriginsCors(parseAllowedOrigins(env.STAGECOACH_ALLOWED_ORIGINS)));
 * ```
 */
export function allowedOriginsCors(origins: string[]): MiddlewareHandler {
  const allowed = new Set(origins);
  const listed = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ["GET"],
    // What supabase-js and the status page send.
    allowHeaders: ["authorization", "apikey", "content-type", "x-client-info"],
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
