/**
 * `stagecoach backup create | verify | restore | list`: encrypted, verified backups of an
 * environment's database. This file parses options, reaches the environment through
 * `target.ts`, reports progress and prints; the engine is `scripts/backup/`.
 *
 * @module
 */
import { createBackup } from "../backup/create.ts";
import type { BackupProgress } from "../backup/create.ts";
import { chooseBackupKey } from "../backup/crypto.ts";
import { backupRoot, listBackups, readManifestFile } from "../backup/list.ts";
import { BackupError } from "../backup/manifest.ts";
import { restoreBackup } from "../backup/restore.ts";
import { checkBackupFiles, openBackup, verifyBackup } from "../backup/verify.ts";
import { supabaseCli } from "../release/supabase_cli.ts";
import { AS_OPTION, callOps, resolveToken } from "./api.ts";
import {
  cliActor,
  defineCommand,
  ENV_OPTION,
  envOption,
  parseCommand,
  parseOptions,
  positiveInt,
  readKeyOption,
  UsageError,
} from "./command.ts";
import { createProgress, type ProgressReporter } from "./progress.ts";
import { REPO_ROOT, supabaseCliDbUrl } from "./target.ts";

const KEY_FILE = {
  type: "string",
  value: "<path>",
  help: "read the backup key from this file (else STAGECOACH_BACKUP_KEY)",
} as const;
const JSON_OPTION = { type: "boolean", help: "print the result as JSON" } as const;

function readKey(keyFile: string | undefined): Promise<string> {
  return readKeyOption(keyFile, { variable: "STAGECOACH_BACKUP_KEY", choose: chooseBackupKey });
}

const PHASES: Record<BackupProgress["phase"], string> = {
  dump: "dumping roles",
  tables: "reading schema and tables",
  check: "checking files",
  restore: "restoring",
  compare: "comparing content hashes",
};

/** One progress line per phase (quiet with --json: stdout is the result). */
function phaseProgress(label: string, quiet: boolean) {
  let current: { phase: string; bar: ProgressReporter } | null = null;
  return {
    report(p: BackupProgress) {
      if (quiet) return;
      if (current?.phase !== p.phase) {
        current?.bar.finish();
        current = {
          phase: p.phase,
          bar: createProgress({
            label: `${label}: ${PHASES[p.phase]}`,
            total: p.total,
            unit: p.phase === "dump" || p.phase === "check" ? "files" : "rows",
          }),
        };
      }
      current.bar.update(p.done, { total: p.total });
    },
    end() {
      current?.bar.finish();
      current = null;
    },
  };
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

/** `stagecoach backup create`. */
export const backupCreateCommand = defineCommand({
  name: "backup create",
  summary: "Back up an environment's database (encrypted, consistent, with a manifest)",
  description:
    `Dumps roles, the schemas a Supabase dump covers and every table's rows (COPY, in heap order)
from one snapshot, each file encrypted with AES-256-GCM under a key derived from the backup
key (STAGECOACH_BACKUP_KEY or --key-file; only its fingerprint is stored). The manifest lists
per table its row count and content hash, and per file its SHA-256; an HMAC seals it.
Backups go to <root>/<env>/<id>/ (root: STAGECOACH_BACKUP_DIR, default ./backups); after a
backup, the newest --keep of the environment are kept.`,
  options: {
    env: ENV_OPTION,
    out: { type: "string", value: "<dir>", help: "write here instead (no retention)" },
    keep: { type: "string", value: "<n>", help: "backups of the environment kept (default 7)" },
    "key-file": KEY_FILE,
    json: JSON_OPTION,
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const target = envOption(values.env);
    const keep = positiveInt(values.keep, "--keep", 7);
    const key = await readKey(values["key-file"]);
    const progress = phaseProgress(`backup ${target.name}`, values.json ?? false);
    const created = await createBackup({
      environment: target.name,
      dbUrl: target.dbUrl,
      key,
      root: backupRoot(),
      out: values.out,
      keep,
      onProgress: progress.report,
    }).finally(progress.end);
    const m = created.manifest;
    const rows = m.tables.reduce((n, t) => n + t.rows, 0);
    const size = m.files.reduce((n, f) => n + f.size, 0);
    if (values.json) {
      console.log(JSON.stringify(
        {
          dir: created.dir,
          backup_id: m.backup_id,
          environment: m.environment,
          manifest_sha256: created.manifestSha256,
          migration_version: m.migration_version,
          tables: m.tables.length,
          rows,
          size,
          key_fingerprint: m.encryption.key_fingerprint,
          removed: created.removed,
        },
        null,
        2,
      ));
      return 0;
    }
    console.log(
      `backup ${m.backup_id} of ${m.environment}: ${m.tables.length} tables, ${rows} rows, ${
        mib(size)
      } in ${created.dir}`,
    );
    console.log(`manifest sha256 ${created.manifestSha256}`);
    console.log(
      `migration ${m.migration_version ?? "none"}, key fingerprint ${m.encryption.key_fingerprint}`,
    );
    for (const dir of created.removed) console.log(`removed by retention: ${dir}`);
    return 0;
  },
});

/** `stagecoach backup verify`. */
export const backupVerifyCommand = defineCommand({
  name: "backup verify",
  summary: "Decrypt, check and restore a backup into a scratch database, then compare",
  args: "<dir>",
  description:
    `Checks the key's fingerprint and the manifest's HMAC, decrypts every file checking sizes,
SHA-256 and chunks, then (only if all of that passed) restores into a scratch database on
the environment's server (dropped afterwards) and compares row counts and content hashes
table by table. The result is written to <dir>/verified.json.`,
  options: {
    "key-file": KEY_FILE,
    env: {
      type: "string",
      value: "<env>",
      help: "server to verify on (default: the backup's environment)",
    },
    json: JSON_OPTION,
  },
  footer: "exit codes: 0 verified, 1 refused (the problem is named), 2 usage",
  async run(args) {
    const parsed = parseCommand(this, args, ["dir"]);
    if (!parsed) return 0;
    const { values } = parsed;
    const dir = parsed.args.dir;
    const key = await readKey(values["key-file"]);
    const env = values.env ?? (await readManifestFile(dir)).manifest.environment;
    const target = envOption(env);
    const progress = phaseProgress("verify", values.json ?? false);
    const result = await verifyBackup({
      dir,
      key,
      dbUrl: target.dbUrl,
      onProgress: progress.report,
    }).finally(progress.end);
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else if (result.ok) {
      console.log(
        `backup ${result.backupId} verified: ${result.tablesChecked} tables restored with identical row counts and content hashes`,
      );
    } else console.error(`backup verify: refused: ${result.problem?.message}`);
    return result.ok ? 0 : 1;
  },
});

/** `stagecoach backup restore`. */
export const backupRestoreCommand = defineCommand({
  name: "backup restore",
  summary: "Restore a verified backup into the environment it was made in",
  args: "<dir>",
  description:
    `Verifies the backup first (nothing is restored from one that does not verify), then in one
transaction replaces the schemas it covers and loads its rows, carries the audit log
forward and appends backup.restored; then repairs the migration history (supabase migration
repair) to the backup's. Running it again changes nothing more. Where the environment's policy
asks approval for high-risk changes (production), pass --promotion <id> of an approved
promotion with scope restore naming this backup; --plan records such a promotion.`,
  options: {
    env: ENV_OPTION,
    promotion: {
      type: "string",
      value: "<id>",
      help: "approved promotion (scope restore) naming this backup",
    },
    plan: { type: "boolean", help: "record a restore promotion for approvers; restore nothing" },
    as: AS_OPTION,
    "key-file": KEY_FILE,
    json: JSON_OPTION,
  },
  async run(args) {
    const parsed = parseCommand(this, args, ["dir"]);
    if (!parsed) return 0;
    const { values } = parsed;
    const dir = parsed.args.dir;
    const target = envOption(values.env);
    const key = await readKey(values["key-file"]);
    if (values.plan) {
      if (values.promotion) throw new UsageError("--plan and --promotion do not go together");
      const opened = await openBackup(dir, key);
      await checkBackupFiles(opened);
      const m = opened.manifest;
      if (m.environment !== target.name) {
        throw new BackupError(
          "restore_refused",
          `Cannot plan restoring backup ${m.backup_id} into ${target.name}: it was made in ${m.environment}`,
        );
      }
      const out = await callOps(target, "promotion.plan", {
        token: await resolveToken(target, values.as),
        body: {
          source: m.environment,
          scope: ["restore"],
          include_flag_state: false,
          dry_run: false,
          backup: {
            backup_id: m.backup_id,
            manifest_sha256: opened.manifestSha256,
            environment: m.environment,
            created_at: m.created_at,
            migration_version: m.migration_version,
          },
        },
      });
      if (values.json) console.log(JSON.stringify(out, null, 2));
      else if ("promotion" in out) {
        console.log(
          `restore promotion ${out.promotion.id} (${out.promotion.status}) for backup ${m.backup_id}`,
        );
        console.log(
          `approvers: stagecoach promote approve ${out.promotion.id} --env ${target.name}`,
        );
      }
      return 0;
    }
    const cli = supabaseCli({ repoRoot: REPO_ROOT, dbUrl: supabaseCliDbUrl(target) });
    const progress = phaseProgress(`restore ${target.name}`, values.json ?? false);
    const result = await restoreBackup({
      dir,
      key,
      environment: target.name,
      dbUrl: target.dbUrl,
      repair: (status, versions) => cli.migrationRepair(status, versions),
      promotionId: values.promotion,
      who: cliActor(),
      onProgress: progress.report,
    }).finally(progress.end);
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else if (!result.changed) {
      console.log(`${target.name} already matches backup ${result.backupId}: nothing to do`);
    } else {
      const { applied, reverted } = result.repaired;
      console.log(`restored backup ${result.backupId} into ${target.name}`);
      console.log(
        `migration history: ${applied.length} marked applied, ${reverted.length} marked reverted`,
      );
      if (result.differences.length) {
        console.log(
          `written since the restore committed (live writers): ${result.differences.join(", ")}`,
        );
      }
    }
    return 0;
  },
});

/** `stagecoach backup list`. */
export const backupListCommand = defineCommand({
  name: "backup list",
  summary: "List the backups in the backup root",
  options: {
    env: { type: "string", value: "<env>", help: "only this environment's" },
    json: JSON_OPTION,
  },
  async run(args) {
    const values = parseOptions(this, args);
    if (!values) return 0;
    const env = values.env === undefined ? undefined : envOption(values.env).name;
    const listed = await listBackups(backupRoot(), { environment: env });
    if (values.json) {
      console.log(JSON.stringify(listed, null, 2));
      return 0;
    }
    if (!listed.length) {
      console.log(`no backups in ${backupRoot()}`);
      return 0;
    }
    for (const b of listed) {
      console.log(
        [
          b.environment.padEnd(11),
          b.backup_id,
          b.created_at,
          (b.git_sha ?? "-").slice(0, 12).padEnd(12),
          (b.migration_version ?? "-").padEnd(14),
          mib(b.size).padStart(10),
          b.verified ? `verified ${b.verified_at}` : "not verified",
        ].join("  "),
      );
    }
    return 0;
  },
});
