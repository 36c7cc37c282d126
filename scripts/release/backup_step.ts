/**
 * The release's `backup` step: before a release changes a production environment, a backup of
 * its database is created (`scripts/backup/create.ts`), verified by restoring it into a scratch
 * database and comparing every table's content hash (`verify.ts`), and recorded on the release
 * (`ops.record_release_backup`: id, manifest SHA-256, key fingerprint, folder, tables, rows).
 * A backup that does not verify stops the release before anything changed.
 *
 * @module
 */
import type postgres from "postgres";
import { createBackup } from "../backup/create.ts";
import { backupRoot } from "../backup/list.ts";
import { verifyBackup } from "../backup/verify.ts";
import { ReleaseStepError } from "./release.ts";

/** What the step needs. */
export interface ReleaseBackupOptions {
  releaseId: string;
  environment: string;
  dbUrl: string;
  /** The operator's backup key (never printed or stored; only its fingerprint). */
  key: () => Promise<string>;
  gitSha: string;
  log(line: string): void;
}

/** What the step recorded (also the workflow's `backup_dir` / `backup_id` outputs). */
export interface ReleaseBackup {
  id: string;
  dir: string;
  manifest_sha256: string;
  key_fingerprint: string;
  migration_version: string | null;
  tables: number;
  rows: number;
  verified_at: string;
}

/**
 * Creates, verifies and records the pre-release backup.
 *
 * @throws {ReleaseStepError} `backup_unverified` naming what the verification refused
 */
export async function takeReleaseBackup(
  db: postgres.Sql,
  opts: ReleaseBackupOptions,
): Promise<{ summary: string; backup: ReleaseBackup }> {
  const key = await opts.key();
  const phases = new Set<string>();
  const onProgress = (p: { phase: string }) => {
    if (!phases.has(p.phase)) opts.log(`backup: ${p.phase}`);
    phases.add(p.phase);
  };
  const created = await createBackup({
    environment: opts.environment,
    dbUrl: opts.dbUrl,
    key,
    root: backupRoot(),
    gitSha: opts.gitSha,
    onProgress,
  });
  const verified = await verifyBackup({ dir: created.dir, key, dbUrl: opts.dbUrl, onProgress });
  if (!verified.ok) {
    throw new ReleaseStepError(
      "backup_unverified",
      `Cannot release: the pre-release backup ${created.manifest.backup_id} did not verify: ${verified.problem?.message}`,
    );
  }
  const m = created.manifest;
  const backup: ReleaseBackup = {
    id: m.backup_id,
    dir: created.dir,
    manifest_sha256: created.manifestSha256,
    key_fingerprint: m.encryption.key_fingerprint,
    migration_version: m.migration_version ?? null,
    tables: m.tables.length,
    rows: m.tables.reduce((n, t) => n + t.rows, 0),
    verified_at: verified.recordedAt ?? new Date().toISOString(),
  };
  const [{ ok }] = await db<{ ok: boolean }[]>`
    select to_regprocedure('ops.record_release_backup(uuid,jsonb)') is not null as ok`;
  if (ok && /^[0-9a-f-]{36}$/.test(opts.releaseId)) {
    await db`select 1 from ops.record_release_backup(${opts.releaseId}::uuid, ${
      JSON.stringify(backup)
    }::text::jsonb)`;
  }
  return {
    summary:
      `backup ${backup.id} verified (${backup.tables} tables, ${backup.rows} rows, key ${backup.key_fingerprint}) in ${backup.dir}`,
    backup,
  };
}
