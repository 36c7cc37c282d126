/**
 * The one runner of the CLI's job commands (`users copy`, `etl run`, `stripe reconcile`):
 * connect to the environment holding the job, start it or resume it (taking over the lease of
 * a run that died), run it here with a progress bar, stop cleanly on Ctrl-C, print the result,
 * and answer the exit code. A command file only parses its options and says what differs: how
 * a job starts (`start`), which secrets it runs with, its label and its summary.
 *
 * Exit codes: 0 succeeded (or queued for the ops-worker, or nothing to do), 130 stopped by
 * Ctrl-C (the job stays queued; the printed command resumes it), 1 otherwise (thrown: the CLI
 * prints the message).
 *
 * @module
 */
import type { Sql } from "postgres";
import { ETL_TRANSFORMS } from "../../supabase/etl/transforms.ts";
import { createEtlKind } from "../../supabase/functions/_shared/etl/run_job.ts";
import { type JobRow, progressTotals } from "../../supabase/functions/_shared/jobs/job.ts";
import {
  createJobRegistry,
  type JobHost,
  type JobRegistry,
} from "../../supabase/functions/_shared/jobs/registry.ts";
import {
  JobFailure,
  runJob,
  type SliceResult,
} from "../../supabase/functions/_shared/jobs/runner.ts";
import {
  createJob,
  findUnfinishedJob,
  loadJob,
  requeueJob,
} from "../../supabase/functions/_shared/jobs/store.ts";
import { reconcileKind } from "../../supabase/functions/_shared/stripe/reconcile.ts";
import { usersCopyKind } from "../../supabase/functions/_shared/users/copy_job.ts";
import { createReleaseWatchKind } from "../../supabase/functions/_shared/release/watch_job.ts";
import { createRolloutKind } from "../../supabase/functions/_shared/rollouts/rollout_job.ts";
import { CUSTOM_CHECKS } from "../../supabase/functions/_shared/validation/custom_checks.generated.ts";
import { UsageError, withDatabase } from "./command.ts";
import { createProgress } from "./progress.ts";
import { resolveTarget, type Target } from "./target.ts";

/** The exit code of a run stopped by Ctrl-C (128 + SIGINT), the job left to resume. */
export const EXIT_INTERRUPTED = 130;

/**
 * The job kinds the CLI runs: user copies, ETL transforms and Stripe reconciliation.
 *
 * @returns a fresh registry of those kinds
 */
export function cliJobRegistry(): JobRegistry {
  return createJobRegistry([
    usersCopyKind,
    createEtlKind(ETL_TRANSFORMS),
    reconcileKind,
    createReleaseWatchKind(CUSTOM_CHECKS),
    createRolloutKind(CUSTOM_CHECKS),
  ]);
}

/** A secret by name, as a job run from the CLI gets it (see `JobHost.secret`). */
export type SecretLookup = (name: string) => string | undefined;

/** What a command's `start` gets. */
export interface JobStartContext {
  /** The environment's database (where the job lives). */
  sql: Sql;
  /** Prints a line for a person (stderr with `--json`). */
  log(line: string): void;
  /** Queues the job (through `ops.create_job`) with the command's kind and executor. */
  create(input: {
    params: Record<string, unknown>;
    totals?: Record<string, number>;
    state?: Record<string, unknown>;
  }): Promise<JobRow>;
}

/** Options of {@link runJobCommand}. */
export interface JobCommandOptions {
  /** The job kind, e.g. `users.copy`: a resumed job must be of it. */
  kind: string;
  /** The kinds the CLI runs ({@link cliJobRegistry}). */
  registry: JobRegistry;
  /** `--json`: the result goes to stdout as JSON; progress and other lines go to stderr. */
  json: boolean;
  /**
   * Which job: `{ id }` resumes that job (`--resume <id>`); `"latest"` resumes the newest
   * unfinished job of the kind this CLI ran, or starts one when there is none; absent starts
   * one.
   */
  resume?: { id: string } | "latest";
  /** Take a resumed job over even when another live run holds it (`--force`). */
  force?: boolean;
  /** Queue a started job for the environment's ops-worker instead of running it here. */
  queue?: boolean;
  /** Database connections: the job's batches plus one for its heartbeat; default 4. */
  connections?: number;
  /**
   * Starts the job: checks, previews, `ctx.create(…)`. Returns the job to run, or the exit
   * code when there is nothing to run (a dry run). Needed unless `resume` names a job.
   */
  start?(ctx: JobStartContext): Promise<JobRow | number>;
  /** The secrets the job runs with (called once the job is known); default the process's. */
  secrets?(job: JobRow): SecretLookup | Promise<SecretLookup>;
  /** The progress bar's label, e.g. `users copy production → staging`. */
  label(job: JobRow): string;
  /** What progress counts, default `rows`. */
  unit?: string;
  /** The lines printed after a success (without `--json`). */
  summary?(job: JobRow): string[];
  /** The command that resumes a stopped job, printed after Ctrl-C. */
  resumeCommand(job: JobRow): string;
}

/**
 * Runs a job command from connection to exit code.
 *
 * @param env the environment holding the job
 * @param opts the command's kind, options and hooks
 * @returns the exit code (0 or {@link EXIT_INTERRUPTED})
 * @throws {UsageError} for a `--resume` value that is not a job id
 * @throws {Error} when the environment is unreachable, the job cannot be resumed, another run
 * holds it, or it failed (its stored error message)
 * @example
 * ```ts
 * return await runJobCommand(env, {
 *   kind: ETL_RUN_KIND, registry: cliJobRegistry(), json: false,
 *   start: (ctx) => ctx.create({ params }),
 *   label: () => `etl ${id} on ${env.name}`,
 *   resumeCommand: (job) => `stagecoach etl run --env ${env.name} --resume ${job.id}`,
 * });
 * ```
 */
export async function runJobCommand(env: Target, opts: JobCommandOptions): Promise<number> {
  const resume = opts.resume;
  if (typeof resume === "object" && !/^[0-9a-f-]{36}$/i.test(resume.id)) {
    throw new UsageError(`Invalid --resume: "${resume.id}" is not a job id`);
  }
  const log = (line: string) => (opts.json ? console.error(line) : console.log(line));
  try {
    return await withDatabase(env, async (sql) => {
      const found = await startOrResume(sql, env, opts, log);
      if (typeof found === "number") return found;
      const r = await runJobWithProgress(sql, found.job, { ...opts, ...found });
      return report(r, opts);
    }, { max: opts.connections ?? 4, prepare: false });
  } catch (err) {
    // A kind's failure before the run (preflight) reads as any other error of the command.
    if (err instanceof JobFailure) throw new Error(err.message);
    throw err;
  }
}

/** The job to run, with its secrets and whether to take it over; or an exit code. */
async function startOrResume(
  sql: Sql,
  env: Target,
  opts: JobCommandOptions,
  log: (line: string) => void,
): Promise<{ job: JobRow; secrets: SecretLookup; steal: boolean } | number> {
  let job: JobRow | null = null;
  if (typeof opts.resume === "object") {
    job = await loadJob(sql, opts.resume.id);
    if (!job || job.kind !== opts.kind) {
      throw new Error(
        `Cannot resume job ${opts.resume.id}: no ${opts.kind} job with that id in ${env.name}`,
      );
    }
    if (job.status === "succeeded") {
      log(`job ${job.id} already succeeded; nothing to do`);
      return 0;
    }
  } else if (opts.resume === "latest") {
    job = await findUnfinishedJob(sql, { kind: opts.kind, executor: "cli" });
  }
  if (!job) {
    if (!opts.start) throw new Error(`Cannot start a ${opts.kind} job: this command only resumes`);
    const started = await opts.start({
      sql,
      log,
      create: (input) =>
        createJob(sql, opts.registry, {
          kind: opts.kind,
          executor: opts.queue ? "worker" : "cli",
          ...input,
        }),
    });
    if (typeof started === "number") return started;
    if (opts.queue) {
      if (opts.json) {
        // One line: scripts read the job id from the last line.
        console.log(JSON.stringify({ job_id: started.id, status: "queued", executor: "worker" }));
      } else log(`queued for the ${env.name} ops-worker; follow it in ops.jobs (id ${started.id})`);
      return 0;
    }
    return { job: started, secrets: await secretsOf(opts, started), steal: false };
  }
  // Secrets first: a resume that cannot run (a missing key) leaves the job as it was.
  const secrets = await secretsOf(opts, job);
  if (job.status === "failed" || job.status === "canceled") await requeueJob(sql, job.id);
  const steal = Boolean(opts.force) || await ownerIsDeadLocalProcess(job.lease_owner);
  log(
    `resuming job ${job.id} (${job.status}${
      steal && job.lease_owner ? `, taking it over from ${job.lease_owner}` : ""
    })`,
  );
  return { job, secrets, steal };
}

async function secretsOf(opts: JobCommandOptions, job: JobRow): Promise<SecretLookup> {
  return opts.secrets ? await opts.secrets(job) : (name) => Deno.env.get(name);
}

/** Prints the result and answers the exit code. */
function report(r: SliceResult, opts: JobCommandOptions): number {
  const job = r.job;
  if (opts.json) {
    const out = {
      job_id: r.job_id,
      status: r.status,
      counts: job?.counts,
      result: job?.result ?? null,
      error: job?.error ?? null,
    };
    console.log(JSON.stringify(out, null, 2));
  } else if (r.status === "succeeded" && job) {
    for (const line of opts.summary?.(job) ?? []) console.log(line);
  }
  if (r.status === "succeeded") return 0;
  if (r.status === "queued" && job) {
    console.error(`stopped; resume with: ${opts.resumeCommand(job)}`);
    return EXIT_INTERRUPTED;
  }
  if (r.status === "busy") {
    throw new Error(
      `Cannot run job ${r.job_id}: another run holds it (${job?.lease_owner}); wait, or --resume with --force`,
    );
  }
  throw new Error(job?.error?.message ?? `Cannot complete job ${r.job_id}: it ended ${r.status}`);
}

/**
 * Runs a job to its end in this process with a progress reporter fed by every checkpoint;
 * Ctrl-C stops after the current batch (the job stays queued and resumes from its checkpoint).
 * The kind's log lines go through the reporter, so they do not break the bar.
 *
 * @param job the job as loaded or created
 * @returns the last slice's result
 */
async function runJobWithProgress(
  sql: Sql,
  job: JobRow,
  opts: Pick<JobCommandOptions, "registry" | "json" | "label" | "unit"> & {
    secrets: SecretLookup;
    steal: boolean;
  },
): Promise<SliceResult> {
  const label = opts.label(job);
  const start = progressTotals(job);
  const progress = createProgress({
    label,
    total: start.total,
    unit: opts.unit,
    write: opts.json ? (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)) : undefined,
    terminal: opts.json ? Deno.stderr.isTerminal() : undefined,
  });
  progress.update(start.done);
  const host: JobHost = {
    owner: cliOwner(),
    dbUrl: (name) => resolveTarget(name).dbUrl,
    secret: opts.secrets,
    log: (line) => progress.log(line),
  };
  let phase = String(job.state.phase ?? "");
  const controller = new AbortController();
  const onSignal = () => {
    progress.log("stopping after the current batch (Ctrl-C again to kill)…");
    controller.abort();
    Deno.removeSignalListener("SIGINT", onSignal);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const result = await runJob(sql, job.id, {
      host,
      registry: opts.registry,
      steal: opts.steal,
      signal: controller.signal,
      onProgress(j) {
        const t = progressTotals(j);
        const now = String(j.state.phase ?? "");
        if (now !== phase) {
          phase = now;
          if (now) progress.log(`${label}: ${now}`);
        }
        progress.update(t.done, { total: t.total });
      },
    });
    progress.finish();
    return result;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/**
 * The runner identity of this CLI process (`cli:<host>:<pid>`), recorded as lease owner so a
 * later `--resume` on the same machine can tell that the previous run is gone.
 */
export function cliOwner(): string {
  return `cli:${Deno.hostname()}:${Deno.pid}`;
}

/**
 * Whether a lease owner is a CLI process of this machine that no longer runs (killed): its
 * job can be taken over without waiting for the lease to expire.
 */
export async function ownerIsDeadLocalProcess(owner: string | null): Promise<boolean> {
  const m = owner ? /^cli:(.+):(\d+)$/.exec(owner) : null;
  if (!m || m[1] !== Deno.hostname() || Number(m[2]) === Deno.pid) return false;
  try {
    await Deno.stat(`/proc/${m[2]}`);
    return false;
  } catch {
    return true;
  }
}
