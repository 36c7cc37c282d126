/**
 * Validation after every copy, restricted to the rows this copy selected (the target may hold
 * other users): row counts match the selection, every single-column foreign key holds, unique
 * indexes are in place, and (anonymized copies) the leak scan: no value of any personal column
 * of the selected source rows — emails, phones, names, addresses, JSONB string leaves — appears
 * anywhere in the copied target rows.
 *
 * The leak scan never moves personal data: both sides reduce values to a 64-bit fingerprint
 * (`hashtextextended(lower(btrim(v)), seed)`, Postgres' own fast hash) and only the source's
 * fingerprints travel. A copy job's batches store them as they go ({@link batchFingerprintCopy}:
 * same snapshot and transaction as the batch, seeded by HMAC of the key and the job id, so a
 * resume continues the same set), and the scan joins them with the target's values in one hash
 * join per table, then deletes them. When they are not all there ({@link
 * storedFingerprintsComplete}), the scan streams them from the source into a temporary table
 * instead, seeded with a random number. The fingerprints only need to be equal for equal
 * values: a 64-bit false match is about 1 in 10^12 per pair of millions of values, and would
 * show as a (false) leak, never hide one.
 * When it finds a leak, the copied users are deleted from the target again (their identities,
 * profiles and memberships go with them by cascade) before the failure is reported.
 *
 * @module
 */
import type { Sql, Tx } from "../db.ts";
import { readColumns, readForeignKeys, readUniqueIndexes } from "./catalog.ts";
import { streamCopy } from "./copy_stream.ts";
import { LEAK_SEED_CONTEXT } from "./key.ts";
import { type ColumnInfo, isPersonal, type Manifest } from "./manifest.ts";
import { type CopyMode, mappedUserIdSelect, personalValueSelects } from "./mask_sql.ts";
import {
  ident,
  literal,
  type Selection,
  selectionPredicate,
  USER_TABLE_NAMES,
  USER_TABLES,
  type UserTable,
} from "./scope.ts";
import { readSource, statementTimeoutFor } from "./source_reader.ts";

/** What validation found. */
export interface ValidationReport {
  ok: boolean;
  counts: Record<string, { selected: number; in_target: number }>;
  foreign_keys: { name: string; table: string; column: string; violations: number }[];
  /** Unique indexes of the copied tables, enforced by the target. */
  unique_indexes: string[];
  leak_scan: {
    /**
     * Where the source's fingerprints came from: `stored` by the copy's batches, or read from
     * the `source` again (a job begun by an older release, or whose stored ones were lost).
     */
    fingerprints?: "stored" | "source";
    source_values: number;
    leaks: { table: string; column: string; matches: number }[];
    purged_users: number;
  } | null;
}

/** Options of {@link validateCopy}. */
export interface ValidateOptions {
  source: Sql;
  target: Sql;
  manifest: Manifest;
  mode: CopyMode;
  selection: Selection;
  sqlKey: string | null;
  /** Statement timeout of the source's statements with a `--where`, in seconds (default 30). */
  statementTimeoutS?: number;
  /** Delete the copied users when the leak scan finds a leak (default true). */
  purgeOnLeak?: boolean;
  /**
   * The job whose batches stored the source's fingerprints ({@link batchFingerprintCopy}) and
   * its seed (`leakSeed` in `key.ts`): the leak scan joins those instead of reading the source
   * again. Only when {@link storedFingerprintsComplete} said they are all there.
   */
  stored?: { jobId: string; seed: string };
  /** The job whose stored fingerprints are removed at the end (whichever way the scan went). */
  jobId?: string;
}

/** Where a job's batches keep the source's fingerprints (migration `20261209000500`). */
export const FINGERPRINTS_TABLE = "private.users_copy_fingerprints";

const TEXTLIKE = new Set(["text", "character varying", "character", "citext", "jsonb", "json"]);

/** A random 63-bit seed, as an SQL literal. */
function randomSeed(): string {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return String((BigInt(hi & 0x7fffffff) << 32n) | BigInt(lo));
}

/** The fingerprint of a text value for one scan (same seed on both sides). */
const fingerprint = (v: string, seed: string) => `hashtextextended(lower(btrim(${v})), ${seed})`;

/**
 * A job's seed computed by the source from its session key, once per statement: the number
 * `leakSeed` (`key.ts`) computes from the key, without the seed ever being sent.
 */
export function leakSeedSql(jobId: string): string {
  return `(select ('x' || encode(substring(extensions.hmac(${
    literal(LEAK_SEED_CONTEXT + jobId)
  }, users_copy.anon_key(), 'sha256') from 1 for 8), 'hex'))::bit(64)::bigint)`;
}

/** The selects of a table's source personal values (each one column `v`, from `t`). */
function tablePersonalSelects(
  table: UserTable,
  manifest: Manifest,
  columns: ColumnInfo[],
): string[] {
  return personalValueSelects(table, {
    rules: manifest.tables[table.name] ?? {},
    columns,
    isPersonal,
  });
}

/**
 * The COPY pair that stores one batch's source fingerprints in the target, run by the batch
 * on its own source and target transactions (so in the batch's snapshot, committed with its
 * checkpoint): one row of {@link FINGERPRINTS_TABLE} with the fingerprints of the personal
 * values of the batch's rows. Null for a table without personal values.
 *
 * @param opts.where the batch's predicate on the source table aliased `t` (key range, selection)
 * @example
 * ```ts
 * const fp = batchFingerprintCopy({ jobId, table, manifest, columns, where: "t.id <= '…'" });
 * if (fp) await streamCopy(stx, ttx, fp);
 * ```
 */
export function batchFingerprintCopy(opts: {
  jobId: string;
  table: UserTable;
  manifest: Manifest;
  columns: ColumnInfo[];
  where: string;
}): { copyOut: string; copyIn: string } | null {
  const { jobId, table, manifest, columns, where } = opts;
  const selects = tablePersonalSelects(table, manifest, columns);
  if (!selects.length) return null;
  const values = selects.map((s) => `${s} where ${where}`).join("\nunion all\n");
  return {
    copyOut: `copy (select ${literal(jobId)}::uuid, ${literal(table.name)}, coalesce(array_agg(${
      fingerprint("s.v", leakSeedSql(jobId))
    }), '{}') from (${values}) as s
      where length(btrim(s.v)) >= ${manifest.leak_scan_min_length}) to stdout`,
    copyIn: `copy ${FINGERPRINTS_TABLE} (job_id, table_name, fingerprints) from stdin`,
  };
}

/** The tables whose batches store fingerprints (those with personal values). */
export function fingerprintedTables(
  manifest: Manifest,
  columns: Record<string, ColumnInfo[]>,
): string[] {
  return USER_TABLES.filter((t) =>
    tablePersonalSelects(t, manifest, columns[t.name] ?? []).length > 0
  ).map((t) => t.name);
}

/**
 * Whether a job's stored fingerprints cover every copied row: each fingerprinted table has
 * the rows its checkpoints counted (`expected`). They may not: the job began under an older
 * release, or the target crashed (the table is unlogged); the leak scan then reads the
 * source again.
 *
 * @param expected per fingerprinted table, the batches its checkpoints stored, or null when
 * not every copied row of it was fingerprinted
 */
export async function storedFingerprintsComplete(
  target: Sql,
  jobId: string,
  expected: Record<string, number | null>,
): Promise<boolean> {
  if (Object.values(expected).some((n) => n === null)) return false;
  const rows = await target.unsafe(
    `select table_name, count(*)::int as n from ${FINGERPRINTS_TABLE}
     where job_id = $1 group by table_name`,
    [jobId],
  );
  const found = new Map(rows.map((r) => [String(r.table_name), Number(r.n)]));
  return Object.entries(expected).every(([t, n]) => (found.get(t) ?? 0) === n);
}

/** Streams the source's fingerprints of the selection into `_sc_leak`; returns how many. */
async function streamSourceFingerprints(
  stx: Tx,
  ttx: Tx,
  opts: {
    manifest: Manifest;
    srcCols: Record<string, ColumnInfo[]>;
    selection: Selection;
    seed: string;
  },
): Promise<number> {
  const { manifest, srcCols, selection, seed } = opts;
  await ttx`create temp table _sc_leak (h bigint not null) on commit drop`;
  const selects = USER_TABLES.flatMap((table) => {
    const sel = selectionPredicate(selection, `t.${ident(table.userColumn)}`);
    return tablePersonalSelects(table, manifest, srcCols[table.name] ?? [])
      .map((s) => `${s} where ${sel}`);
  });
  if (!selects.length) return 0;
  return await streamCopy(stx, ttx, {
    copyOut: `copy (select ${fingerprint("s.v", seed)} from (${selects.join("\nunion all\n")}) as s
             where length(btrim(s.v)) >= ${manifest.leak_scan_min_length}) to stdout`,
    copyIn: "copy _sc_leak (h) from stdin",
  });
}

/** The selects of a copied table's text values in the target: (tbl, col, val) each. */
function targetValueSelects(
  table: UserTable,
  columns: { name: string; type: string; generated: boolean }[],
): string[] {
  const scanned = columns.filter((c) => TEXTLIKE.has(c.type));
  const mine = `c.${ident(table.userColumn)} in (select id from _sc_users)`;
  const plain = scanned.filter((c) => c.type !== "jsonb" && c.type !== "json");
  const json = scanned.filter((c) => c.type === "jsonb" || c.type === "json");
  const parts: string[] = [];
  if (plain.length) {
    const values = plain.map((c) => `(${literal(c.name)}, c.${ident(c.name)}::text)`);
    parts.push(`select ${literal(table.name)} as tbl, v.col, v.val from ${ident(table.name)} as c
      cross join lateral (values ${values.join(", ")}) as v(col, val) where ${mine}`);
  }
  for (const c of json) {
    parts.push(
      `select ${literal(table.name)} as tbl, ${literal(c.name)} as col, x #>> '{}' as val from ${
        ident(table.name)
      } as c
      cross join lateral jsonb_path_query(c.${ident(c.name)}::jsonb, 'strict $.**') as x
      where ${mine} and jsonb_typeof(x) = 'string'`,
    );
  }
  return parts;
}

/**
 * Counts, per table and column, the copied rows' values whose fingerprint is one of the
 * source's: one hash join of every copied table's values with `_sc_leak` (its hash table,
 * millions of fingerprints, is built once, not once per table).
 */
async function leakMatches(
  ttx: Tx,
  columns: Record<string, { name: string; type: string; generated: boolean }[]>,
  minLength: number,
  seed: string,
): Promise<{ table: string; column: string; matches: number }[]> {
  const parts = USER_TABLES.flatMap((t) => targetValueSelects(t, columns[t.name] ?? []));
  if (!parts.length) return [];
  const rows = await ttx.unsafe(
    `select s.tbl, s.col, count(*)::int as matches
     from (${parts.join("\nunion all\n")}) as s
     where length(btrim(s.val)) >= ${minLength}
       and ${fingerprint("s.val", seed)} in (select h from _sc_leak)
     group by s.tbl, s.col`,
  );
  const order = (t: string) => USER_TABLE_NAMES.indexOf(t);
  return rows
    .map((r) => ({ table: String(r.tbl), column: String(r.col), matches: Number(r.matches) }))
    .sort((a, b) =>
      order(a.table) - order(b.table) || (a.column < b.column ? -1 : a.column > b.column ? 1 : 0)
    );
}

/**
 * Validates a finished copy.
 *
 * @returns the report; `ok` is false on a count mismatch, a broken foreign key or a leak
 */
export async function validateCopy(opts: ValidateOptions): Promise<ValidationReport> {
  const { source, target, manifest, mode, selection } = opts;
  const minLength = manifest.leak_scan_min_length;
  const [srcCols, tgtCols, fks] = await Promise.all([
    readColumns(source, USER_TABLE_NAMES),
    readColumns(target, USER_TABLE_NAMES),
    readForeignKeys(target, USER_TABLE_NAMES),
  ]);
  const report: ValidationReport = {
    ok: true,
    counts: {},
    foreign_keys: [],
    unique_indexes: [],
    leak_scan: null,
  };
  const session = {
    sqlKey: opts.sqlKey,
    statementTimeoutS: statementTimeoutFor(selection, opts.statementTimeoutS),
  };
  // The source side is contained (read only, timeout, the copy reader): it embeds the selection.
  await readSource(source, session, async (stx) => {
    await target.begin(async (ttx) => {
      // Room for the hash joins of the leak scan (millions of fingerprints), this transaction only.
      await ttx`set local work_mem = '256MB'`;
      await ttx`set local jit = off`;
      await ttx`create temp table _sc_users (id uuid primary key) on commit drop`;
      const ids = mappedUserIdSelect(manifest.tables["auth.users"] ?? {}, mode);
      const userSel = selectionPredicate(selection, "t.id");
      await streamCopy(stx, ttx, {
        copyOut: `copy (${ids.sql} where ${userSel}) to stdout`,
        copyIn: "copy _sc_users (id) from stdin",
      });
      await ttx`analyze _sc_users`;

      for (const table of USER_TABLES) {
        const sel = selectionPredicate(selection, `t.${ident(table.userColumn)}`);
        const [{ n: selected }] = await stx.unsafe(
          `select count(*)::bigint as n from ${ident(table.name)} as t where ${sel}`,
        );
        const [{ n: inTarget }] = await ttx.unsafe(
          `select count(*)::bigint as n from ${ident(table.name)} as c
           where c.${ident(table.userColumn)} in (select id from _sc_users)`,
        );
        report.counts[table.name] = { selected: Number(selected), in_target: Number(inTarget) };
        if (Number(selected) !== Number(inTarget)) report.ok = false;
        for (const ix of await readUniqueIndexes(ttx, table.name)) {
          report.unique_indexes.push(`${table.name}.${ix.name}`);
        }
      }

      for (const fk of fks) {
        const table = USER_TABLES.find((t) => t.name === fk.table)!;
        const [{ n }] = await ttx.unsafe(
          `select count(*)::bigint as n from ${ident(fk.table)} as c
           where c.${ident(table.userColumn)} in (select id from _sc_users)
             and c.${ident(fk.column)} is not null
             and not exists (select 1 from ${ident(fk.refTable)} as r
                             where r.${ident(fk.refColumn)} = c.${ident(fk.column)})`,
        );
        report.foreign_keys.push({
          name: fk.name,
          table: fk.table,
          column: fk.column,
          violations: Number(n),
        });
        if (Number(n) > 0) report.ok = false;
      }

      if (mode !== "anonymized") return;
      let seed = randomSeed();
      let sourceValues: number;
      if (opts.stored) {
        // The batches stored the source's fingerprints: no second pass over the source.
        await ttx`select set_config('stagecoach.leak_seed', ${opts.stored.seed}, true)`;
        seed = "(select current_setting('stagecoach.leak_seed')::bigint)";
        await ttx.unsafe(
          `create temp table _sc_leak on commit drop as
           select unnest(f.fingerprints) as h from ${FINGERPRINTS_TABLE} as f where f.job_id = $1`,
          [opts.stored.jobId],
        );
        const [{ n }] = await ttx`select count(*)::bigint as n from _sc_leak`;
        sourceValues = Number(n);
      } else {
        sourceValues = await streamSourceFingerprints(stx, ttx, {
          manifest,
          srcCols,
          selection,
          seed,
        });
      }
      await ttx`analyze _sc_leak`;
      const leaks = await leakMatches(ttx, tgtCols, minLength, seed);
      let purged = 0;
      if (leaks.length) {
        report.ok = false;
        if (opts.purgeOnLeak ?? true) {
          const [{ n }] = await ttx`
            with gone as (delete from auth.users where id in (select id from _sc_users) returning 1)
            select count(*)::int as n from gone`;
          purged = Number(n);
        }
      }
      report.leak_scan = {
        fingerprints: opts.stored ? "stored" : "source",
        source_values: sourceValues,
        leaks,
        purged_users: purged,
      };
      if (opts.jobId) {
        // Whatever the scan found, the fingerprints have served (a re-validation reads the
        // source again); those of copies that finished some other way go too.
        await ttx.unsafe(
          `delete from ${FINGERPRINTS_TABLE} as f
           where f.job_id = $1
              or f.job_id in (select j.id from ops.jobs as j where j.status = 'succeeded')`,
          [opts.jobId],
        );
      }
    });
  });
  return report;
}

/** One line per problem of a failed report, for the job's error message. */
export function describeProblems(report: ValidationReport): string[] {
  const out: string[] = [];
  for (const [table, c] of Object.entries(report.counts)) {
    if (c.selected !== c.in_target) {
      out.push(`${table}: ${c.in_target} rows in the target, ${c.selected} selected in the source`);
    }
  }
  for (const fk of report.foreign_keys) {
    if (fk.violations) out.push(`${fk.table}.${fk.column}: ${fk.violations} rows break ${fk.name}`);
  }
  for (const leak of report.leak_scan?.leaks ?? []) {
    out.push(`leak: ${leak.matches} source personal values appear in ${leak.table}.${leak.column}`);
  }
  return out;
}
