/**
 * The job kind registry: each capability describes its long-running work as a job kind
 * (`users.copy`, `etl.run`, `stripe.reconcile`, …); the place that runs jobs (the ops-worker's
 * entry, the CLI) builds a registry of the kinds it runs and passes it to the runner, which
 * looks the kind up by the `kind` column of `ops.jobs`. Importing a kind registers nothing.
 *
 * A kind is a zod schema for its parameters and a `step` that does one bounded batch and
 * checkpoints it. Connections and secrets are never parameters: the runner's host hands them
 * to the kind at run time ({@link JobHost}), so the same job runs from the CLI (local URLs, a
 * key file) and from the ops-worker (function secrets).
 *
 * @module
 */
import type { z } from "zod";
import type { Sql, Tx } from "../db.ts";
import type { CheckpointPatch, JobRow } from "./job.ts";

/**
 * What the place running a job provides: database URLs of other environments and secrets.
 * The CLI builds one from the local stack's config and its options; the ops-worker from
 * function secrets (`STAGECOACH_DB_URL_<ENV>`, …). Kinds never read `Deno.env` themselves.
 */
export interface JobHost {
  /** Who runs the job, recorded as the lease owner, e.g. `cli:host:1234` or `ops-worker`. */
  owner: string;
  /**
   * The database URL of an environment, by name.
   * @throws {Error} when this host cannot reach that environment
   */
  dbUrl(env: string): string;
  /** A secret by name (e.g. `STAGECOACH_ANON_KEY`), or undefined when the host has none. */
  secret(name: string): string | undefined;
  /** Progress lines for a person watching (the CLI prints them; the worker logs them). */
  log?(line: string): void;
}

/** What a step sees. */
export interface JobContext<P> {
  /** The job as last checkpointed (progress columns current). */
  job: JobRow;
  /** The job's parameters, parsed by the kind's schema. */
  params: P;
  /** The pool of the database holding `ops.jobs` (where the job lives). */
  sql: Sql;
  /** The runner's host: other databases and secrets. */
  host: JobHost;
  /** Epoch milliseconds by which the slice must have ended; size batches to fit. */
  deadline: number;
  /**
   * Records progress and renews the lease. Pass the transaction that wrote the batch (on the
   * job's database) to make batch and checkpoint commit together.
   *
   * @throws {LeaseLostError} when another runner took the job or it was cancelled; the
   * caller's transaction then rolls back
   */
  checkpoint(patch: CheckpointPatch, tx?: Tx): Promise<void>;
}

/**
 * What a step says when it returns. `wakeAt`: nothing to do before then (e.g. a rollout's next
 * stage) — the runner sleeps until it within the slice, or re-queues the job due at it.
 */
export type StepOutcome =
  | { done: false; wakeAt?: Date }
  | { done: true; result?: Record<string, unknown> };

/**
 * A job kind. `open` (optional) runs once per slice and returns what the steps of that slice
 * share (connections); `close` releases it, whatever happened. Each `step` must checkpoint
 * at least once unless it returns `done`.
 */
export interface JobKind<P = unknown, R = unknown> {
  /** Dotted name, e.g. `users.copy`. */
  kind: string;
  /** Validates `params` when the job is queued and again before every slice. */
  paramsSchema: z.ZodType<P>;
  open?(ctx: JobContext<P>): Promise<R>;
  step(ctx: JobContext<P>, resources: R): Promise<StepOutcome>;
  close?(resources: R): Promise<void>;
}

/** Kinds by name. */
export interface JobRegistry {
  register<P, R>(kind: JobKind<P, R>): JobKind<P, R>;
  get(kind: string): JobKind<unknown, unknown>;
  has(kind: string): boolean;
  kinds(): string[];
}

const KIND_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;

/**
 * Creates a registry of the given kinds (more can be added with `register`). Adding the same
 * object twice is harmless; a different kind under a taken name throws.
 *
 * @param kinds the kinds this registry runs
 * @throws {Error} for a name that is not dotted snake_case, or one already taken
 * @example
 * ```ts
 * const registry = createJobRegistry([usersCopyKind, createEtlKind(ETL_TRANSFORMS)]);
 * await runDueJobs(sql, { host, registry, budgetMs: 60_000 });
 * ```
 */
export function createJobRegistry(kinds: readonly JobKind<unknown, unknown>[] = []): JobRegistry {
  const byName = new Map<string, JobKind<unknown, unknown>>();
  const registry: JobRegistry = {
    register(kind) {
      if (!KIND_NAME.test(kind.kind) || kind.kind.length > 64) {
        throw new Error(
          `Cannot register job kind: "${kind.kind}" is not a dotted snake_case name`,
        );
      }
      const existing = byName.get(kind.kind);
      if (existing && existing !== kind) {
        throw new Error(`Cannot register job kind: "${kind.kind}" is already registered`);
      }
      byName.set(kind.kind, kind as JobKind<unknown, unknown>);
      return kind;
    },
    get(kind) {
      const found = byName.get(kind);
      if (!found) throw new Error(`Cannot run job: no job kind "${kind}" is registered`);
      return found;
    },
    has: (kind) => byName.has(kind),
    kinds: () => [...byName.keys()].sort(),
  };
  for (const kind of kinds) registry.register(kind);
  return registry;
}
