/**
 * The revert scripts of pending migrations, as the release records them on itself before
 * pushing (`ops.record_release_reverts`): the text of each `supabase/rollbacks/` file the
 * planner paired (`reverts.ts`), with the SHA-256 and loses-data flag the plan carries.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import type { RevertRecord } from "./record.ts";

/**
 * Each migration's revert script read from the checkout, or none.
 *
 * @throws {Error} when a file no longer has the bytes the plan names (the release stopped at
 * `schema_check` already; this is the last look before pushing)
 */
export async function revertRecords(
  repoRoot: string,
  migrations: readonly PendingMigration[],
): Promise<RevertRecord[]> {
  const out: RevertRecord[] = [];
  for (const m of migrations) {
    const r = m.revert ?? null;
    const bytes = r ? await Deno.readFile(join(repoRoot, r.file)) : null;
    if (r && bytes && createHash("sha256").update(bytes).digest("hex") !== r.sha256) {
      throw new Error(`Cannot record the revert of ${m.version}_${m.name}: ${r.file} changed`);
    }
    out.push({
      version: m.version,
      name: m.name,
      sql: bytes ? new TextDecoder().decode(bytes) : null,
      sha256: r?.sha256 ?? null,
      loses_data: r?.loses_data ?? false,
      reason: r?.reason ?? null,
    });
  }
  return out;
}
