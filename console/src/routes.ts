/**
 * The `ops` routes the console calls, by their contract names: method and path exactly as
 * `supabase/functions/_shared/api/contract.ts` `OPS_ROUTES` declares them (`routes_test.ts`
 * holds the two together). The console takes the contract's types, but not its zod schemas at
 * run time: zod's full build alone is about 90 KB gzipped, the page's whole budget.
 *
 * @module
 */
import type { OpsRouteName } from "../../supabase/functions/_shared/api/contract.ts";

/** The routes the console calls. */
export const CONSOLE_ROUTES = {
  "health": { method: "GET", path: "/health" },
  "me": { method: "GET", path: "/me" },
  "promotion.list": { method: "GET", path: "/promotions" },
  "promotion.show": { method: "GET", path: "/promotions/:id" },
  "promotion.approve": { method: "POST", path: "/promotions/:id/approve" },
  "promotion.reject": { method: "POST", path: "/promotions/:id/reject" },
  "promotion.apply": { method: "POST", path: "/promotions/:id/apply" },
  "promotion.rollback": { method: "POST", path: "/promotions/:id/rollback" },
  "release.list": { method: "GET", path: "/releases" },
  "release.show": { method: "GET", path: "/releases/:id" },
  "audit.list": { method: "GET", path: "/audit" },
  "audit.verify": { method: "GET", path: "/audit/verify" },
  "rollout.list": { method: "GET", path: "/rollouts" },
  "rollout.show": { method: "GET", path: "/rollouts/:id" },
  "rollout.pause": { method: "POST", path: "/rollouts/:id/pause" },
  "rollout.resume": { method: "POST", path: "/rollouts/:id/resume" },
  "rollout.abort": { method: "POST", path: "/rollouts/:id/abort" },
} as const satisfies Partial<Record<OpsRouteName, { method: string; path: string }>>;

/** A route the console calls. */
export type ConsoleRoute = keyof typeof CONSOLE_ROUTES;

/**
 * The path of a route under the function, parameters filled in and the query appended.
 *
 * @example
 * ```ts
 * consolePath("promotion.list", {}, { status: "awaiting_approval" });
 * // "/promotions?status=awaiting_approval"
 * ```
 */
export function consolePath(
  name: ConsoleRoute,
  params: Record<string, string> = {},
  query: Record<string, string | number | undefined> = {},
): string {
  const path = CONSOLE_ROUTES[name].path.replace(/:([a-z_]+)/g, (_, p: string) => {
    if (params[p] === undefined) throw new Error(`Cannot call ${name}: missing parameter ${p}`);
    return encodeURIComponent(params[p]);
  });
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== "") search.set(k, String(v));
  }
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}
