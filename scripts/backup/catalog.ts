/**
 * What a backup reads from the catalog, inside its snapshot: the covered schemas, the tables
 * with their columns and keys, sequences, the migration history, the audit chain head, and
 * the triggers that managed tables have on covered functions (e.g. `auth.users` calling
 * `private.create_profile_for_new_user`), which the schema dump alone would lose.
 *
 * @module
 */
import type { Sql, TransactionSql } from "postgres";
import {
  type ManifestMigration,
  type ManifestSequence,
  type ManifestTable,
  tableName,
} from "./manifest.ts";
import {
  DATA_ONLY_SCHEMAS,
  EXCLUDED_DATA_TABLES,
  isInternalSchema,
  qualified,
  SERVER_WIDE_EXTENSIONS,
} from "./sql.ts";

type Query = Sql | TransactionSql;

/** A table to back up, before its data is read. */
export type TableSpec = Pick<ManifestTable, "schema" | "name" | "columns"> & {
  /** The planner's row estimate (progress only). */
  estimate: number;
};

/** What the catalog says. */
export interface CatalogFacts {
  serverVersion: string;
  major: number;
  /** Covered schemas: schema and data. */
  schemas: string[];
  /** Managed schemas present whose data is kept. */
  dataSchemas: string[];
  tables: TableSpec[];
  sequences: ManifestSequence[];
  migrations: ManifestMigration[];
  auditHead: { last_id: number | null; last_hash: string | null } | null;
  /** `CREATE OR REPLACE TRIGGER …` of managed tables' triggers on covered functions. */
  crossTriggers: string[];
  /** Extensions a scratch database can create. */
  extensions: string[];
}

/** The schemas a backup covers: not the platform's, not an extension's. */
export async function coveredSchemas(sql: Query): Promise<string[]> {
  const rows = await sql<{ nspname: string }[]>`
    select n.nspname::text from pg_namespace as n
    where not exists (
      select 1 from pg_depend as d
      where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e')
    order by 1`;
  return rows.map((r) => r.nspname).filter((n) => !isInternalSchema(n));
}

/** The tables of some schemas, with the columns copied. */
export async function tablesOf(sql: Query, schemas: string[]): Promise<TableSpec[]> {
  const rows = await sql<
    { schema: string; name: string; estimate: string; columns: string[] }[]
  >`
    select n.nspname::text as schema, c.relname::text as name,
           greatest(c.reltuples, 0)::bigint::text as estimate,
           array(select a.attname::text from pg_attribute as a
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                   and a.attgenerated = ''
                 order by a.attnum) as columns
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and not c.relispartition and n.nspname = any(${schemas})
      and not exists (
        select 1 from pg_depend as d
        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
    order by n.nspname, c.relname`;
  const excluded = new Set<string>(EXCLUDED_DATA_TABLES);
  return rows
    .filter((r) => !excluded.has(tableName(r)) && r.columns.length > 0)
    .map((r) => ({
      schema: r.schema,
      name: r.name,
      columns: r.columns,
      estimate: Number(r.estimate),
    }));
}

async function sequencesOf(sql: Query, schemas: string[]): Promise<ManifestSequence[]> {
  const seqs = await sql<{ schema: string; name: string }[]>`
    select n.nspname::text as schema, c.relname::text as name
    from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where c.relkind = 'S' and n.nspname = any(${schemas})
    order by 1, 2`;
  if (!seqs.length) return [];
  const union = seqs.map((s, i) =>
    `select ${i} as i, last_value::text, is_called from ${qualified(s)}`
  ).join(" union all ");
  const values = await sql.unsafe<{ i: number; last_value: string; is_called: boolean }[]>(union);
  return values.sort((a, b) => a.i - b.i).map((v) => ({
    ...seqs[v.i],
    last_value: v.last_value,
    is_called: v.is_called,
  }));
}

/** The applied migrations, oldest first (empty without a history table). */
export async function appliedMigrations(sql: Query): Promise<ManifestMigration[]> {
  const [{ exists }] = await sql<{ exists: boolean }[]>`
    select to_regclass('supabase_migrations.schema_migrations') is not null as exists`;
  if (!exists) return [];
  return await sql<ManifestMigration[]>`
    select version::text, name::text from supabase_migrations.schema_migrations order by version`;
}

/**
 * Reads everything a backup records about the database (call it inside the snapshot).
 */
export async function readCatalog(sql: Query): Promise<CatalogFacts> {
  const [{ server_version, num }] = await sql<{ server_version: string; num: string }[]>`
    select current_setting('server_version') as server_version,
           current_setting('server_version_num') as num`;
  const schemas = await coveredSchemas(sql);
  const present = await sql<{ nspname: string }[]>`
    select nspname::text from pg_namespace where nspname = any(${[...DATA_ONLY_SCHEMAS]})
    order by 1`;
  const dataSchemas = present.map((r) => r.nspname);
  const all = [...schemas, ...dataSchemas];
  const [{ has_audit }] = await sql<{ has_audit: boolean }[]>`
    select to_regclass('ops.audit_chain_head') is not null as has_audit`;
  const auditHead = has_audit
    ? (await sql<{ last_id: string | null; last_hash: string | null }[]>`
        select last_id::text, last_hash from ops.audit_chain_head`).map((r) => ({
      last_id: r.last_id === null ? null : Number(r.last_id),
      last_hash: r.last_hash,
    }))[0] ?? null
    : null;
  const crossTriggers = await sql<{ def: string }[]>`
    select pg_get_triggerdef(t.oid) as def
    from pg_trigger as t
    join pg_class as c on c.oid = t.tgrelid
    join pg_namespace as tn on tn.oid = c.relnamespace
    join pg_proc as p on p.oid = t.tgfoid
    join pg_namespace as pn on pn.oid = p.pronamespace
    where not t.tgisinternal and not (tn.nspname = any(${schemas}))
      and pn.nspname = any(${schemas})
    order by tn.nspname, c.relname, t.tgname`;
  const extensions = await sql<{ extname: string }[]>`
    select extname::text from pg_extension
    where extname <> 'plpgsql' and not (extname = any(${[...SERVER_WIDE_EXTENSIONS]}))
    order by 1`;
  return {
    serverVersion: server_version,
    major: Math.floor(Number(num) / 10000),
    schemas,
    dataSchemas,
    tables: await tablesOf(sql, all),
    sequences: await sequencesOf(sql, all),
    migrations: await appliedMigrations(sql),
    auditHead,
    crossTriggers: crossTriggers.map((t) =>
      t.def.replace(/^CREATE TRIGGER /, "CREATE OR REPLACE TRIGGER ") + ";"
    ),
    extensions: extensions.map((e) => e.extname),
  };
}
