/**
 * `ops.jobs` I/O: queue, claim (lease), checkpoint (fenced by the lease token), release,
 * finish, fail, cancel, re-queue and list due jobs. Every function is passed its client; the
 * engine's rules live in `job.ts` and `runner.ts`.
 *
 * These are service paths: the CLI and the ops-worker's engine call them as the database
 * owner (`postgres`), which alone writes `ops.jobs` directly. Everyone creates jobs through
 * `ops.create_job`; members otherwise only read, cancel and re-queue (RLS).
 *
 * @module
 */
import type postgres from "postgres";
import type { Queryable, Tx } from "../db.ts";
import {
  assertNoSecrets,
  type CheckpointPatch,
  type JobError,
  type JobExecutor,
  type JobRow,
  JobRowSchema,
} from "./job.ts";
import type { JobRegistry } from "./registry.ts";

/** Thrown by a checkpoint when the runner no longer holds the job (taken over or cancelled). */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(
      `Cannot checkpoint job ${jobId}: the lease is no longer held (another runner took it, or it was cancelled)`,
    );
    this.name = "LeaseLostError";
  }
}

const JOB_COLUMNS = `id, kind, params, status, executor, cursor, counts, totals, state, result,
  error, attempts, slices, run_after, lease_owner, lease_token, lease_expires_at, heartbeat_at,
  created_by, created_via, created_at, updated_at, started_at, finished_at`;

/** A value for a `$n::jsonb` parameter: postgres.js serialises it once (never pre-stringify). */
function json(value: unknown): postgres.JSONValue {
  return value as postgres.JSONValue;
}

function parseJob(row: unknown): JobRow {
  return JobRowSchema.parse(row);
}

/**
 * Queues a job through `ops.create_job`, the only way a job row is created: the parameters
 * are validated with the kind's schema here (secrets refused), then again by the database for
 * the kind and the caller (a `users.copy` must name the shipped manifest's hash; only admins
 * and the owner may give it a `where`). Only the database owner (the CLI) may seed the
 * progress columns (`totals`, `state`).
 *
 * @param sql the job database
 * @param registry where the kind is registered
 * @param opts.kind the kind's name
 * @param opts.params its parameters (validated, then stored as parsed)
 * @param opts.executor who picks it up: `worker` (default) or `cli`
 * @param opts.totals rows expected per table, when known up front
 * @param opts.state the kind's initial state (e.g. a preflight the CLI already ran)
 * @returns the new job
 * @throws {Error} for an unknown kind, invalid parameters (naming the zod paths) or a secret;
 * the database's refusal (SQLSTATE 42501 or 22023, "Cannot queue job …") as it raised it
 * @example
 * ```ts
 * const job = await createJob(sql, registry, { kind: "etl.run", params: { transform: "x" } });
 * ```
 */
export async function createJob(
  sql: Queryable,
  registry: JobRegistry,
  opts: {
    kind: string;
    params: unknown;
    executor?: JobExecutor;
    totals?: Record<string, number>;
    state?: Record<string, unknown>;
  },
): Promise<JobRow> {
  const kind = registry.get(opts.kind);
  const parsed = kind.paramsSchema.safeParse(opts.params);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      `${i.path.join(".") || "params"}: ${i.message}`
    );
    throw new Error(`Cannot queue job ${opts.kind}: invalid parameters (${problems.join("; ")})`);
  }
  assertNoSecrets(parsed.data);
  const [row] = await sql.unsafe(
    `select ${JOB_COLUMNS} from ops.create_job($1, $2::jsonb, $3, $4::jsonb, $5::jsonb)`,
    [
      opts.kind,
      json(parsed.data),
      opts.executor ?? "worker",
      json(opts.totals ?? {}),
      json(opts.state ?? {}),
    ],
  );
  return parseJob(row);
}

/**
 * Checks a stored job against the rules `ops.create_job` applied when it was queued
 * (`private.recheck_job`): its parameters still fit its kind, and its creator may still use
 * them. The runner calls it before every slice; the owner's service path.
 *
 * @throws the database's refusal ("Cannot run job <id> (<kind>): …", SQLSTATE 42501 or 22023)
 */
export async function recheckJob(sql: Queryable, id: string): Promise<void> {
  await sql.unsafe(`select private.recheck_job($1)`, [id]);
}

/**
 * Reads a job.
 *
 * @returns the job, or null when there is none with that id
 */
export async function loadJob(sql: Queryable, id: string): Promise<JobRow | null> {
  const [row] = await sql.unsafe(`select ${JOB_COLUMNS} from ops.jobs where id = $1`, [id]);
  return row ? parseJob(row) : null;
}

/**
 * Claims a job for one slice: status `running`, a fresh lease token, the lease owner and its
 * expiry. A job whose lease is live is only taken with `steal` (safe: checkpoints are fenced,
 * so the previous holder's next batch rolls back).
 *
 * @returns the claimed job (with `lease_token` set), or null when it is finished, unknown, or
 * leased to a live runner and `steal` is false
 */
export async function claimJob(
  sql: Queryable,
  id: string,
  opts: { owner: string; leaseMs: number; steal?: boolean },
): Promise<JobRow | null> {
  const [row] = await sql.unsafe(
    `update ops.jobs
        set status = 'running',
            lease_owner = $2,
            lease_token = gen_random_uuid(),
            lease_expires_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000),
            heartbeat_at = clock_timestamp(),
            started_at = coalesce(started_at, clock_timestamp()),
            -- A claim of a job still marked running means its last runner died: a new attempt.
            attempts = attempts + case when status = 'running' or attempts = 0 then 1 else 0 end,
            slices = slices + 1,
            error = null
      where id = $1
        and status in ('queued', 'running')
        and (lease_token is null or lease_expires_at < clock_timestamp() or $4::boolean)
      returning ${JOB_COLUMNS}`,
    [id, opts.owner, opts.leaseMs, opts.steal ?? false],
  );
  return row ? parseJob(row) : null;
}

/**
 * Records a checkpoint and renews the lease, only while `token` is still the job's lease
 * token and the job is running. Call it inside the batch's transaction to commit both at once.
 *
 * @param opts.token the runner's lease token
 * @param opts.patch what changed (cursor, counts, totals, state: merged into the stored ones)
 * @param opts.leaseMs the lease's new length from now
 * @returns the job's progress columns after the merge
 * @throws {LeaseLostError} when the lease is gone (the caller's transaction should roll back)
 * @example
 * ```ts
 * await checkpointJob(tx, job.id, { token, patch: { cursor: { users: last } }, leaseMs: 30_000 });
 * ```
 */
export async function checkpointJob(
  sql: Queryable,
  id: string,
  opts: { token: string; patch: CheckpointPatch; leaseMs: number },
): Promise<Pick<JobRow, "cursor" | "counts" | "totals" | "state">> {
  const patch = opts.patch;
  const [row] = await sql.unsafe(
    `update ops.jobs
        set cursor = cursor || $3::jsonb,
            counts = counts || $4::jsonb,
            totals = totals || $5::jsonb,
            state = state || $6::jsonb,
            heartbeat_at = clock_timestamp(),
            lease_expires_at = clock_timestamp() + make_interval(secs => $7::double precision / 1000)
      where id = $1 and lease_token = $2 and status = 'running'
      returning cursor, counts, totals, state`,
    [
      id,
      opts.token,
      json(patch.cursor ?? {}),
      json(patch.counts ?? {}),
      json(patch.totals ?? {}),
      json(patch.state ?? {}),
      opts.leaseMs,
    ],
  );
  if (!row) throw new LeaseLostError(id);
  return row as unknown as Pick<JobRow, "cursor" | "counts" | "totals" | "state">;
}

/**
 * Ends a slice without finishing: the job goes back to `queued` (due at `runAfter`, default
 * now) and the lease is released, so the next slice (any runner) continues from the checkpoint.
 *
 * @param opts.token the runner's lease token
 * @param opts.runAfter when the job is due again, default now
 * @returns false when the lease was already lost
 */
export async function releaseJob(
  sql: Queryable,
  id: string,
  opts: { token: string; runAfter?: Date },
): Promise<boolean> {
  const rows = await sql.unsafe(
    `update ops.jobs
        set status = 'queued', lease_token = null, lease_owner = null, lease_expires_at = null,
            run_after = coalesce($3::timestamptz, clock_timestamp())
      where id = $1 and lease_token = $2 and status = 'running'
      returning id`,
    [id, opts.token, opts.runAfter ?? null],
  );
  return rows.length === 1;
}

/**
 * Marks a job succeeded with its result (the lease is released by the status trigger).
 *
 * @param opts.token the runner's lease token
 * @param opts.result what the job reports (`ops.jobs.result`)
 * @returns false when the lease was already lost
 */
export async function finishJob(
  sql: Queryable,
  id: string,
  opts: { token: string; result: Record<string, unknown> },
): Promise<boolean> {
  const rows = await sql.unsafe(
    `update ops.jobs set status = 'succeeded', result = $3::jsonb
      where id = $1 and lease_token = $2 and status = 'running'
      returning id`,
    [id, opts.token, json(opts.result)],
  );
  return rows.length === 1;
}

/**
 * Marks a job failed with its error. With a token, only while that lease is held; without
 * one, whenever the job is not finished (used for jobs that cannot even start).
 *
 * @param opts.token the runner's lease token, or null for a job that never started
 * @param opts.error the stored error (`{ code, message, details }`)
 * @returns false when nothing was changed
 */
export async function failJob(
  sql: Queryable,
  id: string,
  opts: { token: string | null; error: JobError },
): Promise<boolean> {
  const rows = await sql.unsafe(
    `update ops.jobs set status = 'failed', error = $3::jsonb
      where id = $1
        and status in ('queued', 'running')
        and ($2::uuid is null or lease_token = $2::uuid)
      returning id`,
    [id, opts.token, json(opts.error)],
  );
  return rows.length === 1;
}

/**
 * Cancels a job that has not finished; a runner holding it loses its lease.
 *
 * @returns false when the job is unknown or already finished
 */
export async function cancelJob(sql: Queryable, id: string): Promise<boolean> {
  const rows = await sql.unsafe(
    `update ops.jobs set status = 'canceled'
      where id = $1 and status in ('queued', 'running') returning id`,
    [id],
  );
  return rows.length === 1;
}

/**
 * Puts a failed or cancelled job back in the queue; it resumes from its checkpoint.
 *
 * @returns false when the job is unknown, or queued, running or succeeded
 */
export async function requeueJob(sql: Queryable, id: string): Promise<boolean> {
  const rows = await sql.unsafe(
    `update ops.jobs set status = 'queued', error = null, run_after = clock_timestamp()
      where id = $1 and status in ('failed', 'canceled') returning id`,
    [id],
  );
  return rows.length === 1;
}

/**
 * The newest job of `kind` for `executor` that has not ended (queued or running): what a run
 * killed mid-way left behind, for the next run to resume.
 *
 * @returns the job, or null when every such job ended
 */
export async function findUnfinishedJob(
  sql: Queryable,
  opts: { kind: string; executor: JobExecutor },
): Promise<JobRow | null> {
  const [row] = await sql.unsafe(
    `select id from ops.jobs
      where kind = $1 and executor = $2 and status in ('queued', 'running')
      order by created_at desc
      limit 1`,
    [opts.kind, opts.executor],
  );
  return row ? await loadJob(sql, String(row.id)) : null;
}

/**
 * Ids of jobs due for `executor`: queued (or running with an expired lease, i.e. its runner
 * died) and `run_after` reached, oldest first.
 */
export async function dueJobIds(
  sql: Queryable,
  opts: { executor: JobExecutor; limit: number; kinds?: string[] },
): Promise<string[]> {
  const rows = await sql.unsafe(
    `select id from ops.jobs
      where status in ('queued', 'running')
        and executor = $1
        and run_after <= clock_timestamp()
        and (lease_token is null or lease_expires_at < clock_timestamp())
        and ($3::text[] is null or kind = any ($3::text[]))
      order by run_after, created_at
      limit $2`,
    [opts.executor, opts.limit, opts.kinds ?? null],
  );
  return rows.map((r) => String(r.id));
}

/**
 * Starts an audit write on a pooled connection as the direct service session it is: a
 * connection that earlier served `asCaller` keeps `request.jwt.claims` as an empty string after
 * that transaction, which the local stack's `auth.role()` cannot parse (`''::jsonb`). Call it
 * inside the transaction that calls `ops.append_audit`.
 */
export async function asServiceSession(tx: Tx): Promise<void> {
  await tx`select set_config('request.jwt.claims', '{}', true)`;
}
