/**
 * Rolling a release back, from what the release recorded in its target (never from a
 * checkout): first its data promotion from the promotion's snapshots, then the revert scripts
 * of its migrations (`ops.release_reverts`) in reverse order, all in ONE transaction with the
 * repair of the migration history (the rows `supabase migration repair --status reverted`
 * deletes) and the record on the release — so a failing revert leaves the schema and the
 * history as they were.
 *
 * A migration without a revert script, or whose revert loses data (`-- stagecoach:
 * loses-data`), is undone only by restoring the backup the release took: a manual rollback is
 * then refused before anything changes, naming the restore command; the watch rolls the data
 * back (it cannot wait) and stops there, with the same command in its notification.
 *
 * Used by `stagecoach release rollback` and by the `release.watch` job (ops-worker or CLI).
 * Re-running changes nothing: a rolled-back promotion stays rolled back, and only migrations
 * still in the history are reverted.
 *
 * @module
 */
import type { CallerClaims } from "../auth.ts";
import type { Sql, Tx } from "../db.ts";
import { rollbackPromotionAsSystem } from "../promotion/service.ts";
import { stripeCatalogFromEnv } from "../stripe/catalog_sync.ts";

/** A recorded revert script. */
export interface ReleaseRevert {
  version: string;
  name: string;
  sql: string | null;
  sha256: string | null;
  loses_data: boolean;
  reason: string | null;
}

/** What a rollback did. */
export interface RollbackOutcome {
  /** `rolled_back`: data and schema; `needs_restore`: data only, the schema needs the backup. */
  outcome: "rolled_back" | "needs_restore";
  data: { promotion_id: string; restored_rows: number; changed: boolean } | null;
  /** Migrations reverted (newest first), or null when the schema was left for a restore. */
  schema: { reverted: string[] } | null;
  /** Migrations only a restore undoes, with why. */
  blocked: string[];
  restore_command?: string;
}

/** A rollback that cannot be done (nothing was changed by the step that refused). */
export class ReleaseRollbackError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "ReleaseRollbackError";
    this.code = code;
  }
}

/** What a rollback reads of the release. */
export interface RollbackRelease {
  id: string;
  environment: string;
  status: string;
  promotion_id: string | null;
  backup: { id?: string; dir?: string; manifest_sha256?: string } | null;
}

/** How a rollback reverts the release's data promotion (as the caller or the system). */
export type RevertData = (
  promotionId: string,
) => Promise<{ restored_rows: number; changed: boolean }>;

/**
 * The system's way to revert a release's promotion (the watch; an approved `release
 * rollback`): as the database owner, the Stripe catalog reverted with the target's Stripe key
 * when the promotion changed it.
 *
 * @param stripeEnv `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE`, `STRIPE_WEBHOOK_SECRET`)
 * @param supabaseUrl the target's API URL (the catalog's webhook endpoint is under it)
 */
export function systemRevertData(
  sql: Sql,
  opts: { targetEnv: string; stripeEnv: Record<string, string | undefined>; supabaseUrl: string },
): RevertData {
  const stripe = stripeCatalogFromEnv(opts.stripeEnv, opts.supabaseUrl);
  return (promotionId) =>
    rollbackPromotionAsSystem({
      targetEnv: opts.targetEnv,
      target: sql,
      sourceDb: (name) => {
        throw new Error(`Cannot read ${name}: a rollback reads no source`);
      },
      claims: { role: "service_role" } as CallerClaims,
      customChecks: () => Promise.resolve([]),
      external: stripe ? { stripe: stripe(sql) } : undefined,
    }, promotionId);
}

/**
 * The command that restores the backup a release took.
 *
 * @example
 * ```ts
 * restoreCommand({ environment: "production", backup: { id: "b1", dir: "backups/production/b1" } });
 * // "stagecoach backup restore backups/production/b1 --env production"
 * ```
 */
export function restoreCommand(r: Pick<RollbackRelease, "environment" | "backup">): string {
  const where = r.backup?.dir ?? (r.backup?.id ? `<folder of backup ${r.backup.id}>` : null);
  return where
    ? `stagecoach backup restore ${where} --env ${r.environment}`
    : `stagecoach backup restore <a backup taken before this release> --env ${r.environment}`;
}

/** The migrations only a restore undoes, each with why. */
export function blockedReverts(reverts: readonly ReleaseRevert[]): string[] {
  return reverts.filter((r) => r.sql === null || r.loses_data).map((r) =>
    `${r.version}_${r.name}: ${
      r.sql === null
        ? "no revert script"
        : `its revert loses data${r.reason ? ` (${r.reason})` : ""}`
    }`
  );
}

/** Reads the release and its revert scripts (as the database owner). */
export async function loadRollbackRelease(
  sql: Sql | Tx,
  releaseId: string,
): Promise<{ release: RollbackRelease; reverts: ReleaseRevert[] }> {
  const [release] = await sql<RollbackRelease[]>`
    select id::text, environment, status, promotion_id::text, backup
    from ops.releases where id = ${releaseId}::uuid`;
  if (!release) {
    throw new ReleaseRollbackError(
      "not_found",
      `Cannot roll back release ${releaseId}: no such release`,
    );
  }
  const reverts = await sql<ReleaseRevert[]>`
    select version, name, sql, sha256, loses_data, reason
    from ops.release_reverts where release_id = ${releaseId}::uuid order by version`;
  return { release, reverts: [...reverts] };
}

/**
 * Rolls a release back: data, then schema (see the module comment).
 *
 * @param sql the target's database as its owner
 * @param opts `trigger`: who decided (`watch` or `manual`), `by` who acts (recorded),
 *   `revertData` how the promotion is reverted
 * @throws {ReleaseRollbackError} `restore_required` (manual, a revert loses data: nothing
 *   done), `later_migrations` (migrations applied after the release's: schema untouched)
 */
export async function rollbackRelease(
  sql: Sql,
  opts: {
    releaseId: string;
    trigger: "watch" | "manual";
    by: string;
    revertData: RevertData;
    log?: (line: string) => void;
  },
): Promise<RollbackOutcome> {
  const log = opts.log ?? (() => {});
  const { release, reverts } = await loadRollbackRelease(sql, opts.releaseId);
  const blocked = blockedReverts(reverts);
  const command = restoreCommand(release);
  if (opts.trigger === "manual" && blocked.length) {
    throw new ReleaseRollbackError(
      "restore_required",
      `Cannot roll back release ${release.id}: ${
        blocked.join("; ")
      }. Nothing was changed; restore the backup taken before the release instead: ${command}`,
    );
  }
  const record = (tx: Sql | Tx, what: Record<string, unknown>) =>
    tx`select 1 from ops.record_release_rollback(${release.id}::uuid, ${
      JSON.stringify({ trigger: opts.trigger, by: opts.by, ...what })
    }::text::jsonb)`;

  let data: RollbackOutcome["data"] = null;
  if (release.promotion_id) {
    const [p] = await sql<{ status: string }[]>`
      select status::text from ops.promotions where id = ${release.promotion_id}::uuid`;
    if (p?.status === "succeeded" || p?.status === "rolled_back") {
      const out = await opts.revertData(release.promotion_id);
      data = { promotion_id: release.promotion_id, ...out };
      log(
        `data: promotion ${release.promotion_id} ${
          out.changed
            ? `rolled back (${out.restored_rows} row(s) restored)`
            : "was already rolled back"
        }`,
      );
    } else {
      log(`data: promotion ${release.promotion_id} is ${p?.status ?? "gone"}; nothing to revert`);
    }
    await record(sql, { data, data_at: new Date().toISOString() });
  }

  if (blocked.length) {
    await record(sql, { schema: null, blocked, restore_command: command });
    log(`schema: left as it is — ${blocked.join("; ")}; restore with: ${command}`);
    return { outcome: "needs_restore", data, schema: null, blocked, restore_command: command };
  }
  const reverted = await revertSchema(sql, release, reverts, record);
  log(reverted.length ? `schema: reverted ${reverted.join(", ")}` : "schema: nothing to revert");
  return { outcome: "rolled_back", data, schema: { reverted }, blocked: [] };
}

/**
 * The revert scripts of the release's migrations still in the history, newest first, with the
 * history repaired and the record written, in one transaction.
 */
async function revertSchema(
  sql: Sql,
  release: RollbackRelease,
  reverts: readonly ReleaseRevert[],
  record: (tx: Tx, what: Record<string, unknown>) => unknown,
): Promise<string[]> {
  if (!reverts.length) return [];
  const out = await sql.begin(async (tx) => {
    // Serializes with `supabase db push` and another rollback.
    await tx`lock table supabase_migrations.schema_migrations in share row exclusive mode`;
    await tx`set local search_path to default`;
    const applied = new Set(
      (await tx<{ version: string }[]>`select version from supabase_migrations.schema_migrations`)
        .map((r) => r.version),
    );
    const mine = new Set(reverts.map((r) => r.version));
    const oldest = reverts[0].version;
    const later = [...applied].filter((v) => !mine.has(v) && compare(v, oldest) > 0).sort(compare);
    if (later.length) {
      throw new ReleaseRollbackError(
        "later_migrations",
        `Cannot revert the schema of release ${release.id}: migrations ${
          later.join(", ")
        } were applied after it; roll their releases back first`,
      );
    }
    const todo = reverts.filter((r) => applied.has(r.version)).sort((a, b) =>
      compare(b.version, a.version)
    );
    const done: string[] = [];
    for (const r of todo) {
      await tx.unsafe(r.sql!);
      await tx`delete from supabase_migrations.schema_migrations where version = ${r.version}`;
      done.push(`${r.version}_${r.name}`);
    }
    // A revert may have dropped what records it (the safety net's own migration): then the
    // audit of the rollback is all that is left, and the history says the rest.
    const [{ recordable }] = await tx<{ recordable: boolean }[]>`
      select to_regprocedure('ops.record_release_rollback(uuid,jsonb)') is not null as recordable`;
    if (recordable) {
      await record(tx, { schema: { reverted: done }, schema_at: new Date().toISOString() });
    }
    return [done];
  });
  return (out as unknown as [string[]])[0];
}

function compare(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
