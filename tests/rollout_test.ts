/**
 * Rollouts of a feature flag on the running test stack's production (which requires approval):
 *
 * - starting one needs an approved promotion of scope `rollout` naming exactly its plan;
 * - it advances on schedule (time accelerated: stages of seconds, a sample every second, as the
 *   release watch tests do) — never before a stage's time, never without a healthy sample — and
 *   halts by itself when the flag's health query breaches: back to 0 %, audited (the percentage
 *   writes through the gate with a `rollout` permit) and notified;
 * - a rollout whose runner was killed is finished by the ops-worker (as pg_cron calls it).
 *
 * The per-flag health query here counts rows of a probe table rather than calling
 * `flags.evaluate` (built on another branch); a query comparing users inside and outside the
 * rollout runs through the same path (read only, statement timeout).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import type postgres from "postgres";
import { localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import { followRollout, rolloutHealthQueries } from "../scripts/cli/rollout.ts";
import { addEndpoint } from "../supabase/functions/_shared/notifications/store.ts";
import {
  type HealthQuery,
  parseHealthQuery,
} from "../supabase/functions/_shared/release/health.ts";
import { rolloutPlan } from "../supabase/functions/_shared/rollouts/plan.ts";
import type { JobHost } from "../supabase/functions/_shared/jobs/registry.ts";
import {
  actorEmail,
  breakGlass,
  cli,
  type Harness,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

const production = localEnv("production");

interface Fixture {
  flag: string;
  table: string;
  query: HealthQuery;
  repoRoot: string;
}

/** A flag at 0 %, and its health query: rows in a probe table are a breach. */
async function fixture(db: postgres.Sql): Promise<Fixture> {
  const suffix = uniqueSuffix().replace(/[^a-z0-9]/g, "");
  const flag = `rollout_test.f${suffix}`;
  const table = `rollout_probe_${suffix}`;
  await breakGlass(db, "tests: a flag to roll out", async (tx) => {
    await tx`insert into public.feature_flags (key, enabled, rollout_percent)
             values (${flag}, true, 0)`;
  });
  await db.unsafe(`create table public.${table} (n int)`);
  const text =
    `-- Payment failures among users in the rollout (a probe here).\n-- threshold: 0\n-- direction: above\nselect count(*) from public.${table};\n`;
  const query = parseHealthQuery(
    `payment_failures_${suffix}.sql`,
    text,
    createHash("sha256").update(text).digest("hex"),
  );
  // No supabase/health here: the rollout is gated by the flag's query and the built-in measures.
  const repoRoot = await Deno.makeTempDir({ prefix: "stagecoach-rollout-" });
  return { flag, table, query, repoRoot };
}

async function cleanup(db: postgres.Sql, f: Fixture) {
  await db.unsafe(`drop table if exists public.${f.table}`);
  await breakGlass(db, "tests: remove the rolled-out flag", async (tx) => {
    await tx`delete from public.feature_flags where key = ${f.flag}`;
  });
}

/** Samples every second, two unhealthy in a row breach (the release watch tests' settings). */
async function fastSamples(db: postgres.Sql) {
  await breakGlass(
    db,
    "tests: rollout samples of seconds",
    (tx) =>
      tx`update ops.environments set watch_every = '1 second', watch_breach_after = 2
       where name = 'production'`,
  );
}

async function defaultSamples(db: postgres.Sql) {
  await breakGlass(
    db,
    "tests: the default watch again",
    (tx) =>
      tx`update ops.environments set watch_every = '30 seconds', watch_breach_after = 3
       where name = 'production'`,
  );
}

async function host(): Promise<JobHost> {
  const secrets: Record<string, string> = {
    SUPABASE_URL: production.apiUrl,
    SUPABASE_ANON_KEY: (await readKeys(production)).anon_key,
  };
  return { owner: "test:rollout", dbUrl: () => production.dbUrl, secret: (n) => secrets[n] };
}

/** Plans a rollout promotion through the ops API and has it approved. */
async function approvedRollout(
  h: Harness,
  plan: ReturnType<typeof rolloutPlan>,
): Promise<string> {
  const res = await h.call("production", "operator", "/promotions", {
    body: { source: "production", scope: ["rollout"], rollout: plan },
  });
  assert.equal(res.status, 201, res.text);
  const p = res.body.promotion;
  assert.equal(p.status, "awaiting_approval");
  assert.equal(p.risk, "high");
  assert.equal(await h.approveAsNeeded("production", p), "approved");
  return p.id;
}

async function startRollout(
  db: postgres.Sql,
  a: { flag: string; stages: number[]; every: number; onBreach: string; queries: HealthQuery[] },
  promotionId: string | null,
) {
  const [r] = await db<{ id: string; percent: number; status: string }[]>`
    select id::text, percent, status from ops.start_rollout(${a.flag}, ${a.stages}::int[], ${a.every},
      ${a.onBreach}, ${JSON.stringify(a.queries)}::text::jsonb, 'test', ${promotionId}::uuid)`;
  return r;
}

async function flagPercent(db: postgres.Sql, flag: string): Promise<number> {
  const [f] = await db<{ p: number }[]>`
    select rollout_percent as p from public.feature_flags where key = ${flag}`;
  return f.p;
}

async function rolloutRow(db: postgres.Sql, id: string) {
  const [r] = await db<
    {
      status: string;
      percent: number;
      stage_index: number;
      halted: Record<string, unknown> | null;
      job_id: string;
    }[]
  >`select status, percent, stage_index, halted, job_id::text from ops.flag_rollouts
    where id = ${id}::uuid`;
  return r;
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>) {
  const t0 = Date.now();
  while (!(await check())) {
    assert.ok(Date.now() - t0 < ms, what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("a production rollout needs its approved plan, advances on schedule and halts by itself on a breach, notified", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    const f = await fixture(db);
    const endpoint = await addEndpoint(db, {
      environment: "production",
      name: `rollout-${f.table}`,
      kind: "webhook",
      url: `https://hooks.example.com/${f.table}`,
      events: ["rollout.rolled_back", "rollout.started"],
    });
    await fastSamples(db);
    try {
      const queries = await rolloutHealthQueries(f.repoRoot, [f.query]);
      const args = { flag: f.flag, stages: [10, 50, 100], every: 3, onBreach: "rollback", queries };
      // Without an approval: refused, nothing written.
      await assert.rejects(startRollout(db, args, null), /requires approval/);
      assert.equal(await flagPercent(db, f.flag), 0);

      const plan = rolloutPlan({
        flag: f.flag,
        stages: args.stages,
        everyS: args.every,
        onBreach: "rollback",
        healthQueries: queries,
      });
      const promotionId = await approvedRollout(h, plan);
      // The approval binds to the plan: other stages are refused.
      await assert.rejects(
        startRollout(db, { ...args, stages: [10, 100] }, promotionId),
        /it approved/,
      );
      const started = await startRollout(db, args, promotionId);
      assert.equal(started.status, "running");
      assert.equal(await flagPercent(db, f.flag), 10, "the first stage at once");
      // One approval, one rollout; and no advance before the stage's time.
      await assert.rejects(startRollout(db, args, promotionId), /already/);
      await assert.rejects(
        db`select ops.advance_rollout(${started.id}::uuid)`,
        /its stage lasts until/,
      );

      const run = followRollout(db, started.id, { host: await host(), leaseMs: 5_000 });
      await waitFor(
        "the rollout reached its second stage",
        30_000,
        async () => await flagPercent(db, f.flag) === 50,
      );
      const [adv] = await db<{ waited: number; samples: number }[]>`
        select extract(epoch from (a.occurred_at - r.created_at))::float8 as waited,
               (select count(*)::int from ops.flag_rollout_samples x
                 where x.rollout_id = r.id and x.percent = 10 and x.healthy) as samples
        from ops.flag_rollouts r
        join ops.audit_log a on a.subject_id = r.id::text and a.action = 'rollout.advanced'
        where r.id = ${started.id}::uuid order by a.id limit 1`;
      assert.ok(adv.samples >= 1, "healthy samples at 10 % before the advance");
      assert.ok(adv.waited >= 3, `no advance before the stage's 3 s (after ${adv.waited} s)`);

      await db.unsafe(`insert into public.${f.table} values (1)`); // payment failures: the breach
      const out = await run;
      assert.equal(out.status, "rolled_back");
      const row = await rolloutRow(db, started.id);
      assert.equal(row.status, "rolled_back");
      assert.equal(row.percent, 0);
      assert.equal(await flagPercent(db, f.flag), 0, "the flag is back at 0 %");
      const breached = (row.halted?.breached ?? []) as { unhealthy: { name: string }[] }[];
      assert.equal(breached.length, 2, "two unhealthy samples in a row breach");
      assert.deepEqual(
        breached[0].unhealthy.map((m) => m.name),
        [`health:${f.query.name}`],
        "only the flag's health query breached",
      );
      // Audited: the rollout's steps, and each percentage write through the gate's permit.
      const audit = await db<{ action: string; details: Record<string, unknown> }[]>`
        select action, details from ops.audit_log
        where subject_id = ${started.id} or (action = 'promotable.update'
          and details->>'reason' like ${`rollout ${started.id}%`}) order by id`;
      const actions = audit.map((a) => a.action);
      for (
        const a of [
          "rollout.started",
          "rollout.advanced",
          "rollout.unhealthy",
          "rollout.rolled_back",
          "promotable.update",
        ]
      ) {
        assert.ok(actions.includes(a), `audit has ${a}: ${actions.join(", ")}`);
      }
      assert.ok(
        audit.filter((a) => a.action === "promotable.update")
          .every((a) => a.details.purpose === "rollout"),
      );
      // Notified.
      const notes = await db<{ event_type: string; payload: { data: Record<string, unknown> } }[]>`
        select event_type, payload from ops.notification_outbox
        where endpoint_id = ${endpoint.id}::uuid order by created_at`;
      assert.deepEqual(notes.map((n) => n.event_type), ["rollout.started", "rollout.rolled_back"]);
      assert.equal(notes[1].payload.data.flag_key, f.flag);
      assert.equal(notes[1].payload.data.percent, 0);
      assert.ok(notes[1].payload.data.halted, "the notification carries the breach");
    } finally {
      await db`delete from ops.notification_outbox where endpoint_id = ${endpoint.id}::uuid`;
      await db`delete from ops.notification_endpoints where id = ${endpoint.id}::uuid`;
      await defaultSamples(db);
      await cleanup(db, f);
    }
  });
});

Deno.test("a rollout whose runner was killed is finished by the ops-worker, and its completion notified", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    const f = await fixture(db);
    const endpoint = await addEndpoint(db, {
      environment: "production",
      name: `rollout-${f.table}`,
      kind: "webhook",
      url: `https://hooks.example.com/${f.table}`,
      events: ["rollout.completed"],
    });
    await fastSamples(db);
    try {
      const queries = await rolloutHealthQueries(f.repoRoot, [f.query]);
      const args = { flag: f.flag, stages: [20, 60, 100], every: 2, onBreach: "pause", queries };
      const plan = rolloutPlan({
        flag: f.flag,
        stages: args.stages,
        everyS: args.every,
        onBreach: "pause",
        healthQueries: queries,
      });
      const started = await startRollout(db, args, await approvedRollout(h, plan));
      // The runner: a child process (as `rollout start --follow`), killed after the first advance.
      const script = join(f.repoRoot, "follow.ts");
      await Deno.writeTextFile(
        script,
        `import postgres from "postgres";
import { followRollout } from "${join(REPO_ROOT, "scripts/cli/rollout.ts")}";
const db = postgres(${JSON.stringify(production.dbUrl)}, { max: 3, onnotice: () => {} });
const secrets = ${
          JSON.stringify({
            SUPABASE_URL: production.apiUrl,
            SUPABASE_ANON_KEY: (await readKeys(production)).anon_key,
          })
        };
await followRollout(db, ${JSON.stringify(started.id)}, { leaseMs: 3000,
  host: { owner: "cli:elsewhere:1", dbUrl: () => "", secret: (n) => secrets[n] } });
`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", join(REPO_ROOT, "deno.json"), script],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor(
        "the child advanced the rollout",
        60_000,
        async () => await flagPercent(db, f.flag) === 60,
      );
      child.kill("SIGKILL");
      await child.status;
      assert.equal((await rolloutRow(db, started.id)).status, "running");

      // pg_cron's call, made now: the worker takes the job once the dead runner's lease lapses.
      const keys = await readKeys(production);
      await waitFor("the ops-worker finished the rollout", 90_000, async () => {
        const res = await fetch(`${production.functionsUrl}/ops-worker`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${keys.service_role_key}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ source: "test" }),
        });
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, 1_000));
        return (await rolloutRow(db, started.id)).status !== "running";
      });
      const row = await rolloutRow(db, started.id);
      assert.equal(row.status, "completed");
      assert.equal(row.percent, 100);
      assert.equal(await flagPercent(db, f.flag), 100);
      const [job] = await db<{ status: string; lease_owner: string | null }[]>`
        select status, lease_owner from ops.jobs where id = ${row.job_id}::uuid`;
      assert.equal(job.status, "succeeded");
      // Each stage once: the takeover neither repeated nor skipped one.
      const advanced = await db<{ percent: number }[]>`
        select (details->>'percent')::int as percent from ops.audit_log
        where subject_id = ${started.id} and action = 'rollout.advanced' order by id`;
      assert.deepEqual(advanced.map((a) => a.percent), [60, 100]);
      const notes = await db<{ event_type: string; payload: { data: Record<string, unknown> } }[]>`
        select event_type, payload from ops.notification_outbox
        where endpoint_id = ${endpoint.id}::uuid`;
      assert.deepEqual(notes.map((n) => [n.event_type, n.payload.data.percent]), [
        ["rollout.completed", 100],
      ]);
    } finally {
      await db`delete from ops.notification_outbox where endpoint_id = ${endpoint.id}::uuid`;
      await db`delete from ops.notification_endpoints where id = ${endpoint.id}::uuid`;
      await defaultSamples(db);
      await cleanup(db, f);
    }
  });
});

Deno.test("the rollout CLI: refused without approval, planned for approvers, started, paused, resumed, aborted", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    const f = await fixture(db);
    const health = join(f.repoRoot, `${f.query.name}.sql`);
    await Deno.writeTextFile(health, f.query.sql);
    const start = [
      "rollout",
      "start",
      f.flag,
      "--env",
      "production",
      "--stages",
      "5,25,100",
      "--every",
      "1h",
      "--health",
      health,
      "--on-breach",
      "rollback",
    ];
    try {
      const bad = await cli([...start.slice(0, 6), "25,5", "--every", "1h"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Invalid --stages: .*would take users out/);

      const refused = await cli(start);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /requires approval; plan it/);
      assert.equal(await flagPercent(db, f.flag), 0, "nothing written");

      await h.token("production", "operator"); // the user exists
      const planned = await cli([...start, "--plan", "--as", actorEmail("operator"), "--json"]);
      assert.equal(planned.code, 3, planned.stderr);
      const p = JSON.parse(planned.stdout).promotion;
      assert.deepEqual(
        p.plan.changes.map((c: { kind: string; key: string; risk: string }) => [
          c.kind,
          c.key,
          c.risk,
        ]),
        [["flag_rollout", f.flag, "high"]],
      );
      assert.equal(await h.approveAsNeeded("production", p), "approved");

      const started = await cli([...start, "--promotion", p.id]);
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stdout, /running at 5 %/);
      assert.match(started.stdout, /stages: +\[5\] → 25 → 100 %/);
      assert.equal(await flagPercent(db, f.flag), 5);

      const paused = await cli(["rollout", "pause", f.flag, "--env", "production"]);
      assert.equal(paused.code, 0, paused.stderr);
      assert.match(paused.stdout, /paused at 5 %/);
      const resumed = await cli(["rollout", "resume", f.flag, "--env", "production"]);
      assert.match(resumed.stdout, /running at 5 %/);
      const status = await cli(["rollout", "status", f.flag, "--env", "production", "--json"]);
      const row = JSON.parse(status.stdout);
      assert.equal(row.status, "running");
      assert.ok(row.next_advance_at, "the next advance is shown");
      const list = await cli(["rollout", "list", "--env", "production"]);
      assert.match(list.stdout, new RegExp(`${f.flag.replace(".", "\\.")}  running at 5 %`));
      const aborted = await cli(["rollout", "abort", f.flag, "--env", "production"]);
      assert.match(aborted.stdout, /aborted at 0 %/);
      assert.equal(await flagPercent(db, f.flag), 0, "back to 0 %");
    } finally {
      await cleanup(db, f);
    }
  });
});
