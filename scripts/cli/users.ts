/**
 * `stagecoach users copy`: anonymized (or, through an approved promotion, faithful) copies of
 * auth users, identities, profiles and memberships between environments, as a resumable job
 * in the target's `ops.jobs`. This file parses options, builds the job host from the local
 * stack's config, prints; the engine is `supabase/functions/_shared/users/`.
 *
 * @module
 */
import postgres from "postgres";
import { defaultRegistry } from "../../supabase/functions/_shared/jobs/registry.ts";
import type { JobHost } from "../../supabase/functions/_shared/jobs/registry.ts";
import { JobFailure } from "../../supabase/functions/_shared/jobs/runner.ts";
import { createJob, loadJob, requeueJob } from "../../supabase/functions/_shared/jobs/store.ts";
import {
  testPasswordHash,
  USERS_COPY_KIND,
  usersCopyKind,
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
import { defineCommand, envOption, parseOptions, UsageError } from "./command.ts";
import { cliOwner, ownerIsDeadLocalProcess, runJobWithProgress } from "./progress.ts";
import { type EnvName, resolveTarget } from "./target.ts";

defaultRegistry.register(usersCopyKind);

function envName(value: string | undefined, flag: string): EnvName {
  return envOption(value, flag).name;
}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`Invalid ${flag}: "${value}" is not a positive whole number`);
  }
  return n;
}

async function readKey(keyFile: string | undefined): Promise<string> {
  let fileContent: string | undefined;
  if (keyFile !== undefined) {
    try {
      fileContent = await Deno.readTextFile(keyFile);
    } catch {
      throw new UsageError(`Invalid --key-file: cannot read ${keyFile}`);
    }
  }
  try {
    return chooseAnonKey({ envValue: Deno.env.get("STAGECOACH_ANON_KEY"), fileContent });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The job host of the CLI: local database URLs, the key from the options, env secrets. */
function cliHost(key: string | null): JobHost {
  return {
    owner: cliOwner(),
    dbUrl: (env) => resolveTarget(env).dbUrl,
    secret: (name) => (name === "STAGECOACH_ANON_KEY" ? key ?? undefined : Deno.env.get(name)),
    log: (line) => console.error(line),
  };
}

function connect(env: EnvName, max: number): postgres.Sql {
  return postgres(resolveTarget(env).dbUrl, {
    max,
    prepare: false,
    connect_timeout: 5,
    onnotice: () => {},
    connection: { application_name: "stagecoach_cli" },
  });
}

async function ensureReachable(sql: postgres.Sql, env: EnvName): Promise<void> {
  await sql`select 1`.catch((cause) => {
    throw new Error(
      `Cannot connect to ${env}: ${cause.message} (${
        resolveTarget(env).mode === "local" ? "is the stack up? npm start" : "check its DB_URL"
      })`,
    );
  });
}

function actor(): string {
  const user = Deno.env.get("USER") ?? Deno.env.get("LOGNAME") ?? "unknown";
  return `cli:${user}@${Deno.hostname()}`;
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
    const to = envName(v.to, "--to");
    const write = v.json
      ? (text: string) => Deno.stderr.writeSync(new TextEncoder().encode(text))
      : undefined;
    const terminal = v.json ? Deno.stderr.isTerminal() : undefined;
    if (v.resume !== undefined) return await resume(v.resume, to, v, { write, terminal });

    const from = envName(v.from, "--from");
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
    const manifest = SHIPPED_MANIFEST;
    const key = mode === "anonymized" ? await readKey(v["key-file"]) : null;
    const host = cliHost(key);
    const derived = key ? await sqlKey(key) : null;
    const fingerprint = key ? await keyFingerprint(key) : null;

    const source = connect(from, parallel + 1);
    const target = connect(to, parallel + 3);
    try {
      await ensureReachable(source, from);
      await ensureReachable(target, to);
      const log = (line: string) => (v.json ? console.error(line) : console.log(line));
      log(
        `users copy ${from} → ${to}: ${mode}, ${describeSelection(selection)}` +
          (fingerprint ? `, key fingerprint ${fingerprint}` : ""),
      );
      const preflightInput = {
        source,
        target,
        sourceEnv: from,
        targetEnv: to,
        mode,
        selection,
        manifest,
        sqlKey: derived,
        statementTimeoutS,
        promotionId: v.promotion,
      };
      if (v["dry-run"]) {
        const testPassword = Deno.env.get("STAGECOACH_TEST_PASSWORD");
        const passwordHash = key && testPassword
          ? await testPasswordHash(target, key, testPassword, manifest.password_cost)
          : null;
        const report = await dryRunCopy({ ...preflightInput, passwordHash });
        if (v.json) printJson({ dry_run: true, key_fingerprint: fingerprint, ...report });
        else printDryRun(report);
        return 0;
      }
      if (key) {
        // Fail before anything is written when the test password is missing.
        await testPasswordHash(
          target,
          key,
          Deno.env.get("STAGECOACH_TEST_PASSWORD"),
          manifest.password_cost,
        );
      }
      const pre = await preflightCopy(preflightInput);
      const params: UsersCopyParams = {
        source_env: from,
        target_env: to,
        mode,
        selection,
        batch_size: batchSize,
        parallel,
        key_fingerprint: fingerprint,
        manifest_hash: SHIPPED_MANIFEST_HASH,
        promotion_id: pre.promotion_id,
        actor: actor(),
        statement_timeout_s: statementTimeoutS,
      };
      const job = await createJob(target, defaultRegistry, {
        kind: USERS_COPY_KIND,
        params,
        executor: v.queue ? "worker" : "cli",
        totals: pre.totals,
        state: { phase: "copy", preflight: pre },
      });
      const total = Object.values(pre.totals).reduce((a, b) => a + b, 0);
      log(
        `job ${job.id} in ${to}: ${total.toLocaleString("en-US")} rows selected (${
          Object.entries(pre.totals).map(([t, n]) => `${t} ${n}`).join(", ")
        })`,
      );
      if (v.queue) {
        if (v.json) printJson({ job_id: job.id, status: "queued", executor: "worker" });
        else log(`queued for the ${to} ops-worker; follow it in ops.jobs (id ${job.id})`);
        return 0;
      }
      return await runAndReport(target, job.id, host, `users copy ${from} → ${to}`, {
        json: v.json ?? false,
        write,
        terminal,
      });
    } catch (err) {
      if (err instanceof JobFailure) throw new Error(err.message);
      throw err;
    } finally {
      await source.end({ timeout: 2 });
      await target.end({ timeout: 2 });
    }
  },
});

async function resume(
  jobId: string,
  to: EnvName,
  v: { "key-file"?: string; force?: boolean; json?: boolean },
  out: { write?: (t: string) => void; terminal?: boolean },
): Promise<number> {
  if (!/^[0-9a-f-]{36}$/i.test(jobId)) {
    throw new UsageError(`Invalid --resume: "${jobId}" is not a job id`);
  }
  const target = connect(to, 5);
  try {
    await ensureReachable(target, to);
    const job = await loadJob(target, jobId);
    if (!job || job.kind !== USERS_COPY_KIND) {
      throw new Error(`Cannot resume job ${jobId}: no users.copy job with that id in ${to}`);
    }
    if (job.status === "succeeded") {
      console.log(`job ${jobId} already succeeded; nothing to do`);
      return 0;
    }
    const params = job.params as unknown as UsersCopyParams;
    const key = params.mode === "anonymized" ? await readKey(v["key-file"]) : null;
    if (job.status === "failed" || job.status === "canceled") await requeueJob(target, jobId);
    const steal = v.force || await ownerIsDeadLocalProcess(job.lease_owner);
    const label = `users copy ${params.source_env} → ${params.target_env}`;
    (v.json ? console.error : console.log)(
      `resuming job ${jobId} (${job.status}${
        steal && job.lease_owner ? `, taking it over from ${job.lease_owner}` : ""
      })`,
    );
    return await runAndReport(target, jobId, cliHost(key), label, {
      json: v.json ?? false,
      steal,
      ...out,
    });
  } finally {
    await target.end({ timeout: 2 });
  }
}

async function runAndReport(
  target: postgres.Sql,
  jobId: string,
  host: JobHost,
  label: string,
  opts: { json: boolean; steal?: boolean; write?: (t: string) => void; terminal?: boolean },
): Promise<number> {
  const r = await runJobWithProgress(target, jobId, {
    host,
    label,
    steal: opts.steal,
    write: opts.write,
    terminal: opts.terminal,
  });
  const job = r.job;
  if (opts.json) {
    printJson({
      job_id: jobId,
      status: r.status,
      counts: job?.counts,
      result: job?.result ?? null,
      error: job?.error ?? null,
    });
  } else if (r.status === "succeeded") {
    const result = job?.result as { changed?: Record<string, number> } | null;
    console.log(
      `job ${jobId} succeeded: ${JSON.stringify(job?.counts)} rows copied` +
        (result?.changed ? `, ${JSON.stringify(result.changed)} changed` : "") +
        "; validation passed (counts, foreign keys, unique indexes, leak scan)",
    );
  }
  if (r.status === "succeeded") return 0;
  if (r.status === "queued") {
    console.error(`stopped; resume with: stagecoach users copy --to <env> --resume ${jobId}`);
    return 130;
  }
  if (r.status === "busy") {
    throw new Error(
      `Cannot run job ${jobId}: another run holds it (${job?.lease_owner}); wait, or --resume with --force`,
    );
  }
  throw new Error(job?.error?.message ?? `Cannot complete job ${jobId}: it ended ${r.status}`);
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
