/**
 * The backup manifest (`manifest.json`) and the rules that read it. Pure: values in, values
 * out.
 *
 * A backup is a directory `<root>/<env>/<backup id>/` holding `manifest.json` (plain JSON,
 * authenticated by an HMAC under a key derived from the operator's key) and encrypted files:
 * `roles.sql.enc` (`pg_dumpall --roles-only --no-role-passwords`), `platform.sql.enc` and
 * `platform_post.sql.enc` (the schema of the Supabase-managed schemas the data needs, for the
 * scratch database of `verify`), `schema.sql.enc` and `schema_post.sql.enc` (the schemas the
 * backup covers, as `supabase db dump` chooses them; each split into pg_dump's pre-data and
 * post-data sections, so rows load before indexes and constraints) and one `tNNNN.copy.enc` per
 * table (its rows as `COPY … TO STDOUT` text, in heap order).
 * After a verification, `verified.json` records its result beside them.
 *
 * @module
 */
import { z } from "zod";
import { canonicalJson, toJsonValue } from "../../supabase/functions/_shared/json/lossless.ts";

/** The `format` every manifest carries. */
export const MANIFEST_FORMAT = "stagecoach.backup";
/** The manifest version this code writes and reads. */
export const MANIFEST_VERSION = 1;

/** Why a backup was refused. */
export type BackupErrorCode =
  | "malformed"
  | "wrong_key"
  | "manifest_tampered"
  | "missing_file"
  | "checksum_mismatch"
  | "tampered"
  | "truncated"
  | "content_mismatch"
  | "restore_refused";

/**
 * A backup that cannot be verified or restored. `message` names the file, the chunk or the
 * table; `details` never holds the key or a database password.
 */
export class BackupError extends Error {
  /** Machine-readable reason. */
  readonly code: BackupErrorCode;
  /** Facts for `--json` output: file, chunk, table, fingerprints. */
  readonly details: Record<string, unknown>;
  constructor(code: BackupErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "BackupError";
    this.code = code;
    this.details = details;
  }
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 hex digits");
const Ident = z.string().min(1).max(63);

/** One encrypted file of a backup. */
export const ManifestFile = z.object({
  name: z.string().regex(/^[a-z0-9_.-]{1,64}$/, "expected a plain file name"),
  kind: z.enum(["roles", "platform", "platform_post", "schema", "schema_post", "table"]),
  /** Bytes of the encrypted file. */
  size: z.number().int().nonnegative(),
  /** SHA-256 of the encrypted file. */
  sha256: Hex64,
  chunks: z.number().int().positive(),
  nonce_prefix: z.string().regex(/^[0-9a-f]{16}$/),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

/** One table's data. */
export const ManifestTable = z.object({
  schema: Ident,
  name: Ident,
  /** Columns copied, in order (generated columns are left out). */
  columns: z.array(Ident).min(1),
  rows: z.number().int().nonnegative(),
  /** SHA-256 of the rows' COPY text in the file's order: the content hash (see sql.ts). */
  content_sha256: Hex64,
  file: z.string(),
});
export type ManifestTable = z.infer<typeof ManifestTable>;

/** A sequence's position, set again after the data. */
export const ManifestSequence = z.object({
  schema: Ident,
  name: Ident,
  last_value: z.string().regex(/^-?\d+$/),
  is_called: z.boolean(),
});
export type ManifestSequence = z.infer<typeof ManifestSequence>;

/** An applied migration as `supabase_migrations.schema_migrations` lists it. */
export const ManifestMigration = z.object({
  version: z.string().regex(/^\d{1,20}$/),
  name: z.string().nullable(),
});
export type ManifestMigration = z.infer<typeof ManifestMigration>;

/** `manifest.json`. */
export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  backup_id: z.string().regex(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/, "expected a backup id"),
  environment: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
  created_at: z.string(),
  git_sha: z.string().regex(/^[0-9a-f]{7,64}$/).nullable(),
  server_version: z.string(),
  /** The newest applied migration, or null when none is recorded. */
  migration_version: z.string().nullable(),
  migrations: z.array(ManifestMigration),
  /** Schemas the backup covers (schema and data), replaced by a restore. */
  schemas: z.array(Ident),
  /** Supabase-managed schemas whose data (not schema) the backup holds, e.g. `auth`. */
  data_schemas: z.array(Ident),
  tables: z.array(ManifestTable),
  sequences: z.array(ManifestSequence),
  /** The backup's audit chain head (`ops.audit_chain_head`), or null without one. */
  audit_head: z.object({ last_id: z.number().int().nullable(), last_hash: z.string().nullable() })
    .nullable(),
  files: z.array(ManifestFile),
  encryption: z.object({
    alg: z.literal("AES-256-GCM"),
    chunk_size: z.number().int().positive(),
    kdf: z.object({
      alg: z.literal("PBKDF2-SHA256"),
      iterations: z.number().int(),
      salt: z.string().regex(/^[0-9a-f]{32}$/),
    }),
    key_fingerprint: z.string().regex(/^pbkdf2:[0-9a-f]{16}$/),
  }),
  /** HMAC-SHA256 (hex) of the canonical JSON of everything else. */
  hmac: Hex64,
});
export type Manifest = z.infer<typeof Manifest>;

/** A manifest before its HMAC. */
export type UnsignedManifest = Omit<Manifest, "hmac">;

/** The text the manifest's HMAC covers: canonical JSON (sorted keys) without `hmac`. */
export function manifestMacInput(manifest: UnsignedManifest | Manifest): string {
  const { hmac: _hmac, ...rest } = manifest as Manifest;
  return canonicalJson(toJsonValue(rest));
}

/**
 * Parses `manifest.json`.
 *
 * @throws {BackupError} `malformed` naming the first problem's path
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BackupError("malformed", `manifest.json is not JSON: ${(err as Error).message}`);
  }
  const parsed = Manifest.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BackupError(
      "malformed",
      `manifest.json: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
      { path: issue.path },
    );
  }
  return parsed.data;
}

/**
 * A new backup id: UTC time to the millisecond and 6 random hex digits, so ids sort by time.
 *
 * @example
 * ```ts
 * newBackupId(new Date("2026-12-02T09:30:00Z"), "a1b2c3"); // "20261202T093000000Z-a1b2c3"
 * ```
 */
export function newBackupId(now: Date, random: string): string {
  const stamp = now.toISOString().replace(/[-:.]/g, "");
  return `${stamp}-${random}`;
}

/**
 * The backups retention removes: all but the newest `keep` (ids sort by time).
 *
 * @example
 * ```ts
 * backupsToRemove(["20261201T000000000Z-aaaaaa", "20261202T000000000Z-bbbbbb"], 1); // ["20261201T000000000Z-aaaaaa"]
 * ```
 */
export function backupsToRemove(ids: readonly string[], keep: number): string[] {
  const sorted = [...ids].sort();
  return sorted.slice(0, Math.max(0, sorted.length - keep));
}

/**
 * What `supabase migration repair` must mark so the history lists exactly the backup's
 * migrations.
 *
 * @example
 * ```ts
 * repairPlan(["1", "2"], ["1", "3"]); // { applied: ["2"], reverted: ["3"] }
 * ```
 */
export function repairPlan(
  wanted: readonly string[],
  current: readonly string[],
): { applied: string[]; reverted: string[] } {
  const have = new Set(current);
  const want = new Set(wanted);
  return {
    applied: wanted.filter((v) => !have.has(v)),
    reverted: current.filter((v) => !want.has(v)),
  };
}

/** A table's qualified name as people read it. */
export function tableName(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}
