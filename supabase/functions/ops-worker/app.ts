/**
 * The `ops-worker` Edge Function, called every minute by pg_cron through `net.http_post`
 * with the service-role key (see migration `schedule_ops_worker`).
 *
 * Routes (under `/functions/v1`):
 * - `POST /ops-worker` with an optional body `{ "source": "pg_cron" }`
 * - `GET /ops-worker` for manual checks (source `manual`)
 *
 * Both record a heartbeat in `ops.heartbeats` and answer `{ ok: true, beat_at }`. Only the
 * service role may call it (403 otherwise): this is the worker's named service path, and it
 * writes as `service_role` (which holds the grants on `ops.heartbeats`), not as `postgres`.
 *
 * Then each call delivers due promotion notifications (`_shared/notifications/worker.ts`,
 * time-boxed, under the outbound rules and the `STAGECOACH_OUTBOUND_ALLOW` allow-list) and
 * answers `notifications`: what it claimed, delivered, retried and gave up on.
 * Finally it starts slices of due jobs (`_shared/jobs/worker.ts`: user copies, ETL runs,
 * Stripe reconciliation, release watches) in the background and answers `jobs`: `started` or `already_running`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { z } from "zod";
import { type CallerClaims, readCallerClaims } from "../_shared/auth.ts";
import { asCaller, type Sql } from "../_shared/db.ts";
import type { FunctionEnv } from "../_shared/env.ts";
import { ApiError, notFound, onError, readJsonBody } from "../_shared/http.ts";
import { sqlOutboxStore } from "../_shared/notifications/store.ts";
import { deliverDueNotifications } from "../_shared/notifications/worker.ts";
import type { OutboundPolicy } from "../_shared/outbound/policy.ts";
import { createJobRegistry, type JobRegistry } from "../_shared/jobs/registry.ts";
import { startDueJobs, workerJobHost } from "../_shared/jobs/worker.ts";
import { reconcileKind } from "../_shared/stripe/reconcile.ts";
import { usersCopyKind } from "../_shared/users/copy_job.ts";
import { createEtlKind } from "../_shared/etl/run_job.ts";
import { ETL_TRANSFORMS } from "../../etl/transforms.ts";
import { createReleaseWatchKind } from "../_shared/release/watch_job.ts";
import { createRolloutKind } from "../_shared/rollouts/rollout_job.ts";
import { CUSTOM_CHECKS } from "../_shared/validation/custom_checks.generated.ts";

/** What the ops-worker app needs from the outside world. */
export interface OpsWorkerDeps {
  env: FunctionEnv;
  sql: Sql;
  /**
   * The outbound allow-list notifications are delivered under (`STAGECOACH_OUTBOUND_ALLOW`,
   * see `outboundPolicyFromEnv`); default none: https to public addresses only.
   */
  outbound?: OutboundPolicy;
  /** The job kinds whose due jobs this worker runs (see {@link workerJobRegistry}). */
  jobs: JobRegistry;
}

/**
 * The kinds the ops-worker runs: user copies and ETL transforms queued with `--queue`, the
 * Stripe reconciliation pg_cron queues nightly, release watches whose CLI went away, and flag
 * rollouts (advanced on pg_cron's beat).
 *
 * @returns a fresh registry of those kinds
 */
export function workerJobRegistry(): JobRegistry {
  return createJobRegistry([
    usersCopyKind,
    createEtlKind(ETL_TRANSFORMS),
    reconcileKind,
    createReleaseWatchKind(CUSTOM_CHECKS),
    createRolloutKind(CUSTOM_CHECKS),
  ]);
}

/** The body of `POST /ops-worker`. */
export const WorkerCallSchema = z.object({
  source: z.string().trim().regex(/^[a-z][a-z0-9_:-]{0,63}$/).default("manual"),
});

/** The name of the worker's row in `ops.heartbeats`. */
export const HEARTBEAT_COMPONENT = "ops-worker";

/**
 * Refuses callers other than the service role.
 *
 * @param claims the caller's claims
 * @throws {ApiError} 403 `forbidden`
 */
export function requireServiceRole(claims: CallerClaims): void {
  if (claims.role !== "service_role") {
    throw new ApiError(
      403,
      "forbidden",
      `Cannot run the worker: role ${claims.role} is not service_role`,
      { role: claims.role },
    );
  }
}

/**
 * Creates the ops-worker app, rooted at `/ops-worker` as Supabase routes functions.
 *
 * @param deps the function's environment, database pool, outbound rules and job kinds
 * @returns the Hono app; `Deno.serve(app.fetch)` serves it
 * @example
 * ```ts
 * const env = functionEnv();
 * const sql = createDb(env.SUPABASE_DB_URL);
 * Deno.serve(createOpsWorkerApp({ env, sql, jobs: workerJobRegistry() }).fetch);
 * ```
 */
export function createOpsWorkerApp(deps: OpsWorkerDeps) {
  const app = new Hono().basePath("/ops-worker");
  app.onError(onError);
  app.notFound(notFound);

  async function beat(c: Context, claims: CallerClaims, source: string): Promise<Response> {
    const details = { source, env: deps.env.STAGECOACH_ENV ?? null };
    const beatAt = await asCaller(deps.sql, claims, async (tx) => {
      const [row] = await tx<{ beat_at: Date }[]>`
        insert into ops.heartbeats (component, beat_at, details)
        values (${HEARTBEAT_COMPONENT}, now(), ${tx.json(details)})
        on conflict (component) do update
          set beat_at = excluded.beat_at, details = excluded.details
        returning beat_at`;
      return row.beat_at;
    });
    const notifications = await deliverDueNotifications(sqlOutboxStore(deps.sql), {
      outbound: deps.outbound,
    });
    // Due jobs run in the background (EdgeRuntime.waitUntil), within STAGECOACH_JOB_BUDGET_MS.
    const vars = Deno.env.toObject();
    const jobs = startDueJobs(deps.sql, {
      host: workerJobHost(vars, deps.env.STAGECOACH_ENV),
      registry: deps.jobs,
      budgetMs: Number(vars.STAGECOACH_JOB_BUDGET_MS) || undefined,
    });
    return c.json({ ok: true, beat_at: beatAt.toISOString(), notifications, jobs });
  }

  app.post("/", async (c) => {
    const claims = readCallerClaims(c.req.header("authorization"));
    requireServiceRole(claims);
    const body = await readJsonBody(c.req.raw, WorkerCallSchema, { optional: true });
    return await beat(c, claims, body.source);
  });

  app.get("/", async (c) => {
    const claims = readCallerClaims(c.req.header("authorization"));
    requireServiceRole(claims);
    return await beat(c, claims, "manual");
  });

  return app;
}
