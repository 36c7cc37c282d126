/**
 * The revert scripts of pending migrations, read from the checkout for the release to record.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { PendingMigration } from "../../supabase/functions/_shared/promotion/schema.ts";
import type { RevertRecord } from "./record.ts";

const MARKER = /^--\s*stagecoach:\s*loses-data\b[ \t]*(.*)$/m;

/** Each migration's revert script (`supabase/rollbacks/<version>_<name>.sql`), or none. */
export async function revertRecords(
  repoRoot: string,
  migrations: readonly PendingMigration[],
): Promise<RevertRecord[]> {
  const out: RevertRecord[] = [];
  for (const m of migrations) {
    const file = join(repoRoot, "supabase/rollbacks", `${m.version}_${m.name}.sql`);
    const bytes = await Deno.readFile(file).catch(() => null);
    const sql = bytes ? new TextDecoder().decode(bytes) : null;
    const marker = sql?.match(MARKER);
    out.push({
      version: m.version,
      name: m.name,
      sql,
      sha256: bytes ? createHash("sha256").update(bytes).digest("hex") : null,
      loses_data: !!marker,
      reason: marker?.[1]?.trim() || null,
    });
  }
  return out;
}
