/**
 * One batch of a user copy: `COPY (<masked select>) TO STDOUT` on the source streamed into
 * `COPY … FROM STDIN` on the target (postgres.js `.readable()` / `.writable()`), inside a
 * target transaction that also records the job's checkpoint, so batch and checkpoint commit
 * together. Memory stays flat: chunks flow with backpressure, never a whole batch.
 *
 * The target is loaded with `session_replication_role = replica` (as `pg_dump` restores do):
 * the sign-up trigger does not create a second profile and foreign keys are checked by the
 * validation afterwards. Unique indexes are enforced as always.
 *
 * Two load modes: `copy` straight into the table (the table was empty when the job started),
 * or `merge`: into a temporary table, then `insert … on conflict (key) do update … where
 * distinct`, so re-running a copy into a target that already has those users changes nothing.
 *
 * @module
 */
import type { Readable, Writable } from "node:stream";
import type { Sql, Tx } from "../db.ts";
import type { TableSelect } from "./mask_sql.ts";
import { ident, literal, type Selection, selectionPredicate, type UserTable } from "./scope.ts";
import { readSource, statementTimeoutFor } from "./source_reader.ts";

/** How a batch lands in the target table. */
export type LoadMode = "copy" | "merge";

/** What one batch did. */
export interface BatchResult {
  /** Rows read from the source. */
  rows: number;
  /** Rows inserted or changed in the target (merge mode counts only real changes). */
  changed: number;
  /** The last source key of the batch (the next batch starts after it). */
  last: string | null;
  /** No rows remain after this batch. */
  done: boolean;
  /** The batch also stored its rows' fingerprints ({@link CopyBatchOptions.alongside}). */
  alongside: boolean;
}

function countRows(chunk: Uint8Array): number {
  // COPY text format escapes newlines inside values, so every 0x0A ends a row.
  let n = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) n++;
  return n;
}

/**
 * Resolves when a COPY IN's stream can take more after `write` returned false, or has failed
 * or closed (then the COPY's verdict, from {@link finishCopyIn}, tells why).
 */
export function drained(writable: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      writable.off("drain", done);
      writable.off("error", done);
      writable.off("close", done);
      resolve();
    };
    writable.once("drain", done);
    writable.once("error", done);
    writable.once("close", done);
  });
}

/**
 * Starts `copy … from stdin` on a transaction and returns its stream, with the COPY's own
 * error as postgres.js reports it: a COPY that fails after CopyDone is rejected into a promise
 * already resolved with the stream, so the rejection is caught here for {@link finishCopyIn}.
 *
 * @example
 * ```ts
 * const { writable, lateError } = await openCopyIn(tx, "copy t (n) from stdin");
 * writable.write("1\n");
 * await finishCopyIn(writable, tx, lateError);
 * ```
 */
export async function openCopyIn(
  tx: Tx,
  copyIn: string,
): Promise<{ writable: Writable; lateError: () => unknown }> {
  const query = tx.unsafe(copyIn) as unknown as {
    reject: (err: unknown) => unknown;
    writable(): Promise<Writable>;
  };
  let lateError: unknown = null;
  const reject = query.reject;
  query.reject = (err) => {
    lateError ??= err;
    return reject(err);
  };
  return { writable: await query.writable(), lateError: () => lateError };
}

/**
 * Streams a COPY OUT into a COPY IN with backpressure and returns the rows moved. When the
 * target fails, the source is still read to its end (so its connection is clean) and the
 * target's error is thrown; when the source fails, the target's COPY is aborted.
 */
async function pump(readable: Readable, writable: Writable): Promise<number> {
  let failure: unknown = null;
  writable.on("error", (err) => (failure ??= err));
  let rows = 0;
  try {
    for await (const chunk of readable) {
      if (failure) continue;
      rows += countRows(chunk as Uint8Array);
      if (!writable.write(chunk)) await drained(writable);
    }
  } catch (err) {
    // The source failed: abort the target's COPY (CopyFail) so its transaction can roll back.
    if (!writable.destroyed) writable.destroy(err as Error);
    throw err;
  }
  if (failure) throw failure;
  return rows;
}

/**
 * Works around porsager/postgres#1016 (open in 3.4.9): when the last CopyData fills the
 * readable's buffer, postgres.js pauses the socket, and if CopyDone arrived in the same chunk
 * nothing resumes it, so the connection's next query (even COMMIT) hangs forever. The
 * readable's `_read` is postgres.js's `socket.resume()`; calling it once the stream has ended
 * makes the connection flow again (harmless when it already does).
 */
function resumeSourceSocket(readable: Readable): void {
  const r = readable as Readable & { _read?: (size: number) => void };
  r._read?.call(r, 0);
}

/**
 * Ends a COPY IN and waits for the server's verdict. postgres.js reports a COPY error that
 * arrives after its CopyDone to nobody (the stream is already detached), so once CopyDone is
 * sent a follow-up query on the same transaction settles it: it fails in an aborted
 * transaction.
 *
 * @param lateError the COPY's own error, if postgres.js reported it to the query
 * @throws that error (or the follow-up's) when the COPY failed
 */
export async function finishCopyIn(
  writable: Writable,
  tx: Tx,
  lateError: () => unknown,
): Promise<void> {
  const finished = new Promise<void>((resolve, reject) => {
    writable.once("finish", resolve);
    writable.once("error", reject);
  });
  const copyDoneSent = new Promise<void>((resolve) => {
    const w = writable as Writable & { _final?: (cb: (err?: Error | null) => void) => void };
    const original = w._final;
    if (!original) return resolve();
    w._final = (cb) => {
      original.call(w, cb);
      resolve();
    };
  });
  writable.end();
  try {
    await Promise.race([finished, copyDoneSent.then(() => tx`select 1`).then(() => finished)]);
  } catch (err) {
    // The follow-up query only says "transaction is aborted"; the COPY's own error says why.
    throw lateError() ?? err;
  }
}

/**
 * Streams `copyOut` (run on the source transaction) into `copyIn` (on the target
 * transaction) and returns the rows moved.
 *
 * @param stx the source's transaction
 * @param ttx the target's transaction
 * @param opts.copyOut `copy (…) to stdout`, run on the source
 * @param opts.copyIn `copy <table> (…) from stdin`, run on the target
 * @throws the source's or the target's error, after the source stream was read to its end
 * @example
 * ```ts
 * await streamCopy(stx, ttx, { copyOut: "copy (select 1) to stdout", copyIn: "copy t (n) from stdin" });
 * ```
 */
export async function streamCopy(
  stx: Tx,
  ttx: Tx,
  opts: { copyOut: string; copyIn: string },
): Promise<number> {
  const { copyOut, copyIn } = opts;
  const readable = await stx.unsafe(copyOut).readable();
  const { writable, lateError } = await openCopyIn(ttx, copyIn);
  let rows: number;
  try {
    rows = await pump(readable, writable);
  } finally {
    resumeSourceSocket(readable);
  }
  await finishCopyIn(writable, ttx, lateError);
  return rows;
}

/** Options of {@link copyBatch}. */
export interface CopyBatchOptions {
  source: Sql;
  target: Sql;
  table: UserTable;
  select: TableSelect;
  selection: Selection;
  /** The last source key already copied (exclusive), or null at the start. */
  after: string | null;
  batchSize: number;
  /** The derived SQL key, or null when the query does not use it. */
  sqlKey: string | null;
  /** Statement timeout of the source's statements with a `--where`, in seconds (default 30). */
  statementTimeoutS?: number;
  load: LoadMode;
  /**
   * A second COPY of the same batch (given its source predicate on `t`), run after the rows on
   * the same two transactions, so it reads the batch's snapshot and commits with it: the leak
   * scan's fingerprints (`batchFingerprintCopy` in `validate.ts`). Null: nothing to add.
   */
  alongside?: (where: string) => { copyOut: string; copyIn: string } | null;
  /** Records the checkpoint in the target transaction (commits with the batch). */
  checkpoint(tx: Tx, result: BatchResult): Promise<void>;
}

/**
 * Copies the next batch of a table, keyset-paginated on the source key. The source side runs
 * contained ({@link readSource}): read only, the statement timeout, the copy reader's role.
 *
 * @returns what the batch did (after its checkpoint committed)
 * @throws whatever the source or target raised; nothing of the batch is committed then
 */
export async function copyBatch(opts: CopyBatchOptions): Promise<BatchResult> {
  const { table, select } = opts;
  const key = `t.${ident(table.key)}`;
  const sel = selectionPredicate(opts.selection, `t.${ident(table.userColumn)}`);
  const afterCond = opts.after === null ? "true" : `${key} > ${literal(opts.after)}`;
  const cols = select.columns.map(ident).join(", ");
  const session = {
    sqlKey: opts.sqlKey,
    statementTimeoutS: statementTimeoutFor(opts.selection, opts.statementTimeoutS),
  };
  return await readSource(opts.source, session, async (stx) => {
    const [bound] = await stx.unsafe(
      `select ${key}::text as k from ${ident(table.name)} as t
       where ${afterCond} and ${sel}
       order by ${key} offset ${opts.batchSize - 1} limit 1`,
    );
    const upto: string | null = bound ? String(bound.k) : null;
    const where = upto === null
      ? `${afterCond} and ${sel}`
      : `${afterCond} and ${sel} and ${key} <= ${literal(upto)}`;
    const copyOut = `copy (${select.sql}\nwhere ${where}) to stdout`;
    return await opts.target.begin(async (ttx) => {
      await ttx`set local session_replication_role = replica`;
      await ttx`set local jit = off`;
      let rows: number;
      let changed: number;
      if (opts.load === "copy") {
        rows = await streamCopy(stx, ttx, {
          copyOut: copyOut,
          copyIn: `copy ${ident(table.name)} (${cols}) from stdin`,
        });
        changed = rows;
      } else {
        await ttx.unsafe(
          `create temp table _sc_stage on commit drop as
           select ${cols} from ${ident(table.name)} with no data`,
        );
        rows = await streamCopy(stx, ttx, {
          copyOut: copyOut,
          copyIn: `copy _sc_stage (${cols}) from stdin`,
        });
        const others = select.columns.filter((c) => c !== table.key);
        const [r] = await ttx.unsafe(
          `with written as (
             insert into ${ident(table.name)} as d (${cols})
             select ${cols} from _sc_stage
             on conflict (${ident(table.key)}) do update
               set ${others.map((c) => `${ident(c)} = excluded.${ident(c)}`).join(", ")}
               where (${others.map((c) => `d.${ident(c)}`).join(", ")})
                 is distinct from (${others.map((c) => `excluded.${ident(c)}`).join(", ")})
             returning 1
           )
           select count(*)::int as n from written`,
        );
        changed = Number(r.n);
      }
      const also = opts.alongside?.(where) ?? null;
      if (also) await streamCopy(stx, ttx, also);
      const result: BatchResult = {
        rows,
        changed,
        last: upto ?? opts.after,
        done: upto === null,
        alongside: also !== null,
      };
      await opts.checkpoint(ttx, result);
      return result;
    });
  });
}
