/**
 * The CLI as a client of an environment's `ops` Edge Function: it calls
 * `<functions URL>/ops/…` with the operator's access token, as it would a hosted project, by
 * route name of the contract (`_shared/api/contract.ts`), which types what is sent and
 * checks what comes back.
 *
 * Where and who come from `target.ts`: the local stack's functions URL or a hosted project's
 * (`STAGECOACH_<ENV>_FUNCTIONS_URL`, `…_PROJECT_REF`); `--as <email>` mints that user's token
 * on the local stack, otherwise `STAGECOACH_TOKEN` or a sign-in with `STAGECOACH_EMAIL` and
 * `STAGECOACH_PASSWORD`.
 *
 * @module
 */
import { type OptionSpec, UsageError } from "./command.ts";
import { accessToken, MissingCredentialsError, type Target } from "./target.ts";
import { type JsonValue, parseJson } from "../../supabase/functions/_shared/json/lossless.ts";
import {
  ContractError,
  ErrorAnswer,
  OPS_ROUTES,
  type OpsAnswer,
  type OpsRequest,
  type OpsRouteName,
  parseAnswer,
  routePath,
  type RouteSpec,
} from "../../supabase/functions/_shared/api/contract.ts";

/** `--as <email>`: who acts, for every command that calls the ops function. */
export const AS_OPTION = {
  type: "string",
  value: "<email>",
  help:
    "act as this user (local stack); else STAGECOACH_TOKEN or\nSTAGECOACH_EMAIL + STAGECOACH_PASSWORD",
} as const satisfies OptionSpec;

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

/** How to call: the access token, and the route's parameters, query, headers and body. */
export type CallOptions<N extends OpsRouteName> = { token: string } & OpsRequest<N>;

/**
 * Calls route `name` of the ops function and reads its answer by the contract
 * (`_shared/api/contract.ts`): lossless JSON (numbers kept exact), then the route's response
 * schema for the status it answered.
 *
 * @throws {ApiCallError} for an error answer (the function's message and details)
 * @throws {ContractError} for an answer the contract does not describe (names the path)
 * @example
 * ```ts
 * const { promotion } = await callOps(env, "promotion.show", { token, params: { id } });
 * ```
 */
export async function callOps<N extends OpsRouteName>(
  env: Pick<Target, "name" | "functionsUrl">,
  name: N,
  opts: CallOptions<N>,
): Promise<OpsAnswer<N>> {
  const route: RouteSpec = OPS_ROUTES[name];
  const { params, query, headers, body } = opts as {
    params?: Record<string, string>;
    query?: Record<string, unknown>;
    headers?: Record<string, string | undefined>;
    body?: unknown;
  };
  const search = query
    ? `?${new URLSearchParams(
      Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]),
    )}`
    : "";
  const res = await requestOps(env, `${routePath(name, params)}${search}`, {
    token: opts.token,
    method: route.method,
    body,
    headers,
  });
  try {
    return parseAnswer(name, res.status, res.body);
  } catch (err) {
    if (err instanceof ContractError) {
      throw new ContractError(err.path, `${env.name}: ${err.message}`);
    }
    throw err;
  }
}

/** An error answer as an {@link ApiCallError} (its one shape, or the status alone). */
function apiCallError(status: number, body: JsonValue): ApiCallError {
  const parsed = ErrorAnswer.safeParse(body);
  if (!parsed.success) return new ApiCallError(status, "error", `HTTP ${status}`, {});
  const { code, message, details } = parsed.data.error;
  return new ApiCallError(status, code, message, details);
}

/**
 * Sends one request to the ops function and returns the status and the body as lossless
 * JSON, unchecked by the contract: for what drives the wire itself (the demo's story,
 * benchmarks). Commands use {@link callOps}.
 *
 * @throws {ApiCallError} for an error answer (the function's message and details)
 * @throws {Error} when the function cannot be reached or answers something that is not JSON
 */
export async function requestOps(
  env: Pick<Target, "name" | "functionsUrl">,
  path: string,
  opts: {
    token: string;
    method?: string;
    body?: unknown;
    headers?: Record<string, string | undefined>;
  },
): Promise<{ status: number; body: JsonValue }> {
  const url = `${env.functionsUrl}/ops${path}`;
  const headers: Record<string, string> = { Authorization: `Bearer ${opts.token}` };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = v;
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (cause) {
    throw new Error(
      `Cannot reach ${env.name}'s ops function at ${url}: ${(cause as Error).message}`,
    );
  }
  const text = await res.text();
  let body: JsonValue;
  try {
    body = parseJson(text);
  } catch {
    throw new Error(
      `Cannot read ${env.name}'s answer (${res.status}): not JSON: ${text.slice(0, 200)}`,
    );
  }
  if (!res.ok) throw apiCallError(res.status, body);
  return { status: res.status, body };
}
