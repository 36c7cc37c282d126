/**
 * The safety net after a release applies, on the running test stack's production:
 *
 * - a release whose health query breaches during the watch is rolled back by itself — its
 *   data promotion from the snapshots and its migration by the recorded revert script, the
 *   history repaired — marked `rolled_back` with the samples, audited and notified;
 * - a healthy watch ends `succeeded`;
 * - a watch whose CLI was killed is finished by the ops-worker (as pg_cron calls it);
 * - a release whose migration's revert loses data: the watch rolls the data back and stops
 *   with the restore command; `release rollback` refuses with it and changes nothing;
 * - `release rollback` in production is a high-risk promotion: planned (exit 3), approved by
 *   two approvers, then it rolls back; run again it changes nothing.
 *
 * Each case stages a release row as the release CLI leaves it after `validate` (a promotion
 * applied through the API, a migration applied and in the history, its revert recorded), so
 * the watch and the rollback are exercised exactly, without a whole release around them (the
 * rehearsal covers that).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type postgres from "postgres";
import { localEnv, readKeys, REPO_ROOT } from "../scripts/local/config.ts";
import { cliJobRegistry, cliOwner } from "../scripts/cli/job_command.ts";
import { watchRelease } from "../scripts/release/watch.ts";
import { addEndpoint } from "../supabase/functions/_shared/notifications/store.ts";
import {
  actorEmail,
  breakGlass,
  cli,
  configText,
  type Harness,
  setConfig,
  uniqueSuffix,
  withHarness,
} from "./promotion_helpers.ts";

const production = localEnv("production");

/** A staged release: applied promotion, a migration (a table) with its revert recorded. */
interface Staged {
  id: string;
  promotionId: string;
  configKey: string;
  table: string;
  version: string;
  repoRoot: string;
}

let versionSeq = 0;

/** Watch settings for tests: seconds, not minutes. */
async function fastWatch(db: postgres.Sql, window = "4 seconds") {
  // Shortening a gated environment's watch weakens its policy: only under break glass.
  await breakGlass(
    db,
    "tests: a watch of seconds",
    (tx) =>
      tx`update ops.environments
         set watch_window = ${window}::interval, watch_every = '1 second', watch_breach_after = 2
         where name = 'production'`,
  );
}

async function restoreWatch(db: postgres.Sql) {
  // Back to the defaults: rarer samples and more tolerated breaches count as weaker too.
  await breakGlass(
    db,
    "tests: the default watch again",
    (tx) =>
      tx`update ops.environments
         set watch_window = null, watch_every = '30 seconds', watch_breach_after = 3
         where name = 'production'`,
  );
}

async function stageRelease(h: Harness, opts: { losesData?: boolean } = {}): Promise<Staged> {
  const db = h.db.production;
  const suffix = uniqueSuffix().replace(/[^a-z0-9]/g, "");
  const configKey = `watch.${suffix}`;
  await setConfig(h.db.staging, configKey, `{"n": 1}`);
  const promotionId = await h.promote("staging", "production", { scope: ["config"] });
  assert.equal(await configText(db, configKey), `{"n": 1}`);

  const table = `watch_probe_${suffix}`;
  const repoRoot = await Deno.makeTempDir({ prefix: "stagecoach-watch-" });
  // Above every real migration: the rollback's "nothing applied after it" check holds.
  const version = `2099${String(Date.now()).slice(-7)}${String(++versionSeq).padStart(3, "0")}`;
  const name = `add_${table}`;
  const staged = { id: "", promotionId, configKey, table, version, repoRoot };
  try {
    return await stageMigration(db, staged, name, opts);
  } catch (err) {
    await cleanup(db, staged);
    throw err;
  }
}

async function stageMigration(
  db: postgres.Sql,
  staged: Staged,
  name: string,
  opts: { losesData?: boolean },
): Promise<Staged> {
  const { table, version, promotionId, repoRoot } = staged;
  await db.unsafe(`create table public.${table} (id int primary key)`);
  await db`insert into supabase_migrations.schema_migrations (version, name, statements)
           values (${version}, ${name}, ${[`create table public.${table} (id int primary key)`]})`;
  const [{ id }] = await db<{ id: string }[]>`
    select id::text from ops.start_release('production', 'staging', ${
    crypto.randomUUID().replaceAll("-", "")
  }, 'user:test')`;
  await db`select 1 from ops.record_release_step(${id}::uuid, 'apply', 'succeeded', 'staged', ${promotionId}::uuid)`;
  const revert = opts.losesData
    ? `-- stagecoach: loses-data drops the probe table with its rows\ndrop table public.${table};\n`
    : `drop table public.${table};\n`;
  const sha = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(revert))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  await db`select ops.record_release_reverts(${id}::uuid, ${
    JSON.stringify([{
      version,
      name,
      sql: revert,
      sha256: sha,
      loses_data: !!opts.losesData,
      reason: opts.losesData ? "drops the probe table with its rows" : null,
    }])
  }::text::jsonb)`;
  // The commit's health query: rows in the probe table are a breach.
  await Deno.mkdir(join(repoRoot, "supabase/health"), { recursive: true });
  await Deno.writeTextFile(
    join(repoRoot, "supabase/health/probe_rows.sql"),
    `-- Rows in the probe table.\n-- threshold: 0\n-- direction: above\nselect count(*) from public.${table};\n`,
  );
  return { ...staged, id };
}

async function cleanup(db: postgres.Sql, s: Staged) {
  await db`delete from supabase_migrations.schema_migrations where version = ${s.version}`;
  await db.unsafe(`drop table if exists public.${s.table}`);
  await Deno.remove(s.repoRoot, { recursive: true }).catch(() => {});
}

async function watchHost() {
  const keys = await readKeys(production);
  const secrets: Record<string, string> = {
    SUPABASE_URL: production.apiUrl,
    SUPABASE_ANON_KEY: keys.anon_key,
  };
  return {
    owner: cliOwner(),
    dbUrl: () => production.dbUrl,
    secret: (n: string) => secrets[n],
    log: () => {},
  };
}

/** Runs the staged release's watch in this process, as the release CLI does. */
async function watchHere(db: postgres.Sql, s: Staged) {
  return await watchRelease(db, {
    releaseId: s.id,
    environment: "production",
    repoRoot: s.repoRoot,
    host: await watchHost(),
    registry: cliJobRegistry(),
    log: () => {},
  });
}

async function releaseRow(db: postgres.Sql, id: string) {
  const [row] = await db<
    { status: string; watch: Record<string, unknown>; rollback: Record<string, unknown> | null }[]
  >`select status, watch, rollback from ops.releases where id = ${id}::uuid`;
  return row;
}

async function tableExists(db: postgres.Sql, table: string): Promise<boolean> {
  const [{ ok }] = await db<{ ok: boolean }[]>`
    select to_regclass(${`public.${table}`}) is not null as ok`;
  return ok;
}

async function inHistory(db: postgres.Sql, version: string): Promise<boolean> {
  const rows =
    await db`select 1 from supabase_migrations.schema_migrations where version = ${version}`;
  return rows.length > 0;
}

Deno.test("a release whose health query breaches is rolled back by itself, data and schema, and notified", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    await fastWatch(db);
    const s = await stageRelease(h);
    const endpoint = await addEndpoint(db, {
      environment: "production",
      name: `watch-${s.table}`,
      kind: "webhook",
      url: `https://hooks.example.com/${s.id}`,
      events: ["release.rolled_back"],
    });
    try {
      await db.unsafe(`insert into public.${s.table} values (1)`); // the breach
      const out = await watchHere(db, s);
      assert.equal(out?.outcome, "rolled_back", out?.summary);
      const row = await releaseRow(db, s.id);
      assert.equal(row.status, "rolled_back");
      assert.equal(row.watch.outcome, "rolled_back");
      const samples = await db<
        { healthy: boolean; metrics: { name: string; healthy: boolean }[] }[]
      >`
        select healthy, metrics from ops.release_watch_samples where release_id = ${s.id}::uuid order by seq`;
      assert.equal(samples.length, 2, "two unhealthy samples in a row breach");
      assert.ok(samples.every((x) => !x.healthy));
      assert.deepEqual(
        samples[0].metrics.filter((m) => !m.healthy).map((m) => m.name),
        ["health:probe_rows"],
        "only the health query breached: functions, webhooks and checks were healthy",
      );
      // Data: the promotion rolled back; schema: the revert ran and the history was repaired.
      const [p] = await db<{ status: string }[]>`
        select status::text from ops.promotions where id = ${s.promotionId}::uuid`;
      assert.equal(p.status, "rolled_back");
      assert.equal(await configText(db, s.configKey), null);
      assert.equal(await tableExists(db, s.table), false);
      assert.equal(await inHistory(db, s.version), false);
      assert.deepEqual((row.rollback?.schema as { reverted: string[] }).reverted, [
        `${s.version}_add_${s.table}`,
      ]);
      // Audited and notified.
      const audit = await db<{ action: string }[]>`
        select action from ops.audit_log where subject_id = ${s.id} order by id`;
      const actions = audit.map((a) => a.action);
      for (
        const a of [
          "release.watching",
          "release.watch_unhealthy",
          "release.rollback",
          "release.rolled_back",
        ]
      ) {
        assert.ok(actions.includes(a), `audit has ${a}: ${actions.join(", ")}`);
      }
      {
        const [n] = await db<{ payload: { data: { status: string; watch: unknown } } }[]>`
          select payload from ops.notification_outbox
          where endpoint_id = ${endpoint.id}::uuid and event_type = 'release.rolled_back'`;
        assert.equal(n?.payload.data.status, "rolled_back");
        assert.ok(n.payload.data.watch, "the notification carries the watch");
      }
    } finally {
      await db`delete from ops.notification_outbox where endpoint_id = ${endpoint.id}::uuid`;
      await db`delete from ops.notification_endpoints where id = ${endpoint.id}::uuid`;
      await cleanup(db, s);
      await restoreWatch(db);
    }
  });
});

Deno.test("a healthy watch ends succeeded; a watch whose CLI was killed is finished by the ops-worker", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    const stagedA = await stageRelease(h);
    const stagedB = await stageRelease(h);
    try {
      await fastWatch(db, "3 seconds");
      const out = await watchHere(db, stagedA);
      assert.equal(out?.outcome, "passed", out?.summary);
      assert.equal((await releaseRow(db, stagedA.id)).status, "succeeded");
      assert.ok(await tableExists(db, stagedA.table), "nothing rolled back");

      // B: the watch runs in a child process that is killed after its first sample.
      await fastWatch(db, "6 seconds");
      const script = join(stagedB.repoRoot, "watch.ts");
      await Deno.writeTextFile(
        script,
        `import postgres from "postgres";
import { watchRelease } from "${join(REPO_ROOT, "scripts/release/watch.ts")}";
import { cliJobRegistry } from "${join(REPO_ROOT, "scripts/cli/job_command.ts")}";
const db = postgres(${JSON.stringify(production.dbUrl)}, { max: 2, onnotice: () => {} });
const secrets = ${
          JSON.stringify({
            SUPABASE_URL: production.apiUrl,
            SUPABASE_ANON_KEY: (await readKeys(production)).anon_key,
          })
        };
await watchRelease(db, { releaseId: ${JSON.stringify(stagedB.id)}, environment: "production",
  repoRoot: ${JSON.stringify(stagedB.repoRoot)}, leaseMs: 3000, registry: cliJobRegistry(),
  host: { owner: "cli:elsewhere:1", dbUrl: () => "", secret: (n) => secrets[n], log: () => {} },
  log: () => {} });
`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", join(REPO_ROOT, "deno.json"), script],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const t0 = Date.now();
      for (;;) {
        const [{ n }] = await db<{ n: number }[]>`
          select count(*)::int as n from ops.release_watch_samples where release_id = ${stagedB.id}::uuid`;
        if (n >= 1) break;
        assert.ok(Date.now() - t0 < 60_000, "the child took a first sample");
        await new Promise((r) => setTimeout(r, 200));
      }
      child.kill("SIGKILL");
      await child.status;
      assert.equal((await releaseRow(db, stagedB.id)).status, "watching");
      // pg_cron's call, made now: the worker takes the job once the dead runner's lease lapses.
      const keys = await readKeys(production);
      const t1 = Date.now();
      let row = await releaseRow(db, stagedB.id);
      while (!row.watch.outcome) {
        assert.ok(Date.now() - t1 < 90_000, "the ops-worker finished the watch");
        const res = await fetch(`${production.functionsUrl}/ops-worker`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${keys.service_role_key}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ source: "test" }),
        });
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, 2_000));
        row = await releaseRow(db, stagedB.id);
      }
      assert.equal(row.watch.outcome, "passed");
      assert.equal(row.status, "succeeded");
      const [job] = await db<{ lease_owner: string | null; status: string }[]>`
        select lease_owner, status from ops.jobs where id = ${row.watch.job_id as string}::uuid`;
      assert.equal(job.status, "succeeded");
    } finally {
      await cleanup(db, stagedA);
      await cleanup(db, stagedB);
      await restoreWatch(db);
    }
  });
});

Deno.test("a revert that loses data: the watch rolls the data back and names the restore; release rollback refuses", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    await fastWatch(db);
    const s = await stageRelease(h, { losesData: true });
    const other = await stageRelease(h, { losesData: true });
    try {
      // release rollback refuses before anything changes, naming the restore command.
      await h.token("production", "approver");
      const refused = await cli([
        "release",
        "rollback",
        other.id,
        "--env",
        "production",
        "--as",
        actorEmail("approver"),
      ]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /its revert loses data \(drops the probe table with its rows\)/);
      assert.match(refused.stderr, /stagecoach backup restore .* --env production/);
      assert.equal(await tableExists(db, other.table), true);
      assert.equal(await configText(db, other.configKey), `{"n": 1}`);

      await db.unsafe(`insert into public.${s.table} values (1)`);
      const out = await watchHere(db, s);
      assert.equal(out?.outcome, "needs_restore", out?.summary);
      assert.match(out!.summary, /restore with: stagecoach backup restore/);
      const row = await releaseRow(db, s.id);
      assert.equal(row.status, "failed");
      assert.equal(await configText(db, s.configKey), null, "the data was rolled back");
      assert.equal(await tableExists(db, s.table), true, "the schema waits for a restore");
      assert.equal(await inHistory(db, s.version), true);
    } finally {
      await cleanup(db, s);
      await cleanup(db, other);
      await restoreWatch(db);
    }
  });
});

Deno.test("release rollback in production: planned as a high-risk promotion, approved by two, then rolled back once", async () => {
  await withHarness(async (h) => {
    const db = h.db.production;
    const s = await stageRelease(h);
    try {
      await db`select 1 from ops.set_release_status(${s.id}::uuid, 'succeeded')`;
      await h.token("production", "operator");
      const as = ["--as", actorEmail("operator")];
      const first = await cli(["release", "rollback", s.id, "--env", "production", ...as]);
      assert.equal(first.code, 3, first.stdout + first.stderr);
      const promotionId = first.stdout.match(/promote approve ([0-9a-f-]{36})/)![1];
      const [p] = await db<
        { risk: string; required_approvals: number; plan_hash: string; scope: string[] }[]
      >`
        select risk, required_approvals, plan_hash, scope from ops.promotions where id = ${promotionId}::uuid`;
      assert.deepEqual([p.risk, p.required_approvals, p.scope], ["high", 2, ["rollback"]]);
      assert.equal(await tableExists(db, s.table), true, "nothing before approval");

      assert.equal(
        await h.approveAsNeeded("production", { id: promotionId, plan_hash: p.plan_hash }),
        "approved",
      );
      const second = await cli(["release", "rollback", s.id, "--env", "production", ...as]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal((await releaseRow(db, s.id)).status, "rolled_back");
      assert.equal(await configText(db, s.configKey), null);
      assert.equal(await tableExists(db, s.table), false);
      assert.equal(await inHistory(db, s.version), false);

      const third = await cli(["release", "rollback", s.id, "--env", "production", ...as]);
      assert.equal(third.code, 0);
      assert.match(third.stdout, /already rolled back; nothing to do/);

      const shown = await cli(["release", "show", s.id, "--env", "production", ...as]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(
        shown.stdout,
        new RegExp(
          `succeeded rollback \\([\\d.]+ s\\): rolled back by user:${actorEmail("operator")}`,
        ),
      );
      assert.match(shown.stdout, /revert \d+_add_watch_probe_/);
    } finally {
      await cleanup(db, s);
    }
  });
});
