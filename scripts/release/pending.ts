/**
 * The migrations pending in a target, as a release plans them: every file of
 * `supabase/migrations` the target's history lacks (`migrations.ts`), with the SHA-256 of its
 * bytes, its revert script (`reverts.ts`: path, SHA-256, whether it loses data; `null` when
 * it has none) and the findings of the migration linter on it and of the revert check on its
 * revert (paths relative to the repository).
 *
 * @module
 */
import { join } from "node:path";
import type postgres from "postgres";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import {
  lintMigrations,
  pendingMigrations as notApplied,
  readAppliedVersions,
} from "./migrations.ts";
import { readReverts } from "./reverts.ts";

/**
 * The pending migrations of the checkout at `repoRoot` against the target `db`, linted, each
 * with its revert script.
 *
 * @example
 * ```ts
 * const pending = await pendingMigrations(REPO_ROOT, targetSql);
 * pending[0]; // { version, name, sha256, findings: [{ rule, file, line, message, source }],
 * //              revert: { file, sha256, loses_data } | null }
 * ```
 */
export async function pendingMigrations(
  repoRoot: string,
  db: postgres.Sql,
): Promise<PendingMigration[]> {
  const { migrations } = await readReverts(repoRoot);
  const pending = notApplied(migrations, await readAppliedVersions(db));
  const findings = await lintMigrations(
    pending.map((m) => ({ ...m, file: join(repoRoot, m.file) })),
  );
  return pending.map((m) => ({
    version: m.version,
    name: m.name,
    sha256: m.sha256,
    findings: [
      ...findings.filter((f) => f.file === join(repoRoot, m.file)).map((f) => ({
        ...f,
        file: m.file,
      })),
      ...m.revertFindings,
    ],
    revert: m.revert,
  }));
}
