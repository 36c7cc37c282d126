/**
 * The round-trip proof of revert scripts, on a throwaway database of a Postgres server (the
 * test stack's development server in `npm test`):
 *
 * 1. **scratch** — create `stagecoach_reverts_<random>`, apply the Supabase platform shim the
 *    local stack applies (roles already exist on the server; the rest is per database) and the
 *    migration history table `supabase db push` creates;
 * 2. **baseline** — apply every migration up to and including the baseline, in one psql run,
 *    each file in its own transaction and recorded in `supabase_migrations.schema_migrations`,
 *    as `supabase db push` does;
 * 3. **pairs** — for each later migration, in order: dump the schema (S0), apply the migration
 *    (dump: S1), apply its revert (dump: must equal S0), apply the migration again (dump: must
 *    equal S1, the S0 of the next pair);
 * 4. the database is dropped, whatever happened.
 *
 * A dump is `pg_dump --schema-only` normalised by `schema_dump.ts`, plus the pg_cron jobs
 * (`cron.job` is data to pg_dump, but a migration that schedules a job must unschedule it in
 * its revert). A failure throws {@link RevertProofError} naming the migration and the
 * differing lines.
 *
 * pg_cron installs only into the database named by `cron.database_name` (or one named
 * `contrib_regression`, its own test database): the scratch database is created under that
 * second name, given the extension, and renamed at once, under an advisory lock so two proofs
 * on one server do not meet. Migrations that `create extension if not exists pg_cron` then
 * find it; the server's scheduler reads only its own database's jobs, so none runs here.
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { readReverts } from "./reverts.ts";
import { normaliseSchemaDump, type SchemaBlock, schemaDiff, schemaText } from "./schema_dump.ts";

const PG_BIN = Deno.env.get("STAGECOACH_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

/** A revert that does not undo its migration, or a migration that does not re-apply. */
export class RevertProofError extends Error {
  constructor(
    message: string,
    /** `<version>_<name>` of the migration. */
    readonly migration: string,
    /** The differing lines ({@link schemaDiff}); empty when a file failed to apply. */
    readonly diff: string[],
  ) {
    super(message);
    this.name = "RevertProofError";
  }
}

/** Where and how to prove. */
export interface ProofOptions {
  /** A superuser's URL of an existing database of the server (e.g. its `postgres`). */
  adminUrl: string;
  /** The Supabase platform shim, applied to the scratch database in this order. */
  shim: readonly string[];
  /** Folder of `psql` and `pg_dump`; default `STAGECOACH_PG_BIN` or Postgres 15's. */
  pgBin?: string;
  /** Where psql runs: relative file paths (and so the messages) are relative to it. */
  cwd?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A migration and its revert script to prove (absolute or working-directory paths). */
export interface RevertPair {
  version: string;
  name: string;
  migration: string;
  revert: string;
}

/** What a proof did and how long it took. */
export interface ProofReport {
  /** Migrations applied as the baseline. */
  baseline: number;
  /** `<version>_<name>` of each pair proven, in order. */
  proven: string[];
  /** Milliseconds: scratch database and shim, baseline, pairs, total. */
  ms: { scratch: number; baseline: number; pairs: number; total: number };
}

/** A scratch database: its URL and what a proof does on it. */
export interface ScratchDatabase {
  name: string;
  url: string;
  /** Runs psql on it with `args`, stdin `input`; throws "Cannot run psql …" on failure. */
  psql(args: string[], input?: string): Promise<string>;
  /** Its schema, normalised, with its pg_cron jobs. */
  snapshot(): Promise<SchemaBlock[]>;
}

function pgTool(opts: ProofOptions, tool: string): string {
  return join(opts.pgBin ?? PG_BIN, tool);
}

async function runTool(
  bin: string,
  args: string[],
  opts: { input?: string; cwd?: string } = {},
): Promise<string> {
  const input = opts.input;
  const child = new Deno.Command(bin, {
    args,
    cwd: opts.cwd,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { PGOPTIONS: "-c client_min_messages=warning" },
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    const tool = bin.split("/").at(-1);
    throw new Error(`Cannot run ${tool}: exit ${out.code}: ${stderr || stdout.trim()}`);
  }
  return stdout;
}

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** psql's quoting of a file name for `\i`. */
function psqlQuoted(path: string): string {
  return `'${path.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** The statement recording (or, after a revert, forgetting) a version as `db push` does. */
function historySql(pair: { version: string; name: string }, applied: boolean): string {
  const v = pair.version.replaceAll("'", "''");
  return applied
    ? `insert into supabase_migrations.schema_migrations (version, name) values ('${v}', '${
      pair.name.replaceAll("'", "''")
    }') on conflict (version) do nothing;`
    : `delete from supabase_migrations.schema_migrations where version = '${v}';`;
}

const HISTORY_TABLE = [
  "create schema if not exists supabase_migrations;",
  "create table if not exists supabase_migrations.schema_migrations " +
  "(version text not null primary key, statements text[], name text);",
].join("\n");

/** Creates the scratch database (with pg_cron where the server has it; see the module). */
async function createScratch(admin: postgres.Sql, opts: ProofOptions): Promise<string> {
  const name = `stagecoach_reverts_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const [{ cron }] = await admin<{ cron: boolean }[]>`
    select current_setting('cron.database_name', true) is not null
      and exists (select from pg_available_extensions where name = 'pg_cron') as cron`;
  if (!cron) {
    await admin.unsafe(`create database ${name}`);
    return name;
  }
  const lock = 0x5354_4743; // "STGC": one contrib_regression at a time on this server
  await admin`select pg_advisory_lock(${lock})`;
  try {
    await admin.unsafe("drop database if exists contrib_regression with (force)");
    await admin.unsafe("create database contrib_regression");
    await runTool(pgTool(opts, "psql"), [
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-d",
      databaseUrl(opts.adminUrl, "contrib_regression"),
      "-c",
      "create extension if not exists pg_cron with schema pg_catalog",
    ]);
    await admin.unsafe(`alter database contrib_regression rename to ${name}`);
  } finally {
    await admin`select pg_advisory_unlock(${lock})`;
  }
  return name;
}

/** The pg_cron jobs, one line each (nothing where the database has no pg_cron). */
const CRON_JOBS = `select to_regclass('cron.job') is not null as has_cron \\gset
\\if :has_cron
select format('%s %s %s %s', jobname, schedule, database, regexp_replace(command, '\\s+', ' ', 'g'))
from cron.job order by jobname, command;
\\endif
`;

async function snapshotOf(db: { url: string }, opts: ProofOptions): Promise<SchemaBlock[]> {
  const [dump, cron] = await Promise.all([
    runTool(pgTool(opts, "pg_dump"), ["--schema-only", "-d", db.url]),
    runTool(pgTool(opts, "psql"), ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db.url], {
      input: CRON_JOBS,
    }),
  ]);
  const jobs = cron.split("\n").filter((l) => l.trim());
  const blocks = normaliseSchemaDump(dump);
  return jobs.length ? [...blocks, { header: "pg_cron jobs", lines: jobs }] : blocks;
}

/**
 * Runs `fn` on a new scratch database with the platform shim and an empty migration
 * history, and drops the database afterwards, even when `fn` throws.
 *
 * @throws {Error} "Cannot run psql …" when the shim does not apply
 * @example
 * ```ts
 * await withScratchDatabase({ adminUrl, shim }, async (db) => {
 *   await applyBaseline(db, files);
 * });
 * ```
 */
export async function withScratchDatabase<T>(
  opts: ProofOptions,
  fn: (db: ScratchDatabase) => Promise<T>,
): Promise<T> {
  const admin = postgres(opts.adminUrl, { max: 1, onnotice: () => {} });
  let name: string | undefined;
  try {
    name = await createScratch(admin, opts);
    const url = databaseUrl(opts.adminUrl, name);
    const db: ScratchDatabase = {
      name,
      url,
      psql: (args, input) =>
        runTool(
          pgTool(opts, "psql"),
          ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, ...args],
          { input, cwd: opts.cwd },
        ),
      snapshot: () => snapshotOf({ url }, opts),
    };
    await db.psql([...opts.shim.flatMap((f) => ["-f", f]), "-c", HISTORY_TABLE]);
    return await fn(db);
  } finally {
    if (name) await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end({ timeout: 5 });
  }
}

/**
 * Applies migrations in one psql run, each file in its own transaction with its version
 * recorded, as `supabase db push` does.
 *
 * @param files the migrations, oldest first (`file` readable from the working directory)
 * @throws {Error} "Cannot run psql …" naming the file and line that failed
 */
export async function applyBaseline(
  db: ScratchDatabase,
  files: readonly { version: string; name: string; file: string }[],
): Promise<void> {
  const script = files.map((m) =>
    `begin;\n\\i ${psqlQuoted(m.file)}\n${historySql(m, true)}\ncommit;`
  );
  await db.psql(["-f", "-"], script.join("\n") + "\n");
}

function differs(
  pair: RevertPair,
  what: string,
  expected: SchemaBlock[],
  found: SchemaBlock[],
): RevertProofError | null {
  if (schemaText(expected) === schemaText(found)) return null;
  const key = `${pair.version}_${pair.name}`;
  const diff = schemaDiff(expected, found);
  return new RevertProofError(
    `Cannot prove the revert of ${key}: ${what} (- expected, + found):\n${diff.join("\n")}`,
    key,
    diff,
  );
}

/**
 * Proves one pair on a database holding every earlier migration: apply, revert (the schema is
 * back to `before`), apply again (the schema is that of the first apply).
 *
 * @param before the database's snapshot now (the previous pair's result, or taken here)
 * @returns the snapshot after the migration is applied again (the next pair's `before`)
 * @throws {RevertProofError} naming the migration and the differing lines, or the file that
 *   failed to apply
 */
export async function provePair(
  db: ScratchDatabase,
  pair: RevertPair,
  opts: { before?: SchemaBlock[] } = {},
): Promise<SchemaBlock[]> {
  const key = `${pair.version}_${pair.name}`;
  const apply = async (file: string, history: string, step: string) => {
    try {
      await db.psql(["--single-transaction", "-f", file, "-c", history]);
    } catch (err) {
      throw new RevertProofError(
        `Cannot prove the revert of ${key}: ${step} failed: ${(err as Error).message}`,
        key,
        [],
      );
    }
  };
  const before = opts.before ?? await db.snapshot();
  await apply(pair.migration, historySql(pair, true), `applying ${pair.migration}`);
  const applied = await db.snapshot();
  await apply(pair.revert, historySql(pair, false), `applying its revert ${pair.revert}`);
  const reverted = await db.snapshot();
  const notUndone = differs(
    pair,
    `after ${pair.revert} the schema is not what it was before the migration`,
    before,
    reverted,
  );
  if (notUndone) throw notUndone;
  await apply(pair.migration, historySql(pair, true), `applying ${pair.migration} again`);
  const again = await db.snapshot();
  const notSame = differs(
    pair,
    "applied again after its revert, the migration gives another schema than the first time",
    applied,
    again,
  );
  if (notSame) throw notSame;
  return again;
}

/**
 * Proves every revert script of a repository (see the module comment).
 *
 * @param repoRoot the repository (its `supabase/migrations`, `supabase/rollbacks`)
 * @returns what was proven and how long each phase took
 * @throws {Error} "Cannot prove reverts: …" listing the problems and findings of the revert
 *   scripts (a missing or orphan script, an unmarked loss of data) before touching a server;
 *   {@link RevertProofError} for the first pair that does not round-trip
 * @example
 * ```ts
 * const report = await proveReverts(REPO_ROOT, { adminUrl: dev.dbUrl, shim: await platformShimFiles() });
 * report.proven; // ["20261204000100_add_restore_and_rollback_scopes", …]
 * ```
 */
export async function proveReverts(repoRoot: string, opts: ProofOptions): Promise<ProofReport> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const { baseline, migrations, problems, findings } = await readReverts(repoRoot);
  const wrong = [
    ...problems.map((p) => p.message),
    ...findings.map((f) => `${f.file}:${f.line}: ${f.rule}: ${f.message}`),
  ];
  if (wrong.length) throw new Error(`Cannot prove reverts: ${wrong.join("; ")}`);
  const base = migrations.filter((m) => BigInt(m.version) <= BigInt(baseline));
  const pairs: RevertPair[] = migrations.filter((m) => m.revert).map((m) => ({
    version: m.version,
    name: m.name,
    migration: m.file,
    revert: m.revert!.file,
  }));
  // Paths stay relative to the repository (psql runs there), so messages name them so.
  return await withScratchDatabase({ ...opts, cwd: repoRoot }, async (db) => {
    const t1 = performance.now();
    await applyBaseline(db, base);
    const t2 = performance.now();
    log(`baseline: ${base.length} migrations up to ${baseline} in ${Math.round(t2 - t1)} ms`);
    const proven: string[] = [];
    let before: SchemaBlock[] | undefined;
    for (const pair of pairs) {
      const p0 = performance.now();
      before = await provePair(db, pair, { before });
      proven.push(`${pair.version}_${pair.name}`);
      log(`${pair.version}_${pair.name}: round-trips (${Math.round(performance.now() - p0)} ms)`);
    }
    const t3 = performance.now();
    return {
      baseline: base.length,
      proven,
      ms: {
        scratch: Math.round(t1 - t0),
        baseline: Math.round(t2 - t1),
        pairs: Math.round(t3 - t2),
        total: Math.round(t3 - t0),
      },
    };
  });
}
