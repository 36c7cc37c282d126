/**
 * The release routes of the `ops` function (mounted under `/ops`), read as the caller under
 * RLS (ops members read; releases are written by the release CLI, see migration
 * `create_ops_releases`):
 *
 * - `GET /ops/releases?limit=<1..200>` → `{ releases }`, newest first
 * - `GET /ops/releases/:id` → `{ release }`
 *
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { readCallerClaims, requireUser } from "../_shared/auth.ts";
import { asCaller, type Sql } from "../_shared/db.ts";
import { ApiError } from "../_shared/http.ts";

const Limit = z.coerce.number().int().min(1).max(200).default(20);
const Id = z.uuid();

const COLUMNS = `id::text, environment, source_env, git_sha, started_by, promotion_id::text,
  status, steps, created_at, updated_at, finished_at`;

/** The release routes over this environment's database. */
export function releaseRoutes(sql: Sql) {
  const app = new Hono();

  app.get("/releases", async (c) => {
    const user = requireUser(readCallerClaims(c.req.header("authorization")));
    const limit = Limit.safeParse(c.req.query("limit"));
    if (!limit.success) {
      throw new ApiError(400, "invalid_request", "Cannot read limit: expected 1..200");
    }
    const releases = await asCaller(
      sql,
      user,
      (tx) =>
        tx.unsafe(`select ${COLUMNS} from ops.releases order by created_at desc limit $1`, [
          limit.data,
        ]),
    );
    return c.json({ releases });
  });

  app.get("/releases/:id", async (c) => {
    const user = requireUser(readCallerClaims(c.req.header("authorization")));
    const id = Id.safeParse(c.req.param("id"));
    if (!id.success) {
      throw new ApiError(
        400,
        "invalid_request",
        `Cannot read release id "${c.req.param("id")}": not a uuid`,
      );
    }
    const [release] = await asCaller(
      sql,
      user,
      (tx) => tx.unsafe(`select ${COLUMNS} from ops.releases where id = $1`, [id.data]),
    );
    if (!release) throw new ApiError(404, "not_found", `Cannot find release ${id.data}`);
    return c.json({ release });
  });

  return app;
}
