import assert from "node:assert/strict";
import { backupRestoreChange, restorePlanMismatch } from "./restore_scope.ts";

const backup = {
  backup_id: "20261202T093005000Z-a1b2c3",
  manifest_sha256: "a".repeat(64),
  environment: "production",
  created_at: "2026-12-02T09:30:05.123Z",
  migration_version: "20261204000100",
};

Deno.test("backupRestoreChange is one high-risk change keyed by the backup id", () => {
  const c = backupRestoreChange(backup, "production");
  assert.deepEqual([c.kind, c.key, c.risk, c.after], [
    "backup_restore",
    backup.backup_id,
    "high",
    backup,
  ]);
});

Deno.test("restorePlanMismatch accepts only the plan naming this backup", () => {
  const plan = { changes: [backupRestoreChange(backup, "production")] };
  assert.equal(restorePlanMismatch(plan, backup), null);
  assert.match(
    restorePlanMismatch(plan, { ...backup, backup_id: "20261202T093005000Z-ffffff" })!,
    /allows restoring backup 20261202T093005000Z-a1b2c3, not/,
  );
  assert.match(
    restorePlanMismatch(plan, { ...backup, manifest_sha256: "b".repeat(64) })!,
    /names manifest a+, not this backup's b+/,
  );
  assert.match(restorePlanMismatch({ changes: [] }, backup)!, /0 backup restore changes/);
});
