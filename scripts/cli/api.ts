/**
 * The CLI as a client of an environment's `ops` Edge Function: it calls
 * `<functions URL>/ops/…` with the operator's access token, as it would a hosted project.
 *
 * Where: the local stack's functions URL, or `STAGECOACH_FUNCTIONS_URL_<ENV>` (e.g. a hosted
 * project's `https://<ref>.supabase.co/functions/v1`). Who: `--as <email>` mints that user's
 * token on the local stack (a stand-in for signing in); otherwise `STAGECOACH_TOKEN`.
 *
 * @module
 */
import { type LocalEnv } from "../local/config.ts";
import { userToken } from "../local/auth.ts";
import { UsageError, withDatabase } from "./command.ts";
import { parseJson } from "../../supabase/functions/_shared/json/lossless.ts";

/** An error answer of the ops function, in its one error shape. */
export class ApiCallError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown>) {
    super(message);
    this.name = "ApiCallError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The base URL of an environment's functions. */
export function functionsUrl(env: LocalEnv): string {
  return Deno.env.get(`STAGECOACH_FUNCTIONS_URL_${env.name.toUpperCase()}`) ?? env.functionsUrl;
}

/**
 * The access token to call `env` with.
 *
 * @throws {UsageError} when neither `--as` nor `STAGECOACH_TOKEN` is given
 */
export async function resolveToken(env: LocalEnv, as: string | undefined): Promise<string> {
  if (as) {
    return (await withDatabase(env, (sql) => userToken(sql, env, { email: as }))).access_token;
  }
  const token = Deno.env.get("STAGECOACH_TOKEN");
  if (token) return token;
  throw new UsageError(
    "Missing credentials: pass --as <email> (local stack) or set STAGECOACH_TOKEN to your access token",
  );
}

/**
 * Calls the ops function and returns its JSON answer (numbers kept exact).
 *
 * @throws {ApiCallError} for an error answer (the function's message and details)
 */
export async function callOps<T = Record<string, unknown>>(
  env: LocalEnv,
  path: string,
  opts: { token: string; method?: string; body?: unknown; headers?: Record<string, string> },
): Promise<T> {
  const url = `${functionsUrl(env)}/ops${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
      headers: {
        Authorization: `Bearer ${opts.token}`,
        ...(opts.body === undefined ? {} : { "Content-Type": "application/json" }),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (cause) {
    throw new Error(
      `Cannot reach ${env.name}'s ops function at ${url}: ${(cause as Error).message}`,
    );
  }
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = parseJson(text) as unknown as Record<string, unknown>;
  } catch {
    throw new Error(
      `Cannot read ${env.name}'s answer (${res.status}): not JSON: ${text.slice(0, 200)}`,
    );
  }
  if (!res.ok) {
    const e = (body.error ?? {}) as {
      code?: string;
      message?: string;
      details?: Record<string, unknown>;
    };
    throw new ApiCallError(
      res.status,
      e.code ?? "error",
      e.message ?? `HTTP ${res.status}`,
      e.details ?? {},
    );
  }
  return body as T;
}
