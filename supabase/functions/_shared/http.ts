/**
 * One error shape for every Edge Function:
 * `{ "error": { "code": "snake_case", "message": "Cannot …", "details": { … } } }`.
 *
 * Handlers throw {@link ApiError} (an `HTTPException`); {@link onError} turns it, Hono's own
 * `HTTPException`s and anything unexpected into that shape. Unexpected errors are logged on
 * the server and answered with a generic 500: no stack traces, no secrets, no SQL.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

/** The body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/**
 * An HTTP error with a machine-readable code and details.
 *
 * @example
 * ```ts
 * throw new ApiError(403, "forbidden", "Cannot approve plan: the caller is not an approver");
 * ```
 */
export class ApiError extends HTTPException {
  /** Stable snake_case code clients branch on. */
  readonly code: string;
  /** Extra facts about the error (never secrets). */
  readonly details: Record<string, unknown>;
  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(status, { message });
    this.name = "ApiError";
    this.code = code;
    this.details = details;
  }
}

const CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "unprocessable_entity",
  429: "too_many_requests",
};

/**
 * Builds an error body.
 *
 * @example
 * ```ts
 * errorBody("not_found", "Cannot find plan: no plan has id 7"); // { error: { … details: {} } }
 * ```
 */
export function errorBody(
  code: string,
  message: string,
  details: Record<string, unknown> = {},
): ErrorBody {
  return { error: { code, message, details } };
}

/**
 * The `onError` handler of every Stagecoach Hono app.
 *
 * @param err what a handler threw
 * @param c the request context
 * @returns the error response
 * @example
 * ```ts
 * const app = new Hono().basePath("/ops");
 * app.onError(onError);
 * ```
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const code = CODES[err.status] ?? (err.status >= 500 ? "internal_error" : "http_error");
    return c.json(errorBody(code, err.message || `Cannot handle the request: ${code}`), err.status);
  }
  console.error(`${c.req.method} ${c.req.path} failed:`, err);
  return c.json(
    errorBody("internal_error", "Cannot handle the request: an unexpected error occurred"),
    500,
  );
}

/**
 * The `notFound` handler of every Stagecoach Hono app.
 *
 * @example
 * ```ts
 * app.notFound(notFound);
 * ```
 */
export function notFound(c: Context): Response {
  return c.json(
    errorBody("not_found", `Cannot find ${c.req.method} ${c.req.path}: no such route`),
    404,
  );
}

/**
 * Reads a JSON request body and validates it.
 *
 * @param request the incoming request
 * @param schema the zod schema of the body
 * @param opts.optional treat an empty body as `{}`
 * @returns the parsed body
 * @throws {ApiError} 400 `invalid_json` when the body is not JSON, 400 `invalid_request` with
 * the zod issues (`details.issues[].path`, `.message`) when it does not match the schema
 * @example
 * ```ts
 * const body = await readJsonBody(c.req.raw, z.object({ source: z.string() }));
 * ```
 */
export async function readJsonBody<S extends z.ZodType>(
  request: Request,
  schema: S,
  opts: { optional?: boolean } = {},
): Promise<z.infer<S>> {
  const text = await request.text();
  let value: unknown;
  if (text.trim() === "" && opts.optional) {
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch {
      throw new ApiError(400, "invalid_json", "Cannot read the request body: it is not JSON");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ApiError(400, "invalid_request", "Cannot accept the request body: it is invalid", {
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    });
  }
  return parsed.data;
}
