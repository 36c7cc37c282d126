/**
 * `stagecoach release`, `release show`, `release list`: the one command CI and people run to
 * ship (engine: `scripts/release/release.ts`). This file parses options, builds the release's
 * world from the target layer, prints, writes GitHub's step outputs and job summary, and sets
 * the exit code: 0 released or nothing to release, 1 failed, 3 waiting for approval.
 *
 * @module
 */
import postgres from "postgres";
import { ApiCallError, AS_OPTION, callOps, resolveToken } from "./api.ts";
import {
  defineCommand,
  envOption,
  parseCommand,
  readKeyOption,
  required,
  UsageError,
} from "./command.ts";
import {
  anonKey,
  ENVIRONMENTS,
  functionSecrets,
  managementAccess,
  REPO_ROOT,
  supabaseCliDbUrl,
  type Target,
} from "./target.ts";
import { readCallerClaims } from "../../supabase/functions/_shared/auth.ts";
import { parseScopeList, type Scope } from "../../supabase/functions/_shared/promotion/kinds.ts";
import type {
  OpsCaller,
  Release,
  ReleaseRevertSchema,
  WatchSampleSchema,
} from "../../supabase/functions/_shared/api/contract.ts";
import type { z } from "zod";
import { renderPlan } from "../../supabase/functions/_shared/promotion/render.ts";
import { recordReverts, ReleaseRecord, type ReleaseRow } from "../release/record.ts";
import { revertRecords } from "../release/reverts_record.ts";
import { watchRelease } from "../release/watch.ts";
import { takeReleaseBackup } from "../release/backup_step.ts";
import { chooseBackupKey } from "../backup/crypto.ts";
import { cliJobRegistry, cliOwner } from "./job_command.ts";
import type { JobHost } from "../../supabase/functions/_shared/jobs/registry.ts";
import { type ReleaseOutcome, runRelease } from "../release/release.ts";
import { githubOutputLines, releaseMarkdown, releaseOutputs } from "../release/summary.ts";
import { supabaseCli } from "../release/supabase_cli.ts";
import { pendingMigrations } from "../release/pending.ts";
import { releaseSecrets } from "../release/secrets.ts";
import { parseDuration } from "../release/duration.ts";

type WatchSample = z.output<typeof WatchSampleSchema>;
type ReleaseRevert = z.output<typeof ReleaseRevertSchema>;

const DEFAULT_SCOPE: Scope[] = ["config", "tiers", "flags", "stripe", "schema"];

function scopeOption(value: string | undefined): Scope[] {
  if (value === undefined) return DEFAULT_SCOPE;
  try {
    return parseScopeList(value);
  } catch (err) {
    throw new UsageError(`Invalid --scope: ${(err as Error).message}`);
  }
}

/** The environment before `to` in promotion order. */
function previousEnv(to: string): string {
  const i = (ENVIRONMENTS as readonly string[]).indexOf(to);
  if (i <= 0) throw new UsageError(`Invalid --to: nothing is released into ${to}; pass --from`);
  return ENVIRONMENTS[i - 1];
}

async function gitSha(given: string | undefined): Promise<string> {
  const sha = given ?? Deno.env.get("GITHUB_SHA") ?? await (async () => {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "HEAD"],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => null);
    return out?.code === 0 ? new TextDecoder().decode(out.stdout).trim() : undefined;
  })();
  if (!sha || !/^[0-9a-fA-F]{7,64}$/.test(sha)) {
    throw new UsageError(
      `Invalid --sha: ${sha ? `"${sha}" is not a commit` : "no git commit found"}`,
    );
  }
  return sha.toLowerCase();
}

/** Who started it: the GitHub run, or the user behind the token (as the token says). */
function startedBy(token: string): string {
  const repo = Deno.env.get("GITHUB_REPOSITORY");
  const run = Deno.env.get("GITHUB_RUN_ID");
  if (repo && run) return `github:${repo}#${run} (${Deno.env.get("GITHUB_ACTOR") ?? "?"})`;
  try {
    // A label only: the target's gateway verifies the token when it is used.
    const claims = readCallerClaims(`Bearer ${token}`);
    return `user:${claims.email ?? claims.sub ?? "unknown"}`;
  } catch {
    return "user:unknown";
  }
}

async function appendFile(path: string | undefined, text: string): Promise<void> {
  if (path) await Deno.writeTextFile(path, text, { append: true });
}

/**
 * Who runs a release's watch from this process: the target's API URL and anon key (to probe
 * its functions) and its function secrets (the Stripe key, to revert the catalog).
 */
async function watchHost(to: Target, log: (line: string) => void): Promise<JobHost> {
  const secrets: Record<string, string | undefined> = {
    ...await functionSecrets(to),
    SUPABASE_URL: to.apiUrl,
    SUPABASE_ANON_KEY: await anonKey(to),
  };
  return { owner: cliOwner(), dbUrl: () => to.dbUrl, secret: (n) => secrets[n], log };
}

/**
 * Whether a release into this database takes a verified backup first: a production-kind
 * environment (its own `ops.environments` row says so; by name before it has one).
 */
async function takesBackup(db: postgres.Sql, name: string): Promise<boolean> {
  const [row] = await db<{ production: boolean | null }[]>`
    select (select kind = 'production' from ops.environments where is_self) as production`
    .catch(() => [{ production: null }]);
  return row?.production ?? name === "production";
}

/** Holds the target's release lock for `fn`, or fails when another release runs. */
async function withReleaseLock<T>(db: postgres.Sql, env: string, fn: () => Promise<T>): Promise<T> {
  const conn = await db.reserve();
  try {
    const [{ locked }] = await conn`
      select pg_try_advisory_lock(hashtextextended('stagecoach.release', 0)) as locked`;
    if (!locked) throw new Error(`Cannot release into ${env}: another release is running there`);
    try {
      return await fn();
    } finally {
      await conn`select pg_advisory_unlock(hashtextextended('stagecoach.release', 0))`;
    }
  } finally {
    conn.release();
  }
}

/** `stagecoach release` */
export const releaseCommand = defineCommand({
  name: "release",
  summary: "Release into an environment: schema, functions, secrets, then the promotion",
  description: `Releases the checkout into --to (from --from, by default the environment before it):
migrations pending in the target (linted; the dry run shown), the promotion of config, tiers,
flags, the Stripe catalog and the schema (recorded in the target; its policy decides the
approvals), then — once approved — the schema check, a verified backup (production:
STAGECOACH_BACKUP_KEY or --backup-key-file), supabase db push (the revert scripts recorded
first), function secrets, supabase functions deploy --use-api, the apply with validation,
every check again, and (production) the watch that rolls the release back by itself on a
breach.
Each step is recorded in the target's ops.releases. Running it again for the same commit
continues after the last finished step; a finished release changes nothing.

In GitHub Actions it writes step outputs (release_id, status, exit_code, promotion_id,
plan_hash, git_sha, backup_id, backup_dir) to $GITHUB_OUTPUT and a Markdown summary to $GITHUB_STEP_SUMMARY.

exit codes: 0 released or nothing to release, 1 failed, 2 usage, 3 waiting for approval`,
  options: {
    to: { type: "string", value: "<env>", help: "the environment to release into", required: true },
    from: {
      type: "string",
      value: "<env>",
      help: "the source of the promotion (default: the one before --to)",
    },
    sha: {
      type: "string",
      value: "<commit>",
      help: "the commit released (default: $GITHUB_SHA, else git rev-parse HEAD)",
    },
    scope: {
      type: "string",
      value: "<list>",
      help: `promotion scope (default: ${DEFAULT_SCOPE.join(",")})`,
    },
    "plan-only": {
      type: "boolean",
      help: "record the plan and report its approval state; change nothing",
    },
    promotion: {
      type: "string",
      value: "<id>",
      help: "continue the release that carries this promotion (e.g. after approval)",
    },
    wait: {
      type: "boolean",
      help: "poll until the approvals arrive (default: stop with exit code 3)",
    },
    timeout: {
      type: "string",
      value: "<dur>",
      help: "how long --wait waits: 90s, 15m, 2h (default 30m)",
    },
    "backup-key-file": {
      type: "string",
      value: "<path>",
      help: "production: the key of the pre-release backup (else STAGECOACH_BACKUP_KEY)",
    },
    as: AS_OPTION,
    json: { type: "boolean", help: "print the outcome as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
    if (!parsed) return 0;
    const v = parsed.values;
    const req = releaseOptions(v);
    const token = await resolveToken(req.to, v.as);
    const log = (line: string) => (v.json ? console.error(line) : console.log(line));
    const db = postgres(req.to.dbUrl, {
      max: 3,
      prepare: false,
      connect_timeout: 10,
      onnotice: () => {},
    });
    try {
      await db`select 1`.catch((cause) => {
        throw new Error(`Cannot connect to ${req.to.name}: ${cause.message}`);
      });
      return await withReleaseLock(db, req.to.name, async () => {
        const key = await releaseKey(db, { ...req, token, sha: v.sha });
        const record = await ReleaseRecord.open(db, key);
        const out = await runRelease(
          {
            source: key.source,
            target: req.to.name,
            scope: req.scope,
            planOnly: v["plan-only"],
            waitMs: req.waitMs,
          },
          {
            record,
            pendingMigrations: () => pendingMigrations(REPO_ROOT, db),
            ops: opsCaller(req.to, token),
            supabase: supabaseCli({
              repoRoot: REPO_ROOT,
              dbUrl: supabaseCliDbUrl(req.to),
              management: await managementAccess(req.to).catch(() => undefined),
            }),
            functionSecrets: () => Promise.resolve(releaseSecrets(req.to, req.from)),
            recordReverts: async (migrations) =>
              await recordReverts(db, record.row.id, await revertRecords(REPO_ROOT, migrations)),
            ...(await takesBackup(db, req.to.name)
              ? {
                backup: () =>
                  takeReleaseBackup(db, {
                    releaseId: record.row.id,
                    environment: req.to.name,
                    dbUrl: req.to.dbUrl,
                    key: () =>
                      readKeyOption(v["backup-key-file"], {
                        variable: "STAGECOACH_BACKUP_KEY",
                        choose: chooseBackupKey,
                      }),
                    gitSha: key.sha,
                    log,
                  }),
              }
              : {}),
            watch: async () =>
              await watchRelease(db, {
                releaseId: record.row.id,
                environment: req.to.name,
                repoRoot: REPO_ROOT,
                host: await watchHost(req.to, log),
                registry: cliJobRegistry(),
                log,
              }),
            log,
          },
        );
        await reportRelease(out, { env: req.to.name, json: v.json ?? false });
        return out.exitCode;
      });
    } finally {
      await db.end({ timeout: 2 });
    }
  },
});

/** The release's options, checked before anything is reached. @throws {UsageError} */
function releaseOptions(v: {
  to?: string;
  from?: string;
  scope?: string;
  wait?: boolean;
  timeout?: string;
  promotion?: string;
}) {
  const to = envOption(required(v.to, "--to"), "--to");
  const from = envOption(v.from ?? previousEnv(to.name), "--from");
  if (from.name === to.name) throw new UsageError("--from and --to must differ");
  const scope = scopeOption(v.scope);
  if (v.timeout !== undefined && !v.wait) throw new UsageError("--timeout needs --wait");
  let waitMs = 0;
  if (v.wait) {
    try {
      waitMs = parseDuration(v.timeout ?? "30m");
    } catch (err) {
      throw new UsageError(`Invalid --timeout: ${(err as Error).message}`);
    }
  }
  if (v.promotion !== undefined && !/^[0-9a-f-]{36}$/i.test(v.promotion)) {
    throw new UsageError(`Invalid --promotion: "${v.promotion}" is not a uuid`);
  }
  return { to, from, scope, waitMs, promotion: v.promotion };
}

/**
 * What identifies the release: the target, the source and the commit; with `--promotion`, the
 * release that carries it (whose commit the checkout must be at).
 */
async function releaseKey(
  db: postgres.Sql,
  opts: { to: Target; from: Target; token: string; sha?: string; promotion?: string },
) {
  const key = {
    environment: opts.to.name,
    source: opts.from.name as string,
    sha: await gitSha(opts.sha),
    startedBy: startedBy(opts.token),
  };
  if (!opts.promotion) return key;
  const found = await findByPromotion(db, opts.promotion);
  if (!found) {
    throw new Error(`Cannot find a release of promotion ${opts.promotion} in ${opts.to.name}`);
  }
  // The functions deployed are the checkout's: they must be the planned commit's.
  if (found.git_sha !== key.sha && !found.git_sha.startsWith(key.sha)) {
    throw new Error(
      `Cannot continue the release of promotion ${opts.promotion}: it was planned at commit ${
        found.git_sha.slice(0, 12)
      }, the checkout is at ${key.sha.slice(0, 12)}; check out ${found.git_sha}`,
    );
  }
  return { ...key, source: found.source_env, sha: found.git_sha };
}

/** The ops API as the release calls it: an error names what the API said, details included. */
function opsCaller(to: Target, token: string): OpsCaller {
  return (name, request) =>
    callOps(to, name, { token, ...request }).catch((err) => {
      if (!(err instanceof ApiCallError)) throw err;
      const details = Object.keys(err.details).length ? ` ${JSON.stringify(err.details)}` : "";
      throw Object.assign(new Error(`${err.message}${details}`), { code: err.code });
    });
}

/** Prints the outcome and writes GitHub's step outputs and job summary when they are asked for. */
async function reportRelease(out: ReleaseOutcome, opts: { env: string; json: boolean }) {
  const approveHint = out.promotion
    ? `stagecoach promote approve ${out.promotion.id} --env ${opts.env}`
    : undefined;
  await appendFile(Deno.env.get("GITHUB_OUTPUT"), githubOutputLines(releaseOutputs(out)));
  await appendFile(Deno.env.get("GITHUB_STEP_SUMMARY"), releaseMarkdown(out, { approveHint }));
  if (opts.json) {
    console.log(JSON.stringify({ ...out, plan: undefined }, null, 2));
    return;
  }
  if (out.plan && !out.unchanged) {
    const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
    console.log(`\n${renderPlan(out.plan, { color, hash: out.promotion?.plan_hash })}`);
  }
  console.log(`\nrelease ${out.release.id}: ${out.release.status}`);
  if (out.exitCode === 3 && approveHint) console.log(`approve with: ${approveHint}`);
  if (out.error) console.error(out.error);
}

async function findByPromotion(db: postgres.Sql, id: string): Promise<ReleaseRow | null> {
  const [{ ok }] = await db<{ ok: boolean }[]>`
    select to_regclass('ops.releases') is not null as ok`;
  if (!ok) return null;
  const [row] = await db<ReleaseRow[]>`
    select id::text, source_env, git_sha from ops.releases where promotion_id = ${id}`;
  return row ?? null;
}

function printRelease(
  r: Release,
  more: { samples?: WatchSample[]; reverts?: ReleaseRevert[] } = {},
): void {
  console.log(
    `release ${r.id}  ${r.source_env} → ${r.environment}  ${r.status}  commit ${
      r.git_sha.slice(0, 12)
    }  by ${r.started_by}${r.promotion_id ? `  promotion ${r.promotion_id}` : ""}`,
  );
  for (const s of r.steps) {
    const ms = s.ms === undefined || s.ms === null
      ? ""
      : ` (${(Number(s.ms) / 1000).toFixed(1)} s)`;
    console.log(`  ${s.status.padEnd(9)} ${s.name}${ms}${s.summary ? `: ${s.summary}` : ""}`);
  }
  if (!more.samples && !more.reverts) return;
  if (r.backup) {
    const b = r.backup as Record<string, unknown>;
    console.log(
      `  backup ${b.id}: manifest sha256 ${String(b.manifest_sha256).slice(0, 16)}…, key ${
        b.key_fingerprint ?? "?"
      }${b.verified_at ? `, verified ${b.verified_at}` : ""}${b.dir ? `, in ${b.dir}` : ""}`,
    );
  }
  for (const m of more.reverts ?? []) {
    console.log(
      `  revert ${m.version}_${m.name}: ${
        m.sha256 === null
          ? "none — only a restore undoes it"
          : m.loses_data
          ? `loses data${m.reason ? ` (${m.reason})` : ""} — only a restore undoes it`
          : `sha256 ${m.sha256.slice(0, 16)}…`
      }`,
    );
  }
  if (r.watch) {
    const w = r.watch as Record<string, unknown>;
    console.log(
      `  watch: ${w.window_s} s from ${w.started_at}, every ${w.every_s} s, ${w.breach_after} unhealthy in a row roll back; outcome ${
        w.outcome ?? "pending"
      }`,
    );
  }
  for (const s of more.samples ?? []) {
    const bad = s.metrics.filter((m) => !m.healthy);
    console.log(
      `    #${s.seq} ${s.taken_at}  ${s.healthy ? "healthy" : "UNHEALTHY"}  ${
        s.metrics.map((m) =>
          `${m.name}=${m.value ?? "?"}${m.healthy ? "" : `(${m.direction} ${m.threshold})`}`
        ).join(" ")
      }${
        bad.some((m) => m.detail)
          ? `  — ${bad.filter((m) => m.detail).map((m) => `${m.name}: ${m.detail}`).join("; ")}`
          : ""
      }`,
    );
  }
  if (r.rollback) console.log(`  rollback: ${JSON.stringify(r.rollback)}`);
}

/** `stagecoach release show <id>` */
export const releaseShowCommand = defineCommand({
  name: "release show",
  summary: "Show one release with its steps",
  args: "<id>",
  description:
    `Prints the release (commit, source, who started it, promotion, status) and each step with
its status, time and summary; then its backup, each migration's revert script, the watch with
every sample (each measure, its threshold and direction) and what a rollback did; read through
the environment's ops API.`,
  options: {
    env: { type: "string", value: "<env>", help: "the environment released into", required: true },
    as: AS_OPTION,
    json: { type: "boolean", help: "print the release as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, ["id"]);
    if (!parsed) return 0;
    const env = envOption(parsed.values.env);
    const token = await resolveToken(env, parsed.values.as);
    const shown = await callOps(env, "release.show", {
      token,
      params: { id: parsed.args.id },
    });
    if (parsed.values.json) console.log(JSON.stringify(shown, null, 2));
    else printRelease(shown.release, shown);
    return 0;
  },
});

/** `stagecoach release list` */
export const releaseListCommand = defineCommand({
  name: "release list",
  summary: "List the newest releases into an environment",
  options: {
    env: { type: "string", value: "<env>", help: "the environment released into", required: true },
    limit: { type: "string", value: "<n>", help: "how many (1..200, default 20)" },
    as: AS_OPTION,
    json: { type: "boolean", help: "print the releases as JSON" },
  },
  async run(args) {
    const parsed = parseCommand(this, args, []);
    if (!parsed) return 0;
    const env = envOption(parsed.values.env);
    const limit = parsed.values.limit ?? "20";
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 200) {
      throw new UsageError(`Invalid --limit: "${limit}" is not a whole number in 1..200`);
    }
    const token = await resolveToken(env, parsed.values.as);
    const { releases } = await callOps(env, "release.list", {
      token,
      query: { limit: Number(limit) },
    });
    if (parsed.values.json) console.log(JSON.stringify(releases, null, 2));
    else if (!releases.length) console.log(`no releases in ${env.name}`);
    else for (const r of releases) printRelease(r);
    return 0;
  },
});
