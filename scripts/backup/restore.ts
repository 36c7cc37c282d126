/**
 * `restoreBackup`: puts an environment back to a backup.
 *
 * Phases: **open** (key and manifest HMAC) → **gate** (an environment whose policy asks
 * approvals for high-risk changes (`ops.environments.high_risk_approvals > 0`) is restored only
 * through an approved promotion with scope `restore` whose one change names this backup) → **compare** (already equal to the
 * backup: nothing more is done) → **verify** (the whole of `verifyBackup`: nothing is restored
 * from a backup that does not verify) → **restore** (one `psql --single-transaction` with
 * `ON_ERROR_STOP`: roles that are missing, the covered schemas dropped and recreated, the rows
 * loaded with `session_replication_role = replica`, sequences set, the audit log carried
 * forward and a `backup.restored` entry appended) → **repair** (`supabase migration repair` so
 * the history lists exactly the backup's migrations).
 *
 * The audit log: the backup's log is a prefix of the current one (the log is append-only), so
 * the current log is kept whole and the entries made after the backup follow the restored ones;
 * the chain continues unbroken, and the restore's own entry comes last (see `sql.ts`
 * `auditCarrySql`).
 *
 * @module
 */
import postgres from "postgres";
import { restorePlanMismatch } from "../../supabase/functions/_shared/promotion/restore_scope.ts";
import type { Plan } from "../../supabase/functions/_shared/promotion/plan.ts";
import { appliedMigrations, coveredSchemas } from "./catalog.ts";
import type { BackupProgress } from "./create.ts";
import { BackupError, repairPlan } from "./manifest.ts";
import { maskDb } from "./pg.ts";
import {
  auditCarrySql,
  DATA_ONLY_SCHEMAS,
  qualified,
  replayableSchema,
  restoredAuditSql,
  restorePrologueSql,
  setSequencesSql,
  tolerantRoles,
} from "./sql.ts";
import {
  compareTables,
  openBackup,
  type OpenedBackup,
  runScript,
  scriptBytes,
  type ScriptPart,
  sealedText,
  verifyBackup,
} from "./verify.ts";

/** Tables a restore carries forward instead of replacing (see the module comment). */
export const CARRIED_TABLES = new Set(["ops.audit_log", "ops.audit_chain_head"]);

/**
 * Liveness rows (the worker's heartbeat, written every minute): a restore replaces them like
 * any row, but they do not make an environment differ from a backup it was just restored from.
 */
const LIVENESS_TABLES = ["ops.heartbeats"];

/** Marks migration versions in the target's history (`supabase migration repair`). */
export type MigrationRepair = (
  status: "applied" | "reverted",
  versions: string[],
) => Promise<unknown>;

/** Options of {@link restoreBackup}. */
export interface RestoreBackupOptions {
  dir: string;
  key: string;
  /** The environment restored into; it must be the one the backup was made in. */
  environment: string;
  dbUrl: string;
  /** `supabase migration repair` against the environment. */
  repair: MigrationRepair;
  /** An approved promotion with scope `restore` naming this backup (required by policy). */
  promotionId?: string;
  /** Who restores, for the audit entry (e.g. `cli:alice@host`). */
  who: string;
  onProgress?: (p: BackupProgress) => void;
}

/** What {@link restoreBackup} did. */
export interface RestoreResult {
  backupId: string;
  manifestSha256: string;
  /** False when the environment already matched the backup (nothing was written). */
  changed: boolean;
  repaired: { applied: string[]; reverted: string[] };
  promotionId: string | null;
  /** Tables that differed from the backup when read right after the restore committed. */
  differences: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks that the environment's policy lets this backup be restored: no approvals asked for
 * high-risk changes, or `promotionId` names an approved (or applying), unexpired promotion
 * into this environment with scope `restore` whose one change names this backup.
 *
 * @returns the promotion id used, or null when none was needed
 * @throws {BackupError} `restore_refused` saying which condition failed
 */
export async function assertRestoreAllowed(
  sql: postgres.Sql,
  opts: { environment: string; backupId: string; manifestSha256: string; promotionId?: string },
): Promise<string | null> {
  const [policy] = await sql<{ high_risk_approvals: number }[]>`
    select high_risk_approvals from ops.environments where is_self and
      to_regclass('ops.environments') is not null`.catch(() => []);
  if (!policy || policy.high_risk_approvals <= 0) return opts.promotionId ?? null;
  const id = opts.promotionId;
  if (!id) {
    throw new BackupError(
      "restore_refused",
      `Cannot restore into ${opts.environment}: its policy asks approval for high-risk changes; plan one with \`backup restore … --plan\` and pass --promotion <id> once approved`,
    );
  }
  const refuse = (why: string) =>
    new BackupError("restore_refused", `Cannot restore with promotion ${id}: ${why}`, {
      promotion_id: id,
    });
  if (!UUID.test(id)) throw refuse("it is not a promotion id (uuid)");
  const [row] = await sql<
    { status: string; target_env: string; scope: string[]; plan: Plan; expired: boolean }[]
  >`
    select status::text, target_env, scope, plan,
           coalesce(expires_at <= now(), false) as expired
    from ops.promotions where id = ${id}::uuid`;
  if (!row) throw refuse(`no such promotion in ${opts.environment}`);
  if (!["approved", "applying"].includes(row.status)) {
    throw refuse(`its status is ${row.status}, not approved`);
  }
  if (row.expired) throw refuse("its approval has expired");
  if (row.target_env !== opts.environment) {
    throw refuse(`it targets ${row.target_env}, not ${opts.environment}`);
  }
  if (!row.scope.includes("restore")) {
    throw refuse(`its scope (${row.scope.join(", ")}) does not include restore`);
  }
  const mismatch = restorePlanMismatch(row.plan, {
    backup_id: opts.backupId,
    manifest_sha256: opts.manifestSha256,
  });
  if (mismatch) throw refuse(mismatch);
  return id;
}

/** The script that replaces the environment's covered schemas with the backup's. */
async function restoreParts(
  b: OpenedBackup,
  current: { schemas: string[] },
  audit: { who: string; environment: string; promotionId: string | null },
): Promise<ScriptPart[]> {
  const m = b.manifest;
  const dataOnly = new Set<string>(DATA_ONLY_SCHEMAS);
  const truncate = m.tables.filter((t) => dataOnly.has(t.schema));
  const drop = [...new Set([...m.schemas, ...current.schemas])];
  return [
    tolerantRoles(await sealedText(b, "roles")),
    restorePrologueSql({ dropSchemas: drop }),
    // Emptied once the covered tables (which reference them) are gone.
    ...(truncate.length ? [`truncate ${truncate.map(qualified).join(", ")};`] : []),
    replayableSchema(await sealedText(b, "schema")),
    "set session_replication_role = replica;",
    ...m.tables,
    setSequencesSql(m.sequences),
    "set session_replication_role = origin;",
    replayableSchema(await sealedText(b, "schema_post")),
    auditCarrySql(),
    restoredAuditSql({
      backupId: m.backup_id,
      manifestSha256: b.manifestSha256,
      environment: audit.environment,
      who: audit.who,
      promotionId: audit.promotionId,
    }),
  ];
}

/**
 * Restores a backup into the environment it was made in.
 *
 * @throws {BackupError} when the backup does not verify, is another environment's, or the
 * policy refuses (nothing is restored then); {@link Error} "Cannot …" when psql or the
 * Supabase CLI fails (the restore transaction is rolled back)
 * @example
 * ```ts
 * await restoreBackup({ dir, key, environment: "staging", dbUrl, repair, who: "cli:alice" });
 * ```
 */
export async function restoreBackup(opts: RestoreBackupOptions): Promise<RestoreResult> {
  // Authorize first (key, manifest, environment, policy), then verify, then act.
  const b = await openBackup(opts.dir, opts.key);
  const m = b.manifest;
  if (m.environment !== opts.environment) {
    throw new BackupError(
      "restore_refused",
      `Cannot restore backup ${m.backup_id} into ${opts.environment}: it was made in ${m.environment} (a backup is restored only where it was made)`,
    );
  }
  const sql = postgres(opts.dbUrl, { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    await sql`select 1`.catch((err) => {
      throw new Error(`Cannot connect to ${opts.environment}: ${maskDb(err.message, opts.dbUrl)}`);
    });
    const promotionId = await assertRestoreAllowed(sql, {
      environment: opts.environment,
      backupId: m.backup_id,
      manifestSha256: b.manifestSha256,
      promotionId: opts.promotionId,
    });
    const major = Math.floor(Number(m.server_version.split(".")[0]));
    const wanted = m.migrations.map((x) => x.version);
    const historyNow = (await appliedMigrations(sql)).map((x) => x.version);
    // A table the schema lacks now (a migration since) reads as a difference.
    const differ = await compareTables(opts.dbUrl, major, m.tables, {
      skip: new Set([...CARRIED_TABLES, ...LIVENESS_TABLES]),
    }).then((d) => d.length, () => 1);
    const schemasNow = await coveredSchemas(sql);
    const sameSchemas = schemasNow.join() === [...m.schemas].sort().join();
    const repair = repairPlan(wanted, historyNow);
    if (
      differ === 0 && sameSchemas && !repair.applied.length && !repair.reverted.length
    ) {
      return {
        differences: [],
        backupId: m.backup_id,
        manifestSha256: b.manifestSha256,
        changed: false,
        repaired: repair,
        promotionId,
      };
    }
    const verified = await verifyBackup({
      dir: opts.dir,
      key: opts.key,
      dbUrl: opts.dbUrl,
      onProgress: opts.onProgress,
    });
    if (!verified.ok || verified.manifestSha256 !== b.manifestSha256) {
      const p = verified.problem ?? {
        code: "manifest_tampered",
        message: "manifest.json changed during the restore",
        details: {},
      };
      throw new BackupError(
        p.code as BackupError["code"],
        `Cannot restore: ${p.message}`,
        p.details,
      );
    }
    const total = m.tables.reduce((n, t) => n + t.rows, 0);
    let rows = 0;
    const parts = await restoreParts(b, { schemas: schemasNow }, {
      who: opts.who,
      environment: opts.environment,
      promotionId,
    });
    await runScript(
      opts.dbUrl,
      major,
      scriptBytes(b, parts, (_t, n) => {
        rows += n;
        opts.onProgress?.({ phase: "restore", done: rows, total });
      }),
      `restore ${m.backup_id} into ${opts.environment}`,
    );
    if (repair.reverted.length) await opts.repair("reverted", repair.reverted);
    if (repair.applied.length) await opts.repair("applied", repair.applied);
    // Read after the commit: a live environment may already have written again (a worker's
    // heartbeat), so differences are reported, not fatal.
    const after = await compareTables(opts.dbUrl, major, m.tables, { skip: CARRIED_TABLES });
    return {
      backupId: m.backup_id,
      manifestSha256: b.manifestSha256,
      changed: true,
      repaired: repair,
      promotionId,
      differences: after.map((d) => d.table),
    };
  } finally {
    await sql.end({ timeout: 2 });
  }
}
