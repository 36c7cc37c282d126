/**
 * The release rehearsal: the `run:` steps of `release-staging.yml` and
 * `release-production.yml`, executed in order by the workflow harness (`workflows/rehearse.ts`,
 * each `uses:` replaced by its local equivalent) in a git worktree of this repository, against
 * the running three-environment test stack, which the jobs reach only through the documented
 * variables (GitHub secrets and variables), as they would hosted Supabase:
 *
 * 1. A change merged in development — a config entry in its database and two migrations in
 *    the commit, the second dropping a column — reaches staging through the staging job; the
 *    plan is high risk with the linter's finding; a re-run changes nothing.
 * 2. The production `plan` job records the plan awaiting approval (exit 3 is success there);
 *    two approvers approve; the approval that completes the quorum makes production's `github`
 *    endpoint send `repository_dispatch` (to a local receiver); the `apply` job, run with that
 *    payload, releases; a re-run changes nothing.
 * 3. A migration edited after approval stops the release with `plan_drift`: nothing applied.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import {
  type EnvName,
  localEnv,
  localStripeKey,
  managementApiConfig,
  readAccessToken,
  readKeys,
  REPO_ROOT,
} from "../scripts/local/config.ts";
import { ensureUser } from "../scripts/local/auth.ts";
import { addEndpoint } from "../supabase/functions/_shared/notifications/store.ts";
import { outboundPolicyFromEnv } from "../supabase/functions/_shared/outbound/policy.ts";
import { breakGlass, uniqueSuffix, withHarness } from "./promotion_helpers.ts";
import { defaultHostEnv, type RehearsalResult, rehearseJob } from "./workflows/rehearse.ts";

const CI_EMAIL = "ci.release@stagecoach.test";
const CI_PASSWORD = "rehearsal-password-123";

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=Rehearsal", "-c", "user.email=rehearsal@stagecoach.test", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** GitHub's secrets and variables of a release job between two environments of the stack. */
async function githubSettings(envs: EnvName[], target: EnvName) {
  const secrets: Record<string, string> = {
    SUPABASE_ACCESS_TOKEN: await readAccessToken(managementApiConfig()),
    STAGECOACH_EMAIL: CI_EMAIL,
    STAGECOACH_PASSWORD: CI_PASSWORD,
    STRIPE_SECRET_KEY: await localStripeKey(localEnv(target)),
    DIGITALOCEAN_ACCESS_TOKEN: "dop_v1_rehearsal",
    STAGECOACH_BACKUP_KEY: "rehearsal-backup-key-0123456789abcdef",
  };
  const vars: Record<string, string> = { DIGITALOCEAN_PROJECT_ID: crypto.randomUUID() };
  for (const name of envs) {
    const env = localEnv(name);
    const p = `STAGECOACH_${name.toUpperCase()}_`;
    secrets[`${p}PROJECT_REF`] = env.projectRef;
    // The Supabase CLI treats a database off config.toml's port as remote and insists on TLS.
    secrets[`${p}DB_URL`] = `${env.dbUrl}?sslmode=disable`;
    secrets[`${p}ANON_KEY`] = (await readKeys(env)).anon_key;
    vars[`${p}API_URL`] = env.apiUrl;
    vars[`${p}FUNCTIONS_URL`] = env.functionsUrl;
  }
  return { secrets, vars };
}

/** A local stand-in for api.github.com's dispatches endpoint: records every dispatch. */
function githubReceiver() {
  const dispatches: { path: string; body: Record<string, unknown> }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    dispatches.push({ path: new URL(req.url).pathname, body: await req.json() });
    return new Response(null, { status: 204 });
  });
  return {
    dispatches,
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

/** Runs production's ops-worker as pg_cron does (delivers the outbox). */
async function runOpsWorker(): Promise<void> {
  const env = localEnv("production");
  const res = await fetch(`${env.functionsUrl}/ops-worker`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${(await readKeys(env)).service_role_key}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ source: "release_rehearsal_test" }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 200);
}

/** What each step did, for a failed assertion's message. */
function why(r: RehearsalResult): string {
  return JSON.stringify(
    r.steps.map((s) => [s.name, s.conclusion, s.error, (s.stdout + s.stderr).slice(-800)]),
    null,
    1,
  );
}

function stepOf(r: RehearsalResult, id: string) {
  const step = r.steps.find((s) => s.id === id);
  assert.ok(step, `no step ${id}`);
  return step;
}

async function appliedVersion(sql: postgres.Sql, version: string): Promise<boolean> {
  const [row] =
    await sql`select 1 from supabase_migrations.schema_migrations where version = ${version}`;
  return row !== undefined;
}

Deno.test("rehearsal: development → staging on merge, production after two approvals, drift stops it", async () => {
  const tag = uniqueSuffix().toLowerCase().replace(/[^a-z0-9]/g, "");
  const base = await Deno.makeTempDir({ prefix: "stagecoach-rehearsal-" });
  const work = join(base, "checkout");
  const table = `zz_reh_${tag}`;
  const key = `rehearsal.${tag}`;
  // Versions after every real migration, unique per run.
  const stamp = String(Date.now()).slice(-9);
  const v1 = `2999${stamp}1`, v2 = `2999${stamp}2`, v3 = `2999${stamp}3`;
  const rx = githubReceiver();
  const log = Deno.env.get("REHEARSAL_LOG")
    ? (t: string) => Deno.stderr.writeSync(new TextEncoder().encode(t))
    : undefined;
  const hostEnv = { ...defaultHostEnv(), SUPABASE_PROFILE: managementApiConfig().profileFile };

  await withHarness(async (h) => {
    try {
      await h.level("development", "staging");
      await h.level("staging", "production");
      for (const name of ["staging", "production"] as const) {
        await ensureUser(h.db[name], { email: CI_EMAIL, password: CI_PASSWORD, role: "operator" });
      }
      await h.token("production", "approver");
      await h.token("production", "approver2");
      // Production's watch after apply, in seconds rather than the default ten minutes.
      await breakGlass(
        h.db.production,
        "rehearsal: a watch of seconds",
        (tx) =>
          tx`update ops.environments
             set watch_window = '3 seconds', watch_every = '1 second', watch_breach_after = 2
             where name = 'production'`,
      );
      const endpoint = `rehearsal-${tag}`.slice(0, 40);
      await addEndpoint(h.db.production, {
        environment: "production",
        name: endpoint,
        kind: "github",
        url: `${rx.url}/repos/acme/membership/dispatches`,
        token: "github_pat_rehearsal",
      }, {
        outbound: outboundPolicyFromEnv({ STAGECOACH_OUTBOUND_ALLOW: "127.0.0.1" }),
        githubApiUrl: rx.url,
      });

      // The merge: a commit with two migrations (the second drops a column) and a change in
      // development's data.
      await git(REPO_ROOT, "worktree", "add", "--detach", work, "HEAD");
      const migrations = join(work, "supabase/migrations");
      await Deno.writeTextFile(
        join(migrations, `${v1}_create_${table}.sql`),
        `create table public.${table} (id bigint primary key, note text);\n` +
          `alter table public.${table} enable row level security;\n`,
      );
      await Deno.writeTextFile(
        join(migrations, `${v2}_drop_${table}_note.sql`),
        `-- The note moved elsewhere.\nalter table public.${table} drop column note;\n`,
      );
      // Their revert scripts (supabase/rollbacks/README.md): dropping the new table loses its rows.
      const rollbacks = join(work, "supabase/rollbacks");
      await Deno.writeTextFile(
        join(rollbacks, `${v1}_create_${table}.sql`),
        `-- stagecoach: loses-data the rows written since\ndrop table public.${table};\n`,
      );
      await Deno.writeTextFile(
        join(rollbacks, `${v2}_drop_${table}_note.sql`),
        `alter table public.${table} add column note text;\n`,
      );
      await git(work, "add", "supabase/migrations", "supabase/rollbacks");
      await git(work, "commit", "-qm", "rehearsal: a table, then a dropped column");
      const sha = await git(work, "rev-parse", "HEAD");
      await h.db
        .development`insert into public.app_config (key, value) values (${key}, '"merged"')`;

      // 1. The staging workflow. -----------------------------------------------------------
      const staging = await githubSettings(["development", "staging"], "staging");
      const stagingJob = () =>
        rehearseJob({
          workflow: ".github/workflows/release-staging.yml",
          job: "release",
          cwd: work,
          event: { name: "push", payload: { ref: "refs/heads/staging" } },
          github: { sha, ref: "refs/heads/staging", repository: "acme/membership", run_id: "101" },
          ...staging,
          hostEnv,
          log,
        });
      const first = await stagingJob();
      assert.equal(first.result, "success", why(first));
      const release = stepOf(first, "release");
      assert.equal(release.outputs.status, "succeeded");
      assert.match(first.summary, /Release development → staging: succeeded/);
      assert.match(
        first.summary,
        /squawk ban-drop-column at supabase\/migrations\/\d+_drop_zz_reh_\w+_note\.sql:2/,
      );
      assert.match(first.summary, /\| high \|/, "the dropped column makes the plan high risk");
      const [entry] = await h.db.staging`select value from public.app_config where key = ${key}`;
      assert.equal(entry?.value, "merged", "the change reached staging");
      assert.ok(await appliedVersion(h.db.staging, v1) && await appliedVersion(h.db.staging, v2));
      const [{ n: cols }] = await h.db.staging`
        select count(*)::int as n from information_schema.columns
        where table_schema = 'public' and table_name = ${table}`;
      assert.equal(cols, 1, "both migrations ran in staging");
      assert.ok(
        first.steps.some((s) => s.name.includes("App Platform") && s.conclusion === "success"),
      );

      const promotions = await h.promotionCount("staging");
      const again = await stagingJob();
      assert.equal(again.result, "success");
      assert.match(stepOf(again, "release").stdout, /already succeeded/);
      assert.equal(await h.promotionCount("staging"), promotions, "a re-run records nothing");

      // 2. The production workflow: plan, two approvals, the dispatch, apply. -----------------
      const production = await githubSettings(["staging", "production"], "production");
      const plan = await rehearseJob({
        workflow: ".github/workflows/release-production.yml",
        job: "plan",
        cwd: work,
        event: { name: "push", payload: { ref: "refs/heads/main" } },
        github: { sha, ref: "refs/heads/main", repository: "acme/membership", run_id: "102" },
        ...production,
        hostEnv,
        log,
      });
      assert.equal(plan.result, "success", why(plan));
      assert.equal(plan.outputs.status, "waiting_approval");
      const id = plan.outputs.promotion_id;
      const planHash = plan.outputs.plan_hash;
      assert.match(plan.summary, /ban-drop-column/);
      assert.match(plan.summary, new RegExp(`promote approve ${id} --env production`));
      assert.ok(!(await appliedVersion(h.db.production, v1)), "nothing changes before approval");

      for (const approver of ["approver", "approver2"] as const) {
        const r = await h.call("production", approver, `/promotions/${id}/approve`, {
          body: { plan_hash: planHash },
        });
        assert.equal(r.status, 200, r.text);
      }
      await runOpsWorker();
      for (let i = 0; i < 50 && !rx.dispatches.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(rx.dispatches.length, 1, "the quorum's last approval dispatches once");
      const dispatch = rx.dispatches[0].body;
      assert.deepEqual(dispatch, {
        event_type: "stagecoach-promotion-approved",
        client_payload: { promotion_id: id, plan_hash: planHash, environment: "production", sha },
      });

      const applyJob = () =>
        rehearseJob({
          workflow: ".github/workflows/release-production.yml",
          job: "apply",
          cwd: work,
          event: {
            name: "repository_dispatch",
            payload: { action: dispatch.event_type, ...dispatch },
          },
          github: { sha, ref: "refs/heads/main", repository: "acme/membership", run_id: "103" },
          ...production,
          hostEnv,
          log,
        });
      const applied = await applyJob();
      assert.equal(
        applied.result,
        "success",
        why(applied),
      );
      assert.equal(stepOf(applied, "release").outputs.status, "succeeded");
      const [prod] = await h.db.production`select value from public.app_config where key = ${key}`;
      assert.equal(prod?.value, "merged", "the change reached production");
      assert.ok(await appliedVersion(h.db.production, v2));
      const [row] = await h.db.production`
        select status, steps, watch from ops.releases where promotion_id = ${id}`;
      assert.equal(row.status, "succeeded");
      assert.deepEqual(
        row.steps.map((s: { name: string; status: string }) => `${s.name}:${s.status}`),
        [
          "migrations:succeeded",
          "plan:succeeded",
          "approval:succeeded",
          "schema_check:succeeded",
          "backup:succeeded",
          "db_push:succeeded",
          "secrets:succeeded",
          "functions_deploy:succeeded",
          "apply:succeeded",
          "validate:succeeded",
          "watch:succeeded",
        ],
      );
      assert.equal(row.watch.outcome, "passed", "production was watched after apply");
      // The verified pre-release backup was kept as the run's artifact.
      const backupId = stepOf(applied, "release").outputs.backup_id;
      assert.match(backupId, /\S/, "the release names its backup");
      const kept = join(applied.workDir, "artifacts", `backup-production-${backupId}`);
      const files = [...Deno.readDirSync(join(kept, backupId))].map((e) => e.name);
      assert.ok(
        files.includes("manifest.json"),
        `the artifact holds the backup: ${files.join(", ")}`,
      );
      assert.ok(files.includes("verified.json"), "and its verification");

      const reapplied = await applyJob();
      assert.equal(reapplied.result, "success");
      assert.match(stepOf(reapplied, "release").stdout, /already succeeded/);

      // 3. A migration edited after approval: plan_drift, nothing applied. -------------------
      // A view: its revert loses nothing, so the plan is low risk and one approval is enough.
      const m3 = join(migrations, `${v3}_create_${table}_log.sql`);
      await Deno.writeTextFile(m3, `create view public.${table}_log as select 1 as id;\n`);
      await Deno.writeTextFile(
        join(rollbacks, `${v3}_create_${table}_log.sql`),
        `drop view public.${table}_log;\n`,
      );
      await git(work, "add", "supabase/migrations", "supabase/rollbacks");
      await git(work, "commit", "-qm", "rehearsal: a log view");
      const sha3 = await git(work, "rev-parse", "HEAD");
      const plan3 = await rehearseJob({
        workflow: ".github/workflows/release-production.yml",
        job: "plan",
        cwd: work,
        github: { sha: sha3, ref: "refs/heads/main", repository: "acme/membership", run_id: "104" },
        ...production,
        hostEnv,
        log,
      });
      assert.equal(plan3.outputs.status, "waiting_approval", plan3.summary);
      const id3 = plan3.outputs.promotion_id;
      const r3 = await h.call("production", "approver", `/promotions/${id3}/approve`, {
        body: { plan_hash: plan3.outputs.plan_hash },
      });
      assert.equal(r3.status, 200, r3.text);
      // Someone edits the approved migration before the apply runs.
      await Deno.writeTextFile(m3, `drop table public.${table};\n`);
      const drifted = await rehearseJob({
        workflow: ".github/workflows/release-production.yml",
        job: "apply",
        cwd: work,
        event: {
          name: "repository_dispatch",
          payload: {
            action: "stagecoach-promotion-approved",
            client_payload: {
              promotion_id: id3,
              plan_hash: plan3.outputs.plan_hash,
              environment: "production",
              sha: sha3,
            },
          },
        },
        github: { sha: sha3, ref: "refs/heads/main", repository: "acme/membership", run_id: "105" },
        ...production,
        hostEnv,
        log,
      });
      assert.equal(drifted.result, "failure");
      assert.match(drifted.summary, /plan_drift/);
      assert.match(drifted.summary, /edited since approval/);
      assert.ok(!(await appliedVersion(h.db.production, v3)), "nothing was pushed");
      const [still] = await h.db.production`select status from ops.promotions where id = ${id3}`;
      assert.equal(still.status, "approved", "nothing was applied");
      const [{ exists }] = await h.db.production`
        select to_regclass(${`public.${table}`}) is not null as exists`;
      assert.ok(exists, "the table the edited migration would drop is still there");
    } finally {
      await rx.close();
      for (const name of ["staging", "production"] as const) {
        const sql = h.db[name];
        await sql.unsafe(
          `drop view if exists public.${table}_log; drop table if exists public.${table}`,
        );
        await sql`delete from supabase_migrations.schema_migrations where version in (${v1}, ${v2}, ${v3})`;
        await sql`delete from ops.notification_endpoints where name like ${
          "rehearsal-" + tag + "%"
        }`;
      }
      await h.db.development`delete from public.app_config where key = ${key}`;
      await h.level("development", "staging");
      await breakGlass(
        h.db.production,
        "rehearsal cleanup",
        (tx) => tx`delete from public.app_config where key = ${key}`,
      );
      await breakGlass(
        h.db.production,
        "rehearsal: the default watch again",
        (tx) =>
          tx`update ops.environments
             set watch_window = null, watch_every = '30 seconds', watch_breach_after = 3
             where name = 'production'`,
      );
      await git(REPO_ROOT, "worktree", "remove", "--force", work).catch(() => {});
      await Deno.remove(base, { recursive: true }).catch(() => {});
    }
  });
});
