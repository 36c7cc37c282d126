/**
 * The console's one way to the `ops` function: `supabase.functions.invoke` with the signed-in
 * user's session (supabase-js adds the access token). Answers are read with {@link parseExact},
 * so a plan's numbers reach the page exactly as the database holds them; errors become an
 * {@link ApiProblem} carrying the API's `{ error: { code, message, details } }`.
 *
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { OpsAnswer, OpsRequest } from "../../supabase/functions/_shared/api/contract.ts";
import { JsonNumber } from "../../supabase/functions/_shared/json/lossless.ts";
import type { ExactJson } from "./format.ts";
import { CONSOLE_ROUTES, consolePath, type ConsoleRoute } from "./routes.ts";

/** An answer of the API that is not 2xx, or a network failure (`status` 0). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, details: Record<string, unknown>) {
    super(message);
    this.name = "ApiProblem";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

const keepInexact: Reviver = (_key, value, context) =>
  typeof value === "number" && context?.source !== undefined && String(value) !== context.source
    ? new JsonNumber(context.source)
    : value;

/**
 * Parses JSON keeping every number exactly: a number a JavaScript number holds exactly (counts,
 * ordinary amounts) stays a number; any other (beyond 2^53, `1.50`, `1e3`) stays a
 * {@link JsonNumber} with its text, which the pages print as written.
 *
 * @example
 * ```ts
 * parseExact('{"n": 3, "big": 12345678901234567890}'); // { n: 3, big: JsonNumber("1234…") }
 * ```
 */
export function parseExact(text: string): ExactJson {
  return (JSON.parse as (text: string, reviver: Reviver) => ExactJson)(text, keepInexact);
}

/**
 * A `fetch` for supabase-js whose answers from Edge Functions parse as lossless JSON
 * (`response.json()` is what `functions.invoke` calls); every other request is untouched.
 *
 * @param functionsUrl the environment's `…/functions/v1`
 */
export function losslessFetch(functionsUrl: string): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${functionsUrl}/`)) return res;
    const text = () => res.clone().text();
    return Object.assign(res, { json: async () => parseExact(await text()) });
  };
}

/** What a route's request carries besides its body. */
type Request<N extends ConsoleRoute> = OpsRequest<N> & {
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
};

/** Calls route `name` of the `ops` function as the signed-in user. */
export type OpsClient = <N extends ConsoleRoute>(
  name: N,
  request?: Request<N>,
) => Promise<OpsAnswer<N>>;

/**
 * Creates the client over a supabase-js client.
 *
 * @example
 * ```ts
 * const ops = opsClient(supabase);
 * const { promotions } = await ops("promotion.list", { query: { status: "awaiting_approval" } });
 * ```
 */
export function opsClient(supabase: SupabaseClient): OpsClient {
  return async (name, request) => {
    const r = (request ?? {}) as Request<typeof name>;
    const route = CONSOLE_ROUTES[name];
    const path = consolePath(name, r.params, r.query);
    const { data, error } = await supabase.functions.invoke(`ops${path}`, {
      method: route.method,
      body: route.method === "GET" ? undefined : (r.body ?? {}),
    });
    if (!error) return data;
    const context = (error as { context?: unknown }).context;
    if (context instanceof Response) {
      const text = await context.text().catch(() => "");
      let body: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } =
        {};
      try {
        body = JSON.parse(text);
      } catch {
        // not the API's shape (a gateway or proxy answered)
      }
      throw new ApiProblem(
        context.status,
        body.error?.code ?? `http_${context.status}`,
        body.error?.message ?? (text || context.statusText || `HTTP ${context.status}`),
        body.error?.details ?? {},
      );
    }
    throw new ApiProblem(0, "network", `Cannot reach the ops API: ${error.message}`, {});
  };
}
