/**
 * Serves a route of the `ops` contract (`contract.ts`) on a Hono app: the caller is checked
 * first (a signed-in user, where the route says so), then Hono's validator parses the path
 * parameters, query, headers and JSON body with the contract's schemas, and the handler may
 * only answer a status and body the contract lists.
 *
 * Invalid input is a 400 in the one error shape (`http.ts`): `invalid_json` for a body that is
 * not JSON, `invalid_request` with `details.issues[]` (`path`, `message`) otherwise.
 *
 * @module
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { validator } from "hono/validator";
import type { z } from "zod";
import { readCallerClaims, requireUser, type UserClaims } from "../auth.ts";
import { ApiError } from "../http.ts";
import { OPS_ROUTES, type OpsReply, type OpsRoute, type OpsRouteName } from "./contract.ts";

type Output<R, K extends string> = R extends Record<K, z.ZodType> ? z.output<R[K]> : undefined;

/** What a handler of route `N` receives, parsed by the contract. */
export interface Received<N extends OpsRouteName> {
  /** The signed-in caller (routes with `auth`). */
  user: OpsRoute<N>["auth"] extends true ? UserClaims : null;
  params: Output<OpsRoute<N>, "params">;
  query: Output<OpsRoute<N>, "query">;
  headers: Output<OpsRoute<N>, "headers">;
  body: Output<OpsRoute<N>, "body">;
}

function issues(error: z.ZodError) {
  return error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));
}

/** Validates a path, query or header part; the message names the field and its raw value. */
function fieldValidator(target: "param" | "query" | "header", schema: z.ZodObject) {
  return validator(target, (value) => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? "");
    const label = schema.shape[field]?.description ?? field;
    const raw = (value as Record<string, unknown>)[field];
    throw new ApiError(
      400,
      "invalid_request",
      `Cannot read ${label}${raw === undefined ? "" : ` "${raw}"`}: ${issue.message}`,
      { issues: issues(parsed.error) },
    );
  });
}

/** Validates the JSON body; a body that is not JSON (or not sent as JSON) is `invalid_json`. */
function bodyValidator(schema: z.ZodType): MiddlewareHandler {
  const inner = validator("json", (value) => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    throw new ApiError(400, "invalid_request", "Cannot accept the request body: it is invalid", {
      issues: issues(parsed.error),
    });
  });
  const notJson = () =>
    new ApiError(400, "invalid_json", "Cannot read the request body: it is not JSON");
  return async (c, next) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    // Hono's validator reads a body of another type as {}: say what is wrong instead.
    if (!/^application\/([\w.-]+\+)?json$/.test(type) && c.req.raw.body !== null) throw notJson();
    try {
      return await inner(c, next);
    } catch (err) {
      if (err instanceof HTTPException && !(err instanceof ApiError)) throw notJson();
      throw err;
    }
  };
}

/**
 * An answer: a status of the route's contract and its body.
 *
 * @example
 * ```ts
 * return reply(201, { empty: false, promotion, plan_hash });
 * ```
 */
export function reply<S extends number, B>(status: S, body: B): { status: S; body: B } {
  return { status, body };
}

/**
 * Serves route `name` of the contract on `app`.
 *
 * @param app the Hono app (mounted under `/ops`)
 * @param name the route in `OPS_ROUTES`
 * @param handler answers with {@link reply} as the contract allows
 * @example
 * ```ts
 * serveRoute(app, "me", async ({ user }) => reply(200, await readMe(user)));
 * ```
 */
export function serveRoute<N extends OpsRouteName>(
  app: Hono,
  name: N,
  handler: (received: Received<N>, c: Context) => Promise<OpsReply<N>>,
): void {
  const route = OPS_ROUTES[name] as OpsRoute<OpsRouteName>;
  const steps: MiddlewareHandler[] = [];
  // Authorize first: an anonymous caller learns nothing about what a valid request is.
  if (route.auth) {
    steps.push(async (_c, next) => {
      requireUser(readCallerClaims(_c.req.header("authorization")));
      await next();
    });
  }
  if ("params" in route) steps.push(fieldValidator("param", route.params));
  if ("query" in route) steps.push(fieldValidator("query", route.query));
  if ("headers" in route) steps.push(fieldValidator("header", route.headers));
  if ("body" in route) steps.push(bodyValidator(route.body));
  const valid = (c: Context, target: "param" | "query" | "header" | "json") =>
    (c.req.valid as (t: string) => unknown)(target);
  const answer: MiddlewareHandler = async (c) => {
    const received = {
      user: route.auth ? requireUser(readCallerClaims(c.req.header("authorization"))) : null,
      params: "params" in route ? valid(c, "param") : undefined,
      query: "query" in route ? valid(c, "query") : undefined,
      headers: "headers" in route ? valid(c, "header") : undefined,
      body: "body" in route ? valid(c, "json") : undefined,
    } as Received<N>;
    const reply = await handler(received, c);
    return c.json(reply.body as object, reply.status as 200);
  };
  app.on(route.method, [route.path], ...steps, answer);
}
