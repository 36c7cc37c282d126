/**
 * The release routes of the `ops` function (mounted under `/ops`), read as the caller under
 * RLS (ops members read; releases are written by the release CLI, see migration
 * `create_ops_releases`):
 *
 * - `GET /ops/releases?limit=<1..200>` → `{ releases }`, newest first
 * - `GET /ops/releases/:id` → `{ release, samples, reverts }`: with the watch's samples and the
 *   migrations it pushed (revert script hashes and loses-data flags; never the scripts' text)
 *
 * @module
 */
import { Hono } from "hono";
import type { z } from "zod";
import type {
  ReleaseRevertSchema,
  ReleaseSchema,
  WatchSampleSchema,
} from "../_shared/api/contract.ts";
import { reply, serveRoute } from "../_shared/api/route.ts";
import { asCaller, type Sql } from "../_shared/db.ts";
import { ApiError } from "../_shared/http.ts";

/** A release row as postgres.js reads it (times as `Date`s). */
type ReleaseRow = z.input<typeof ReleaseSchema>;
type SampleRow = z.input<typeof WatchSampleSchema>;
type RevertRow = z.input<typeof ReleaseRevertSchema>;

const COLUMNS = `id::text, environment, source_env, git_sha, started_by, promotion_id::text,
  status, steps, created_at, updated_at, finished_at, backup, watch, rollback`;

/** The release routes over this environment's database. */
export function releaseRoutes(sql: Sql) {
  const app = new Hono();

  serveRoute(app, "release.list", async ({ user, query }) => {
    const releases = await asCaller(
      sql,
      user,
      (tx) =>
        tx.unsafe<ReleaseRow[]>(
          `select ${COLUMNS} from ops.releases order by created_at desc limit $1`,
          [query.limit],
        ),
    );
    return reply(200, { releases });
  });

  serveRoute(app, "release.show", async ({ user, params }) => {
    const found = await asCaller(sql, user, async (tx) => {
      const [release] = await tx.unsafe<ReleaseRow[]>(
        `select ${COLUMNS} from ops.releases where id = $1`,
        [params.id],
      );
      if (!release) return null;
      const samples = await tx<SampleRow[]>`
        select seq, taken_at, healthy, metrics from ops.release_watch_samples
        where release_id = ${params.id} order by seq`;
      const reverts = await tx<RevertRow[]>`
        select version, name, sha256, loses_data, reason from ops.release_reverts
        where release_id = ${params.id} order by version`;
      return { release, samples: [...samples], reverts: [...reverts] };
    });
    if (!found) throw new ApiError(404, "not_found", `Cannot find release ${params.id}`);
    return reply(200, found);
  });

  return app;
}
