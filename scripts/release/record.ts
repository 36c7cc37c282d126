/**
 * The release's row in its target (`ops.releases`), written through the target's SQL
 * functions over the database connection the release also pushes migrations with.
 *
 * On a target whose schema has no `ops.releases` yet (its first release carries that
 * migration), steps are kept in memory and written once the table exists: the row then tells
 * the whole story, the steps before the push included.
 *
 * @module
 */
import type postgres from "postgres";

/** One step of a release as recorded. */
export interface ReleaseStep {
  name: string;
  status: "running" | "succeeded" | "failed" | "skipped" | "waiting";
  summary: string | null;
  started_at?: string;
  finished_at?: string | null;
  ms?: number;
}

/** A release row. */
export interface ReleaseRow {
  id: string;
  environment: string;
  source_env: string;
  git_sha: string;
  started_by: string;
  promotion_id: string | null;
  status:
    | "running"
    | "waiting_approval"
    | "watching"
    | "succeeded"
    | "failed"
    | "rolled_back"
    | "nothing_to_release";
  steps: ReleaseStep[];
  created_at?: string;
  finished_at?: string | null;
  /** The pre-release backup (production), once recorded. */
  backup?: { id?: string; dir?: string } | null;
}

/** What identifies a release. */
export interface ReleaseKey {
  environment: string;
  source: string;
  sha: string;
  startedBy: string;
}

const COLUMNS = `id::text, environment, source_env, git_sha, started_by, promotion_id::text,
  status, steps, created_at, finished_at, to_jsonb(r) -> 'backup' as backup`;

async function hasTable(db: postgres.Sql): Promise<boolean> {
  const [{ ok }] = await db<{ ok: boolean }[]>`
    select to_regprocedure('ops.start_release(text,text,text,text)') is not null as ok`;
  return ok;
}

/**
 * The release's record: the row when the target has the table, else an in-memory row that
 * {@link ReleaseRecord.flush} writes once it does.
 */
export class ReleaseRecord {
  #db: postgres.Sql;
  #key: ReleaseKey;
  #pending: { step: string; status: ReleaseStep["status"]; summary: string | null }[] = [];
  #pendingStatus: ReleaseRow["status"] | null = null;
  #stored = false;
  row: ReleaseRow;

  private constructor(db: postgres.Sql, key: ReleaseKey, row: ReleaseRow, stored: boolean) {
    this.#db = db;
    this.#key = key;
    this.row = row;
    this.#stored = stored;
  }

  /** Opens the release of a commit: the existing one (a re-run), or a new one. */
  static async open(db: postgres.Sql, key: ReleaseKey): Promise<ReleaseRecord> {
    if (await hasTable(db)) {
      const [row] = await db.unsafe(
        `select ${COLUMNS} from ops.start_release($1, $2, $3, $4) as r`,
        [key.environment, key.source, key.sha, key.startedBy],
      );
      return new ReleaseRecord(db, key, row as unknown as ReleaseRow, true);
    }
    return new ReleaseRecord(db, key, {
      id: "(not recorded yet)",
      environment: key.environment,
      source_env: key.source,
      git_sha: key.sha,
      started_by: key.startedBy,
      promotion_id: null,
      status: "running",
      steps: [],
    }, false);
  }

  /** Whether the row is in the target (false before the first push of `ops.releases`). */
  get stored(): boolean {
    return this.#stored;
  }

  /** The recorded status of a step, if any. */
  stepStatus(name: string): ReleaseStep["status"] | undefined {
    return this.row.steps.find((s) => s.name === name)?.status;
  }

  /** Records a step's status (and the promotion, once known). */
  async step(
    name: string,
    status: ReleaseStep["status"],
    summary: string | null = null,
    promotionId: string | null = null,
  ): Promise<void> {
    if (promotionId) this.row.promotion_id = promotionId;
    if (!this.#stored) {
      this.#pending.push({ step: name, status, summary });
      const i = this.row.steps.findIndex((s) => s.name === name);
      const entry = { name, status, summary };
      if (i >= 0) this.row.steps[i] = entry;
      else this.row.steps.push(entry);
      await this.flush();
      return;
    }
    const [row] = await this.#db.unsafe(
      `select ${COLUMNS} from ops.record_release_step($1, $2, $3, $4, $5) as r`,
      [this.row.id, name, status, summary, promotionId],
    );
    this.row = row as unknown as ReleaseRow;
  }

  /** Sets the release's status (waiting, succeeded and failed notify). */
  async status(status: ReleaseRow["status"]): Promise<void> {
    if (!this.#stored) {
      this.#pendingStatus = status;
      this.row.status = status;
      await this.flush();
      return;
    }
    const [row] = await this.#db.unsafe(
      `select ${COLUMNS} from ops.set_release_status($1, $2) as r`,
      [this.row.id, status],
    );
    this.row = row as unknown as ReleaseRow;
  }

  /** Reads the row again (the watch and rollbacks move the status in the database). */
  async refresh(): Promise<void> {
    if (!this.#stored) return;
    const [row] = await this.#db.unsafe(`select ${COLUMNS} from ops.releases as r where id = $1`, [
      this.row.id,
    ]);
    if (row) this.row = row as unknown as ReleaseRow;
  }

  /** Writes what was kept in memory, once the target has `ops.releases`. */
  async flush(): Promise<void> {
    if (this.#stored || !(await hasTable(this.#db))) return;
    const promotion = this.row.promotion_id;
    const opened = await ReleaseRecord.open(this.#db, this.#key);
    this.row = opened.row;
    this.#stored = true;
    for (const s of this.#pending.splice(0)) {
      await this.step(s.step, s.status, s.summary, promotion);
    }
    if (this.#pendingStatus) await this.status(this.#pendingStatus);
  }
}

/** A migration's revert script as the release records it (`ops.record_release_reverts`). */
export interface RevertRecord {
  version: string;
  name: string;
  sql: string | null;
  sha256: string | null;
  loses_data: boolean;
  reason: string | null;
}

/**
 * Records the revert scripts of the migrations a release is about to push, so a rollback (the
 * CLI's or the watch's) runs exactly them from the database. The target checks each text
 * against its SHA-256 and against the approved plan.
 *
 * @returns a summary, e.g. `2 revert script(s) recorded; 1 migration only a restore undoes`
 */
export async function recordReverts(
  db: postgres.Sql,
  releaseId: string,
  reverts: readonly RevertRecord[],
): Promise<string> {
  if (!reverts.length) return "no revert scripts to record";
  const [{ ok }] = await db<{ ok: boolean }[]>`
    select to_regprocedure('ops.record_release_reverts(uuid,jsonb)') is not null as ok`;
  if (!ok || !/^[0-9a-f-]{36}$/.test(releaseId)) {
    return "revert scripts not recorded: the target has no ops.release_reverts yet (this release creates it)";
  }
  await db`select ops.record_release_reverts(${releaseId}::uuid, ${
    JSON.stringify(reverts)
  }::text::jsonb)`;
  const restoreOnly = reverts.filter((r) => r.sql === null || r.loses_data).length;
  return `${reverts.filter((r) => r.sql !== null).length} revert script(s) recorded${
    restoreOnly ? `; ${restoreOnly} migration(s) only a restore undoes` : ""
  }`;
}
