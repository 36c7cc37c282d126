/**
 * The local functions gateway as a Hono app: what Supabase's API gateway and edge runtime do
 * in front of Edge Functions, without the processes (those are injected).
 *
 * - `GET /health` → `{ ok: true, env, functions }`.
 * - `/functions/v1/<name>/…` is forwarded to the function with the path `/<name>/…`, the
 *   query string, the method, the headers (minus hop-by-hop ones) and the body byte for byte
 *   (Stripe signatures are computed over the raw body): read whole first when it declares a
 *   `content-length` of at most `maxBufferedBytes` (1 MiB), which is cheaper than streaming
 *   it, and streamed otherwise. The answer comes back the same way (see
 *   `gateway_upstream.ts`, which does the hop).
 * - Unless the function sets `verify_jwt = false`, the `Authorization: Bearer <jwt>` header
 *   must carry an HS256 token signed with the environment's JWT secret, or the gateway
 *   answers 401 with the reason; a token must carry an `exp` (one that never expires is
 *   refused, reason `invalid`). As on Supabase, only the `Authorization` header counts (the
 *   `apikey` header is passed on but never accepted instead of it), and `OPTIONS` requests
 *   (CORS preflights, which browsers send without credentials) are not checked. A token that
 *   verified is remembered until its `exp` (verifying one costs ~150 µs; the same few keys and
 *   session tokens come back on every request).
 *
 * - A function that was never deployed answers 404 and one that cannot boot 503, both in the
 *   shape Supabase's edge runtime answers them (`{ "code": "NOT_FOUND" | "BOOT_ERROR",
 *   "message" }`; the boot failure's cause goes to the gateway's log, as to Supabase's logs).
 * - `/auth/v1/…`: the part of Supabase Auth the stack serves (`auth_api.ts`), when given.
 * - `POST /_stagecoach/reload` (with the stack's Management API token, when `reload` is given)
 *   re-reads what is deployed: the Management API stand-in calls it after each deploy.
 *
 * Every other error the gateway itself produces has the shape
 * `{ "error": { "code", "message", "details" } }`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { JwtError, type SupabaseClaims, verifyJwt } from "./jwt.ts";
import {
  createUpstreamClient,
  DEFAULT_MAX_BUFFERED_BYTES,
  type UpstreamRequest,
  type UpstreamSend,
} from "./gateway_upstream.ts";

/** The prefix under which Supabase serves Edge Functions. */
export const FUNCTIONS_PREFIX = "/functions/v1";

/** The gateway's reload hook (see {@link GatewayAppOptions.reload}). */
export const RELOAD_PATH = "/_stagecoach/reload";

/** What the gateway needs to know about one function. */
export interface GatewayFunction {
  name: string;
  verifyJwt: boolean;
}

/** Options of {@link createGatewayApp}. */
export interface GatewayAppOptions {
  /** Environment name, reported by `/health`. */
  envName: string;
  /** The environment's HS256 JWT secret. */
  jwtSecret: string;
  /**
   * The functions served; a Map is read at every request, so the caller may change it (what a
   * deploy does).
   */
  functions: GatewayFunction[] | ReadonlyMap<string, GatewayFunction>;
  /** Supabase Auth's routes, served under `/auth/v1` (see `auth_api.ts`). */
  auth?: Hono;
  /** The reload hook: the bearer token it requires and what it runs. */
  reload?: { token: string; run: () => Promise<void> };
  /**
   * Returns the base URL (`http://127.0.0.1:<port>`) of a running function, starting it when
   * needed; rejects when the function cannot boot.
   */
  resolveUpstream: (name: string) => Promise<string>;
  /**
   * Sends the forwarded request to a function's base URL and returns its answer, hop-by-hop
   * headers removed; defaults to a {@link createUpstreamClient} of the app's own.
   */
  send?: UpstreamSend;
  /**
   * Request bodies declaring a `content-length` up to this are read whole before being
   * forwarded (and so are answers, by the default `send`); default 1 MiB.
   */
  maxBufferedBytes?: number;
}

/**
 * Creates the gateway app.
 *
 * @param opts the environment, its functions and how to reach them
 * @returns a Hono app; serve it with `Deno.serve(app.fetch)` or test it with `app.request()`
 * @example
 * ```ts
 * const app = createGatewayApp({
 *   envName: "development",
 *   jwtSecret: keys.jwt_secret,
 *   functions: [{ name: "ops", verifyJwt: true }],
 *   resolveUpstream: (name) => pool.resolve(name),
 * });
 * Deno.serve({ hostname: "127.0.0.1", port: 54321 }, app.fetch);
 * ```
 */
export function createGatewayApp(opts: GatewayAppOptions): Hono {
  const functions: ReadonlyMap<string, GatewayFunction> = opts.functions instanceof Map
    ? opts.functions
    : new Map((opts.functions as GatewayFunction[]).map((f) => [f.name, f]));
  const maxBuffered = opts.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const send = opts.send ?? createUpstreamClient({ maxBufferedBytes: maxBuffered }).send;
  const verifyAuthorization = createBearerVerifier(opts.jwtSecret);
  const app = new Hono();

  app.get(
    "/health",
    (c) => c.json({ ok: true, env: opts.envName, functions: [...functions.keys()].sort() }),
  );

  if (opts.auth) app.route("/auth/v1", opts.auth);

  const reload = opts.reload;
  if (reload) {
    app.post(RELOAD_PATH, async (c) => {
      if (c.req.header("authorization") !== `Bearer ${reload.token}`) {
        return errorResponse(c, 401, "unauthorized", "Cannot reload: wrong token", {});
      }
      await reload.run();
      return c.body(null, 204);
    });
  }

  app.all(`${FUNCTIONS_PREFIX}/*`, async (c) => {
    const request = c.req.raw;
    const url = new URL(request.url);
    // The raw (still percent-encoded) path, so the function sees exactly what was sent.
    const path = url.pathname.slice(FUNCTIONS_PREFIX.length);
    const name = path.split("/")[1] ?? "";
    const fn = functions.get(name);
    if (!fn) {
      return c.json({ code: "NOT_FOUND", message: "Requested function was not found" }, 404);
    }
    if (fn.verifyJwt && request.method !== "OPTIONS") {
      try {
        await verifyAuthorization(request.headers.get("authorization") ?? undefined);
      } catch (err) {
        if (!(err instanceof JwtError)) throw err;
        return errorResponse(c, 401, "unauthorized", err.message, { reason: err.reason });
      }
    }
    let base: string;
    try {
      base = await opts.resolveUpstream(name);
    } catch (err) {
      console.error(`gateway: function "${name}" failed to boot: ${(err as Error).message}`);
      return c.json(
        { code: "BOOT_ERROR", message: "Function failed to start (please check logs)" },
        503,
      );
    }
    try {
      // Reading the body belongs here too: a sender that goes away mid-body fails the hop.
      return await send(base, {
        method: request.method,
        target: `${path}${url.search}`,
        headers: request.headers,
        ...(await forwardedBody(request, maxBuffered)),
      });
    } catch (err) {
      return errorResponse(
        c,
        502,
        "bad_gateway",
        `Cannot reach function "${name}": ${(err as Error).message}`,
        { function: name },
      );
    }
  });

  app.notFound((c) =>
    errorResponse(
      c,
      404,
      "not_found",
      `Cannot find ${c.req.path}: the gateway serves /health and ${FUNCTIONS_PREFIX}/<name>`,
      {},
    )
  );
  app.onError((err, c) => {
    console.error("gateway error:", err);
    return errorResponse(
      c,
      500,
      "internal_error",
      "Cannot handle the request: the gateway failed",
      {},
    );
  });
  return app;
}

/**
 * Verifies the `Authorization: Bearer <jwt>` header value with the environment's secret.
 *
 * @param header the header value, or undefined when absent
 * @param secret the HS256 secret
 * @returns the token's claims
 * @throws {JwtError} with reason `missing` (no header), `malformed` (not `Bearer <token>` or not
 * a JWT), `bad_signature`, `expired` or `invalid`
 * @example
 * ```ts
 * await verifyBearer(req.headers.get("authorization") ?? undefined, keys.jwt_secret);
 * ```
 */
export async function verifyBearer(
  header: string | undefined,
  secret: string,
): Promise<SupabaseClaims> {
  return await verifyJwt(secret, bearerToken(header));
}

/** Options of {@link createBearerVerifier}. */
export interface BearerVerifierOptions {
  /** How many accepted tokens are remembered (the oldest is forgotten first); default 1,000. */
  maxTokens?: number;
  /** The clock, in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

/**
 * Makes a {@link verifyBearer} bound to one secret that remembers the tokens it accepted, so
 * the same token is verified once rather than on every request. A remembered token is
 * accepted again only while its `exp` is in the future, measured as `jwtVerify` measures it
 * (whole seconds, expired at `exp`), so every answer is the one a full verification would
 * give: the signature and the claims cannot change, and `nbf` once passed stays passed. Only
 * acceptances are remembered, and only tokens with an `exp` are ever accepted (see
 * `verifyJwt`), so nothing is remembered for ever; every refusal is verified in full.
 *
 * @param secret the HS256 secret
 * @param opts how many tokens to remember and the clock
 * @returns `(header) => Promise<void>`, throwing {@link JwtError} as {@link verifyBearer}
 * @example
 * ```ts
 * const verify = createBearerVerifier(keys.jwt_secret);
 * await verify(req.headers.get("authorization") ?? undefined);
 * ```
 */
export function createBearerVerifier(
  secret: string,
  opts: BearerVerifierOptions = {},
): (header: string | undefined) => Promise<void> {
  const maxTokens = opts.maxTokens ?? 1000;
  const now = opts.now ?? Date.now;
  // token → its `exp`
  const accepted = new Map<string, number>();
  return async (header) => {
    const token = bearerToken(header);
    const exp = accepted.get(token);
    if (exp !== undefined) {
      if (exp > Math.floor(now() / 1000)) return;
      accepted.delete(token);
    }
    const claims = await verifyJwt(secret, token);
    if (accepted.size >= maxTokens) accepted.delete(accepted.keys().next().value!);
    accepted.set(token, claims.exp);
  };
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === "") {
    throw new JwtError("missing", "Cannot verify token: the Authorization header is missing");
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new JwtError(
      "malformed",
      "Cannot verify token: the Authorization header is not 'Bearer <token>'",
    );
  }
  return match[1];
}

/**
 * The body to forward: none for GET and HEAD (as `fetch` would send), the whole body when it
 * declares a length of at most `maxBuffered`, otherwise a stream, with its declared length
 * when it has one (else it goes on chunked, as it came).
 */
async function forwardedBody(
  request: Request,
  maxBuffered: number,
): Promise<Pick<UpstreamRequest, "body" | "bodyLength">> {
  if (request.method === "GET" || request.method === "HEAD" || !request.body) {
    return { body: null };
  }
  const declared = request.headers.get("content-length");
  if (
    declared === null || !/^\d{1,15}$/.test(declared) || request.headers.has("transfer-encoding")
  ) {
    return { body: request.body };
  }
  const length = Number(declared);
  if (length <= maxBuffered) return { body: await request.bytes() };
  return { body: request.body, bodyLength: length };
}

function errorResponse(
  c: Context,
  status: ContentfulStatusCode,
  code: string,
  message: string,
  details: Record<string, unknown>,
): Response {
  return c.json({ error: { code, message, details } }, status);
}
