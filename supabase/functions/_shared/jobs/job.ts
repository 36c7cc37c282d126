/**
 * The shape of a job (a row of `ops.jobs`) and the pure rules about it: which statuses are
 * final, how a checkpoint patch merges into the progress columns, and the guard that keeps
 * secrets out of a job's parameters.
 *
 * @module
 */
import { z } from "zod";

/** Every status a job can have. */
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
/** One of {@link JOB_STATUSES}. */
export type JobStatus = typeof JOB_STATUSES[number];
/** Statuses after which a job never runs again unless re-queued. */
export const FINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

/** Who picks a job up on its own: the ops-worker, or the CLI that created it. */
export const JOB_EXECUTORS = ["worker", "cli"] as const;
/** One of {@link JOB_EXECUTORS}. */
export type JobExecutor = typeof JOB_EXECUTORS[number];

const JsonObject = z.record(z.string(), z.unknown());

/** A job's failure, as stored in `ops.jobs.error`. */
export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: JsonObject.default({}),
});
/** A job's failure. */
export type JobError = z.infer<typeof JobErrorSchema>;

/** A row of `ops.jobs` as the engine reads it (snake_case, as stored). */
export const JobRowSchema = z.object({
  id: z.uuid(),
  kind: z.string(),
  params: JsonObject,
  status: z.enum(JOB_STATUSES),
  executor: z.enum(JOB_EXECUTORS),
  cursor: JsonObject,
  counts: z.record(z.string(), z.number()),
  totals: z.record(z.string(), z.number()),
  state: JsonObject,
  result: z.unknown().nullable(),
  error: JobErrorSchema.nullable(),
  attempts: z.number().int(),
  slices: z.number().int(),
  run_after: z.date(),
  lease_owner: z.string().nullable(),
  lease_token: z.uuid().nullable(),
  lease_expires_at: z.date().nullable(),
  heartbeat_at: z.date().nullable(),
  created_by: z.uuid().nullable(),
  /** Who created the job: `owner`, `service_role`, `member` (see `created_by`) or `unknown`. */
  created_via: z.enum(["owner", "service_role", "member", "unknown"]),
  created_at: z.date(),
  updated_at: z.date(),
  started_at: z.date().nullable(),
  finished_at: z.date().nullable(),
});
/** A row of `ops.jobs`. */
export type JobRow = z.infer<typeof JobRowSchema>;

/**
 * What a step records after a batch. Each field is merged key by key into the stored value
 * (`cursor`, `counts`, `totals`, `state` are objects keyed by table or by the kind's names);
 * counts are absolute numbers, not increments, so replaying a checkpoint is harmless.
 */
export interface CheckpointPatch {
  cursor?: Record<string, unknown>;
  counts?: Record<string, number>;
  totals?: Record<string, number>;
  state?: Record<string, unknown>;
}

/** The progress columns of a job. */
export type JobProgress = Pick<JobRow, "cursor" | "counts" | "totals" | "state">;

/**
 * Merges a checkpoint patch into a job's progress, as the store does in SQL (`||`).
 *
 * @param progress the current progress
 * @param patch what the step recorded
 * @returns the new progress (the inputs are not changed)
 * @example
 * ```ts
 * applyPatch({ cursor: {}, counts: { a: 1 }, totals: {}, state: {} }, { counts: { b: 2 } });
 * // { cursor: {}, counts: { a: 1, b: 2 }, totals: {}, state: {} }
 * ```
 */
export function applyPatch(progress: JobProgress, patch: CheckpointPatch): JobProgress {
  return {
    cursor: { ...progress.cursor, ...patch.cursor },
    counts: { ...progress.counts, ...patch.counts },
    totals: { ...progress.totals, ...patch.totals },
    state: { ...progress.state, ...patch.state },
  };
}

/** Rows done and expected over every table of a job, for progress bars. */
export function progressTotals(job: Pick<JobRow, "counts" | "totals">): {
  done: number;
  total: number | null;
} {
  const done = Object.values(job.counts).reduce((a, b) => a + b, 0);
  const totals = Object.values(job.totals);
  return { done, total: totals.length ? totals.reduce((a, b) => a + b, 0) : null };
}

/** Names of parameters that would hold a secret; a job's params must never have one. */
const SECRET_NAME = /(^|_)(secret|password|passwd|token|api_?key|private_?key|anon_key|key)$/i;
/** Values that look like a credential: a URL with a password, or a Stripe/JWT secret. */
const SECRET_VALUE =
  /^(postgres(ql)?|https?):\/\/[^/\s:@]+:[^/\s@]+@|^(sk|rk)_(live|test)_|^whsec_|^eyJ[\w-]+\.eyJ/;

/**
 * Refuses parameters that carry a secret: a string or number under a key named like one
 * (`password`, `api_key`, `secret`, `*_token`, `key`), or a value that looks like a credential (a URL with a password,
 * a Stripe secret key or webhook secret, a JWT). Fingerprints (`key_fingerprint`) are fine.
 *
 * @param params the job's parameters, after the kind's schema parsed them
 * @throws {Error} "Cannot queue job: parameter <path> looks like a secret" (the value is never
 * echoed)
 * @example
 * ```ts
 * assertNoSecrets({ source_env: "production", key_fingerprint: "9f2c…" }); // fine
 * assertNoSecrets({ db_url: "postgres://u:pw@host/db" }); // throws
 * ```
 */
export function assertNoSecrets(params: unknown, path = "params"): void {
  if (typeof params === "string") {
    if (SECRET_VALUE.test(params)) {
      throw new Error(`Cannot queue job: parameter ${path} looks like a secret`);
    }
    return;
  }
  if (Array.isArray(params)) {
    params.forEach((v, i) => assertNoSecrets(v, `${path}[${i}]`));
    return;
  }
  if (params && typeof params === "object") {
    for (const [k, v] of Object.entries(params)) {
      // Only a value can be a secret: `{ encrypted_password: { rule: "password" } }` (a
      // manifest's structure) is fine, `{ password: "…" }` is not.
      if (SECRET_NAME.test(k) && (typeof v === "string" || typeof v === "number")) {
        throw new Error(`Cannot queue job: parameter ${path}.${k} looks like a secret`);
      }
      assertNoSecrets(v, `${path}.${k}`);
    }
  }
}
