/**
 * `stagecoach etl run profiles_split_full_name` against the development database of the
 * running stack: dry run, a run in batches, idempotence, the guard, time-boxed slices that
 * resume, and a transform whose version changed under a job.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { ETL_TRANSFORMS } from "../supabase/etl/transforms.ts";
import { createEtlKind, ETL_RUN_KIND } from "../supabase/functions/_shared/etl/run_job.ts";
import { createJobRegistry, type JobHost } from "../supabase/functions/_shared/jobs/registry.ts";
import { runSlice } from "../supabase/functions/_shared/jobs/runner.ts";
import { createJob } from "../supabase/functions/_shared/jobs/store.ts";

async function cli(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

const NAMES = ["Ada Lovelace", "Ludwig van Beethoven", "Hopper, Grace", "Madonna", "Dr. Jane Doe"];

/** Users (profiles via the sign-up trigger) with the given full names; returns their ids. */
async function seed(sql: postgres.Sql, names: string[]): Promise<string[]> {
  const t = crypto.randomUUID().slice(0, 8);
  const rows = await sql`
    insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
    select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
           'etl' || n || '-' || ${t} || '@etl.example.com', '{}', jsonb_build_object('full_name', name), now(), now()
    from unnest(${names}::text[]) with ordinality as x(name, n)
    returning id`;
  return rows.map((r) => String(r.id));
}

async function parts(sql: postgres.Sql, ids: string[]) {
  return await sql<{ full_name: string; given_name: string | null; family_name: string | null }[]>`
    select full_name, given_name, family_name from public.profiles
    where id = any (${ids}::uuid[]) order by full_name`;
}

Deno.test("etl run --dry-run previews before → after and writes nothing", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const ids = await seed(sql, NAMES);
    const [{ n: jobsBefore }] = await sql`select count(*)::int as n from ops.jobs`;
    const r = await cli(
      "etl",
      "run",
      "profiles_split_full_name",
      "--env",
      "development",
      "--dry-run",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.ok(report.pending >= NAMES.length);
    assert.ok(report.preview.length > 0);
    assert.ok(
      report.preview.every((p: { before: unknown; after: unknown }) =>
        p.before && "given_name" in (p.before as object)
      ),
    );
    const [{ n: jobsAfter }] = await sql`select count(*)::int as n from ops.jobs`;
    assert.equal(jobsAfter, jobsBefore);
    assert.ok(
      (await parts(sql, ids)).every((p) => p.given_name === null && p.family_name === null),
    );
  } finally {
    await sql.end();
  }
});

Deno.test("etl run splits names in batches, records a job and an audit entry, and a re-run changes nothing", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const ids = await seed(sql, NAMES);
    // A row the user already edited is left alone (the guard).
    await sql`update public.profiles set given_name = 'Ms Doe' where id = ${ids[4]}`;
    const r = await cli(
      "etl",
      "run",
      "profiles_split_full_name",
      "--env",
      "development",
      "--batch-size",
      "2",
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout);
    assert.equal(body.status, "succeeded");
    assert.ok(body.result.changed >= 4);
    assert.deepEqual(
      (await parts(sql, ids)).map((p) => [p.full_name, p.given_name, p.family_name]),
      [
        ["Ada Lovelace", "Ada", "Lovelace"],
        ["Dr. Jane Doe", "Ms Doe", null],
        ["Hopper, Grace", "Grace", "Hopper"],
        ["Ludwig van Beethoven", "Ludwig", "van Beethoven"],
        ["Madonna", "Madonna", null],
      ],
    );
    const [job] = await sql`select kind, params, slices from ops.jobs where id = ${body.job_id}`;
    assert.equal(job.kind, "etl.run");
    assert.equal(job.params.transform_id, "profiles_split_full_name");
    const [audit] = await sql`
      select details from ops.audit_log where action = 'etl.run' and subject_id = ${body.job_id}`;
    assert.equal(audit.details.transform, "profiles_split_full_name");

    const again = await cli(
      "etl",
      "run",
      "profiles_split_full_name",
      "--env",
      "development",
      "--json",
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).result.changed, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("an etl job runs in time-boxed slices that re-queue and resume without gaps", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 4, onnotice: () => {} });
  const registry = createJobRegistry();
  registry.register(createEtlKind(ETL_TRANSFORMS));
  const host: JobHost = { owner: "etl-test", dbUrl: () => "", secret: () => undefined };
  try {
    const ids = await seed(sql, Array.from({ length: 30 }, (_, i) => `Given${i} Family${i}`));
    const job = await createJob(sql, registry, {
      kind: ETL_RUN_KIND,
      params: {
        transform_id: "profiles_split_full_name",
        version: 1,
        env: "development",
        batch_size: 3,
      },
    });
    let slices = 0;
    let last;
    do {
      last = await runSlice(sql, job.id, { host, registry, deadlineMs: 5, marginMs: 0 });
      slices++;
    } while (last.status === "queued" && slices < 500);
    assert.equal(last.status, "succeeded");
    assert.ok(slices > 1, `ran in ${slices} slices`);
    const rows = await parts(sql, ids);
    assert.ok(
      rows.every((p) =>
        p.given_name === p.full_name.split(" ")[0] && p.family_name === p.full_name.split(" ")[1]
      ),
    );
  } finally {
    await sql.end();
  }
});

Deno.test("a job refuses to resume when its transform's version changed", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 4, onnotice: () => {} });
  const registry = createJobRegistry();
  registry.register(createEtlKind(ETL_TRANSFORMS));
  try {
    const job = await createJob(sql, registry, {
      kind: ETL_RUN_KIND,
      params: { transform_id: "profiles_split_full_name", version: 99, env: "development" },
    });
    const r = await runSlice(sql, job.id, {
      host: { owner: "etl-test", dbUrl: () => "", secret: () => undefined },
      registry,
      deadlineMs: 10_000,
    });
    assert.equal(r.status, "failed");
    assert.equal(r.job?.error?.code, "etl_version_changed");
  } finally {
    await sql.end();
  }
});

Deno.test("etl run refuses an unknown transform with exit 2", async () => {
  const r = await cli("etl", "run", "no_such_transform", "--env", "development");
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Cannot find ETL transform "no_such_transform": known transforms are profiles_split_full_name/,
  );
});

Deno.test("a queued etl job is run by the ops-worker in the background", async () => {
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const ids = await seed(sql, ["Worker Queued"]);
    const queued = await cli(
      "etl",
      "run",
      "profiles_split_full_name",
      "--env",
      "development",
      "--queue",
      "--json",
    );
    assert.equal(queued.code, 0, queued.stderr);
    const jobId = JSON.parse(queued.stdout.trim().split("\n").at(-1)!).job_id;
    const keys = JSON.parse(await Deno.readTextFile(env.keysFile));
    const res = await fetch(`${env.functionsUrl}/ops-worker`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${keys.service_role_key}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ source: "etl_test" }),
    });
    assert.equal(res.status, 200);
    assert.ok(["started", "already_running"].includes((await res.json()).jobs));
    let status = "";
    const deadline = Date.now() + 30_000;
    while (status !== "succeeded" && Date.now() < deadline) {
      [{ status }] = await sql`select status from ops.jobs where id = ${jobId}`;
      if (status !== "succeeded") await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, "succeeded");
    assert.deepEqual((await parts(sql, ids)).map((p) => [p.given_name, p.family_name]), [[
      "Worker",
      "Queued",
    ]]);
  } finally {
    await sql.end();
  }
});
