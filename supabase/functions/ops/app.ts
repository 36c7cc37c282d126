/**
 * The `ops` Edge Function: Stagecoach's operator API. Callers use their own Supabase access
 * token (`verify_jwt = true`); user-initiated work runs as the caller under RLS.
 *
 * Routes (under `/functions/v1`):
 * - `GET /ops/health` → `{ ok: true, env }`; CORS for the origins in `STAGECOACH_ALLOWED_ORIGINS`
 *   (the status page) and `STAGECOACH_CONSOLE_ORIGINS`
 * - `GET /ops/me` → `{ id, email, role }`: the caller's user id, email and ops role (null
 *   when not a member), read as the caller
 *
 * Every route answers CORS (preflight included) for the console's origins,
 * `STAGECOACH_CONSOLE_ORIGINS`, with the methods the contract serves; other origins get no CORS
 * headers.
 *
 * @module
 */
import { Hono } from "hono";
import { OPS_ROUTES, type OpsAnswer } from "../_shared/api/contract.ts";
import { reply, serveRoute } from "../_shared/api/route.ts";
import { allowedOriginsCors, parseAllowedOrigins } from "../_shared/cors.ts";
import { asCaller, type Sql } from "../_shared/db.ts";
import type { FunctionEnv } from "../_shared/env.ts";
import { ApiError, notFound, onError } from "../_shared/http.ts";
import type { CustomCheck } from "../_shared/validation/checks.ts";
import type { ExternalSystem } from "../_shared/promotion/external.ts";
import { configRoutes } from "./config_routes.ts";
import { type ContextFor, promotionRoutes } from "./promotions.ts";
import { releaseRoutes } from "./releases.ts";
import { rolloutRoutes } from "./rollouts.ts";

/** What the ops app needs from the outside world. */
export interface OpsDeps {
  env: FunctionEnv;
  sql: Sql;
  /** Other environments' databases (promotion sources); see `_shared/promotion/sources.ts`. */
  sourceDb?: (name: string) => Sql;
  /** The team's SQL validation checks. */
  customChecks?: () => Promise<CustomCheck[]>;
  /**
   * The target's Stripe catalog (promotion scope `stripe`), built over this function's
   * database; absent when the function has no Stripe settings (`_shared/stripe/catalog_sync.ts`).
   */
  stripeCatalog?: (target: Sql) => ExternalSystem;
}

/** The caller as `GET /ops/me` reports them. */
export type Me = OpsAnswer<"me">;

/**
 * Creates the ops app, rooted at `/ops` as Supabase routes functions.
 *
 * @param deps the function's environment and database pool
 * @returns the Hono app; `Deno.serve(app.fetch)` serves it
 * @example
 * ```ts
 * const env = functionEnv();
 * Deno.serve(createOpsApp({ env, sql: createDb(env.SUPABASE_DB_URL) }).fetch);
 * ```
 */
export function createOpsApp(deps: OpsDeps) {
  const app = new Hono().basePath("/ops");
  app.onError(onError);
  app.notFound(notFound);

  // Browsers on other origins: the console (web app, supabase-js) calls every route, the status
  // page (web/status) only /health.
  const consoleOrigins = parseAllowedOrigins(
    deps.env.STAGECOACH_CONSOLE_ORIGINS,
    "STAGECOACH_CONSOLE_ORIGINS",
  );
  const statusOrigins = parseAllowedOrigins(deps.env.STAGECOACH_ALLOWED_ORIGINS);
  const methods = [...new Set(Object.values(OPS_ROUTES).map((r) => r.method)), "OPTIONS"];
  const consoleCors = allowedOriginsCors(consoleOrigins, { methods });
  const healthCors = allowedOriginsCors([...new Set([...consoleOrigins, ...statusOrigins])], {
    methods,
  });
  app.use("*", (c, next) => (c.req.path === "/ops/health" ? healthCors : consoleCors)(c, next));
  serveRoute(
    app,
    "health",
    () => Promise.resolve(reply(200, { ok: true as const, env: deps.env.STAGECOACH_ENV ?? null })),
  );

  serveRoute(app, "me", async ({ user }) => {
    const me = await asCaller(deps.sql, user, async (tx) => {
      // Under RLS a member sees their own ops.members row; a non-member sees none.
      const [row] = await tx<Me[]>`
        select auth.uid()::text as id,
               auth.email() as email,
               (select m.role::text from ops.members as m where m.user_id = auth.uid()) as role`;
      return row;
    });
    return reply(200, me);
  });

  // Built once: an apply hands the endpoint's signing secret to its record step in memory.
  const stripeCatalog = deps.stripeCatalog?.(deps.sql);
  const contextFor: ContextFor = (claims) => ({
    targetEnv: deps.env.STAGECOACH_ENV ?? "local",
    target: deps.sql,
    sourceDb: deps.sourceDb ?? ((name) => {
      throw new ApiError(
        400,
        "unknown_source",
        `Cannot read source ${name}: no sources configured`,
      );
    }),
    claims,
    customChecks: deps.customChecks ?? (() => Promise.resolve([])),
    external: stripeCatalog ? { stripe: stripeCatalog } : undefined,
  });
  app.route("/", promotionRoutes(contextFor));
  app.route("/", configRoutes(contextFor));
  app.route("/", releaseRoutes(deps.sql));
  app.route("/", rolloutRoutes(deps.sql));

  return app;
}
