/**
 * The local functions gateway as a Hono app: what Supabase's API gateway and edge runtime do
 * in front of Edge Functions, without the processes (those are injected).
 *
 * - `GET /health` → `{ ok: true, env, functions }`.
 * - `/functions/v1/<name>/…` is forwarded to the function with the path `/<name>/…`, the
 *   query string, the method, the headers and the body streamed byte for byte (Stripe
 *   signatures are computed over the raw body).
 * - Unless the function sets `verify_jwt = false`, the `Authorization: Bearer <jwt>` header
 *   must carry an HS256 token signed with the environment's JWT secret, or the gateway
 *   answers 401 with the reason. As on Supabase, only the `Authorization` header counts (the
 *   `apikey` header is passed on but never accepted instead of it), and `OPTIONS` requests
 *   (CORS preflights, which browsers send without credentials) are not checked.
 *
 * Every error the gateway itself produces has the shape
 * `{ "error": { "code", "message", "details" } }`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { JwtError, verifyJwt } from "./jwt.ts";

/** The prefix under which Supabase serves Edge Functions. */
export const FUNCTIONS_PREFIX = "/functions/v1";

/** Headers that describe one hop and must not be forwarded. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
];

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
  /** The functions served. */
  functions: GatewayFunction[];
  /**
   * Returns the base URL (`http://127.0.0.1:<port>`) of a running function, starting it when
   * needed; rejects when the function cannot boot.
   */
  resolveUpstream: (name: string) => Promise<string>;
  /** Sends the forwarded request; defaults to the global `fetch`. */
  fetch?: (request: Request) => Promise<Response>;
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
  const functions = new Map(opts.functions.map((f) => [f.name, f]));
  const send = opts.fetch ?? ((request: Request) => fetch(request));
  const app = new Hono();

  app.get(
    "/health",
    (c) => c.json({ ok: true, env: opts.envName, functions: opts.functions.map((f) => f.name) }),
  );

  app.all(`${FUNCTIONS_PREFIX}/*`, async (c) => {
    const url = new URL(c.req.url);
    // The raw (still percent-encoded) path, so the function sees exactly what was sent.
    const path = url.pathname.slice(FUNCTIONS_PREFIX.length);
    const name = path.split("/")[1] ?? "";
    const fn = functions.get(name);
    if (!fn) {
      return errorResponse(
        c,
        404,
        "not_found",
        `Cannot find function "${name}": it is not in supabase/functions`,
        { function: name },
      );
    }
    if (fn.verifyJwt && c.req.method !== "OPTIONS") {
      try {
        await verifyBearer(c.req.header("authorization"), opts.jwtSecret);
      } catch (err) {
        if (!(err instanceof JwtError)) throw err;
        return errorResponse(c, 401, "unauthorized", err.message, { reason: err.reason });
      }
    }
    let base: string;
    try {
      base = await opts.resolveUpstream(name);
    } catch (err) {
      return errorResponse(
        c,
        503,
        "boot_error",
        `Cannot start function "${name}": ${(err as Error).message}`,
        { function: name },
      );
    }
    let upstream: Response;
    try {
      upstream = await send(forwardRequest(c.req.raw, `${base}${path}${url.search}`));
    } catch (err) {
      return errorResponse(
        c,
        502,
        "bad_gateway",
        `Cannot reach function "${name}": ${(err as Error).message}`,
        { function: name },
      );
    }
    const headers = new Headers(upstream.headers);
    for (const h of HOP_BY_HOP) headers.delete(h);
    return new Response(upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers,
    });
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
 * @throws {JwtError} with reason `missing` (no header), `malformed` (not `Bearer <token>` or not
 * a JWT), `bad_signature`, `expired` or `invalid`
 * @example
 * ```ts
 * await verifyBearer(req.headers.get("authorization") ?? undefined, keys.jwt_secret);
 * ```
 */
export async function verifyBearer(header: string | undefined, secret: string): Promise<void> {
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
  await verifyJwt(secret, match[1]);
}

function forwardRequest(incoming: Request, target: string): Request {
  const headers = new Headers(incoming.headers);
  for (const h of HOP_BY_HOP) headers.delete(h);
  const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD" && incoming.body;
  return new Request(target, {
    method: incoming.method,
    headers,
    body: hasBody ? incoming.body : undefined,
    redirect: "manual",
    // Required by fetch for a streamed request body.
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
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
