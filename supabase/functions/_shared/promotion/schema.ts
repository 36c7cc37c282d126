/**
 * Schema as part of what is approved (promotion scope `schema`). The migrations pending in
 * the target are listed by whoever plans (the release CLI has the repository's files; an
 * Edge Function does not), each with the SHA-256 of the file's bytes and the findings of the
 * migration linter. They become plan changes of kind `schema_migrations`, so they are part of
 * the plan hash: an approval covers exactly that schema. A finding makes its change high risk.
 *
 * Migrations are pushed by the Supabase CLI (`supabase db push`), not by the apply: at apply
 * the recorded changes are carried over unchanged once every one of them is in the target's
 * migration history, and refused (`schema_not_pushed`) otherwise. Whether the files are still
 * the approved ones is checked where the files are, before pushing (the release CLI, which
 * stops with `plan_drift`).
 *
 * @module
 */
import { z } from "zod";
import type postgres from "postgres";
import { ApiError } from "../http.ts";
import { type JsonObject, toJsonValue } from "../json/lossless.ts";
import type { PlanChange } from "./plan.ts";

/** The plan change kind of a pending migration. */
export const SCHEMA_KIND = "schema_migrations" as const;

/** One finding of the migration linter. */
export const LintFinding = z.object({
  rule: z.string().min(1).max(100),
  file: z.string().min(1).max(300),
  line: z.number().int().min(1),
  message: z.string().min(1).max(2000),
  source: z.enum(["squawk", "stagecoach"]),
});
/** A finding, as planned. */
export type LintFinding = z.infer<typeof LintFinding>;

const Sha256 = z.string().regex(
  /^[0-9a-f]{64}$/,
  "expected the SHA-256 of the file (64 hex digits)",
);

/**
 * A migration's revert script (`supabase/rollbacks/<version>_<name>.sql`): its path, the
 * SHA-256 of its bytes, and whether it declares that it loses data (`-- stagecoach:
 * loses-data <reason>`), in which case the migration is undone only by a restore. A revert
 * that drops only transient state (`-- stagecoach: transient <reason>`) does not lose data;
 * its `reason` reads `transient: <reason>`.
 */
export const MigrationRevert = z.object({
  file: z.string().min(1).max(300),
  sha256: Sha256,
  loses_data: z.boolean(),
  reason: z.string().min(1).max(2000).optional(),
});
/** A revert script, as planned. */
export type MigrationRevert = z.infer<typeof MigrationRevert>;

/**
 * A migration pending in the target, as the planner sends it. `revert` is the migration's
 * revert script, `null` when it has none (at or before the rollback baseline), absent from
 * plans made before revert scripts were planned (their hash stays as it was).
 */
export const PendingMigration = z.object({
  version: z.string().regex(/^\d{1,20}$/, "expected the migration's leading digits"),
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, "expected the migration's name"),
  sha256: Sha256,
  findings: z.array(LintFinding).max(1000).default([]),
  revert: MigrationRevert.nullable().optional(),
});
/** A pending migration. */
export type PendingMigration = z.infer<typeof PendingMigration>;

/** What a restore is: the one way back for a migration without a clean revert. */
const RESTORE_ONLY = "undone only by restoring the pre-release backup";

/** Why a migration is undone only by a restore, or null when its revert script undoes it. */
export function restoreOnlyReason(m: PendingMigration): string | null {
  if (m.revert === undefined) return null;
  if (m.revert === null) return `no revert script: ${RESTORE_ONLY}`;
  if (!m.revert.loses_data) return null;
  return `revert loses data${m.revert.reason ? ` (${m.revert.reason})` : ""}: ${RESTORE_ONLY}`;
}

/**
 * The plan changes of pending migrations, in version order. A lint finding, or a migration
 * undone only by a restore (no revert script, or one that loses data), makes its change high
 * risk. The revert script (path and SHA-256) is part of `after`, so the plan hash and an
 * approval cover it too; it is left out when the planner sent no `revert`.
 *
 * @example
 * ```ts
 * schemaChanges([{ version: "20261203000100", name: "add_x", sha256: "ab…", findings: [] }]);
 * // [{ kind: "schema_migrations", key: "20261203000100_add_x", action: "create", risk: "low", … }]
 * ```
 */
export function schemaChanges(migrations: readonly PendingMigration[]): PlanChange[] {
  return [...migrations].sort((a, b) => compareVersions(a.version, b.version)).map((m) => {
    const restoreOnly = restoreOnlyReason(m);
    const reasons = [
      ...m.findings.map((f) => `${f.source} ${f.rule} at ${f.file}:${f.line}: ${f.message}`),
      ...(restoreOnly ? [restoreOnly] : []),
    ];
    return {
      kind: SCHEMA_KIND,
      key: `${m.version}_${m.name}`,
      action: "create",
      risk: reasons.length ? "high" : "low",
      reasons: reasons.length ? reasons : ["pending migration"],
      before: null,
      after: toJsonValue({
        version: m.version,
        name: m.name,
        sha256: m.sha256,
        findings: m.findings,
        ...(m.revert === undefined ? {} : { revert: m.revert }),
      }) as JsonObject,
    };
  });
}

/** The pending migrations a plan's schema changes stand for (to carry them at apply). */
export function migrationsOf(changes: readonly PlanChange[]): PendingMigration[] {
  return changes.filter((c) => c.kind === SCHEMA_KIND).map((c) =>
    PendingMigration.parse(JSON.parse(JSON.stringify(c.after)))
  );
}

function compareVersions(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The versions in a database's migration history (none when it has no history table). */
export async function appliedVersions(
  db: postgres.Sql | postgres.TransactionSql,
): Promise<Set<string>> {
  const [{ exists }] = await db<{ exists: boolean }[]>`
    select to_regclass('supabase_migrations.schema_migrations') is not null as exists`;
  if (!exists) return new Set();
  const rows = await db<{ version: string }[]>`
    select version from supabase_migrations.schema_migrations`;
  return new Set(rows.map((r) => r.version));
}

/**
 * Refuses a plan that lists a migration the target already has (the list is stale).
 *
 * @throws {ApiError} 409 `schema_already_applied` naming them
 */
export function assertPending(applied: Set<string>, migrations: readonly PendingMigration[]): void {
  const done = migrations.filter((m) => applied.has(m.version));
  if (done.length) {
    throw new ApiError(
      409,
      "schema_already_applied",
      `Cannot plan these migrations: the target already has ${
        done.map((m) => `${m.version}_${m.name}`).join(", ")
      }; list what is pending again`,
      { applied: done.map((m) => m.version) },
    );
  }
}

/**
 * Refuses an apply whose approved migrations are not all in the target's history yet.
 *
 * @throws {ApiError} 409 `schema_not_pushed` naming them
 */
export function assertPushed(applied: Set<string>, migrations: readonly PendingMigration[]): void {
  const missing = migrations.filter((m) => !applied.has(m.version));
  if (missing.length) {
    throw new ApiError(
      409,
      "schema_not_pushed",
      `Cannot apply: the approved migrations ${
        missing.map((m) => `${m.version}_${m.name}`).join(", ")
      } are not in the target yet; push them first (supabase db push)`,
      { missing: missing.map((m) => m.version) },
    );
  }
}
