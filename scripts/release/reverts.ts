/**
 * Revert scripts: `supabase/rollbacks/<version>_<name>.sql` undoes the migration of the same
 * version and name. Every migration after the baseline (`supabase/rollbacks/BASELINE`, the
 * last version without one) has one; the test command proves each pair round-trips
 * (`prove_reverts.ts`), and `stagecoach release rollback` runs them in reverse order.
 *
 * A revert that would lose data declares it with a line comment anywhere in the file,
 * `-- stagecoach: loses-data <why>`: such a migration is undone only by restoring the backup
 * taken before the release. The declaration is checked: a revert with a statement that may
 * lose data (`sql_checks.ts` {@link findDataLossStatements}) and no marker is a finding
 * (rule `revert-loses-data-unmarked`), and so is a `-- stagecoach:` comment that is not a
 * known marker (a typo must not silently drop the declaration).
 *
 * A revert whose only loss is state nobody needs back — a cache, a job's scratch rows the code
 * rebuilds or does without — says so instead with `-- stagecoach: transient <why>` (the reason
 * is required): it is not data loss, so `release rollback` still runs it, and the plan shows
 * the reason. With both markers, `loses-data` wins.
 *
 * Pure: {@link parseBaseline}, {@link inspectRevert}, {@link pairReverts}, {@link revertDrift}.
 * Reading files: {@link readReverts}.
 *
 * @module
 */
import { join, relative } from "node:path";
import type {
  LintFinding,
  MigrationRevert,
  PendingMigration,
} from "../../supabase/functions/_shared/promotion/schema.ts";
import { listMigrations, type Migration } from "./migrations.ts";
import { findDataLossStatements, lineComments } from "./sql_checks.ts";

/** The marker a revert that loses data carries, as a `--` comment. */
export const LOSES_DATA_MARKER = "stagecoach: loses-data";

/** The rule of a revert that may lose data without saying so. */
export const UNMARKED_RULE = "revert-loses-data-unmarked";

/** The marker of a revert that drops only transient state, as a `--` comment with its reason. */
export const TRANSIENT_MARKER = "stagecoach: transient";

/** The rule of a `-- stagecoach:` comment that is no marker we know. */
export const UNKNOWN_MARKER_RULE = "unknown-stagecoach-marker";

/** The rule of a `-- stagecoach: transient` marker without its reason. */
export const TRANSIENT_REASON_RULE = "transient-marker-without-reason";

/** The rollbacks folder of a repository, relative to its root. */
export const ROLLBACKS_DIR = "supabase/rollbacks";

/** A revert script as listed: version, name, path and SHA-256, as {@link Migration}. */
export type RevertFile = Migration;

/** What a revert script says about itself, read from its text ({@link inspectRevert}). */
export interface RevertInspection {
  /** True when the file carries `-- stagecoach: loses-data`. */
  loses_data: boolean;
  /** The markers' reasons joined with `; `, when any gives one (`transient: …` for those). */
  reason?: string;
  /** Unmarked statements that may lose data, unknown markers (`file` is the given one). */
  findings: LintFinding[];
}

/** Something wrong with the set of revert scripts, naming the file. */
export interface RevertProblem {
  /** `missing`: a migration after the baseline has no revert; `orphan`: a revert has no
   * migration of that version and name; `baseline`: a revert at or before the baseline. */
  kind: "missing" | "orphan" | "baseline";
  file: string;
  message: string;
}

/** A migration with its revert script, or `null` (none: at or before the baseline, or missing). */
export interface MigrationWithRevert extends Migration {
  revert: MigrationRevert | null;
  /** The revert's findings ({@link inspectRevert}); empty without a revert. */
  revertFindings: LintFinding[];
}

/**
 * Reads the baseline file: the one version on a line that is not a `#` comment or blank.
 *
 * @throws {Error} "Cannot read the rollback baseline: …" without exactly one version
 * @example
 * ```ts
 * parseBaseline("# the last migration without a revert\n20261203001100\n"); // "20261203001100"
 * ```
 */
export function parseBaseline(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  if (lines.length !== 1 || !/^\d{1,20}$/.test(lines[0])) {
    throw new Error(
      `Cannot read the rollback baseline: expected one migration version, found ${
        lines.length ? JSON.stringify(lines.join(" ")) : "none"
      }`,
    );
  }
  return lines[0];
}

const MARKER = /^stagecoach:\s*loses-data\b[\s:]*(.*)$/i;
const TRANSIENT = /^stagecoach:\s*transient\b[\s:]*(.*)$/i;

/**
 * Reads a revert script's markers and checks them against its statements.
 *
 * @param sql the revert script's text
 * @param file its path, for the findings
 * @example
 * ```ts
 * inspectRevert("alter table t drop column c; -- stagecoach: loses-data c's values", "r.sql");
 * // { loses_data: true, reason: "c's values", findings: [] }
 * inspectRevert("alter table t drop column c;", "r.sql").findings[0].rule;
 * // "revert-loses-data-unmarked"
 * inspectRevert("drop table scratch; -- stagecoach: transient rebuilt on demand", "r.sql");
 * // { loses_data: false, reason: "transient: rebuilt on demand", findings: [] }
 * ```
 */
export function inspectRevert(sql: string, file: string): RevertInspection {
  const findings: LintFinding[] = [];
  const reasons: string[] = [];
  let marked = false;
  const transientReasons: string[] = [];
  for (const c of lineComments(sql)) {
    const m = MARKER.exec(c.text);
    const t = TRANSIENT.exec(c.text);
    if (m) {
      marked = true;
      if (m[1].trim()) reasons.push(m[1].trim());
    } else if (t) {
      // Declaring a drop harmless overrides a safety check: it must say why.
      if (!t[1].trim()) {
        findings.push({
          rule: TRANSIENT_REASON_RULE,
          file,
          line: c.line,
          message: `"-- ${TRANSIENT_MARKER}" needs its reason: say why what the revert drops ` +
            "is not needed back (e.g. a cache the code rebuilds)",
          source: "stagecoach",
        });
      } else {
        transientReasons.push(`transient: ${t[1].trim()}`);
      }
    } else if (/^stagecoach\s*:/i.test(c.text)) {
      findings.push({
        rule: UNKNOWN_MARKER_RULE,
        file,
        line: c.line,
        message: `Unknown marker "-- ${c.text.slice(0, 80)}": the markers are ` +
          `"-- ${LOSES_DATA_MARKER} <why>" and "-- ${TRANSIENT_MARKER} <why>"`,
        source: "stagecoach",
      });
    }
  }
  if (!marked && !transientReasons.length) {
    for (const f of findDataLossStatements(sql)) {
      findings.push({
        rule: UNMARKED_RULE,
        file,
        line: f.line,
        message: `${f.message} — mark the revert "-- ${LOSES_DATA_MARKER} <why>" (it is then ` +
          `undone only by restoring the backup), "-- ${TRANSIENT_MARKER} <why>" when what it ` +
          "drops is not needed back, or keep the data",
        source: "stagecoach",
      });
    }
  }
  if (!marked) reasons.push(...transientReasons);
  findings.sort((a, b) => a.line - b.line);
  const reason = reasons.length ? reasons.join("; ") : undefined;
  return { loses_data: marked, ...(reason ? { reason } : {}), findings };
}

const key = (m: { version: string; name: string }) => `${BigInt(m.version)}_${m.name}`;

/**
 * Pairs migrations with revert scripts (same version and name) and names what is wrong: a
 * migration after the baseline without a revert, a revert without its migration, a revert at
 * or before the baseline.
 *
 * @param migrations every migration, oldest first
 * @param reverts every revert script
 * @param opts.baseline the last version without a revert script
 * @returns for each migration its revert file (or null), and the problems
 * @example
 * ```ts
 * const { pairs, problems } = pairReverts(migrations, reverts, { baseline: "20261203001100" });
 * problems[0]?.message; // "supabase/migrations/…_add_x.sql has no revert script: write …"
 * ```
 */
export function pairReverts(
  migrations: readonly Migration[],
  reverts: readonly RevertFile[],
  opts: { baseline: string },
): { pairs: { migration: Migration; revert: RevertFile | null }[]; problems: RevertProblem[] } {
  const { baseline } = opts;
  const base = BigInt(baseline);
  const byKey = new Map(reverts.map((r) => [key(r), r]));
  const problems: RevertProblem[] = [];
  const pairs = migrations.map((m) => {
    const revert = byKey.get(key(m)) ?? null;
    const after = BigInt(m.version) > base;
    if (after && !revert) {
      problems.push({
        kind: "missing",
        file: m.file,
        message:
          `${m.file} has no revert script: write ${ROLLBACKS_DIR}/${m.version}_${m.name}.sql ` +
          `(every migration after the baseline ${baseline} has one)`,
      });
    }
    return { migration: m, revert: after ? revert : null };
  });
  const migrationKeys = new Set(migrations.map(key));
  for (const r of reverts) {
    if (BigInt(r.version) <= base) {
      problems.push({
        kind: "baseline",
        file: r.file,
        message: `${r.file} is at or before the baseline ${baseline}: those migrations are ` +
          "undone only by a restore; remove it or move the baseline",
      });
    } else if (!migrationKeys.has(key(r))) {
      const same = migrations.find((m) => BigInt(m.version) === BigInt(r.version));
      problems.push({
        kind: "orphan",
        file: r.file,
        message: `${r.file} reverts no migration${
          same ? ` (version ${r.version} is ${same.file}: the names differ)` : ""
        }`,
      });
    }
  }
  return { pairs, problems };
}

/**
 * What changed in the revert scripts between an approved plan's migrations and the checkout's:
 * a revert edited, added or removed since approval. A migration whose approved entry has no
 * `revert` field (a plan made before reverts were planned) is not compared. Migrations added
 * or removed are the release's `schemaDrift`'s to report.
 *
 * @returns one line per difference, empty when the reverts are the approved ones
 * @example
 * ```ts
 * revertDrift(approvedMigrations, pendingNow);
 * // ["20261204000100_add_x: revert script edited since approval (SHA-256 differs)"]
 * ```
 */
export function revertDrift(
  approved: readonly PendingMigration[],
  now: readonly PendingMigration[],
): string[] {
  const current = new Map(now.map((m) => [key(m), m]));
  const lines: string[] = [];
  for (const a of approved) {
    const b = current.get(key(a));
    if (!b || a.revert === undefined) continue;
    const k = `${a.version}_${a.name}`;
    const before = a.revert;
    const after = b.revert ?? null;
    if (before && !after) lines.push(`${k}: revert script removed since approval`);
    else if (!before && after) lines.push(`${k}: revert script added since approval`);
    else if (before && after && (before.sha256 !== after.sha256 || before.file !== after.file)) {
      lines.push(`${k}: revert script edited since approval (SHA-256 differs)`);
    }
  }
  return lines;
}

/** Everything {@link readReverts} found. */
export interface RevertReport {
  baseline: string;
  /** Every migration, oldest first, with its revert (paths relative to the repository). */
  migrations: MigrationWithRevert[];
  problems: RevertProblem[];
  /** Every revert's findings, in migration order. */
  findings: LintFinding[];
}

/**
 * Reads a repository's migrations, its baseline and its revert scripts, pairs and inspects
 * them. Paths in the result are relative to `repoRoot`.
 *
 * @param repoRoot the repository (holding `supabase/migrations` and `supabase/rollbacks`)
 * @throws {Error} "Cannot read the rollback baseline: …" when BASELINE is missing or wrong;
 *   {@link MigrationNameError} for a file the Supabase CLI would skip
 * @example
 * ```ts
 * const { migrations, problems, findings } = await readReverts(REPO_ROOT);
 * migrations.at(-1)?.revert; // { file: "supabase/rollbacks/…", sha256, loses_data: false }
 * ```
 */
export async function readReverts(repoRoot: string): Promise<RevertReport> {
  const rel = (m: Migration): Migration => ({ ...m, file: relative(repoRoot, m.file) });
  const dir = join(repoRoot, ROLLBACKS_DIR);
  let baselineText: string;
  try {
    baselineText = await Deno.readTextFile(join(dir, "BASELINE"));
  } catch (err) {
    throw new Error(
      `Cannot read the rollback baseline: ${ROLLBACKS_DIR}/BASELINE (${(err as Error).message})`,
    );
  }
  const baseline = parseBaseline(baselineText);
  const migrations = (await listMigrations(join(repoRoot, "supabase/migrations"))).map(rel);
  // The naming rules of migrations hold for their reverts; other files (BASELINE, README.md)
  // are not scripts.
  const reverts = (await listMigrations(dir, { ignore: (n) => !n.endsWith(".sql") })).map(rel);
  const { pairs, problems } = pairReverts(migrations, reverts, { baseline });
  const withReverts = await Promise.all(pairs.map(async ({ migration, revert }) => {
    if (!revert) return { ...migration, revert: null, revertFindings: [] };
    const text = await Deno.readTextFile(join(repoRoot, revert.file));
    const { findings, ...said } = inspectRevert(text, revert.file);
    return {
      ...migration,
      revert: { file: revert.file, sha256: revert.sha256, ...said },
      revertFindings: findings,
    };
  }));
  return {
    baseline,
    migrations: withReverts,
    problems,
    findings: withReverts.flatMap((m) => m.revertFindings),
  };
}
