/**
 * The SQL of backups, built from values (pure): which schemas a backup covers, the COPY that
 * reads a table in a stable order (the content hash is the SHA-256 of its output), how the
 * dumps are made safe to replay, and the script a restore streams into `psql`.
 *
 * Schemas follow the Supabase CLI's `db dump`: the schema dump leaves out the schemas the
 * platform or an extension maintains ({@link INTERNAL_SCHEMAS}); the data dump also holds
 * `auth`, `storage` and `supabase_functions` ({@link DATA_ONLY_SCHEMAS}) but not their migration
 * tables; roles come from `pg_dumpall --roles-only --no-role-passwords`, reserved roles left
 * alone. `cron`, `net` and `vault` data stay out: jobs and secrets belong to the environment.
 *
 * @module
 */
import type { ManifestSequence, ManifestTable } from "./manifest.ts";

/** Schemas the Supabase platform or an extension maintains (`*` as in pg_dump patterns). */
export const INTERNAL_SCHEMAS = [
  "information_schema",
  "pg_*",
  "_analytics",
  "_realtime",
  "_supavisor",
  "auth",
  "etl",
  "extensions",
  "pgbouncer",
  "realtime",
  "storage",
  "supabase_functions",
  "supabase_migrations",
  "cron",
  "dbdev",
  "graphql",
  "graphql_public",
  "net",
  "pgmq",
  "pgsodium",
  "pgsodium_masks",
  "pgtle",
  "repack",
  "tiger",
  "tiger_data",
  "timescaledb_*",
  "_timescaledb_*",
  "topology",
  "vault",
] as const;

/** Managed schemas whose rows a backup holds (their schema is the platform's). */
export const DATA_ONLY_SCHEMAS = ["auth", "storage", "supabase_functions"] as const;

/** Migration tables of managed schemas: the platform's, never restored. */
export const EXCLUDED_DATA_TABLES = [
  "auth.schema_migrations",
  "storage.migrations",
  "supabase_functions.migrations",
] as const;

/** Roles the platform owns: never created or altered by a restore (as `supabase db dump`). */
export const RESERVED_ROLES = [
  "anon",
  "authenticated",
  "authenticator",
  "cli_login_.*",
  "dashboard_user",
  "pgbouncer",
  "postgres",
  "service_role",
  "supabase_.*",
  "pgsodium_keyholder",
  "pgsodium_keyiduser",
  "pgsodium_keymaker",
  "pgtle_admin",
] as const;

/** Extensions that cannot live in a second database of the server (scratch verify). */
export const SERVER_WIDE_EXTENSIONS = ["pg_cron", "pg_net", "supabase_vault", "pgsodium"] as const;

function patternRegex(patterns: readonly string[]): RegExp {
  return new RegExp(`^(${patterns.map((p) => p.replace(/\*/g, ".*")).join("|")})$`);
}

const INTERNAL = patternRegex(INTERNAL_SCHEMAS);
const RESERVED = patternRegex(RESERVED_ROLES);

/**
 * Is this schema the platform's or an extension's (left out of the schema dump)?
 *
 * @example
 * ```ts
 * isInternalSchema("pg_toast"); // true
 * isInternalSchema("public"); // false
 * ```
 */
export function isInternalSchema(name: string): boolean {
  return INTERNAL.test(name);
}

/** A quoted identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A quoted literal. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `"schema"."name"`. */
export function qualified(t: { schema: string; name: string }): string {
  return `${ident(t.schema)}.${ident(t.name)}`;
}

/**
 * Session settings under which COPY text is the same on every run (dates, floats, bytea, row
 * order).
 * Both the backup and its verification read under them.
 */
export const STABLE_OUTPUT_SETTINGS = [
  "set datestyle = 'ISO, MDY'",
  "set intervalstyle = 'postgres'",
  "set timezone = 'UTC'",
  "set extra_float_digits = 3",
  "set bytea_output = 'hex'",
  "set client_encoding = 'UTF8'",
  "set row_security = off",
  // The heap's order, from the first page: no parallel workers, no joining a running scan.
  "set max_parallel_workers_per_gather = 0",
  "set synchronize_seqscans = off",
];

/**
 * The COPY that reads a table's rows. It has no ORDER BY: the rows come in the heap's order
 * (one backend, no synchronized scans: {@link STABLE_OUTPUT_SETTINGS}), the backup stores them
 * in that order, and a restore loads them into a new heap in that same order, so reading the
 * restored table again gives the same bytes and the same SHA-256 — the content hash — without
 * the cost of sorting (index scans in random key order cost 40 % more at a million rows).
 *
 * @example
 * ```ts
 * copyOutSql({ schema: "public", name: "t", columns: ["id", "v"] });
 * // 'copy (select "id", "v" from "public"."t") to stdout'
 * ```
 */
export function copyOutSql(t: Pick<ManifestTable, "schema" | "name" | "columns">): string {
  return `copy (select ${t.columns.map(ident).join(", ")} from ${qualified(t)}) to stdout`;
}

/** The COPY that loads a table's rows. */
export function copyInSql(t: Pick<ManifestTable, "schema" | "name" | "columns">): string {
  return `copy ${qualified(t)} (${t.columns.map(ident).join(", ")}) from stdin`;
}

/** psql meta commands a dump may carry (`\restrict`), commented out as the Supabase CLI does. */
function withoutMetaCommands(line: string): string {
  return /^\\(un)?restrict /.test(line) ? `-- ${line}` : line;
}

/**
 * A schema dump made safe to replay into a database that may already hold some of it:
 * `CREATE SCHEMA` becomes `IF NOT EXISTS`; with `dropTriggers`, triggers are left out (the
 * platform dump of a scratch database: triggers calling covered functions come with the schema).
 */
export function replayableSchema(text: string, opts: { dropTriggers?: boolean } = {}): string {
  return text.split("\n").map((line) => {
    const l = withoutMetaCommands(line);
    if (opts.dropTriggers && /^CREATE (CONSTRAINT )?TRIGGER /.test(l)) return `-- ${l}`;
    if (/^CREATE EVENT TRIGGER /.test(l) || /^ALTER EVENT TRIGGER /.test(l)) return `-- ${l}`;
    return l.replace(/^CREATE SCHEMA ("|[a-z_])/, "CREATE SCHEMA IF NOT EXISTS $1");
  }).join("\n");
}

/**
 * The roles dump as a restore replays it: reserved roles are never created, altered or
 * granted to; each other statement runs in its own block that reports and skips an error
 * (a role that exists, an attribute the connection may not set), so roles never fail a restore.
 */
export function tolerantRoles(text: string): string {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = withoutMetaCommands(raw).trim();
    if (!line || line.startsWith("--") || /^SET /.test(line)) continue;
    const role = line.match(/^(?:CREATE|ALTER) ROLE "?([^"\s;]+)"?/)?.[1];
    const grantee = line.match(/^GRANT .* TO "?([^"\s;]+)"?/)?.[1];
    if ((role && RESERVED.test(role)) || (grantee && RESERVED.test(grantee))) continue;
    if (!/^(CREATE ROLE|ALTER ROLE|GRANT|COMMENT ON ROLE)/.test(line)) continue;
    const body = line.replace(/;$/, "").replace(/ (NOSUPERUSER|NOREPLICATION)/g, "");
    out.push(
      `do $stagecoach$ begin execute ${
        literal(body)
      }; exception when others then raise notice 'backup roles: skipped (%): %', sqlerrm, ${
        literal(body.slice(0, 120))
      }; end $stagecoach$;`,
    );
  }
  return out.join("\n");
}

/** `select setval(…)` of each sequence, as its values were in the backup. */
export function setSequencesSql(sequences: readonly ManifestSequence[]): string {
  return sequences.map((s) =>
    `select pg_catalog.setval(${literal(qualified(s))}, ${s.last_value}, ${s.is_called});`
  ).join("\n");
}

/** What the restore script replaces and keeps. */
export interface RestorePlanSql {
  /** Schemas dropped first: the backup's, and the environment's own not in it. */
  dropSchemas: string[];
}

/**
 * The statements a restore runs before the schema: keep the current audit log aside (see
 * {@link auditCarrySql}), drop the replaced schemas, recreate `public` as initdb makes it.
 */
export function restorePrologueSql(plan: RestorePlanSql): string {
  const lines = [
    "set lock_timeout = '30s';",
    `do $stagecoach$ begin
  if to_regclass('ops.audit_log') is not null then
    create temp table stagecoach_audit_log on commit drop as select * from ops.audit_log;
    create temp table stagecoach_audit_head on commit drop as select * from ops.audit_chain_head;
  end if;
end $stagecoach$;`,
  ];
  for (const s of plan.dropSchemas) lines.push(`drop schema if exists ${ident(s)} cascade;`);
  if (plan.dropSchemas.includes("public")) {
    lines.push(
      'create schema "public";',
      'alter schema "public" owner to pg_database_owner;',
      'grant usage on schema "public" to public;',
    );
  }
  return lines.join("\n");
}

/**
 * Keeps the audit log honest after the backup's rows are loaded. The log is append-only and
 * hash-chained, so the backup's log is normally a prefix of the current one: then the current
 * log (and chain head) is put back whole, and the entries newer than the backup follow the
 * restored ones unchanged. If the logs diverged (the environment was restored elsewhere since),
 * the backup's log stays and each current entry it lacks is appended again through
 * `ops.append_audit` (new chain position, `carried_from` naming the original id and time).
 */
export function auditCarrySql(): string {
  return `do $stagecoach$
declare
  prefix boolean;
  r record;
begin
  if to_regclass('pg_temp.stagecoach_audit_log') is null or to_regclass('ops.audit_log') is null then
    return;
  end if;
  select coalesce(bool_and(c.hash is not distinct from b.hash), true) into prefix
    from ops.audit_log as b left join stagecoach_audit_log as c on c.id = b.id;
  if prefix then
    -- Rows go back as they were: the chain trigger must not renumber them.
    set local session_replication_role = replica;
    delete from ops.audit_log;
    insert into ops.audit_log select * from stagecoach_audit_log;
    delete from ops.audit_chain_head;
    insert into ops.audit_chain_head select * from stagecoach_audit_head;
    set local session_replication_role = origin;
  else
    for r in select c.* from stagecoach_audit_log as c
             where not exists (select 1 from ops.audit_log as b where b.hash = c.hash)
             order by c.id loop
      perform ops.append_audit(r.action, r.subject_type, r.subject_id,
        r.details || jsonb_build_object('carried_from', jsonb_build_object(
          'id', r.id, 'occurred_at', r.occurred_at, 'actor', r.actor)),
        r.environment);
    end loop;
  end if;
end $stagecoach$;`;
}

/** The audit entry of a restore (after the carry, with triggers on). */
export function restoredAuditSql(entry: {
  backupId: string;
  manifestSha256: string;
  environment: string;
  who: string;
  promotionId: string | null;
}): string {
  const details = JSON.stringify({
    backup_id: entry.backupId,
    manifest_sha256: entry.manifestSha256,
    by: entry.who,
    promotion_id: entry.promotionId,
  });
  return `select ops.append_audit('backup.restored', 'backup', ${literal(entry.backupId)}, ${
    literal(details)
  }::jsonb, ${
    literal(entry.environment)
  }) where to_regprocedure('ops.append_audit(text,text,text,jsonb,text)') is not null;`;
}
