/**
 * Jobs are created only through `ops.create_job`, which checks the caller and the parameters
 * for the kind; every slice re-checks them. The attacks of finding 4 ("raw personal data
 * reaches staging labelled anonymized"), replayed against the development database of the
 * running stack the way the Data API runs a member's SQL (`set local role authenticated` and
 * the caller's claims), each refused with nothing changed in ops.jobs or the audit log.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv } from "../scripts/local/config.ts";
import { createJobRegistry, type JobHost } from "../supabase/functions/_shared/jobs/registry.ts";
import { runSlice } from "../supabase/functions/_shared/jobs/runner.ts";
import { usersCopyKind } from "../supabase/functions/_shared/users/copy_job.ts";
import {
  SHIPPED_MANIFEST,
  SHIPPED_MANIFEST_HASH,
} from "../supabase/functions/_shared/users/manifest.ts";

type Sql = postgres.Sql;
type Role = "viewer" | "operator" | "approver" | "admin";

/** Members of each ops role (committed, removed at the end) on development. */
async function withMembers(
  fn: (sql: Sql, ids: Record<Role, string>) => Promise<void>,
): Promise<void> {
  const sql = postgres(localEnv("development").dbUrl, { max: 3, onnotice: () => {} });
  const t = crypto.randomUUID().slice(0, 8);
  const ids = {} as Record<Role, string>;
  try {
    for (const role of ["viewer", "operator", "approver", "admin"] as const) {
      const [u] = await sql`
        insert into auth.users (instance_id, id, aud, role, email, created_at, updated_at)
        values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
                'authenticated', ${`${role}-${t}@jobs.example.com`}, now(), now())
        returning id`;
      await sql`insert into ops.members (user_id, role) values (${u.id}, ${role})`;
      ids[role] = u.id;
    }
    await fn(sql, ids);
  } finally {
    await sql`delete from auth.users where id = any (${Object.values(ids)}::uuid[])`;
    await sql.end();
  }
}

/** Runs one statement as a member, as the Data API does; returns its rows or its error. */
async function asMember(
  sql: Sql,
  userId: string,
  query: string,
  params: unknown[] = [],
): Promise<{ rows?: postgres.Row[]; error?: Error & { code?: string } }> {
  try {
    const rows = await sql.begin(async (tx) => {
      await tx`set local role authenticated`;
      await tx`select set_config('request.jwt.claims', ${
        JSON.stringify({ sub: userId, role: "authenticated" })
      }, true)`;
      return await tx.unsafe(query, params as postgres.ParameterOrJSON<never>[]);
    });
    return { rows: rows as unknown as postgres.Row[] };
  } catch (error) {
    return { error: error as Error & { code?: string } };
  }
}

/** Runs one statement as the service role (the backend's key). */
async function asServiceRole(sql: Sql, query: string, params: unknown[] = []) {
  try {
    const rows = await sql.begin(async (tx) => {
      await tx`set local role service_role`;
      await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
      return await tx.unsafe(query, params as postgres.ParameterOrJSON<never>[]);
    });
    return { rows: rows as unknown as postgres.Row[] };
  } catch (error) {
    return { error: error as Error & { code?: string } };
  }
}

/** Rows in ops.jobs and ops.audit_log, to show an attempt changed nothing. */
async function footprint(sql: Sql): Promise<{ jobs: number; audit: number }> {
  const [r] = await sql`
    select (select count(*)::int from ops.jobs) as jobs,
           (select count(*)::int from ops.audit_log) as audit`;
  return { jobs: r.jobs, audit: r.audit };
}

/** The params a users.copy needs, with the shipped manifest's hash. */
function copyParams(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    source_env: "production",
    target_env: "staging",
    mode: "anonymized",
    selection: {},
    batch_size: 100,
    parallel: 2,
    key_fingerprint: "0123456789abcdef",
    manifest_hash: SHIPPED_MANIFEST_HASH,
    promotion_id: null,
    ...extra,
  };
}

/** Every column kept and marked not personal: the manifest of the attack. */
function keepEverything() {
  return {
    version: 1,
    tables: Object.fromEntries(
      Object.entries(SHIPPED_MANIFEST.tables).map(([table, columns]) => [
        table,
        Object.fromEntries(Object.keys(columns).map((c) => [c, { rule: "keep", pii: false }])),
      ]),
    ),
  };
}

const CREATE = "select id, created_via from ops.create_job($1, $2::jsonb, $3)";

Deno.test("an operator inserting into ops.jobs directly is refused and nothing changes", () =>
  withMembers(async (sql, ids) => {
    const before = await footprint(sql);
    const r = await asMember(
      sql,
      ids.operator,
      `insert into ops.jobs (kind, params, executor, created_by) values ('users.copy', $1::jsonb, 'worker', $2)`,
      [{ ...copyParams(), manifest: keepEverything() }, ids.operator],
    );
    assert.equal(r.error?.code, "42501", String(r.error));
    assert.match(r.error!.message, /permission denied for table jobs/);
    assert.deepEqual(await footprint(sql), before);
    const s = await asServiceRole(
      sql,
      `insert into ops.jobs (kind, params) values ('stripe.reconcile', '{}')`,
    );
    assert.equal(s.error?.code, "42501", "the service role cannot insert around it either");
    assert.deepEqual(await footprint(sql), before);
  }));

Deno.test("ops.create_job refuses a users.copy with its own manifest or another manifest hash", () =>
  withMembers(async (sql, ids) => {
    const before = await footprint(sql);
    const ownManifest = await asMember(sql, ids.admin, CREATE, [
      "users.copy",
      copyParams({ manifest: keepEverything() }),
      "worker",
    ]);
    assert.equal(ownManifest.error?.code, "22023");
    assert.match(
      ownManifest.error!.message,
      /^Cannot queue job users\.copy: invalid parameters \(params\.manifest: not accepted; a copy always uses the manifest shipped with the code/,
    );
    const other = "f".repeat(64);
    const otherHash = await asMember(sql, ids.admin, CREATE, [
      "users.copy",
      copyParams({ manifest_hash: other }),
      "worker",
    ]);
    assert.equal(otherHash.error?.code, "22023");
    assert.equal(
      otherHash.error!.message,
      `Cannot queue job users.copy: its manifest_hash ${other} differs from the hash of the manifest this release ships, ${SHIPPED_MANIFEST_HASH} (supabase/anonymize.json)`,
    );
    // The owner's CLI is held to the same rules.
    await assert.rejects(
      sql.unsafe(CREATE, [
        "users.copy",
        copyParams({ manifest_hash: other }) as postgres.JSONValue,
        "cli",
      ]),
      /differs from the hash of the manifest this release ships/,
    );
    assert.deepEqual(await footprint(sql), before);
  }));

Deno.test("a queued copy with a where is refused from an operator and accepted from an admin", () =>
  withMembers(async (sql, ids) => {
    const params = copyParams({ selection: { where: "u.email like '%@example.com'" } });
    const before = await footprint(sql);
    for (const role of ["operator", "viewer", "approver"] as const) {
      const r = await asMember(sql, ids[role], CREATE, ["users.copy", params, "worker"]);
      assert.equal(r.error?.code, "42501", `${role}: ${r.error}`);
    }
    const operator = await asMember(sql, ids.operator, CREATE, ["users.copy", params, "worker"]);
    assert.equal(
      operator.error?.message,
      "Cannot queue job users.copy: only an admin may select users with a where predicate (it runs as SQL on the source)",
    );
    const service = await asServiceRole(sql, CREATE, ["users.copy", params, "worker"]);
    assert.equal(service.error?.code, "42501", "the service role names nobody to hold to it");
    assert.deepEqual(await footprint(sql), before);

    const admin = await asMember(sql, ids.admin, CREATE, ["users.copy", params, "cli"]);
    assert.equal(admin.error, undefined, String(admin.error));
    assert.equal(admin.rows![0].created_via, "member");
    const withoutWhere = await asMember(sql, ids.operator, CREATE, [
      "users.copy",
      copyParams({ selection: { sample: 10 } }),
      "cli",
    ]);
    assert.equal(withoutWhere.error, undefined, "an operator may queue a copy without a where");
    await sql`delete from ops.jobs where id in (${admin.rows![0].id}, ${withoutWhere.rows![0].id})`;
  }));

Deno.test("a job whose admin lost the role is refused at its next slice, before it reads anything", () =>
  withMembers(async (sql, ids) => {
    const params = copyParams({ selection: { where: "u.email like '%@nobody.example.com'" } });
    const created = await asMember(sql, ids.admin, CREATE, ["users.copy", params, "cli"]);
    assert.equal(created.error, undefined, String(created.error));
    const jobId = created.rows![0].id as string;
    await sql`update ops.members set role = 'operator' where user_id = ${ids.admin}`;
    const registry = createJobRegistry();
    registry.register(usersCopyKind);
    const host: JobHost = {
      owner: "job-creation-test",
      dbUrl: () => {
        throw new Error("Cannot reach a source: this job must not get that far");
      },
      secret: () => undefined,
    };
    const r = await runSlice(sql, jobId, { host, registry, deadlineMs: 5_000 });
    assert.equal(r.status, "failed");
    assert.equal(r.job?.error?.code, "job_refused");
    assert.equal(
      r.job?.error?.message,
      `Cannot run job ${jobId} (users.copy): only an admin may select users with a where predicate (it runs as SQL on the source)`,
    );
    await sql`delete from ops.jobs where id = ${jobId}`;
  }));

Deno.test("etl.run and stripe.reconcile go through ops.create_job and its checks too", () =>
  withMembers(async (sql, ids) => {
    const before = await footprint(sql);
    const badEtl = await asMember(sql, ids.operator, CREATE, [
      "etl.run",
      { transform_id: "x", version: 1, env: "development", guard: "true" },
      "worker",
    ]);
    assert.equal(badEtl.error?.code, "22023");
    assert.match(badEtl.error!.message, /params\.guard: not a parameter of etl\.run/);
    const badReconcile = await asServiceRole(sql, CREATE, [
      "stripe.reconcile",
      { rate_limit: 100000 },
      "worker",
    ]);
    assert.match(String(badReconcile.error), /params\.rate_limit: expected an integer in 1\.\.100/);
    const unknown = await asMember(sql, ids.admin, CREATE, ["test.anything", {}, "worker"]);
    assert.match(String(unknown.error), /the database knows no job kind test\.anything/);
    assert.deepEqual(await footprint(sql), before);

    const [cron] = await sql`select command from cron.job where jobname = 'stripe-reconcile'`;
    assert.match(cron.command, /ops\.create_job\('stripe\.reconcile'/);
    const [etl] = (await asMember(sql, ids.operator, CREATE, [
      "etl.run",
      { transform_id: "profiles_split_full_name", version: 1, env: "development" },
      "cli",
    ])).rows!;
    assert.equal(etl.created_via, "member");
    await sql`delete from ops.jobs where id = ${etl.id}`;
  }));

Deno.test("the database accepts exactly the manifest hash the code ships", async () => {
  const sql = postgres(localEnv("development").dbUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ hash }] = await sql`select private.users_copy_manifest_hash() as hash`;
    assert.equal(
      hash,
      SHIPPED_MANIFEST_HASH,
      "supabase/anonymize.json changed: add a migration replacing private.users_copy_manifest_hash() with the new hash",
    );
  } finally {
    await sql.end();
  }
});
