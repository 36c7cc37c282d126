/**
 * The migrations pending in a target, as a release plans them: every file of
 * `supabase/migrations` the target's history lacks (`migrations.ts`), with the SHA-256 of its
 * bytes and the findings of the migration linter on it (paths relative to the repository).
 *
 * @module
 */
import { join, relative } from "node:path";
import type postgres from "postgres";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import {
  lintMigrations,
  listMigrations,
  pendingMigrations as notApplied,
  readAppliedVersions,
} from "./migrations.ts";

/**
 * The pending migrations of the checkout at `repoRoot` against the target `db`, linted.
 *
 * @example
 * ```ts
 * const pending = await pendingMigrations(REPO_ROOT, targetSql);
 * pending[0]; // { version, name, sha256, findings: [{ rule, file, line, message, source }] }
 * ```
 */
export async function pendingMigrations(
  repoRoot: string,
  db: postgres.Sql,
): Promise<PendingMigration[]> {
  const all = await listMigrations(join(repoRoot, "supabase/migrations"));
  const pending = notApplied(all, await readAppliedVersions(db));
  const findings = await lintMigrations(pending);
  return pending.map((m) => ({
    version: m.version,
    name: m.name,
    sha256: m.sha256,
    findings: findings.filter((f) => f.file === m.file).map((f) => ({
      ...f,
      file: relative(repoRoot, f.file),
    })),
  }));
}
