/**
 * The backup root: where backups live (`STAGECOACH_BACKUP_DIR`, default `./backups`, which git
 * ignores), one folder per environment and one per backup inside it, listing and retention.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { z } from "zod";
import { backupsToRemove, type Manifest, parseManifest } from "./manifest.ts";

/** The backup root: `STAGECOACH_BACKUP_DIR`, else `backups/` in the current directory. */
export function backupRoot(vars: Record<string, string | undefined> = Deno.env.toObject()): string {
  return resolve(vars.STAGECOACH_BACKUP_DIR || "backups");
}

/** `verified.json`: the last verification of a backup. */
export const VerifiedRecord = z.object({
  verified_at: z.string(),
  ok: z.boolean(),
  backup_id: z.string(),
  manifest_sha256: z.string(),
  tables_checked: z.number().int(),
  problem: z.string().nullable(),
});
export type VerifiedRecord = z.infer<typeof VerifiedRecord>;

/** One backup as `backup list` shows it. */
export interface BackupListing {
  dir: string;
  environment: string;
  backup_id: string;
  created_at: string;
  git_sha: string | null;
  migration_version: string | null;
  /** Bytes of the folder's files. */
  size: number;
  /** The last verification matches this manifest and passed. */
  verified: boolean;
  verified_at: string | null;
}

/** Reads a backup folder's manifest text and its SHA-256. */
export async function readManifestFile(
  dir: string,
): Promise<{ manifest: Manifest; text: string; sha256: string }> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "manifest.json"));
  } catch {
    throw new Error(`Cannot read ${join(dir, "manifest.json")}: not a backup folder`);
  }
  return {
    manifest: parseManifest(text),
    text,
    sha256: createHash("sha256").update(text).digest("hex"),
  };
}

async function readVerified(dir: string): Promise<VerifiedRecord | null> {
  try {
    const parsed = VerifiedRecord.safeParse(
      JSON.parse(await Deno.readTextFile(join(dir, "verified.json"))),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

async function folders(path: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(path)) if (e.isDirectory) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

/**
 * The backups in a root, newest first; folders that are not backups are skipped.
 *
 * @param opts.environment only this environment's
 */
export async function listBackups(
  root: string,
  opts: { environment?: string } = {},
): Promise<BackupListing[]> {
  const envs = opts.environment ? [opts.environment] : await folders(root);
  const out: BackupListing[] = [];
  for (const env of envs) {
    for (const id of await folders(join(root, env))) {
      const dir = join(root, env, id);
      let m: { manifest: Manifest; sha256: string };
      try {
        m = await readManifestFile(dir);
      } catch {
        continue;
      }
      let size = 0;
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile) size += (await Deno.stat(join(dir, e.name))).size;
      }
      const verified = await readVerified(dir);
      const ok = verified?.ok === true && verified.manifest_sha256 === m.sha256;
      out.push({
        dir,
        environment: m.manifest.environment,
        backup_id: m.manifest.backup_id,
        created_at: m.manifest.created_at,
        git_sha: m.manifest.git_sha,
        migration_version: m.manifest.migration_version,
        size,
        verified: ok,
        verified_at: ok ? verified!.verified_at : null,
      });
    }
  }
  return out.sort((a, b) => a.backup_id < b.backup_id ? 1 : a.backup_id > b.backup_id ? -1 : 0);
}

/**
 * Keeps the newest `keep` backups of an environment in the root and removes the others.
 *
 * @returns the folders removed
 */
export async function applyRetention(
  root: string,
  environment: string,
  keep: number,
): Promise<string[]> {
  const listed = await listBackups(root, { environment });
  const remove = new Set(backupsToRemove(listed.map((b) => b.backup_id), keep));
  const removed: string[] = [];
  for (const b of listed) {
    if (!remove.has(b.backup_id)) continue;
    await Deno.remove(b.dir, { recursive: true });
    removed.push(b.dir);
  }
  return removed;
}
