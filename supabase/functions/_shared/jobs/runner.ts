/**
 * The job runner: runs a job in time-boxed slices. A slice claims the job (lease), calls the
 * kind's `step` until the job is done or the next step would not fit before the deadline,
 * then re-queues the job (the next slice, by any runner, continues from the checkpoint).
 * While a slice runs, a heartbeat renews the lease; a killed runner's lease just expires.
 *
 * The ops-worker calls {@link runDueJobs} with a budget well below the Edge Function
 * wall-clock limit; the CLI calls {@link runJob}, which chains slices until the job ends.
 *
 * @module
 */
import type { Sql } from "../db.ts";
import { type CheckpointPatch, type JobError, type JobRow, progressTotals } from "./job.ts";
import type { JobContext, JobHost, JobRegistry } from "./registry.ts";
import {
  checkpointJob,
  claimJob,
  dueJobIds,
  failJob,
  finishJob,
  LeaseLostError,
  loadJob,
  recheckJob,
  releaseJob,
} from "./store.ts";

/** How a slice ended. */
export type SliceStatus =
  | "succeeded"
  | "failed"
  | "queued"
  | "canceled"
  | "busy"
  | "lease_lost"
  | "not_found";

/** What {@link runSlice} reports. */
export interface SliceResult {
  job_id: string;
  status: SliceStatus;
  steps: number;
  ms: number;
  /** The job as it stands after the slice (null when not found). */
  job: JobRow | null;
}

/** Options of {@link runSlice}. */
export interface SliceOptions {
  host: JobHost;
  /** Slice budget in milliseconds from now; the slice stops before it. */
  deadlineMs: number;
  /** The kinds this runner runs (built where the runner is wired: ops-worker, CLI). */
  registry: JobRegistry;
  /** Lease length (renewed by the heartbeat and every checkpoint), default 30 s. */
  leaseMs?: number;
  /** Heartbeat period, default a third of the lease. */
  heartbeatMs?: number;
  /** Take the job even if another runner's lease is live (safe: checkpoints are fenced). */
  steal?: boolean;
  /** Kept free at the end of the slice for releasing the job, default 2 s. */
  marginMs?: number;
  /**
   * Longest a step's `wakeAt` is slept in the slice; a later one re-queues the job due then and
   * frees the runner (the ops-worker passes a few seconds, so one waiting job never holds the
   * due jobs behind it). Default: as long as the slice lasts.
   */
  maxSleepMs?: number;
  /** Stops the slice after the current step (the job is re-queued). */
  signal?: AbortSignal;
  /** Called after every checkpoint with the job's current progress. */
  onProgress?(job: JobRow): void;
}

/** An error a kind throws on purpose, with a stable code (e.g. `unmapped_column`). */
export class JobFailure extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "JobFailure";
    this.code = code;
    this.details = details;
  }
}

/** The stored form of what a step threw: a JobFailure as is, anything else by message only. */
export function toJobError(err: unknown): JobError {
  if (err instanceof JobFailure) {
    return { code: err.code, message: err.message, details: err.details };
  }
  const e = err as { message?: string; code?: string };
  // Postgres errors keep their SQLSTATE; their `detail` (which may quote row values) is dropped.
  const code = typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)
    ? `sqlstate_${e.code}`
    : "job_failed";
  return { code, message: String(e?.message ?? err), details: {} };
}

const DEFAULT_LEASE_MS = 30_000;

/**
 * Re-checks a claimed job in the database with the rules it was queued under (its parameters
 * for its kind, its creator's right to them), before any of its code runs.
 *
 * @throws {JobFailure} `job_refused` with the database's reason
 */
async function recheck(sql: Sql, jobId: string): Promise<void> {
  try {
    await recheckJob(sql, jobId);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "42501" || code === "22023") {
      throw new JobFailure("job_refused", (err as Error).message);
    }
    throw err;
  }
}

/**
 * Runs one slice of a job. Before the kind runs, the database re-checks the job with the
 * rules `ops.create_job` applied when it was queued; a job that no longer meets them fails
 * with `job_refused` and nothing of it runs.
 *
 * @param sql the database holding `ops.jobs` (pool with at least 2 connections: the
 * heartbeat runs beside the step's transaction)
 * @param jobId the job
 * @param opts host, budget, lease
 * @returns how the slice ended; a step's error marks the job failed (status `failed`)
 * @example
 * ```ts
 * const r = await runSlice(sql, job.id, { host, deadlineMs: 60_000 });
 * r.status; // "queued" (more to do) | "succeeded" | "failed" | …
 * ```
 */
export async function runSlice(sql: Sql, jobId: string, opts: SliceOptions): Promise<SliceResult> {
  const t0 = Date.now();
  const deadline = t0 + opts.deadlineMs;
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const margin = opts.marginMs ?? 2_000;
  const registry = opts.registry;
  const done = async (status: SliceStatus, steps: number): Promise<SliceResult> => ({
    job_id: jobId,
    status,
    steps,
    ms: Date.now() - t0,
    job: await loadJob(sql, jobId),
  });

  const claimed = await claimJob(sql, jobId, {
    owner: opts.host.owner,
    leaseMs,
    steal: opts.steal,
  });
  if (!claimed) {
    const job = await loadJob(sql, jobId);
    if (!job) return { job_id: jobId, status: "not_found", steps: 0, ms: 0, job: null };
    const status: SliceStatus = job.status === "queued" || job.status === "running"
      ? "busy"
      : job.status;
    return { job_id: jobId, status, steps: 0, ms: Date.now() - t0, job };
  }
  const token = claimed.lease_token!;
  let job: JobRow = claimed;

  let leaseLost = false;
  const heartbeat = setInterval(() => {
    sql.unsafe(
      `update ops.jobs
          set heartbeat_at = clock_timestamp(),
              lease_expires_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000)
        where id = $1 and lease_token = $2 and status = 'running'
        returning id`,
      [jobId, token, leaseMs],
    ).then((rows) => {
      if (!rows.length) leaseLost = true;
    }, () => {/* a missed beat is retried at the next tick */});
  }, opts.heartbeatMs ?? Math.max(1_000, Math.floor(leaseMs / 3)));

  let steps = 0;
  let resources: unknown;
  let opened = false;
  const kindName = job.kind;
  try {
    await recheck(sql, jobId);
    const kind = registry.get(kindName);
    const parsed = kind.paramsSchema.safeParse(job.params);
    if (!parsed.success) {
      throw new JobFailure(
        "invalid_params",
        `Cannot run job ${jobId}: its parameters no longer match ${kindName}'s schema`,
        { issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`) },
      );
    }
    let checkpoints = 0;
    const ctx: JobContext<unknown> = {
      get job() {
        return job;
      },
      params: parsed.data,
      sql,
      host: opts.host,
      deadline: deadline - margin,
      async checkpoint(patch: CheckpointPatch, tx?) {
        const progress = await checkpointJob(tx ?? sql, jobId, { token, patch, leaseMs });
        checkpoints++;
        job = { ...job, ...progress };
        opts.onProgress?.(job);
      },
    };
    resources = await kind.open?.(ctx);
    opened = true;
    let longestStep = 0;
    while (true) {
      if (leaseLost) throw new LeaseLostError(jobId);
      const before = checkpoints;
      const s0 = Date.now();
      const outcome = await kind.step(ctx, resources);
      steps++;
      longestStep = Math.max(longestStep, Date.now() - s0);
      if (outcome.done) {
        if (!(await finishJob(sql, jobId, { token, result: outcome.result ?? {} }))) {
          throw new LeaseLostError(jobId);
        }
        return await done("succeeded", steps);
      }
      if (checkpoints === before) {
        throw new JobFailure(
          "no_progress",
          `Cannot continue job ${jobId}: a ${kindName} step returned without a checkpoint`,
        );
      }
      const wakeAt = outcome.wakeAt?.getTime() ?? 0;
      if (wakeAt > deadline - margin || wakeAt - Date.now() > (opts.maxSleepMs ?? Infinity)) {
        // Nothing to do within this slice: free the runner, due again at wakeAt.
        if (!(await releaseJob(sql, jobId, { token, runAfter: outcome.wakeAt }))) {
          throw new LeaseLostError(jobId);
        }
        return await done("queued", steps);
      }
      if (wakeAt > Date.now()) await sleep(wakeAt - Date.now(), opts.signal);
      const next = Date.now() + longestStep;
      if (next > deadline - margin || opts.signal?.aborted) {
        if (!(await releaseJob(sql, jobId, { token }))) throw new LeaseLostError(jobId);
        return await done("queued", steps);
      }
    }
  } catch (err) {
    if (err instanceof LeaseLostError) {
      const current = await loadJob(sql, jobId);
      return {
        job_id: jobId,
        status: current?.status === "canceled" ? "canceled" : "lease_lost",
        steps,
        ms: Date.now() - t0,
        job: current,
      };
    }
    await failJob(sql, jobId, { token, error: toJobError(err) });
    return await done("failed", steps);
  } finally {
    clearInterval(heartbeat);
    if (opened) {
      await (registry.get(kindName).close?.(resources))?.catch(() => {});
    }
  }
}

/**
 * Runs a job to its end in consecutive slices (the CLI's way), re-claiming after each.
 *
 * @param opts as {@link runSlice}; `sliceMs` is each slice's budget (default 10 minutes)
 * @returns the last slice's result (status `succeeded`, `failed`, `canceled`, `busy`, …)
 */
export async function runJob(
  sql: Sql,
  jobId: string,
  opts: Omit<SliceOptions, "deadlineMs"> & { sliceMs?: number },
): Promise<SliceResult> {
  let steal = opts.steal;
  // A job a step asked to be woken later (StepOutcome.wakeAt) is run when it is due.
  const queued = await loadJob(sql, jobId);
  const due = queued?.status === "queued" ? queued.run_after.getTime() : 0;
  if (due > Date.now()) await sleep(due - Date.now(), opts.signal);
  while (true) {
    const r = await runSlice(sql, jobId, {
      ...opts,
      steal,
      deadlineMs: opts.sliceMs ?? 600_000,
    });
    steal = false;
    if (r.status !== "queued" || opts.signal?.aborted) return r;
    // A step asked to be woken later (StepOutcome.wakeAt): wait here rather than spin.
    const due = r.job?.run_after.getTime() ?? 0;
    if (due > Date.now()) await sleep(due - Date.now(), opts.signal);
  }
}

/** Longest a due job's step is slept in a worker's slice (see {@link SliceOptions.maxSleepMs}). */
export const DUE_JOB_MAX_SLEEP_MS = 5_000;

/**
 * Runs slices of due jobs for the ops-worker within a total budget, oldest first, one slice
 * per job per call. Stops starting new slices when less than `minSliceMs` remains. Only jobs
 * of the registry's kinds are picked up (unless `kinds` narrows them further).
 *
 * @param opts.budgetMs total time for this call (keep it well under the wall-clock limit)
 * @returns one result per slice run
 */
export async function runDueJobs(
  sql: Sql,
  opts: Omit<SliceOptions, "deadlineMs"> & {
    budgetMs: number;
    minSliceMs?: number;
    maxJobs?: number;
    kinds?: string[];
  },
): Promise<SliceResult[]> {
  const end = Date.now() + opts.budgetMs;
  const minSlice = opts.minSliceMs ?? 5_000;
  const registry = opts.registry;
  const ids = await dueJobIds(sql, {
    executor: "worker",
    limit: opts.maxJobs ?? 10,
    kinds: opts.kinds ?? registry.kinds(),
  });
  const results: SliceResult[] = [];
  for (const id of ids) {
    const left = end - Date.now();
    if (left < minSlice) break;
    results.push(
      await runSlice(sql, id, {
        maxSleepMs: DUE_JOB_MAX_SLEEP_MS,
        ...opts,
        registry,
        deadlineMs: left,
      }),
    );
  }
  return results;
}

/** A one-line summary of a job's progress, e.g. `12,000 / 40,000 rows (30 %)`. */
export function describeProgress(job: Pick<JobRow, "counts" | "totals">): string {
  const { done, total } = progressTotals(job);
  const fmt = (n: number) => n.toLocaleString("en-US");
  if (total === null || total === 0) return `${fmt(done)} rows`;
  return `${fmt(done)} / ${fmt(total)} rows (${Math.floor((done / total) * 100)} %)`;
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
