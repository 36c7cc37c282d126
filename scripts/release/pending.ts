/**
 * The migrations pending in a target, as a release plans them: every file of
 * `supabase/migrations` the target's history lacks, with the SHA-256 of its bytes and the
 * findings of the migration linter.
 *
 * @module
 */
import { join } from "node:path";
import type postgres from "postgres";
import {
  appliedVersions,
  type PendingMigration,
} from "../../supabase/functions/_shared/promotion/schema.ts";

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The pending migrations of the checkout at `repoRoot` against the target `db`. */
export async function pendingMigrations(
  repoRoot: string,
  db: postgres.Sql,
): Promise<PendingMigration[]> {
  const dir = join(repoRoot, "supabase/migrations");
  const applied = await appliedVersions(db);
  const out: PendingMigration[] = [];
  for await (const e of Deno.readDir(dir)) {
    const m = /^(\d+)_(.+)\.sql$/.exec(e.name);
    if (!e.isFile || !m || applied.has(m[1])) continue;
    out.push({
      version: m[1],
      name: m[2],
      sha256: await sha256(await Deno.readFile(join(dir, e.name))),
      findings: [],
    });
  }
  return out.sort((a, b) => a.version.localeCompare(b.version));
}
