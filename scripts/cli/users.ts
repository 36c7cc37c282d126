/**
 * `stagecoach users copy`: anonymized (or, through an approved promotion, faithful) copies of
 * auth users, identities, profiles and memberships between environments, as a resumable job
 * in the target's `ops.jobs`. This file parses options, builds the job host from the local
 * stack's config, prints; the engine is `supabase/functions/_shared/users/`.
 *
 * @module
 */
import type { JobRow } from "../../supabase/functions/_shared/jobs/job.ts";
import {
  testPasswordHash,
  USERS_COPY_KIND,
  type UsersCopyParams,
} from "../../supabase/functions/_shared/users/copy_job.ts";
import { dryRunCopy } from "../../supabase/functions/_shared/users/dry_run.ts";
import {
  chooseAnonKey,
  keyFingerprint,
  sqlKey,
} from "../../supabase/functions/_shared/users/key.ts";
import {
  SHIPPED_MANIFEST,
  SHIPPED_MANIFEST_HASH,
} from "../../supabase/functions/_shared/users/manifest.ts";
import type { CopyMode } from "../../supabase/functions/_shared/users/mask_sql.ts";
import { preflightCopy } from "../../supabase/functions/_shared/users/preflight.ts";
import {
  assertValidSelection,
  describeSelection,
  type Selection,
} from "../../supabase/functions/_shared/users/scope.ts";
import { DEFAULT_STATEMENT_TIMEOUT_S } from "../../supabase/functions/_shared/users/source_reader.ts";
import {
  cliActor,
  defineCommand,
  envOption,
  parseOptions,
  positiveInt,
  readKeyOption,
  UsageError,
  withDatabase,
} from "./command.ts";
import { cliJobRegistry, type JobStartContext, runJobCommand } from "./job_command.ts";
import type { Target } from "./target.ts";

function readKey(keyFile: string | undefined): Promise<string> {
  return readKeyOption(keyFile, { variable: "STAGECOACH_ANON_KEY", choose: chooseAnonKey });
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** `stagecoach users copy`. */
export const usersCopyCommand = defineCommand({
  name: "users copy",
  summary:
    "Copy auth users, identities, profiles and memberships (anonymized) between environments",
  also: [
    "stagecoach users copy --to <env> --resume <job-id> [--force] [--key-file <path>] [--json]",
  ],
  description:
    `Copies the selected users of --from with their identities, profile and memberships into --to,
as a resumable job recorded in the target's ops.jobs. Masking runs as SQL on the source, so
raw personal data never leaves it; rows stream with COPY in batches, each committed together
with its checkpoint. Memberships point to the target's tiers by slug; live Stripe ids are
nulled (or faked) outside production. Validation follows every copy: row counts, foreign keys,
unique indexes and a leak scan. A second run with the same key changes nothing.

modes:
  anonymized (default)  every column by the rule of supabase/anonymize.json, the manifest this
                        code ships (a copy never uses another); refused into production.
                        Needs a key: STAGECOACH_ANON_KEY or --key-file (no default; only its
                        fingerprint is printed or stored), and STAGECOACH_TEST_PASSWORD, the
                        password every anonymized user logs in with.
  faithful              a real move (password hashes included): only into production, only
                        with --promotion <id> of an approved promotion whose scope has users.`,
  options: {
    from: {
      type: "string",
      value: "<env>",
      help: "source environment (development | staging | production)",
      required: true,
    },
    to: { type: "string", value: "<env>", help: "target environment", required: true },
    sample: {
      type: "string",
      value: "<percent>",
      help: "copy this percentage of users (stable: picked by a hash of the id)",
    },
    where: {
      type: "string",
      value: "<sql>",
      help: `copy users matching this predicate on auth.users (alias u); it runs
on the source read-only, as stagecoach_copy_reader (which reads only
the copied tables), under the statement timeout; qualify names
outside pg_catalog (public.my_fn)`,
    },
    "dry-run": { type: "boolean", help: "check everything and show masked samples; write nothing" },
    mode: { type: "string", value: "<mode>", help: "anonymized | faithful" },
    promotion: {
      type: "string",
      value: "<id>",
      help: "approved promotion allowing a faithful copy",
    },
    "key-file": {
      type: "string",
      value: "<path>",
      help: "read the anonymization key from this file",
    },
    "batch-size": {
      type: "string",
      value: "<n>",
      help: "rows per batch and checkpoint (default 20000)",
    },
    parallel: { type: "string", value: "<n>", help: "tables copied at once (default 2)" },
    "statement-timeout": {
      type: "string",
      value: "<s>",
      help: `with --where: cancel a source statement running longer than this
many seconds (default 30, at most 600; large selections may need more)`,
    },
    queue: {
      type: "boolean",
      help: "queue the job for the ops-worker instead of running it here",
    },
    resume: {
      type: "string",
      value: "<job-id>",
      help: "continue a stopped, failed or killed job from its checkpoint",
    },
    force: {
      type: "boolean",
      help: "with --resume: take the job over even if another run holds it",
    },
    json: { type: "boolean", help: "print the result as JSON (progress goes to stderr)" },
  },
  async run(args) {
    const v = parseOptions(this, args);
    if (!v) return 0;
    const to = envOption(v.to, "--to");
    const common = {
      kind: USERS_COPY_KIND,
      registry: cliJobRegistry(),
      json: v.json ?? false,
      force: v.force,
      queue: v.queue,
      // The key is read again for a resumed job (never stored); a faithful copy needs none.
      secrets: async (job: JobRow) => {
        const key = job.params.mode === "anonymized" ? await readKey(v["key-file"]) : null;
        return (name: string) =>
          name === "STAGECOACH_ANON_KEY" ? key ?? undefined : Deno.env.get(name);
      },
      label: (job: JobRow) => `users copy ${job.params.source_env} → ${job.params.target_env}`,
      summary: (job: JobRow) => [copySummary(job)],
      resumeCommand: (job: JobRow) => `stagecoach users copy --to <env> --resume ${job.id}`,
    };
    if (v.resume !== undefined) {
      return await runJobCommand(to, { ...common, resume: { id: v.resume }, connections: 5 });
    }
    const request = parseCopyRequest(v);
    return await runJobCommand(to, {
      ...common,
      connections: request.parallel + 3,
      start: (ctx) => startCopy(ctx, request),
    });
  },
});

/** A new copy as its options ask for it, checked. */
interface CopyRequest {
  from: Target;
  to: Target;
  mode: CopyMode;
  selection: Selection;
  batchSize: number;
  parallel: number;
  statementTimeoutS: number;
  promotionId?: string;
  keyFile?: string;
  dryRun: boolean;
  json: boolean;
}

/** The options of a new copy, as parsed. */
interface CopyOptionValues {
  from?: string;
  to?: string;
  sample?: string;
  where?: string;
  "dry-run"?: boolean;
  mode?: string;
  promotion?: string;
  "key-file"?: string;
  "batch-size"?: string;
  parallel?: string;
  "statement-timeout"?: string;
  json?: boolean;
}

/** @throws {UsageError} for any option out of its range */
function parseCopyRequest(v: CopyOptionValues): CopyRequest {
  const from = envOption(v.from, "--from");
  const to = envOption(v.to, "--to");
  const mode = (v.mode ?? "anonymized") as CopyMode;
  if (mode !== "anonymized" && mode !== "faithful") {
    throw new UsageError(`Invalid --mode: "${v.mode}" is not anonymized or faithful`);
  }
  if (mode === "anonymized" && v.promotion !== undefined) {
    throw new UsageError("Invalid --promotion: only a faithful copy takes a promotion");
  }
  const selection: Selection = {};
  if (v.sample !== undefined) {
    const n = Number(v.sample);
    if (!Number.isFinite(n)) {
      throw new UsageError(`Invalid --sample: "${v.sample}" is not a number`);
    }
    selection.sample = n;
  }
  if (v.where !== undefined) selection.where = v.where;
  try {
    assertValidSelection(selection);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const batchSize = positiveInt(v["batch-size"], "--batch-size", 20_000);
  const parallel = positiveInt(v.parallel, "--parallel", 2);
  if (parallel > 4) throw new UsageError("Invalid --parallel: at most 4");
  const statementTimeoutS = positiveInt(
    v["statement-timeout"],
    "--statement-timeout",
    DEFAULT_STATEMENT_TIMEOUT_S,
  );
  if (statementTimeoutS > 600) {
    throw new UsageError("Invalid --statement-timeout: at most 600 seconds");
  }
  return {
    from,
    to,
    mode,
    selection,
    batchSize,
    parallel,
    statementTimeoutS,
    promotionId: v.promotion,
    keyFile: v["key-file"],
    dryRun: Boolean(v["dry-run"]),
    json: Boolean(v.json),
  };
}

/**
 * Checks the copy on both sides (preflight), then either shows the dry run (exit 0) or queues
 * the job.
 */
async function startCopy(ctx: JobStartContext, r: CopyRequest): Promise<JobRow | number> {
  const manifest = SHIPPED_MANIFEST;
  const key = r.mode === "anonymized" ? await readKey(r.keyFile) : null;
  const derived = key ? await sqlKey(key) : null;
  const fingerprint = key ? await keyFingerprint(key) : null;
  const target = ctx.sql;
  return await withDatabase(r.from, async (source) => {
    ctx.log(
      `users copy ${r.from.name} → ${r.to.name}: ${r.mode}, ${describeSelection(r.selection)}` +
        (fingerprint ? `, key fingerprint ${fingerprint}` : ""),
    );
    const preflightInput = {
      source,
      target,
      sourceEnv: r.from.name,
      targetEnv: r.to.name,
      mode: r.mode,
      selection: r.selection,
      manifest,
      sqlKey: derived,
      statementTimeoutS: r.statementTimeoutS,
      promotionId: r.promotionId,
    };
    if (r.dryRun) {
      const testPassword = Deno.env.get("STAGECOACH_TEST_PASSWORD");
      const passwordHash = key && testPassword
        ? await testPasswordHash(target, {
          key,
          password: testPassword,
          cost: manifest.password_cost,
        })
        : null;
      const report = await dryRunCopy({ ...preflightInput, passwordHash });
      if (r.json) printJson({ dry_run: true, key_fingerprint: fingerprint, ...report });
      else printDryRun(report);
      return 0;
    }
    if (key) {
      // Fail before anything is written when the test password is missing.
      await testPasswordHash(target, {
        key,
        password: Deno.env.get("STAGECOACH_TEST_PASSWORD"),
        cost: manifest.password_cost,
      });
    }
    const pre = await preflightCopy(preflightInput);
    const params: UsersCopyParams = {
      source_env: r.from.name,
      target_env: r.to.name,
      mode: r.mode,
      selection: r.selection,
      batch_size: r.batchSize,
      parallel: r.parallel,
      key_fingerprint: fingerprint,
      manifest_hash: SHIPPED_MANIFEST_HASH,
      promotion_id: pre.promotion_id,
      actor: cliActor(),
      statement_timeout_s: r.statementTimeoutS,
    };
    const job = await ctx.create({
      params,
      totals: pre.totals,
      state: { phase: "copy", preflight: pre },
    });
    const total = Object.values(pre.totals).reduce((a, b) => a + b, 0);
    ctx.log(
      `job ${job.id} in ${r.to.name}: ${total.toLocaleString("en-US")} rows selected (${
        Object.entries(pre.totals).map(([t, n]) => `${t} ${n}`).join(", ")
      })`,
    );
    return job;
  }, { max: r.parallel + 1, prepare: false });
}

/** The line printed after a copy succeeded. */
function copySummary(job: JobRow): string {
  const result = job.result as { changed?: Record<string, number> } | null;
  return `job ${job.id} succeeded: ${JSON.stringify(job.counts)} rows copied` +
    (result?.changed ? `, ${JSON.stringify(result.changed)} changed` : "") +
    "; validation passed (counts, foreign keys, unique indexes, leak scan)";
}

function printDryRun(report: Awaited<ReturnType<typeof dryRunCopy>>): void {
  const pre = report.preflight;
  console.log(`dry run: nothing was written`);
  console.log(
    `  ${pre.source_kind} → ${pre.target_kind}; checks passed: manifest covers every column, tiers exist, no collisions (${pre.unique_checked.length} unique indexes)`,
  );
  for (const [table, n] of Object.entries(pre.totals)) {
    console.log(`  ${table}: ${n} rows selected, load by ${pre.load[table]}`);
  }
  for (const [table, rows] of Object.entries(report.samples)) {
    console.log(`\n${table} samples (before is redacted on the source):`);
    rows.forEach((row, i) => {
      for (const column of Object.keys(row.after)) {
        console.log(`  [${i + 1}] ${column}: ${row.before[column]} → ${row.after[column]}`);
      }
    });
  }
}
