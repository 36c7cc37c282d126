/**
 * `stagecoach rollout start | pause | resume | abort | status | list`: rollout plans of a feature
 * flag in one environment (`_shared/rollouts/`, migration `20261207000200`).
 *
 * A rollout raises the flag's percentage through `--stages` (strictly rising), each held at least
 * `--every`, gated between stages by health samples: the release watch's measures with the
 * commit's `supabase/health/*.sql`, plus per-flag queries given with `--health` (same headers;
 * they may compare users inside the rollout with those outside through `flags.evaluate`). The
 * ops-worker advances it on pg_cron's beat; `--follow` runs it here too (a killed CLI is taken
 * over by the worker). A breach pauses it or returns the flag to 0 % (`--on-breach`), notified
 * and audited.
 *
 * Where the environment requires approval (production), `start --plan` records a promotion of
 * scope `rollout` naming this exact plan; approvers approve it with `promote approve`, and
 * `start … --promotion <id>` starts it. Rollout state is the environment's own: never promoted.
 *
 * `status | list | pause | resume | abort` use the database owner's connection on the local stack
 * and, on a hosted project, the `ops` API as the signed-in user (`GET /ops/rollouts…`, `POST
 * /ops/rollouts/:id/pause|resume|abort`; operators and admins act), so they need no database URL.
 *
 * exit codes: 0 done, 1 refused or failed, 2 usage, 3 waiting for approval
 *
 * @module
 */
import { basename } from "node:path";
import { createHash } from "node:crypto";
import type postgres from "postgres";
import {
  type HealthQuery,
  HealthQueryError,
  parseHealthQuery,
} from "../../supabase/functions/_shared/release/health.ts";
import {
  describeSeconds,
  FlagKey,
  type OnBreach,
  parseStages,
  rolloutPlan,
} from "../../supabase/functions/_shared/rollouts/plan.ts";
import { readRollout } from "../../supabase/functions/_shared/rollouts/rollout_job.ts";
import { runJob } from "../../supabase/functions/_shared/jobs/runner.ts";
import type { JobHost } from "../../supabase/functions/_shared/jobs/registry.ts";
import { readHealthQueries } from "../release/watch.ts";
import { parseDuration } from "../release/duration.ts";
import {
  cliActor,
  defineCommand,
  ENV_OPTION,
  envOption,
  parseCommand,
  required,
  UsageError,
  withDatabase,
} from "./command.ts";
import { cliJobRegistry, cliOwner } from "./job_command.ts";
import { createProgress } from "./progress.ts";
import { functionSecrets, REPO_ROOT, type Target } from "./target.ts";
import { AS_OPTION, callOps, resolveToken } from "./api.ts";
import { ROLLOUT_SCOPE } from "../../supabase/functions/_shared/promotion/rollout_scope.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Reads per-flag health query files (`--health a.sql,b.sql`). */
export async function readFlagHealthQueries(list: string | undefined): Promise<HealthQuery[]> {
  const out: HealthQuery[] = [];
  for (const file of (list ?? "").split(",").map((f) => f.trim()).filter(Boolean)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch {
      throw new UsageError(`Invalid --health: cannot read ${file}`);
    }
    try {
      out.push(parseHealthQuery(
        basename(file),
        new TextDecoder().decode(bytes),
        createHash("sha256").update(bytes).digest("hex"),
      ));
    } catch (err) {
      if (err instanceof HealthQueryError) throw new UsageError(`Invalid --health: ${err.message}`);
      throw err;
    }
  }
  return out;
}

/** Everything a rollout is gated by: the commit's health queries, then the flag's own. */
export async function rolloutHealthQueries(
  repoRoot: string,
  flagQueries: readonly HealthQuery[],
): Promise<HealthQuery[]> {
  const all = [...await readHealthQueries(repoRoot), ...flagQueries];
  const names = all.map((q) => q.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) {
    throw new UsageError(
      `Invalid --health: ${[...new Set(twice)].join(", ")} named twice (supabase/health has ${
        twice.length === 1 ? "it" : "them"
      } already; rename the file)`,
    );
  }
  return all;
}

/** The job host of a rollout run here: the target's URL and keys, as the ops-worker has them. */
async function rolloutHost(env: Target, log: (line: string) => void): Promise<JobHost> {
  const secrets: Record<string, string | undefined> = {
    ...await functionSecrets(env),
    SUPABASE_URL: env.apiUrl,
  };
  return { owner: cliOwner(), dbUrl: () => env.dbUrl, secret: (n) => secrets[n], log };
}

/**
 * Runs a rollout's job in this process until the rollout stops (completed, paused, rolled back,
 * aborted), waiting while another runner holds it.
 */
export async function followRollout(
  db: postgres.Sql,
  id: string,
  opts: { host: JobHost; leaseMs?: number; pollMs?: number; onPercent?(p: number): void },
): Promise<{ status: string; percent: number }> {
  for (;;) {
    const r = await readRollout(db, id);
    if (!r) throw new Error(`Cannot follow rollout ${id}: no such rollout`);
    opts.onPercent?.(r.percent);
    if (r.status !== "running") return { status: r.status, percent: r.percent };
    const [job] = await db<{ id: string; status: string }[]>`
      select j.id::text, j.status from ops.jobs j join ops.flag_rollouts f on f.job_id = j.id
      where f.id = ${id}::uuid`;
    if (!job || !["queued", "running"].includes(job.status)) {
      await new Promise((res) => setTimeout(res, opts.pollMs ?? 1_000));
      continue;
    }
    const out = await runJob(db, job.id, {
      host: opts.host,
      registry: cliJobRegistry(),
      leaseMs: opts.leaseMs ?? 15_000,
      sliceMs: 120_000,
    });
    if (out.status === "busy") await new Promise((res) => setTimeout(res, opts.pollMs ?? 1_000));
    if (out.status === "failed") {
      throw new Error(
        `Cannot follow rollout ${id}: its job failed: ${out.job?.error?.message ?? "unknown"}`,
      );
    }
  }
}

/** A time as the database (a `Date`) or the ops API (ISO text) hands it. */
type Time = Date | string;

function iso(t: Time): string {
  return typeof t === "string" ? t : t.toISOString();
}

interface StatusRow {
  id: string;
  flag_key: string;
  environment: string;
  status: string;
  stages: number[];
  stage_index: number;
  percent: number;
  from_percent: number;
  every_s: number;
  sample_every_s: number;
  breach_after: number;
  on_breach: string;
  next_advance_at: Time | null;
  started_by: string;
  promotion_id: string | null;
  halted: Record<string, unknown> | null;
  created_at: Time;
  finished_at: Time | null;
  health: string[];
}

interface SampleRow {
  seq: number;
  taken_at: Time;
  percent: number;
  healthy: boolean;
  metrics: { name: string; value: number | null; healthy: boolean; detail?: string }[];
}

/**
 * A rollout as `rollout status` prints it: stages with the current one marked, the percentage,
 * the next advance, and the last samples.
 */
export function renderRolloutStatus(r: StatusRow, samples: readonly SampleRow[]): string {
  const stages = r.stages.map((p, i) =>
    i === r.stage_index && r.status !== "rolled_back" && r.status !== "aborted" ? `[${p}]` : `${p}`
  ).join(" → ");
  const lines = [
    `rollout ${r.id} of ${r.flag_key} in ${r.environment}: ${r.status} at ${r.percent} %`,
    `  stages:       ${stages} % (each at least ${
      describeSeconds(r.every_s)
    }; from ${r.from_percent} %)`,
    `  health gate:  a sample every ${
      describeSeconds(r.sample_every_s)
    }; ${r.breach_after} unhealthy in a row → ${
      r.on_breach === "pause" ? "pause" : "back to 0 %"
    }; queries: ${r.health.join(", ") || "none"}`,
    `  next advance: ${r.next_advance_at ? iso(r.next_advance_at) : "—"}`,
    `  started by:   ${r.started_by} at ${iso(r.created_at)}${
      r.promotion_id ? ` (promotion ${r.promotion_id})` : ""
    }`,
  ];
  if (r.halted) lines.push(`  halted:       ${describeHalt(r.halted)}`);
  lines.push(samples.length ? "  last samples:" : "  last samples: none yet");
  for (const s of samples) {
    const bad = s.metrics.filter((m) => !m.healthy)
      .map((m) => `${m.name} ${m.value ?? "unmeasured"}${m.detail ? ` (${m.detail})` : ""}`);
    lines.push(
      `    #${s.seq} ${iso(s.taken_at)} at ${s.percent} %: ${
        s.healthy ? "healthy" : `unhealthy — ${bad.join("; ")}`
      }`,
    );
  }
  return lines.join("\n");
}

/** Why a rollout stopped, in one line: who, at which percentage, the measures that breached. */
export function describeHalt(halted: Record<string, unknown>): string {
  const breached = (halted.breached ?? []) as {
    unhealthy: { name: string; value: number | null; direction: string; threshold: number }[];
  }[];
  const last = breached.at(-1)?.unhealthy ?? [];
  const why = last.map((m) =>
    `${m.name} ${m.value ?? "unmeasured"} (${m.direction} ${m.threshold} is bad)`
  ).join("; ");
  return `${halted.action ?? "halted"} by ${halted.by ?? "?"} at ${halted.percent ?? "?"} %${
    breached.length ? ` after ${breached.length} unhealthy sample(s): ${why}` : ""
  }`;
}

async function loadStatus(db: postgres.Sql, id: string) {
  const [row] = await db<StatusRow[]>`
    select id::text, flag_key, environment, status, stages, stage_index, percent, from_percent,
           every_s, sample_every_s, breach_after, on_breach, next_advance_at, started_by,
           promotion_id::text, halted, created_at, finished_at,
           array(select q->>'name' from jsonb_array_elements(health_queries) q) as health
    from ops.flag_rollouts where id = ${id}::uuid`;
  const samples = await db<SampleRow[]>`
    select seq, taken_at, percent, healthy, metrics from ops.flag_rollout_samples
    where rollout_id = ${id}::uuid order by seq desc limit 5`;
  return { row, samples: samples.reverse() };
}

/** The rollout a command names: an id, or the flag's newest rollout. */
async function findRollout(db: postgres.Sql, ref: string): Promise<string> {
  const rows = UUID.test(ref)
    ? await db<{ id: string }[]>`select id::text from ops.flag_rollouts where id = ${ref}::uuid`
    : await db<{ id: string }[]>`
        select id::text from ops.flag_rollouts where flag_key = ${ref}
        order by created_at desc limit 1`;
  if (!rows[0]) {
    throw new UsageError(`Cannot find a rollout "${ref}": no rollout of that flag or id`);
  }
  return rows[0].id;
}

/** `stagecoach rollout start`. */
export const rolloutStartCommand = defineCommand({
  name: "rollout start",
  summary: "Roll a flag out in stages, gated by health queries",
  args: "<flag>",
  description:
    `Raises the flag's rollout percentage through --stages, each held at least --every, with health
samples between them (the release watch's measures with supabase/health/*.sql, plus the
--health files). pg_cron's ops-worker advances it; --follow runs it here too. A breach pauses
it or returns it to 0 % (--on-breach), notified and audited. Where the environment requires
approval, --plan records a rollout promotion for approvers; --promotion starts the approved one.`,
  options: {
    env: ENV_OPTION,
    stages: {
      type: "string",
      value: "<p,p,…>",
      help: "percentages, rising, e.g. 1,5,25,50,100",
      required: true,
    },
    every: {
      type: "string",
      value: "<duration>",
      help: "minimum time per stage, e.g. 30m",
      required: true,
    },
    health: {
      type: "string",
      value: "<file,…>",
      help: "per-flag health queries (-- threshold: / -- direction:)",
    },
    "on-breach": {
      type: "string",
      value: "pause|rollback",
      help: "what a breach does (default pause)",
    },
    plan: { type: "boolean", help: "record a rollout promotion for approvers; start nothing" },
    promotion: {
      type: "string",
      value: "<id>",
      help: "the approved rollout promotion (gated environments)",
    },
    follow: { type: "boolean", help: "run the rollout here until it stops" },
    json: { type: "boolean", help: "print the rollout as JSON" },
    as: AS_OPTION,
  },
  footer:
    "exit codes: 0 started (or finished with --follow), 1 refused, 2 usage, 3 halted by a breach",
  async run(argv) {
    const parsed = parseCommand(this, argv, ["flag"]);
    if (!parsed) return 0;
    const { values: v, args } = parsed;
    const env = envOption(v.env);
    const flag = FlagKey.safeParse(required(args.flag, "<flag>"));
    if (!flag.success) throw new UsageError(`Invalid <flag>: ${flag.error.issues[0].message}`);
    let stages: number[];
    try {
      stages = parseStages(required(v.stages, "--stages"));
    } catch (err) {
      throw new UsageError(`Invalid --stages: ${(err as Error).message}`);
    }
    let everyMs: number;
    try {
      everyMs = parseDuration(required(v.every, "--every"));
    } catch (err) {
      throw new UsageError(`Invalid --every: ${(err as Error).message}`);
    }
    if (everyMs < 1000 || everyMs % 1000 !== 0) {
      throw new UsageError(`Invalid --every: give whole seconds, at least 1s`);
    }
    const onBreach = (v["on-breach"] ?? "pause") as OnBreach;
    if (onBreach !== "pause" && onBreach !== "rollback") {
      throw new UsageError(`Invalid --on-breach: "${v["on-breach"]}" is not pause or rollback`);
    }
    if (v.promotion !== undefined && !UUID.test(v.promotion)) {
      throw new UsageError(`Invalid --promotion: "${v.promotion}" is not a uuid`);
    }
    const healthQueries = await rolloutHealthQueries(
      REPO_ROOT,
      await readFlagHealthQueries(v.health),
    );
    const plan = rolloutPlan({
      flag: flag.data,
      stages,
      everyS: everyMs / 1000,
      onBreach,
      healthQueries,
    });
    if (v.plan) {
      const token = await resolveToken(env, v.as);
      const out = await callOps(env, "promotion.plan", {
        token,
        body: { source: env.name, scope: [ROLLOUT_SCOPE], rollout: plan },
      });
      if (!("promotion" in out)) throw new Error("Cannot plan the rollout: the plan was empty");
      const p = out.promotion;
      if (v.json) {
        console.log(JSON.stringify({ promotion: p }));
        return p.status === "approved" ? 0 : 3;
      }
      console.log(
        `rollout promotion ${p.id} (${p.status}, ${p.required_approvals} approval(s) required) for ${plan.flag}: ${
          plan.stages.join(",")
        } every ${describeSeconds(plan.every_s)}`,
      );
      console.log(
        `approve with: stagecoach promote approve ${p.id} --env ${env.name}; then: stagecoach rollout start ${plan.flag} --env ${env.name} --stages ${
          plan.stages.join(",")
        } --every ${v.every}${
          v.health ? ` --health ${v.health}` : ""
        } --on-breach ${onBreach} --promotion ${p.id}`,
      );
      return p.status === "approved" ? 0 : 3;
    }
    return await withDatabase(env, async (db) => {
      const [started] = await db<{ id: string; percent: number }[]>`
        select id::text, percent from ops.start_rollout(${plan.flag}, ${stages}::int[], ${plan.every_s},
          ${onBreach}, ${JSON.stringify(healthQueries)}::text::jsonb, ${cliActor()},
          ${v.promotion ?? null}::uuid)`;
      if (!v.follow) {
        const { row, samples } = await loadStatus(db, started.id);
        console.log(v.json ? JSON.stringify(row) : renderRolloutStatus(row, samples));
        return 0;
      }
      const progress = createProgress({ label: `rollout ${plan.flag}`, total: 100, unit: "%" });
      const out = await followRollout(db, started.id, {
        host: await rolloutHost(env, (line) => progress.log(line)),
        onPercent: (p) => progress.update(p),
      });
      progress.finish(`${out.status} at ${out.percent} %`);
      const { row, samples } = await loadStatus(db, started.id);
      console.log(v.json ? JSON.stringify(row) : renderRolloutStatus(row, samples));
      return out.status === "completed" ? 0 : 3;
    }, { max: 3 });
  },
});

/**
 * The rollout a command names on a hosted project, through the ops API: an id, or the flag's
 * newest rollout (`GET /ops/rollouts?flag=`).
 */
async function findRolloutByApi(env: Target, token: string, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const flag = FlagKey.safeParse(ref);
  const found = flag.success
    ? (await callOps(env, "rollout.list", { token, query: { flag: flag.data, limit: 1 } }))
      .rollouts[0]
    : undefined;
  if (!found) {
    throw new UsageError(`Cannot find a rollout "${ref}": no rollout of that flag or id`);
  }
  return found.id;
}

/**
 * `rollout status|pause|resume|abort` on a hosted project: as the signed-in user through the
 * ops API (operators and admins act; the database decides), needing only its API URL and a
 * token. Prints what the database path prints.
 */
async function rolloutByApi(
  env: Target,
  verb: "status" | "pause" | "resume" | "abort",
  ref: string,
  json: boolean | undefined,
): Promise<number> {
  const token = await resolveToken(env, undefined);
  const id = await findRolloutByApi(env, token, ref);
  if (verb !== "status") {
    await callOps(env, `rollout.${verb}`, { token, params: { id }, body: {} });
  }
  const shown = await callOps(env, "rollout.show", { token, params: { id } });
  const samples = shown.samples.slice(-5);
  console.log(
    json
      ? JSON.stringify({ ...shown.rollout, samples })
      : renderRolloutStatus(shown.rollout, samples),
  );
  return 0;
}

/** `rollout status`, and the commands that stop or resume a rollout, then show it. */
function rolloutCommand(verb: "status" | "pause" | "resume" | "abort", summary: string) {
  return defineCommand({
    name: `rollout ${verb}`,
    summary,
    args: "<flag|rollout id>",
    description:
      `On the local stack, as the database owner; on a hosted project, as the signed-in user
through the ops API (STAGECOACH_TOKEN, or STAGECOACH_EMAIL and STAGECOACH_PASSWORD; operators
and admins pause, resume and abort), with no database URL needed.`,
    options: { env: ENV_OPTION, json: { type: "boolean", help: "print the rollout as JSON" } },
    async run(argv) {
      const parsed = parseCommand(this, argv, ["rollout"]);
      if (!parsed) return 0;
      const { values: v, args } = parsed;
      const env = envOption(v.env, "--env", { database: false });
      const ref = required(args.rollout, "<flag|rollout id>");
      if (env.mode === "hosted") return await rolloutByApi(env, verb, ref, v.json);
      return await withDatabase(env, async (db) => {
        const id = await findRollout(db, ref);
        const by = cliActor();
        if (verb === "resume") await db`select 1 from ops.resume_rollout(${id}::uuid, ${by})`;
        if (verb === "pause" || verb === "abort") {
          await db`select 1 from ops.halt_rollout(${id}::uuid, ${verb}, ${
            JSON.stringify({ by })
          }::text::jsonb)`;
        }
        const { row, samples } = await loadStatus(db, id);
        console.log(
          v.json ? JSON.stringify({ ...row, samples }) : renderRolloutStatus(row, samples),
        );
        return 0;
      });
    },
  });
}

/** `stagecoach rollout status`. */
export const rolloutStatusCommand = rolloutCommand(
  "status",
  "Show a rollout: stages, percent, next advance, last health samples",
);
/** `stagecoach rollout pause`. */
export const rolloutPauseCommand = rolloutCommand(
  "pause",
  "Pause a rollout at its percentage (the ops-worker stops advancing it)",
);
/** `stagecoach rollout resume`. */
export const rolloutResumeCommand = rolloutCommand(
  "resume",
  "Resume a paused rollout at its stage (the stage's time starts again)",
);
/** `stagecoach rollout abort`. */
export const rolloutAbortCommand = rolloutCommand(
  "abort",
  "End a rollout and return its flag to 0 %",
);

/** A rollout as `rollout list` prints it. */
interface ListRow {
  id: string;
  flag_key: string;
  status: string;
  percent: number;
  stages: number[];
  next_advance_at: Time | null;
  created_at: Time;
}

/** `stagecoach rollout list`. */
export const rolloutListCommand = defineCommand({
  name: "rollout list",
  summary: "List the rollouts of an environment, newest first",
  description:
    `On a hosted project, read as the signed-in user through the ops API (no database URL needed).`,
  options: { env: ENV_OPTION, json: { type: "boolean", help: "print as JSON" } },
  async run(argv) {
    const parsed = parseCommand(this, argv, []);
    if (!parsed) return 0;
    const v = parsed.values;
    const env = envOption(v.env, "--env", { database: false });
    const rows: ListRow[] = env.mode === "hosted"
      ? (await callOps(env, "rollout.list", {
        token: await resolveToken(env, undefined),
        query: { limit: 50 },
      })).rollouts
      : await withDatabase(env, async (db) => [
        ...await db<ListRow[]>`
          select id::text, flag_key, status, percent, stages, next_advance_at, created_at
          from ops.flag_rollouts order by created_at desc limit 50`,
      ]);
    if (v.json) {
      console.log(JSON.stringify(rows.map((r) => ({
        id: r.id,
        flag_key: r.flag_key,
        status: r.status,
        percent: r.percent,
        stages: r.stages,
        next_advance_at: r.next_advance_at,
        created_at: r.created_at,
      }))));
      return 0;
    }
    if (!rows.length) console.log(`no rollouts in ${env.name}`);
    for (const r of rows) {
      console.log(
        `${r.id}  ${r.flag_key}  ${r.status} at ${r.percent} % of ${r.stages.join(",")}${
          r.next_advance_at ? `  next ${iso(r.next_advance_at)}` : ""
        }  started ${iso(r.created_at)}`,
      );
    }
    return 0;
  },
});
