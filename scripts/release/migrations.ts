/**
 * The schema part of a release: the migrations in `supabase/migrations`, those a target has
 * not applied yet (so a production plan, and its approvals, cover exactly that schema), and
 * their lint findings (so a destructive or locking change raises the plan's risk).
 *
 * Listing and linting read files and run squawk; `pendingMigrations` is pure;
 * `readAppliedVersions` is passed its client.
 *
 * ## Lint rules
 *
 * Two sources, one finding shape ({@link MigrationFinding}):
 *
 * **squawk** (npm `squawk-cli`, pinned in `package.json` at 2.61.0: the newest version whose
 * binaries for every platform — linux, darwin, win32 — the npm registry we reach serves;
 * with a later one `npm ci` refuses the lock file), run with `--assume-in-transaction`
 * because `supabase db push` applies each file in one transaction: an index created on a
 * table the same file creates is then not reported, and `create index concurrently` is (it
 * fails inside a transaction). Of its rules, only those in {@link SQUAWK_RULES} count, the
 * ones about the safety of changing a live production database:
 *
 * - data loss or broken clients: `ban-drop-database`, `ban-drop-table`, `ban-drop-column`,
 *   `ban-truncate-cascade`, `renaming-table`, `renaming-column`, `changing-column-type`,
 *   `adding-required-field` (a `NOT NULL` column without default fails on existing rows or
 *   breaks inserts of deployed code);
 * - locks held while a table is scanned or rewritten (reads or writes blocked):
 *   `adding-not-nullable-field`, `adding-field-with-default` (volatile defaults),
 *   `adding-serial-primary-key-field`, `adding-foreign-key-constraint`,
 *   `constraint-missing-not-valid`, `disallowed-unique-constraint`,
 *   `ban-alter-domain-with-add-constraint`, `require-concurrent-index-creation`,
 *   `require-concurrent-index-deletion`, `require-concurrent-reindex`,
 *   `require-concurrent-partition-detach`, `prefer-repack` (`VACUUM FULL` / `CLUSTER`);
 * - a file that cannot apply as one transaction: `ban-concurrent-index-creation-in-transaction`,
 *   `transaction-nesting`, `ban-uncommitted-transaction`;
 * - `syntax-error`: squawk reports nothing else for a file it cannot parse, so the file is
 *   unchecked and says so.
 *
 * Left out, as style or hygiene rather than production safety: `prefer-bigint-over-int`,
 * `prefer-bigint-over-smallint`, `prefer-identity`, `prefer-text-field`, `prefer-timestamptz`,
 * `ban-char-field`, `prefer-robust-stmts` (re-runnability, which our review asks for anyway),
 * `require-lock-timeout` / `require-statement-timeout` / `require-timeout-settings` (they fire
 * on every statement; a lock timeout belongs to how releases run, not to each file),
 * `require-table-schema`, `require-enum-value-ordering`, `identifier-too-long` (Postgres
 * truncates with a notice), `ban-duplicate-column-assignments` (Postgres refuses it anyway),
 * `ban-create-domain-with-constraint`, and `ban-drop-not-null` (relaxing a constraint loses
 * nothing and locks only briefly). A rule a newer squawk adds stays out until it is listed here.
 *
 * **stagecoach** ({@link findDestructiveStatements}): `drop-schema-cascade`,
 * `delete-without-where`, `update-without-where`, `truncate` — whole-sale data loss that squawk
 * does not report. Function bodies are not statements the migration runs; `DO` blocks are.
 *
 * @module
 */
import { join } from "node:path";
import type { Queryable } from "../../supabase/functions/_shared/db.ts";
import { findDestructiveStatements, type StagecoachRule } from "./sql_checks.ts";
import { appliedVersions } from "../../supabase/functions/_shared/promotion/schema.ts";

/**
 * One migration file as `supabase db push` sees it.
 *
 * @example
 * ```ts
 * const m: Migration = {
 *   version: "20261203000100",
 *   name: "create_ops_releases",
 *   file: "supabase/migrations/20261203000100_create_ops_releases.sql",
 *   sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
 * };
 * ```
 */
export interface Migration {
  /** The leading digits before the first `_`: what `supabase_migrations.schema_migrations` stores. */
  version: string;
  /** The rest of the file name, without `.sql`. */
  name: string;
  /** The file's path: the directory given to {@link listMigrations} joined with the file name. */
  file: string;
  /** Hex SHA-256 of the file's exact bytes. */
  sha256: string;
}

/** A migration name the Supabase CLI would skip or could not apply. */
export class MigrationNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationNameError";
  }
}

/** What `supabase db push` applies (the CLI's own pattern); anything else it skips. */
const MIGRATION_FILE = /^([0-9]+)_(.*)\.sql$/;
/** The CLI skips a first file `<14 digits>_init.sql` older than this version. */
const INIT_FILE = /^([0-9]{14})_init\.sql$/;
const INIT_SKIPPED_BEFORE = 20211209000000n;

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

function byVersion(a: Migration, b: Migration): number {
  const d = BigInt(a.version) - BigInt(b.version);
  return d < 0n ? -1 : d > 0n ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Lists every migration of a directory with the SHA-256 of its bytes, sorted by version.
 * Refuses what `supabase db push` would skip or fail on, rather than leave it out of a plan:
 * a file not named `<digits>_<name>.sql` (the CLI's pattern), a first file
 * `<timestamp>_init.sql` older than 2021-12-09 (the CLI skips it), or two files with one
 * version (the second could not be recorded). Sub-directories are ignored, as the CLI does.
 *
 * @param dir the migrations directory, e.g. `supabase/migrations`
 * @param opts.ignore file names to leave out unchecked (the rollbacks folder's `BASELINE`)
 * @returns the migrations, oldest first; empty when the directory does not exist
 * @throws {MigrationNameError} "Cannot list migrations: …" naming every offending file
 * @example
 * ```ts
 * const all = await listMigrations("supabase/migrations");
 * all[0]; // { version: "20261125000100", name: "create_private_helpers", file: "supabase/migrations/…", sha256: "…" }
 * ```
 */
export async function listMigrations(
  dir: string,
  opts: { ignore?: (name: string) => boolean } = {},
): Promise<Migration[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const e of Deno.readDir(dir)) entries.push(e);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  const names = entries.filter((e) => !e.isDirectory && !opts.ignore?.(e.name))
    .map((e) => e.name).sort();
  const problems: string[] = [];
  const skippedInit = names.length > 0 && INIT_FILE.exec(names[0]);
  if (skippedInit && BigInt(skippedInit[1]) < INIT_SKIPPED_BEFORE) {
    problems.push(`${names[0]} is skipped by the Supabase CLI (rename it from "init")`);
  }
  for (const n of names) {
    if (!MIGRATION_FILE.test(n)) {
      problems.push(`${n} is not named <digits>_<name>.sql (the Supabase CLI skips it)`);
    }
  }
  const migrations = await Promise.all(
    names.filter((n) => MIGRATION_FILE.test(n)).map(async (n) => {
      const [, version, name] = MIGRATION_FILE.exec(n)!;
      const file = join(dir, n);
      const bytes = await Deno.readFile(file);
      return { version, name, file, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) };
    }),
  );
  migrations.sort(byVersion);
  for (let i = 1; i < migrations.length; i++) {
    if (BigInt(migrations[i].version) === BigInt(migrations[i - 1].version)) {
      problems.push(
        `${migrations[i - 1].version}_${migrations[i - 1].name}.sql and ` +
          `${migrations[i].version}_${migrations[i].name}.sql share version ${
            migrations[i].version
          }`,
      );
    }
  }
  if (problems.length) {
    throw new MigrationNameError(`Cannot list migrations in ${dir}: ${problems.join("; ")}`);
  }
  return migrations;
}

/**
 * The migrations a target has not applied, oldest first. Versions compare as numbers, as
 * the CLI's `schema_migrations` versions do (`"0100"` and `"100"` are one version).
 *
 * @param all every migration ({@link listMigrations})
 * @param appliedVersions the target's applied versions ({@link readAppliedVersions})
 * @returns those of `all` whose version is not applied
 * @example
 * ```ts
 * pendingMigrations(all, ["20261125000100"]).map((m) => m.version); // every later version
 * ```
 */
export function pendingMigrations<M extends Migration>(
  all: readonly M[],
  appliedVersions: Iterable<string>,
): M[] {
  const applied = new Set([...appliedVersions].map((v) => BigInt(v).toString()));
  return all.filter((m) => !applied.has(BigInt(m.version).toString())).sort(byVersion);
}

/**
 * Reads the versions a database has applied, from `supabase_migrations.schema_migrations`
 * (where `supabase db push` records them). A database that never had a push has no such
 * table: nothing is applied.
 *
 * @param sql the target's database (a pool or a transaction)
 * @returns the applied versions, ascending
 * @example
 * ```ts
 * const pending = pendingMigrations(await listMigrations(dir), await readAppliedVersions(sql));
 * ```
 */
export async function readAppliedVersions(sql: Queryable): Promise<string[]> {
  return [...await appliedVersions(sql)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/** The squawk rules that count (see the module comment for why these and not the rest). */
export const SQUAWK_RULES: ReadonlySet<string> = new Set([
  "ban-drop-database",
  "ban-drop-table",
  "ban-drop-column",
  "ban-truncate-cascade",
  "renaming-table",
  "renaming-column",
  "changing-column-type",
  "adding-required-field",
  "adding-not-nullable-field",
  "adding-field-with-default",
  "adding-serial-primary-key-field",
  "adding-foreign-key-constraint",
  "constraint-missing-not-valid",
  "disallowed-unique-constraint",
  "ban-alter-domain-with-add-constraint",
  "require-concurrent-index-creation",
  "require-concurrent-index-deletion",
  "require-concurrent-reindex",
  "require-concurrent-partition-detach",
  "prefer-repack",
  "ban-concurrent-index-creation-in-transaction",
  "transaction-nesting",
  "ban-uncommitted-transaction",
  "syntax-error",
]);

/**
 * One lint finding in a migration.
 *
 * @example
 * ```ts
 * const f: MigrationFinding = {
 *   rule: "ban-drop-column",
 *   file: "supabase/migrations/20261203000100_drop_legacy_name.sql",
 *   line: 4,
 *   message: "Dropping a column may break existing clients.",
 *   source: "squawk",
 * };
 * ```
 */
export interface MigrationFinding {
  /** A squawk rule of {@link SQUAWK_RULES}, or one of ours (`STAGECOACH_RULES`). */
  rule: string | StagecoachRule;
  /** The migration's `file` (as listed). */
  file: string;
  /** 1-based line where the statement begins. */
  line: number;
  message: string;
  source: "squawk" | "stagecoach";
}

/** Options of {@link lintMigrations}. */
export interface LintOptions {
  /** The squawk executable; default `node_modules/.bin/squawk` under the current directory. */
  squawk?: string;
  /** The Postgres version squawk assumes; default `15` (our `config.toml` `major_version`). */
  pgVersion?: string;
}

/** squawk's JSON report of one violation (`--reporter json`; lines are 0-based). */
interface SquawkViolation {
  file: string;
  line: number;
  rule_name: string;
  message: string;
  help: string | null;
}

async function runSquawk(files: string[], opts: LintOptions): Promise<SquawkViolation[]> {
  const bin = opts.squawk ?? join(Deno.cwd(), "node_modules/.bin/squawk");
  const args = [
    "--reporter",
    "json",
    "--assume-in-transaction",
    "--pg-version",
    opts.pgVersion ?? "15",
    // An empty configuration: a `.squawk.toml` found above the working directory must not
    // change which rules run.
    "--config",
    "/dev/null",
    ...files,
  ];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(bin, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (err) {
    throw new Error(`Cannot lint migrations: cannot run ${bin} (${(err as Error).message})`);
  }
  const stdout = new TextDecoder().decode(out.stdout).trim();
  // Exit 0: no violation; 1: violations, reported on stdout. Anything else is squawk failing.
  if (out.code > 1 || (out.code === 1 && !stdout.startsWith("["))) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`Cannot lint migrations: squawk exited ${out.code}: ${stderr || stdout}`);
  }
  return stdout ? JSON.parse(stdout) as SquawkViolation[] : [];
}

/**
 * Lints migrations with squawk (the rules of {@link SQUAWK_RULES}) and Stagecoach's own
 * checks (`DROP SCHEMA … CASCADE`, `DELETE`/`UPDATE` without `WHERE`, `TRUNCATE`). Any
 * finding should make a plan high risk.
 *
 * @param files the migrations to lint (usually the pending ones)
 * @param opts the squawk executable and the Postgres version
 * @returns findings ordered by file (as given), line and rule; lines are 1-based
 * @throws {Error} "Cannot lint migrations: …" when squawk cannot run or fails
 * @example
 * ```ts
 * const findings = await lintMigrations(pendingMigrations(all, applied));
 * // [{ rule: "ban-drop-table", file: "supabase/migrations/…_drop_legacy.sql", line: 3,
 * //    message: "Dropping a table may break existing clients.", source: "squawk" }]
 * ```
 */
export async function lintMigrations(
  files: readonly Migration[],
  opts: LintOptions = {},
): Promise<MigrationFinding[]> {
  if (!files.length) return [];
  const paths = files.map((m) => m.file);
  const violations = await runSquawk(paths, opts);
  const findings: MigrationFinding[] = violations
    .filter((v) => SQUAWK_RULES.has(v.rule_name))
    .map((v) => ({
      rule: v.rule_name,
      file: v.file,
      line: v.line + 1,
      message: v.help ? `${v.message} ${v.help}` : v.message,
      source: "squawk" as const,
    }));
  const texts = await Promise.all(paths.map((p) => Deno.readTextFile(p)));
  texts.forEach((text, i) => {
    for (const f of findDestructiveStatements(text)) {
      findings.push({ ...f, file: paths[i], source: "stagecoach" });
    }
  });
  const order = new Map(paths.map((p, i) => [p, i]));
  // squawk reports a parse error at every token it stopped at: keep the first of a line.
  const seen = new Set<string>();
  return findings
    .sort((a, b) =>
      (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line ||
      a.rule.localeCompare(b.rule)
    )
    .filter((f) => {
      const key = `${f.file}:${f.line}:${f.rule}:${f.rule === "syntax-error" ? "" : f.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    });
}
