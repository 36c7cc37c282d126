/**
 * The `flags` Edge Function: our feature flags through the OpenFeature Remote Evaluation
 * Protocol (OFREP), for OpenFeature's OFREP providers (server and web). Deployed with
 * `verify_jwt = true`: callers send the anon key, or a user's access token, as
 * `Authorization: Bearer …`; with a user's token the user id is the default targeting key.
 *
 * Routes (under `/functions/v1`):
 * - `POST /flags/ofrep/v1/evaluate/flags/{key}` → 200 `{ key, value?, variant?, reason }`,
 *   404 `FLAG_NOT_FOUND`, 400 `TARGETING_KEY_MISSING` | `PARSE_ERROR` | `INVALID_CONTEXT`
 *   (`{ key, errorCode, errorDetails }`);
 * - `POST /flags/ofrep/v1/evaluate/flags` → 200 `{ flags: [...] }` (per-flag failures inside)
 *   with an `ETag`; 304 with no body when `If-None-Match` names it; 400
 *   `{ errorCode, errorDetails }` for a body that is not JSON or a context that is invalid.
 *
 * The protocol's shapes replace our `{ error: … }` on these routes (401 from the caller check and
 * unknown routes keep ours); an unexpected failure is 500 `{ errorDetails }`. Answers carry
 * results, never rules. Definitions come from a per-instance cache (`_shared/flags/cache.ts`).
 * CORS for the origins in `STAGECOACH_FLAGS_ORIGINS` (browsers running the web provider), which
 * may send `If-None-Match` and read `ETag`.
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { z } from "zod";
import { readCallerClaims } from "../_shared/auth.ts";
import { allowedOriginsCors, BROWSER_REQUEST_HEADERS } from "../_shared/cors.ts";
import type { FlagCache } from "../_shared/flags/cache.ts";
import {
  bulkEtag,
  etagMatches,
  evaluateAll,
  evaluateOfrep,
  OfrepRequestError,
  ofrepStatus,
  parseEvaluationRequest,
} from "../_shared/flags/ofrep.ts";
import { notFound, onError } from "../_shared/http.ts";
import type { Context } from "hono";

/** The largest request body read: 64 KiB (a context, not a document). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** The function's own settings (function secrets); unknown variables are ignored. */
export const FlagsEnvSchema = z.object({
  /** Browser origins allowed to call (comma-separated; `_shared/cors.ts`). */
  STAGECOACH_FLAGS_ORIGINS: z.string().optional(),
  /** How long a definitions check stays good, in ms; default 0 (every request checks). */
  STAGECOACH_FLAGS_MAX_AGE_MS: z.coerce.number().int().min(0).max(60_000).default(0),
});

/** What the flags app needs. */
export interface FlagsDeps {
  /** The definitions, per instance. */
  flags: FlagCache;
  /** Browser origins allowed (parsed `STAGECOACH_FLAGS_ORIGINS`). */
  origins?: string[];
  /** The clock of date operators; default `new Date()` per request. */
  now?: () => Date;
}

/** The caller's context: the body, with the user id as the default targeting key. */
async function requestContext(c: Context) {
  const claims = readCallerClaims(c.req.header("authorization"));
  const userId = claims.role === "authenticated" ? claims.sub : undefined;
  return parseEvaluationRequest(await c.req.text(), { userId });
}

/**
 * Creates the flags app, rooted at `/flags` as Supabase routes functions.
 *
 * @param deps the definitions cache and settings
 * @returns the Hono app; `Deno.serve(app.fetch)` serves it
 * @example
 * ```ts
 * const app = createFlagsApp({ flags: createFlagCache(sqlDefinitions(sql)) });
 * ```
 */
export function createFlagsApp(deps: FlagsDeps) {
  const now = deps.now ?? (() => new Date());
  const app = new Hono().basePath("/flags");
  app.onError((err, c) => {
    if (err instanceof HTTPException) return onError(err, c);
    console.error(`${c.req.method} ${c.req.path} failed:`, err);
    return c.json({ errorDetails: "Cannot evaluate flags: an unexpected error occurred" }, 500);
  });
  app.notFound(notFound);
  app.use(
    "*",
    allowedOriginsCors(deps.origins ?? [], {
      methods: ["POST", "OPTIONS"],
      allowHeaders: [...BROWSER_REQUEST_HEADERS, "if-none-match"],
      exposeHeaders: ["etag"],
    }),
  );
  const limit = bodyLimit({
    maxSize: MAX_REQUEST_BYTES,
    onError: (c) =>
      c.json(
        { errorDetails: `Cannot read the request: it is over ${MAX_REQUEST_BYTES} bytes` },
        413,
      ),
  });

  app.post("/ofrep/v1/evaluate/flags/:key", limit, async (c) => {
    const key = c.req.param("key");
    let ctx;
    try {
      ctx = await requestContext(c);
    } catch (err) {
      if (!(err instanceof OfrepRequestError)) throw err;
      return c.json({ key, errorCode: err.code, errorDetails: err.message }, 400);
    }
    const set = await deps.flags.get();
    const answer = evaluateOfrep(set.byKey.get(key), key, ctx, now());
    return c.json(answer, ofrepStatus(answer));
  });

  app.post("/ofrep/v1/evaluate/flags", limit, async (c) => {
    let ctx;
    try {
      ctx = await requestContext(c);
    } catch (err) {
      if (!(err instanceof OfrepRequestError)) throw err;
      return c.json({ errorCode: err.code, errorDetails: err.message }, 400);
    }
    const set = await deps.flags.get();
    const at = now();
    const etag = await bulkEtag(set, ctx, at);
    if (etagMatches(c.req.header("if-none-match"), etag)) {
      return c.body(null, 304, { ETag: etag });
    }
    return c.json({ flags: evaluateAll(set, ctx, at) }, 200, { ETag: etag });
  });

  return app;
}
