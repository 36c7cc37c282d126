/**
 * Every read of a copy's SOURCE that embeds the selection (preflight, dry run, COPY export,
 * validation and leak scan) goes through {@link readSource}: one place that contains what a
 * `--where` predicate can do there.
 *
 * - a read-only, repeatable-read transaction: no write, no `nextval`, one snapshot;
 * - a statement timeout on every statement that embeds a `--where` (default
 *   {@link DEFAULT_STATEMENT_TIMEOUT_S} s; {@link statementTimeoutFor});
 * - the role `stagecoach_copy_reader` (migration `20261202002300`): SELECT on the copied
 *   tables and `public.membership_tiers`, `extensions.hmac`, nothing else (no Vault, no `ops`,
 *   no sequence);
 * - the predicate itself only ever runs inside `users_copy.selected_user_ids(predicate)`
 *   ({@link selectionPredicate}), a security definer function owned by that role, where it can
 *   neither switch back to `postgres` (Postgres refuses `set role` inside such a function; a
 *   bare `set local role` alone can be undone by `set_config('role', …)` in the predicate), nor
 *   read the anonymization key, nor leave any setting changed.
 *
 * Its errors come back as {@link JobFailure}s whose message says which of these stopped it.
 * (A target transaction nested in `fn`, as a batch's is, passes through the same mapping; the
 * target is written as its owner, so a permission error there would be a bug of ours.)
 *
 * @module
 */
import type { Sql, Tx } from "../db.ts";
import { JobFailure } from "../jobs/runner.ts";
import type { Selection } from "./scope.ts";

/** The role a copy reads its source as. */
export const COPY_READER_ROLE = "stagecoach_copy_reader";

/**
 * Default statement timeout of a copy's source statements when they embed a `--where`, in
 * seconds: well above what a batch, a collision check or the leak scan of a selection of a few
 * hundred thousand users needs on our machines, far below "forever". `--statement-timeout`
 * (param `statement_timeout_s`, 1–600) changes it.
 */
export const DEFAULT_STATEMENT_TIMEOUT_S = 30;

/** How a source transaction is set up. */
export interface SourceReadOptions {
  /** The derived SQL key (anonymized mode), or null when the queries do not mask. */
  sqlKey: string | null;
  /** Statement timeout in seconds, or null for none ({@link statementTimeoutFor}). */
  statementTimeoutS: number | null;
}

/**
 * The statement timeout of a copy's source reads: the given one (default
 * {@link DEFAULT_STATEMENT_TIMEOUT_S}) when the statements embed a `--where`; none otherwise,
 * since then only the copy's own SQL runs there (a copy of a million users has statements —
 * the collision checks, the leak scan — that legitimately run for minutes).
 *
 * @example
 * ```ts
 * statementTimeoutFor({ where: "u.email like '%@x.test'" }); // 30
 * statementTimeoutFor({ sample: 10 }, 120); // null
 * ```
 */
export function statementTimeoutFor(
  selection: Selection,
  seconds: number = DEFAULT_STATEMENT_TIMEOUT_S,
): number | null {
  return selection.where === undefined ? null : seconds;
}

/**
 * Turns what stopped a source statement into a message that says which containment did;
 * anything else is returned as it is.
 *
 * @param err what the source raised
 * @param timeoutS the statement timeout in force, or null for none
 * @returns a {@link JobFailure} (`statement_timeout`, `source_permission_denied`,
 * `source_read_only`) or `err` unchanged
 */
export function explainSourceError(err: unknown, timeoutS: number | null): unknown {
  const e = err as { code?: string; message?: string };
  switch (e?.code) {
    case "57014":
      // Cancelled for another reason (an operator's pg_cancel_backend): as it is.
      if (timeoutS === null || !e.message?.includes("statement timeout")) return err;
      return new JobFailure(
        "statement_timeout",
        `Cannot read the source: a statement ran past the ${timeoutS} s statement timeout and was cancelled (a --where runs in every statement of a copy; --statement-timeout raises the limit for large copies)`,
        { sqlstate: e.code },
      );
    case "42501":
      return new JobFailure(
        "source_permission_denied",
        `Cannot read the source: ${e.message} (a copy reads the source as ${COPY_READER_ROLE}, which may read only the copied tables)`,
        { sqlstate: e.code },
      );
    case "25006":
      return new JobFailure(
        "source_read_only",
        `Cannot read the source: ${e.message} (a copy reads the source in a read-only transaction)`,
        { sqlstate: e.code },
      );
    default:
      return err;
  }
}

/**
 * Runs `fn` in a contained source transaction: read only, repeatable read, the statement
 * timeout (when there is one), the copy reader's role, and the masking settings — the derived key as a bind
 * parameter (never in SQL text, `pg_stat_activity` or the log), ISO dates and UTC so values
 * print the same on every server, no JIT (the masking expressions are large, and compiling
 * them cost more than a batch).
 *
 * @param source the source pool
 * @param opts the key and the timeout
 * @param fn the reads, given the transaction
 * @returns what `fn` returns
 * @throws {JobFailure} when the timeout, the role or read-only stopped a statement; otherwise
 * what the source raised
 * @example
 * ```ts
 * const n = await readSource(
 *   source,
 *   { sqlKey: null, statementTimeoutS: 30 },
 *   (tx) => tx`select count(*) from auth.users`,
 * );
 * ```
 */
export async function readSource<T>(
  source: Sql,
  opts: SourceReadOptions,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const timeoutS = opts.statementTimeoutS;
  try {
    return await source.begin("isolation level repeatable read read only", async (tx) => {
      if (timeoutS !== null) {
        await tx`select set_config('statement_timeout', ${`${timeoutS}s`}, true)`;
      }
      await tx`
        select set_config('stagecoach.anon_key', ${opts.sqlKey ?? ""}, true),
               set_config('jit', 'off', true),
               set_config('datestyle', 'ISO, YMD', true),
               set_config('timezone', 'UTC', true),
               set_config('intervalstyle', 'postgres', true),
               set_config('extra_float_digits', '3', true)`;
      await tx`select set_config('role', ${COPY_READER_ROLE}, true)`;
      return await fn(tx);
    }) as T;
  } catch (err) {
    throw explainSourceError(err, timeoutS);
  }
}
