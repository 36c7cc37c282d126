/**
 * The CLI as a client of an environment's `ops` Edge Function: it calls
 * `<functions URL>/ops/…` with the operator's access token, as it would a hosted project.
 *
 * Where and who come from `target.ts`: the local stack's functions URL or a hosted project's
 * (`STAGECOACH_<ENV>_FUNCTIONS_URL`, `…_PROJECT_REF`); `--as <email>` mints that user's token
 * on the local stack, otherwise `STAGECOACH_TOKEN` or a sign-in with `STAGECOACH_EMAIL` and
 * `STAGECOACH_PASSWORD`.
 *
 * @module
 */
import { UsageError } from "./command.ts";
import { accessToken, MissingCredentialsError, type Target } from "./target.ts";
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

/**
 * The access token to call `env` with.
 *
 * @throws {UsageError} when no credentials are given, or `--as` names a hosted target
 */
export async function resolveToken(env: Target, as: string | undefined): Promise<string> {
  try {
    return await accessToken(env, { as });
  } catch (err) {
    if (err instanceof MissingCredentialsError || (as && !env.local)) {
      throw new UsageError((err as Error).message);
    }
    throw err;
  }
}

/**
 * Calls the ops function and returns its JSON answer (numbers kept exact).
 *
 * @throws {ApiCallError} for an error answer (the function's message and details)
 */
export async function callOps<T = Record<string, unknown>>(
  env: Pick<Target, "name" | "functionsUrl">,
  path: string,
  opts: { token: string; method?: string; body?: unknown; headers?: Record<string, string> },
): Promise<T> {
  const url = `${env.functionsUrl}/ops${path}`;
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
