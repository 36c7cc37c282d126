/**
 * Validation after every copy, restricted to the rows this copy selected (the target may hold
 * other users): row counts match the selection, every single-column foreign key holds, unique
 * indexes are in place, and (anonymized copies) the leak scan: no value of any personal column
 * of the selected source rows — emails, phones, names, addresses, JSONB string leaves — appears
 * anywhere in the copied target rows.
 *
 * The leak scan never moves personal data: both sides reduce values to a 64-bit fingerprint
 * seeded with a random number chosen for this scan (`hashtextextended(lower(btrim(v)), seed)`,
 * Postgres' own fast hash) and only the source's fingerprints travel, into a temporary table
 * of the validating transaction that is dropped at its end. The fingerprints only need to be
 * equal for equal values during one scan: a 64-bit false match is about 1 in 10^12 per pair
 * of millions of values, and would show as a (false) leak, never hide one.
 * When it finds a leak, the copied users are deleted from the target again (their identities,
 * profiles and memberships go with them by cascade) before the failure is reported.
 *
 * @module
 */
import type { Sql, Tx } from "../db.ts";
import { readColumns, readForeignKeys, readUniqueIndexes } from "./catalog.ts";
import { streamCopy } from "./copy_stream.ts";
import { isPersonal, type Manifest } from "./manifest.ts";
import { type CopyMode, mappedUserIdSelect, personalValueSelects } from "./mask_sql.ts";
import {
  ident,
  literal,
  type Selection,
  selectionPredicate,
  USER_TABLE_NAMES,
  USER_TABLES,
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
}

const TEXTLIKE = new Set(["text", "character varying", "character", "citext", "jsonb", "json"]);

/** A random 63-bit seed, as an SQL literal. */
function randomSeed(): string {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return String((BigInt(hi & 0x7fffffff) << 32n) | BigInt(lo));
}

/** The fingerprint of a text value for one scan (same seed on both sides). */
const fingerprint = (v: string, seed: string) => `hashtextextended(lower(btrim(${v})), ${seed})`;

async function leakMatches(
  ttx: Tx,
  table: (typeof USER_TABLES)[number],
  columns: { name: string; type: string; generated: boolean }[],
  minLength: number,
  seed: string,
): Promise<{ table: string; column: string; matches: number }[]> {
  const scanned = columns.filter((c) => TEXTLIKE.has(c.type));
  if (!scanned.length) return [];
  const mine = `c.${ident(table.userColumn)} in (select id from _sc_users)`;
  const plain = scanned.filter((c) => c.type !== "jsonb" && c.type !== "json");
  const json = scanned.filter((c) => c.type === "jsonb" || c.type === "json");
  const values = [
    ...plain.map((c) => `(${literal(c.name)}, c.${ident(c.name)}::text)`),
  ];
  const parts: string[] = [];
  if (values.length) {
    parts.push(`select v.col, v.val from ${ident(table.name)} as c
      cross join lateral (values ${values.join(", ")}) as v(col, val) where ${mine}`);
  }
  for (const c of json) {
    parts.push(`select ${literal(c.name)} as col, x #>> '{}' as val from ${ident(table.name)} as c
      cross join lateral jsonb_path_query(c.${ident(c.name)}::jsonb, 'strict $.**') as x
      where ${mine} and jsonb_typeof(x) = 'string'`);
  }
  const rows = await ttx.unsafe(
    `select s.col, count(*)::int as matches
     from (${parts.join("\nunion all\n")}) as s
     where length(btrim(s.val)) >= ${minLength}
       and ${fingerprint("s.val", seed)} in (select h from _sc_leak)
     group by s.col order by s.col`,
  );
  return rows.map((r) => ({
    table: table.name,
    column: String(r.col),
    matches: Number(r.matches),
  }));
}

/**
 * Validates a finished copy.
 *
 * @returns the report; `ok` is false on a count mismatch, a broken foreign key or a leak
 */
export async function validateCopy(opts: ValidateOptions): Promise<ValidationReport> {
  const { source, target, manifest, mode, selection } = opts;
  const minLength = manifest.leak_scan_min_length;
  const seed = randomSeed();
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
      await ttx`create temp table _sc_leak (h bigint not null) on commit drop`;
      const selects = USER_TABLES.flatMap((table) => {
        const sel = selectionPredicate(selection, `t.${ident(table.userColumn)}`);
        return personalValueSelects(table, {
          rules: manifest.tables[table.name] ?? {},
          columns: srcCols[table.name] ?? [],
          isPersonal,
        }).map((s) => `${s} where ${sel}`);
      });
      let sourceValues = 0;
      if (selects.length) {
        sourceValues = await streamCopy(stx, ttx, {
          copyOut: `copy (select ${fingerprint("s.v", seed)} from (${
            selects.join("\nunion all\n")
          }) as s
                 where length(btrim(s.v)) >= ${minLength}) to stdout`,
          copyIn: "copy _sc_leak (h) from stdin",
        });
      }
      await ttx`analyze _sc_leak`;
      const leaks = [];
      for (const table of USER_TABLES) {
        leaks.push(...await leakMatches(ttx, table, tgtCols[table.name] ?? [], minLength, seed));
      }
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
      report.leak_scan = { source_values: sourceValues, leaks, purged_users: purged };
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
