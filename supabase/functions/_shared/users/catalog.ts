/**
 * What a user copy reads from a database's catalog and `ops` tables: columns of the copied
 * tables, unique indexes, foreign keys, the environment's kind, the tiers by slug. I/O only;
 * each function is passed its client.
 *
 * @module
 */
import type { Queryable } from "../db.ts";
import type { ColumnInfo } from "./manifest.ts";
import { ident } from "./scope.ts";

/** The kinds an environment can be (`ops.environments.kind`). */
export type EnvKind = "development" | "staging" | "production";

/**
 * Columns of each table, in column order.
 *
 * @returns columns by `schema.table` (an absent table has no entry)
 */
export async function readColumns(
  sql: Queryable,
  tables: readonly string[],
): Promise<Record<string, ColumnInfo[]>> {
  const rows = await sql<{ tbl: string; name: string; type: string; generated: boolean }[]>`
    select n.nspname || '.' || c.relname as tbl, a.attname as name,
           format_type(a.atttypid, a.atttypmod) as type, a.attgenerated <> '' as generated
    from pg_catalog.pg_attribute as a
    join pg_catalog.pg_class as c on c.oid = a.attrelid
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    where n.nspname || '.' || c.relname = any (${tables as string[]})
      and a.attnum > 0 and not a.attisdropped
    order by tbl, a.attnum`;
  const out: Record<string, ColumnInfo[]> = {};
  for (const r of rows) {
    (out[r.tbl] ??= []).push({ name: r.name, type: simpleType(r.type), generated: r.generated });
  }
  return out;
}

/** `character varying(255)` → `character varying`; the rules only need the base type. */
function simpleType(type: string): string {
  return type.replace(/\(.*\)$/, "");
}

/** A unique index of a table. */
export interface UniqueIndex {
  name: string;
  columns: string[];
  /** Partial (has a WHERE) or on expressions. */
  partial: boolean;
  primary: boolean;
}

/** Unique indexes of a table (plain-column ones; expression columns are named `?`). */
export async function readUniqueIndexes(sql: Queryable, table: string): Promise<UniqueIndex[]> {
  const rows = await sql<
    { name: string; columns: string[]; partial: boolean; primary: boolean }[]
  >`
    select ic.relname as name,
           array(
             select coalesce(a.attname, '?')
             from unnest(i.indkey) with ordinality as k(attnum, ord)
             left join pg_catalog.pg_attribute as a
               on a.attrelid = i.indrelid and a.attnum = k.attnum and k.attnum > 0
             order by k.ord
           ) as columns,
           i.indpred is not null or i.indexprs is not null as partial,
           i.indisprimary as primary
    from pg_catalog.pg_index as i
    join pg_catalog.pg_class as ic on ic.oid = i.indexrelid
    where i.indrelid = ${table}::regclass and i.indisunique
    order by ic.relname`;
  return rows.map((r) => ({ ...r, columns: [...r.columns] }));
}

/** A single-column foreign key. */
export interface ForeignKey {
  name: string;
  table: string;
  column: string;
  refTable: string;
  refColumn: string;
}

/** Single-column foreign keys of the given tables (what validation checks). */
export async function readForeignKeys(
  sql: Queryable,
  tables: readonly string[],
): Promise<ForeignKey[]> {
  const rows = await sql<ForeignKey[]>`
    select con.conname as name,
           n.nspname || '.' || c.relname as table,
           a.attname as column,
           rn.nspname || '.' || rc.relname as "refTable",
           ra.attname as "refColumn"
    from pg_catalog.pg_constraint as con
    join pg_catalog.pg_class as c on c.oid = con.conrelid
    join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
    join pg_catalog.pg_class as rc on rc.oid = con.confrelid
    join pg_catalog.pg_namespace as rn on rn.oid = rc.relnamespace
    join pg_catalog.pg_attribute as a on a.attrelid = con.conrelid and a.attnum = con.conkey[1]
    join pg_catalog.pg_attribute as ra on ra.attrelid = con.confrelid and ra.attnum = con.confkey[1]
    where con.contype = 'f' and cardinality(con.conkey) = 1
      and n.nspname || '.' || c.relname = any (${tables as string[]})
    order by 2, 1`;
  return [...rows];
}

/**
 * The kind of the environment a database calls `name` in its `ops.environments`.
 *
 * @throws {Error} when the database does not know that environment
 */
export async function environmentKind(sql: Queryable, name: string): Promise<EnvKind> {
  const [row] = await sql<{ kind: EnvKind }[]>`
    select kind from ops.environments where name = ${name}`;
  if (!row) {
    throw new Error(`Cannot copy users: ${name} is not registered in its ops.environments`);
  }
  return row.kind;
}

/** The tiers of a database by slug. */
export async function readTierIds(sql: Queryable): Promise<Record<string, string>> {
  const rows = await sql<{ slug: string; id: string }[]>`
    select slug, id from public.membership_tiers order by slug`;
  return Object.fromEntries(rows.map((r) => [r.slug, r.id]));
}

/** Whether a table has no rows at all. */
export async function tableIsEmpty(sql: Queryable, table: string): Promise<boolean> {
  const [row] = await sql.unsafe(`select not exists (select 1 from ${ident(table)}) as empty`);
  return Boolean(row.empty);
}
