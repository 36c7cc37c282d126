/**
 * `createBackup`: a consistent, encrypted backup of one environment's database.
 *
 * Phases: **snapshot** (a REPEATABLE READ transaction exports `pg_export_snapshot()` and reads
 * the catalog in it) → **dumps** (roles by `pg_dumpall --roles-only --no-role-passwords`; the
 * platform and covered schemas by `pg_dump --schema-only --snapshot=…`) → **tables** (each
 * table's rows by `COPY … TO STDOUT` in heap order (a restore loads them in that order), in that same snapshot, a few tables at once;
 * hashed and sealed as they stream) → **manifest** (signed with the HMAC) → **retention**.
 *
 * The programmatic API (what a release's `backup` step calls; the CLI is `scripts/cli/backup.ts`):
 *
 * ```ts
 * import { createBackup } from "./scripts/backup/create.ts";
 * import { verifyBackup } from "./scripts/backup/verify.ts";
 * const made = await createBackup({ environment: "production", dbUrl, key, root, onProgress });
 * // made: { dir, manifest, manifestSha256, removed }
 * const result = await verifyBackup({ dir: made.dir, key, dbUrl, onProgress });
 * // result: { ok, backupId, manifestSha256, tablesChecked, problem, recordedAt }; verified.json written
 * ```
 *
 * `restoreBackup` (`restore.ts`) and `listBackups` / `backupRoot` (`list.ts`) complete it. The
 * database URL comes from `scripts/cli/target.ts`; the key from `STAGECOACH_BACKUP_KEY` or a file.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import postgres from "postgres";
import { type CatalogFacts, readCatalog, type TableSpec } from "./catalog.ts";
import {
  CHUNK_SIZE,
  DEFAULT_KDF_ITERATIONS,
  deriveBackupKeys,
  keyFingerprint,
  macHex,
  toHex,
} from "./crypto.ts";
import { countNewlines, writeSealedFile } from "./files.ts";
import {
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ManifestFile,
  manifestMacInput,
  type ManifestTable,
  newBackupId,
  type UnsignedManifest,
} from "./manifest.ts";
import { maskDb, pgBin, spawnPg } from "./pg.ts";
import { copyOutSql, literal, STABLE_OUTPUT_SETTINGS } from "./sql.ts";
import { applyRetention } from "./list.ts";

/** Progress of a long backup operation. */
export interface BackupProgress {
  phase: "dump" | "tables" | "check" | "restore" | "compare";
  /** Rows done so far in this phase (tables phases), or files. */
  done: number;
  /** Expected total (an estimate while creating), or null. */
  total: number | null;
  /** What is being worked on, e.g. a table name. */
  item?: string;
}

/** Options of {@link createBackup}. */
export interface CreateBackupOptions {
  /** The environment's name (recorded; names the folder). */
  environment: string;
  /** Its database URL (from `scripts/cli/target.ts`). */
  dbUrl: string;
  /** The operator's key (never stored). */
  key: string;
  /** The backup root; the backup goes to `<root>/<env>/<id>/` unless `out` is given. */
  root: string;
  /** An exact folder for this backup (retention then does not run). */
  out?: string;
  /** Backups of this environment kept in the root after it (default 7). */
  keep?: number;
  /** The checkout's commit, or null. */
  gitSha?: string | null;
  /** PBKDF2 rounds (default 600,000; tests use fewer, never below 100,000). */
  kdfIterations?: number;
  /** Tables read at once (default 2). */
  parallel?: number;
  onProgress?: (p: BackupProgress) => void;
  /** Clock (tests). */
  now?: () => Date;
}

/** What {@link createBackup} made. */
export interface CreatedBackup {
  dir: string;
  manifest: Manifest;
  /** SHA-256 (hex) of `manifest.json` as written: what a restore promotion names. */
  manifestSha256: string;
  /** Backup folders retention removed. */
  removed: string[];
}

/** Runs tasks with at most `n` at once, in order of the list. */
export async function pool<T, R>(
  items: readonly T[],
  n: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: unknown = null;
  async function worker() {
    while (next < items.length && failed === null) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (err) {
        failed ??= err;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed !== null) throw failed;
  return out;
}

/** The `psql` arguments that run `copyOut` inside a snapshot (or none) under stable settings. */
export function copyOutArgs(copyOut: string, snapshot: string | null): string[] {
  const commands = [
    "begin isolation level repeatable read read only",
    ...(snapshot ? [`set transaction snapshot ${literal(snapshot)}`] : []),
    ...STABLE_OUTPUT_SETTINGS,
    copyOut,
    "commit",
  ];
  return ["-X", "-q", "-v", "ON_ERROR_STOP=1", ...commands.flatMap((c) => ["-c", c])];
}

/**
 * Reads a byte stream in pieces of about `size` bytes: a pipe delivers a few KiB per read, and
 * handing each to hashing and sealing separately costs more than the work itself.
 */
export async function* largePieces(
  stream: ReadableStream<Uint8Array>,
  size = 1 << 20,
): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader({ mode: "byob" });
  try {
    let buffer = new Uint8Array(size);
    let filled = 0;
    while (true) {
      const { value, done } = await reader.read(buffer.subarray(filled));
      // The read transfers the buffer: keep the one it hands back, also at the end.
      if (value) buffer = new Uint8Array(value.buffer);
      if (done || !value) break;
      filled += value.length;
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
    if (filled > 0) yield buffer.subarray(0, filled);
  } finally {
    reader.releaseLock();
  }
}

/** Streams a program's stdout, then waits for it (its error wins over a half-read stream). */
export async function* programOutput(
  p: { process: Deno.ChildProcess; done: Promise<void> },
): AsyncGenerator<Uint8Array> {
  try {
    yield* largePieces(p.process.stdout);
  } catch (err) {
    await p.done;
    throw err;
  }
  await p.done;
}

/** The manifest fields of a table spec. */
function pick(t: TableSpec): Pick<ManifestTable, "schema" | "name" | "columns"> {
  return { schema: t.schema, name: t.name, columns: t.columns };
}

async function gitHead(): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const sha = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{40}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}

async function dumpRoles(dbUrl: string, major: number): Promise<string> {
  const p = spawnPg(
    pgBin(major, "pg_dumpall"),
    ["--roles-only", "--no-role-passwords", "--quote-all-identifiers", "--no-comments"],
    { dbUrl, what: "dump roles" },
  );
  try {
    const [text] = await Promise.all([new Response(p.process.stdout).text(), p.done]);
    return text;
  } catch (err) {
    // Hosted Supabase's postgres cannot read every role attribute: the roles are the
    // platform's there, and a restore creates only what is missing anyway.
    return `-- roles not dumped: ${(err as Error).message.split("\n").join(" ")}\n`;
  }
}

/** The schema dumps: pre-data (before the rows) and post-data (indexes, constraints, triggers). */
const DUMPS = ["platform", "platform_post", "schema", "schema_post"] as const;

function schemaDumpArgs(facts: CatalogFacts, snapshot: string, kind: typeof DUMPS[number]) {
  const section = kind.endsWith("_post") ? "post-data" : "pre-data";
  const args = [`--section=${section}`, "--quote-all-identifiers", `--snapshot=${snapshot}`];
  if (kind.startsWith("schema")) {
    for (const s of facts.schemas) args.push(`--schema=${s}`);
  } else {
    for (const s of [...facts.dataSchemas, "extensions"]) args.push(`--schema=${s}`);
    for (const e of facts.extensions) args.push(`--extension=${e}`);
    args.push("--no-owner");
  }
  return args;
}

async function* withTail(
  source: AsyncIterable<Uint8Array>,
  tail: string,
): AsyncGenerator<Uint8Array> {
  yield* source;
  yield new TextEncoder().encode(tail);
}

async function* textPieces(text: string): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode(text);
}

/**
 * Creates an encrypted backup of a database.
 *
 * @returns the folder, the manifest and its SHA-256
 * @throws {Error} "Cannot …" naming the step that failed (URLs and passwords masked); the
 * half-written folder is removed
 * @example
 * ```ts
 * const { dir, manifestSha256 } = await createBackup({
 *   environment: "production", dbUrl, key, root: "backups", keep: 7,
 * });
 * ```
 */
export async function createBackup(opts: CreateBackupOptions): Promise<CreatedBackup> {
  const now = (opts.now ?? (() => new Date()))();
  const id = newBackupId(now, toHex(crypto.getRandomValues(new Uint8Array(3))));
  const dir = opts.out ?? join(opts.root, opts.environment, id);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const iterations = opts.kdfIterations ?? DEFAULT_KDF_ITERATIONS;
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const keysPromise = Promise.all([
    deriveBackupKeys(opts.key, salt, iterations),
    keyFingerprint(opts.key, iterations),
  ]);
  const sql = postgres(opts.dbUrl, {
    max: 1,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "stagecoach_backup" },
  });
  try {
    const [keys, fingerprint] = await keysPromise;
    const snap = await sql.reserve().catch((err) => {
      throw new Error(`Cannot connect to ${opts.environment}: ${maskDb(err.message, opts.dbUrl)}`);
    });
    try {
      await snap`begin isolation level repeatable read read only`;
      const [{ snapshot }] = await snap<
        { snapshot: string }[]
      >`select pg_export_snapshot() as snapshot`;
      const facts = await readCatalog(snap);
      const files: ManifestFile[] = [];
      const report = (p: BackupProgress) => opts.onProgress?.(p);

      // Dumps: roles, the platform's schemas (scratch verify), the covered schemas, each split
      // like pg_restore's sections so rows load before indexes and constraints are built.
      report({ phase: "dump", done: 0, total: 1 });
      const roles = await writeSealedFile(textPieces(await dumpRoles(opts.dbUrl, facts.major)), {
        dir,
        name: "roles.sql.enc",
        key: keys.file,
      });
      files.push({ kind: "roles", ...roles.entry });
      report({ phase: "dump", done: 1, total: 1 });
      // The schema dumps run beside the tables (they mostly wait on the catalog); the largest
      // tables go first so the last one to finish is a small one.
      const dumps = pool(DUMPS, 2, async (kind) => {
        const p = spawnPg(pgBin(facts.major, "pg_dump"), schemaDumpArgs(facts, snapshot, kind), {
          dbUrl: opts.dbUrl,
          what: `dump the ${kind.replace("_", " ")} schema`,
        });
        const tail = kind === "schema_post"
          ? `\n-- Triggers of managed tables on covered functions.\n${
            facts.crossTriggers.join("\n")
          }\n`
          : "";
        const out = await writeSealedFile(withTail(programOutput(p), tail), {
          dir,
          name: `${kind}.sql.enc`,
          key: keys.file,
        });
        files.push({ kind, ...out.entry });
      });

      // Tables: COPY in the snapshot, hashed and sealed as they stream.
      const total = facts.tables.reduce((n, t) => n + t.estimate, 0);
      let rowsDone = 0;
      const order = facts.tables.map((t, i) => ({ t, i })).sort((a, b) =>
        b.t.estimate - a.t.estimate
      );
      const read = pool(order, opts.parallel ?? 2, async ({ t, i }) => {
        const name = `t${String(i + 1).padStart(4, "0")}.copy.enc`;
        const p = spawnPg(pgBin(facts.major, "psql"), copyOutArgs(copyOutSql(t), snapshot), {
          dbUrl: opts.dbUrl,
          what: `read ${t.schema}.${t.name}`,
        });
        const out = await writeSealedFile(programOutput(p), {
          dir,
          name,
          key: keys.file,
          onPiece: (piece) => {
            rowsDone += countNewlines(piece);
            report({
              phase: "tables",
              done: rowsDone,
              total: Math.max(total, rowsDone),
              item: `${t.schema}.${t.name}`,
            });
          },
        });
        files.push({ kind: "table", ...out.entry });
        return {
          i,
          entry: { ...pick(t), rows: out.lines, content_sha256: out.plainSha256, file: name },
        };
      });
      const [, read_] = await Promise.all([dumps, read]);
      const tables: ManifestTable[] = read_.sort((a, b) => a.i - b.i).map((r) => r.entry);
      await snap`commit`;

      const unsigned: UnsignedManifest = {
        format: MANIFEST_FORMAT,
        version: MANIFEST_VERSION,
        backup_id: id,
        environment: opts.environment,
        created_at: now.toISOString(),
        git_sha: opts.gitSha === undefined ? await gitHead() : opts.gitSha,
        server_version: facts.serverVersion,
        migration_version: facts.migrations.at(-1)?.version ?? null,
        migrations: facts.migrations,
        schemas: facts.schemas,
        data_schemas: facts.dataSchemas,
        tables,
        sequences: facts.sequences,
        audit_head: facts.auditHead,
        files: files.sort((a, b) => a.name < b.name ? -1 : 1),
        encryption: {
          alg: "AES-256-GCM",
          chunk_size: CHUNK_SIZE,
          kdf: { alg: "PBKDF2-SHA256", iterations, salt: toHex(salt) },
          key_fingerprint: fingerprint,
        },
      };
      const manifest: Manifest = {
        ...unsigned,
        hmac: await macHex(keys.mac, manifestMacInput(unsigned)),
      };
      const text = JSON.stringify(manifest, null, 2) + "\n";
      await Deno.writeTextFile(join(dir, "manifest.json"), text, { mode: 0o600 });
      const manifestSha256 = createHash("sha256").update(text).digest("hex");
      const removed = opts.out
        ? []
        : await applyRetention(opts.root, opts.environment, opts.keep ?? 7);
      return { dir, manifest, manifestSha256, removed };
    } finally {
      snap.release();
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  } finally {
    await sql.end({ timeout: 2 });
  }
}
