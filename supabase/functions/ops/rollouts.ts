/**
 * The rollout routes of the `ops` function (mounted under `/ops`; `_shared/rollouts/service.ts`):
 *
 * - `GET /ops/rollouts?status=&flag=&limit=` → `{ rollouts }`, newest first, read as the caller
 *   (ops members read)
 * - `GET /ops/rollouts/:id` → `{ rollout, samples, promotion, actions }`: stages, percent, next
 *   advance, the newest samples, the halt reason, the promotion that approved it, and what the
 *   caller may do now (`ops.rollout_actions`)
 * - `POST /ops/rollouts/:id/pause|resume|abort` `{ comment? }` → `{ rollout }`: operators and
 *   admins only, decided in the database (403 for others), audited with the actor
 *
 * @module
 */
import { Hono } from "hono";
import { reply, serveRoute } from "../_shared/api/route.ts";
import type { Sql } from "../_shared/db.ts";
import {
  actOnRollout,
  listRollouts,
  type RolloutAction,
  showRollout,
} from "../_shared/rollouts/service.ts";

/** The rollout routes over this environment's database. */
export function rolloutRoutes(sql: Sql) {
  const app = new Hono();

  serveRoute(app, "rollout.list", async ({ user, query }) => {
    return reply(200, { rollouts: await listRollouts(sql, user, query) });
  });

  serveRoute(app, "rollout.show", async ({ user, params }) => {
    return reply(200, await showRollout(sql, user, params.id));
  });

  for (const action of ["pause", "resume", "abort"] as const satisfies RolloutAction[]) {
    serveRoute(app, `rollout.${action}`, async ({ user, params, body }) => {
      const rollout = await actOnRollout(sql, user, {
        id: params.id,
        action,
        comment: body.comment,
      });
      return reply(200, { rollout });
    });
  }

  return app;
}
