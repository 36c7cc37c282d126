/**
 * The ops-worker's side of the job engine: a {@link JobHost} built from function secrets, and
 * {@link startDueJobs}, which runs due job slices in the background of a worker call (kept
 * alive with `EdgeRuntime.waitUntil` on Supabase) within a budget well under the Edge
 * Function wall-clock limit (150 s on the free plan). Every slice re-queues its job when the
 * budget runs out; the next pg_cron call (every minute) continues it.
 *
 * @module
 */
import type { Sql } from "../db.ts";
import type { JobHost, JobRegistry } from "./registry.ts";
import { runDueJobs, type SliceResult } from "./runner.ts";

/** Default budget of one worker call's job slices: 60 s of the 150 s wall-clock limit. */
export const DEFAULT_JOB_BUDGET_MS = 60_000;

/**
 * The worker's job host. Another environment's database is reached through the function
 * secret `STAGECOACH_DB_URL_<ENV>` (e.g. `STAGECOACH_DB_URL_PRODUCTION`); the worker's own
 * environment through `SUPABASE_DB_URL`. Other secrets (`STAGECOACH_ANON_KEY`, …) by name.
 *
 * @param vars the function's environment variables
 * @param self the worker's own environment name (`STAGECOACH_ENV`), if known
 * @example
 * ```ts
 * const host = workerJobHost(Deno.env.toObject(), env.STAGECOACH_ENV);
 * ```
 */
export function workerJobHost(vars: Record<string, string | undefined>, self?: string): JobHost {
  return {
    owner: `ops-worker:${self ?? "unknown"}`,
    dbUrl(env) {
      const name = `STAGECOACH_DB_URL_${env.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
      const url = vars[name] ?? (env === self ? vars.SUPABASE_DB_URL : undefined);
      if (!url) {
        throw new Error(`Cannot reach ${env} from the ops-worker: set the function secret ${name}`);
      }
      return url;
    },
    secret: (name) => vars[name],
    log: (line) => console.log(line),
  };
}

let inFlight: Promise<SliceResult[]> | null = null;

/**
 * Starts due job slices in the background unless this instance already runs some.
 *
 * @returns `started` or `already_running`
 */
export function startDueJobs(
  sql: Sql,
  opts: { host: JobHost; registry: JobRegistry; budgetMs?: number },
): "started" | "already_running" {
  if (inFlight) return "already_running";
  const run = runDueJobs(sql, {
    host: opts.host,
    registry: opts.registry,
    budgetMs: opts.budgetMs ?? DEFAULT_JOB_BUDGET_MS,
  }).catch((err) => {
    console.error("ops-worker: job slices failed:", (err as Error).message);
    return [] as SliceResult[];
  }).finally(() => {
    inFlight = null;
  });
  inFlight = run;
  const edge = (globalThis as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } })
    .EdgeRuntime;
  edge?.waitUntil(run);
  return "started";
}

/** Waits for the background slices of this instance, if any (tests). */
export async function jobsSettled(): Promise<SliceResult[]> {
  return inFlight ? await inFlight : [];
}
