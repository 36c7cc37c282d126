/**
 * Scope `restore`: the permission to restore one named, verified backup into the promotion's
 * target, run by `stagecoach backup restore <dir> --env <env> --promotion <id>` while the
 * promotion is approved. The plan carries one change that names the backup exactly (id and
 * SHA-256 of its manifest), always high risk; the apply writes nothing for it (the restore
 * does the work).
 *
 * @module
 */
import { z } from "zod";
import type { Plan, PlanChange } from "./plan.ts";

/** The plan change kind of a backup restore. */
export const BACKUP_RESTORE_KIND = "backup_restore" as const;

/** The backup a restore plan names (wire fields, as the plan request carries them). */
export const RestoreBackup = z.object({
  backup_id: z.string().regex(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/, "expected a backup id"),
  manifest_sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 hex digits"),
  environment: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/),
  created_at: z.string().max(64),
  migration_version: z.string().regex(/^\d{1,20}$/).nullable(),
});
/** A backup named by a restore plan. */
export type RestoreBackup = z.infer<typeof RestoreBackup>;

/**
 * The plan change that asks for one restore of `backup` into `target`.
 *
 * @example
 * ```ts
 * backupRestoreChange(backup, "production").key; // backup.backup_id
 * ```
 */
export function backupRestoreChange(backup: RestoreBackup, target: string): PlanChange {
  return {
    kind: BACKUP_RESTORE_KIND,
    key: backup.backup_id,
    action: "update",
    risk: "high",
    reasons: [
      `allows one restore of backup ${backup.backup_id} (made in ${backup.environment} at ${backup.created_at}, migration ${
        backup.migration_version ?? "none"
      }) into ${target}: the schemas it covers and their data are replaced`,
    ],
    before: null,
    after: { ...backup },
  };
}

/**
 * Why a plan does not allow restoring this backup, or null when its one change names it
 * (backup id and manifest SHA-256).
 *
 * @example
 * ```ts
 * restorePlanMismatch(plan, { backup_id: "…", manifest_sha256: "…" }); // null when it matches
 * ```
 */
export function restorePlanMismatch(
  plan: Pick<Plan, "changes">,
  backup: { backup_id: string; manifest_sha256: string },
): string | null {
  const restores = plan.changes.filter((c) => c.kind === BACKUP_RESTORE_KIND);
  if (restores.length !== 1) {
    return `its plan has ${restores.length} backup restore changes, not exactly one`;
  }
  const after = (restores[0].after ?? {}) as Record<string, unknown>;
  if (restores[0].key !== backup.backup_id || after.backup_id !== backup.backup_id) {
    return `it allows restoring backup ${restores[0].key}, not ${backup.backup_id}`;
  }
  if (after.manifest_sha256 !== backup.manifest_sha256) {
    return `it names manifest ${
      String(after.manifest_sha256)
    }, not this backup's ${backup.manifest_sha256}`;
  }
  return null;
}
