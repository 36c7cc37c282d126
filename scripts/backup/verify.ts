/**
 * `verifyBackup`: proves a backup can be restored to exactly what was backed up.
 *
 * Phases: **open** (the key's fingerprint, then the manifest's HMAC) → **restore** (into a
 * scratch database `stagecoach_verify_<random>` on the same server, in one transaction that
 * commits only if every file decrypted chunk by chunk with the right size, SHA-256 and chunk
 * count, and every table with the row count and content hash of the manifest — a stream-verify:
 * one pass over the files; the scratch database is dropped afterwards, also on failure) →
 * **compare** (row counts and content hashes read back from
 * the scratch database, table by table, the same way they were read when creating).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import postgres from "postgres";
import { type BackupProgress, copyOutArgs, pool, programOutput } from "./create.ts";
import { type BackupKeys, deriveBackupKeys, fromHex, keyFingerprint, macValid } from "./crypto.ts";
import { countNewlines, readSealedFile } from "./files.ts";
import { readManifestFile, type VerifiedRecord } from "./list.ts";
import {
  BackupError,
  type Manifest,
  type ManifestFile,
  manifestMacInput,
  type ManifestTable,
  tableName,
} from "./manifest.ts";
import { maskDb, pgBin, spawnPg, withDatabaseName } from "./pg.ts";
import { copyInSql, copyOutSql, ident, replayableSchema, setSequencesSql } from "./sql.ts";

/** A backup whose manifest is authentic under the operator's key. */
export interface OpenedBackup {
  dir: string;
  manifest: Manifest;
  manifestSha256: string;
  keys: BackupKeys;
}

/** What {@link verifyBackup} found. */
export interface VerifyResult {
  ok: boolean;
  backupId: string | null;
  manifestSha256: string | null;
  tablesChecked: number;
  /** What is wrong (file, chunk, table or key), or null. */
  problem: { code: string; message: string; details: Record<string, unknown> } | null;
  /** `verified.json` written, or null. */
  recordedAt: string | null;
}

/**
 * Reads a backup's manifest and proves it was made with this key and not changed since.
 *
 * @throws {BackupError} `malformed`, `wrong_key` ("wrong key: fingerprint X, backup made with Y")
 * or `manifest_tampered`
 */
export async function openBackup(dir: string, key: string): Promise<OpenedBackup> {
  const { manifest, sha256 } = await readManifestFile(dir).catch((err) => {
    if (err instanceof BackupError) throw err;
    throw new BackupError("missing_file", (err as Error).message, { file: "manifest.json" });
  });
  const { iterations, salt } = manifest.encryption.kdf;
  // Both derivations at once (each is 600,000 PBKDF2 rounds); the keys are used only if the
  // fingerprint matches.
  const [fingerprint, keys] = await Promise.all([
    keyFingerprint(key, iterations),
    deriveBackupKeys(key, fromHex(salt), iterations),
  ]);
  if (fingerprint !== manifest.encryption.key_fingerprint) {
    throw new BackupError(
      "wrong_key",
      `wrong key: fingerprint ${fingerprint}, backup made with ${manifest.encryption.key_fingerprint}`,
      { fingerprint, backup_fingerprint: manifest.encryption.key_fingerprint },
    );
  }
  if (!(await macValid(keys.mac, manifestMacInput(manifest), manifest.hmac))) {
    throw new BackupError(
      "manifest_tampered",
      "manifest.json: its HMAC does not match (the manifest was changed after the backup)",
      { file: "manifest.json" },
    );
  }
  return { dir, manifest, manifestSha256: sha256, keys };
}

async function checkFile(b: OpenedBackup, file: ManifestFile, table?: ManifestTable) {
  const hash = createHash("sha256");
  let rows = 0;
  for await (const plain of readSealedFile(b.dir, file, b.keys.file)) {
    if (table) {
      hash.update(plain);
      rows += countNewlines(plain);
    }
  }
  if (table) assertTableContent(file.name, table, { rows, sha: hash.digest("hex") });
}

/** @throws {BackupError} `content_mismatch` when a table's rows are not the manifest's */
function assertTableContent(
  file: string,
  table: ManifestTable,
  found: { rows: number; sha: string },
) {
  if (found.rows === table.rows && found.sha === table.content_sha256) return;
  throw new BackupError(
    "content_mismatch",
    `${file} (${
      tableName(table)
    }): ${found.rows} rows with hash ${found.sha}, the manifest says ${table.rows} rows with ${table.content_sha256}`,
    { file, table: tableName(table) },
  );
}

/**
 * Decrypts and checks every file of an opened backup without writing anything anywhere.
 *
 * @throws {BackupError} naming the first file (and chunk, or table) that is wrong
 */
export async function checkBackupFiles(
  b: OpenedBackup,
  onProgress?: (p: BackupProgress) => void,
  opts: { only?: ManifestFile["kind"][] } = {},
): Promise<void> {
  const tables = new Map(b.manifest.tables.map((t) => [t.file, t]));
  for (const t of b.manifest.tables) {
    if (!b.manifest.files.some((f) => f.name === t.file && f.kind === "table")) {
      throw new BackupError("malformed", `manifest.json: ${tableName(t)} has no file ${t.file}`);
    }
  }
  let done = 0;
  const files = b.manifest.files.filter((f) => !opts.only || opts.only.includes(f.kind));
  await pool(files, 2, async (file) => {
    await checkFile(b, file, tables.get(file.name));
    onProgress?.({ phase: "check", done: ++done, total: files.length, item: file.name });
  });
}

/** The decrypted text of a small file (a dump). */
export async function sealedText(b: OpenedBackup, kind: ManifestFile["kind"]): Promise<string> {
  const file = b.manifest.files.find((f) => f.kind === kind);
  if (!file) throw new BackupError("malformed", `manifest.json: no ${kind} file`);
  const decoder = new TextDecoder();
  let text = "";
  for await (const plain of readSealedFile(b.dir, file, b.keys.file)) {
    text += decoder.decode(plain, { stream: true });
  }
  return text + decoder.decode();
}

/** A part of a restore script: SQL text, or a table's rows. */
export type ScriptPart = string | ManifestTable;

/** The bytes of a restore script: SQL text as is, each table as `COPY … FROM stdin` + rows. */
export async function* scriptBytes(
  b: OpenedBackup,
  parts: readonly ScriptPart[],
  onRows?: (table: ManifestTable, rows: number) => void,
): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  for (const part of parts) {
    if (typeof part === "string") {
      yield encoder.encode(part.endsWith("\n") ? part : `${part}\n`);
      continue;
    }
    const file = b.manifest.files.find((f) => f.name === part.file)!;
    yield encoder.encode(`${copyInSql(part)};\n`);
    // Rows go on as they authenticate; the table's hash is checked before its end marker, and
    // any failure kills psql before it can commit (see runScript).
    const hash = createHash("sha256");
    let rows = 0;
    for await (const plain of readSealedFile(b.dir, file, b.keys.file)) {
      hash.update(plain);
      const n = countNewlines(plain);
      rows += n;
      yield plain;
      onRows?.(part, n);
    }
    assertTableContent(file.name, part, { rows, sha: hash.digest("hex") });
    yield encoder.encode("\\.\n");
  }
}

/**
 * Streams a script into `psql --single-transaction` with `ON_ERROR_STOP`. If the script's
 * source fails (a chunk that does not authenticate), psql is killed before it can commit, so
 * the transaction is rolled back and nothing is restored.
 */
export async function runScript(
  dbUrl: string,
  major: number,
  script: AsyncIterable<Uint8Array>,
  what: string,
): Promise<void> {
  const p = spawnPg(
    pgBin(major, "psql"),
    ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
    { dbUrl, what, stdin: "piped", stdout: "null" },
  );
  const writer = p.process.stdin.getWriter();
  try {
    for await (const piece of script) await writer.write(piece);
  } catch (err) {
    if (err instanceof BackupError) {
      p.process.kill("SIGKILL");
      await p.done.catch(() => {});
      throw err;
    }
    // A write to a psql that stopped: its own error says why.
    await p.done;
    throw err;
  }
  await writer.close().catch(() => {});
  await p.done;
}

/**
 * Reads each table back (the same COPY as when creating) and compares its rows and content
 * hash with the manifest.
 *
 * @param opts.skip tables not compared (e.g. the audit log a restore carried forward)
 * @returns the tables that differ (empty when all match)
 */
export async function compareTables(
  dbUrl: string,
  major: number,
  tables: readonly ManifestTable[],
  opts: { skip?: Set<string>; onProgress?: (p: BackupProgress) => void } = {},
): Promise<{ table: string; rows: number; content_sha256: string; expected: ManifestTable }[]> {
  let done = 0;
  const compared = tables.filter((t) => !opts.skip?.has(tableName(t)));
  const found = await pool(compared, 2, async (t) => {
    const p = spawnPg(pgBin(major, "psql"), copyOutArgs(copyOutSql(t), null), {
      dbUrl,
      what: `read ${tableName(t)}`,
    });
    const hash = createHash("sha256");
    let rows = 0;
    for await (const piece of programOutput(p)) {
      hash.update(piece);
      rows += countNewlines(piece);
    }
    done += rows;
    opts.onProgress?.({ phase: "compare", done, total: null, item: tableName(t) });
    return { table: tableName(t), rows, content_sha256: hash.digest("hex"), expected: t };
  });
  return found.filter((f) =>
    f.rows !== f.expected.rows || f.content_sha256 !== f.expected.content_sha256
  );
}

/** Options of {@link verifyBackup}. */
export interface VerifyBackupOptions {
  /** The backup folder. */
  dir: string;
  /** The operator's key. */
  key: string;
  /** A database URL of the server the scratch database is made on (any database there). */
  dbUrl: string;
  /** Write `verified.json` into the folder (default true). */
  record?: boolean;
  onProgress?: (p: BackupProgress) => void;
}

async function serverMajor(sql: postgres.Sql): Promise<number> {
  const [{ num }] = await sql<
    { num: string }[]
  >`select current_setting('server_version_num') as num`;
  return Math.floor(Number(num) / 10000);
}

/** Restores an opened, checked backup into a fresh scratch database and compares it. */
async function scratchRestore(
  b: OpenedBackup,
  dbUrl: string,
  onProgress?: (p: BackupProgress) => void,
): Promise<number> {
  const admin = postgres(dbUrl, { max: 1, connect_timeout: 10, onnotice: () => {} });
  const name = `stagecoach_verify_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  let created = false;
  try {
    const major = await serverMajor(admin).catch((err) => {
      throw new Error(`Cannot connect to the verify server: ${maskDb(err.message, dbUrl)}`);
    });
    const [platform, platformPost, schema, schemaPost] = [
      await sealedText(b, "platform"),
      await sealedText(b, "platform_post"),
      await sealedText(b, "schema"),
      await sealedText(b, "schema_post"),
    ];
    await admin.unsafe(`create database ${ident(name)}`);
    created = true;
    const scratchUrl = withDatabaseName(dbUrl, name);
    const total = b.manifest.tables.reduce((n, t) => n + t.rows, 0);
    let rows = 0;
    const parts: ScriptPart[] = [
      replayableSchema(platform),
      replayableSchema(schema),
      "set session_replication_role = replica;",
      ...b.manifest.tables,
      setSequencesSql(b.manifest.sequences),
      "set session_replication_role = origin;",
      // Triggers on managed tables come with the covered schema (they call its functions).
      replayableSchema(platformPost, { dropTriggers: true }),
      replayableSchema(schemaPost),
    ];
    await runScript(
      scratchUrl,
      major,
      scriptBytes(b, parts, (_t, n) => {
        rows += n;
        onProgress?.({ phase: "restore", done: rows, total });
      }),
      "restore into the scratch database",
    );
    const differ = await compareTables(scratchUrl, major, b.manifest.tables, { onProgress });
    if (differ.length) {
      const d = differ[0];
      throw new BackupError(
        "content_mismatch",
        `${d.table}: restored ${d.rows} rows with hash ${d.content_sha256}, the manifest says ${d.expected.rows} rows with ${d.expected.content_sha256}${
          differ.length > 1 ? ` (and ${differ.length - 1} more tables)` : ""
        }`,
        { tables: differ.map((x) => x.table) },
      );
    }
    return b.manifest.tables.length;
  } finally {
    if (created) {
      await admin.unsafe(`drop database if exists ${ident(name)} with (force)`).catch(() => {});
    }
    await admin.end({ timeout: 2 });
  }
}

/**
 * Verifies a backup: authentic manifest, every file intact, restorable, and restoring to the
 * same rows (count and content hash per table). Writes `verified.json` into the folder.
 *
 * @returns the result; `ok: false` with the problem named (file, chunk, table or key) when
 * the backup is refused. Connection failures throw.
 * @example
 * ```ts
 * const result = await verifyBackup({ dir, key, dbUrl });
 * if (!result.ok) console.error(result.problem?.message);
 * ```
 */
export async function verifyBackup(opts: VerifyBackupOptions): Promise<VerifyResult> {
  let opened: OpenedBackup | null = null;
  let tablesChecked = 0;
  let problem: VerifyResult["problem"] = null;
  try {
    opened = await openBackup(opts.dir, opts.key);
    // The roles file is checked here; every other file is checked as it streams into the
    // scratch database, whose transaction never commits unless all of it passed.
    await checkBackupFiles(opened, opts.onProgress, { only: ["roles"] });
    tablesChecked = await scratchRestore(opened, opts.dbUrl, opts.onProgress);
  } catch (err) {
    if (!(err instanceof BackupError)) throw err;
    problem = { code: err.code, message: err.message, details: err.details };
  }
  const result: VerifyResult = {
    ok: problem === null,
    backupId: opened?.manifest.backup_id ?? null,
    manifestSha256: opened?.manifestSha256 ?? null,
    tablesChecked,
    problem,
    recordedAt: null,
  };
  if (opts.record !== false && opened) {
    const record: VerifiedRecord = {
      verified_at: new Date().toISOString(),
      ok: result.ok,
      backup_id: opened.manifest.backup_id,
      manifest_sha256: opened.manifestSha256,
      tables_checked: tablesChecked,
      problem: problem?.message ?? null,
    };
    await Deno.writeTextFile(
      join(opts.dir, "verified.json"),
      JSON.stringify(record, null, 2) + "\n",
    );
    result.recordedAt = record.verified_at;
  }
  return result;
}
