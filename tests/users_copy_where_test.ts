/**
 * What a `--where` can do on the source, through `stagecoach users copy` (production →
 * staging) and through a queued job run the way the ops-worker runs it. The attacks of
 * finding 6 — advance a sequence, sleep for ever, test Vault as a yes/no oracle, switch back
 * to postgres — each stopped by the containment (`_shared/users/source_reader.ts`, migration
 * `20261202002300`), with nothing changed: no job, no audit entry, the sequence as it was.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { createJobRegistry, type JobHost } from "../supabase/functions/_shared/jobs/registry.ts";
import { runSlice } from "../supabase/functions/_shared/jobs/runner.ts";
import { createJob } from "../supabase/functions/_shared/jobs/store.ts";
import { usersCopyKind } from "../supabase/functions/_shared/users/copy_job.ts";
import { keyFingerprint } from "../supabase/functions/_shared/users/key.ts";
import { SHIPPED_MANIFEST_HASH } from "../supabase/functions/_shared/users/manifest.ts";

const KEY = "users-copy-where-test-key-0123456789ab";
type Sql = postgres.Sql;

async function cli(args: string[]): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: { NO_COLOR: "1", STAGECOACH_ANON_KEY: KEY, STAGECOACH_TEST_PASSWORD: "test-password" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr), ms: Date.now() - t0 };
}

/** What an attempt could have changed: jobs and audit entries on both sides. */
async function footprint(source: Sql, target: Sql) {
  const [s] = await source`select count(*)::int as audit from ops.audit_log`;
  const [t] = await target`
    select (select count(*)::int from ops.jobs) as jobs,
           (select count(*)::int from ops.audit_log) as audit`;
  return { source_audit: s.audit, target_jobs: t.jobs, target_audit: t.audit };
}

/**
 * Seeds two users of a fresh domain in production and runs `fn` with both pools, the tag's
 * own predicate and the footprint before; checks the footprint is unchanged afterwards.
 */
async function attempt(
  fn: (ctx: { source: Sql; target: Sql; t: string; mine: string }) => Promise<void>,
): Promise<void> {
  const source = postgres(localEnv("production").dbUrl, { max: 2, onnotice: () => {} });
  const target = postgres(localEnv("staging").dbUrl, { max: 5, onnotice: () => {} });
  const t = `w${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  try {
    await source`
      insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
             'p' || g || '@' || ${t} || '.example.com', '{}', '{}', now(), now()
      from generate_series(1, 2) as g`;
    const before = await footprint(source, target);
    await fn({ source, target, t, mine: `u.email like '%@${t}.example.com'` });
    assert.deepEqual(await footprint(source, target), before, "nothing was recorded anywhere");
  } finally {
    await source.end();
    await target.end();
  }
}

function copy(where: string, ...more: string[]): string[] {
  return ["users", "copy", "--from", "production", "--to", "staging", "--where", where, ...more];
}

Deno.test("a --where calling nextval fails clearly and leaves the sequence as it was", () =>
  attempt(async ({ source, t, mine }) => {
    // A sequence any role may use, as an application's might be: only read-only stops it.
    const seq = `public.${t}_seq`;
    await source.unsafe(`create sequence ${seq}; grant usage, update on sequence ${seq} to public`);
    try {
      const [before] = await source.unsafe(`select last_value, is_called from ${seq}`);
      const r = await cli(copy(`${mine} and nextval('${seq}') > 0`));
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /Cannot use --where: cannot execute nextval\(\) in a read-only transaction/,
      );
      const [after] = await source.unsafe(`select last_value, is_called from ${seq}`);
      assert.deepEqual(after, before, "the sequence did not move");
      const ops = await cli(copy(`${mine} and nextval('ops.validation_results_id_seq') > 0`));
      assert.match(ops.stderr, /Cannot use --where: permission denied for schema ops/);
    } finally {
      await source.unsafe(`drop sequence ${seq}`);
    }
  }));

Deno.test("a --where that sleeps is cancelled by the statement timeout", () =>
  attempt(async ({ mine }) => {
    const r = await cli(copy(`${mine} and pg_sleep(20) is not null`, "--statement-timeout", "1"));
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /Cannot use --where: a statement ran past the 1 s statement timeout and was cancelled/,
    );
    assert.ok(r.ms < 15_000, `stopped after ${r.ms} ms, not 20 s per user`);
  }));

Deno.test("a --where reading Vault is refused for permission, even one that tries to become postgres", () =>
  attempt(async ({ mine }) => {
    const oracle = await cli(copy(
      `${mine} and exists (select 1 from vault.decrypted_secrets where name = 'project_url')`,
    ));
    assert.equal(oracle.code, 1, oracle.stderr);
    assert.match(
      oracle.stderr,
      /Cannot use --where: permission denied for schema vault \(a copy reads the source as stagecoach_copy_reader, which may read only the copied tables\)/,
    );
    const escape = await cli(copy(
      `${mine} and set_config('role', 'postgres', true) is not null and ` +
        `query_to_xml('select 1 from vault.decrypted_secrets', false, false, '') is not null`,
    ));
    assert.equal(escape.code, 1, escape.stderr);
    assert.match(
      escape.stderr,
      /Cannot use --where: (cannot set parameter "role" within security-definer function|permission denied for schema vault)/,
    );
    const timeoutOff = await cli(
      copy(`${mine} and set_config('statement_timeout', '0', false) is not null`),
    );
    assert.match(
      timeoutOff.stderr,
      /Cannot use --where: it changed settings of the session \(statement_timeout\)/,
    );
  }));

Deno.test("a queued copy's --where is contained when the worker runs it too", () =>
  attempt(async ({ source, target, mine }) => {
    const registry = createJobRegistry();
    registry.register(usersCopyKind);
    // Queued by the owner (an admin could too): the job's first step is the preflight.
    const job = await createJob(target, registry, {
      kind: "users.copy",
      params: {
        source_env: "production",
        target_env: "staging",
        mode: "anonymized",
        selection: { where: `${mine} and exists (select 1 from vault.decrypted_secrets)` },
        key_fingerprint: await keyFingerprint(KEY),
        manifest_hash: SHIPPED_MANIFEST_HASH,
        promotion_id: null,
      },
      executor: "cli",
    });
    const host: JobHost = {
      owner: "users-copy-where-test",
      dbUrl: (env) => localEnv(env as "production").dbUrl,
      secret: (name) =>
        name === "STAGECOACH_ANON_KEY"
          ? KEY
          : name === "STAGECOACH_TEST_PASSWORD"
          ? "test-password"
          : undefined,
    };
    try {
      const r = await runSlice(target, job.id, { host, registry, deadlineMs: 20_000 });
      assert.equal(r.status, "failed");
      assert.equal(r.job?.error?.code, "invalid_where");
      assert.match(r.job?.error?.message ?? "", /permission denied for schema vault/);
      const [{ n }] = await source.unsafe(
        `select count(*)::int as n from auth.users as u where ${mine}`,
      );
      assert.equal(n, 2, "the source is as it was");
    } finally {
      // The job row is the one thing this test wrote on purpose.
      await target`delete from ops.jobs where id = ${job.id}`;
    }
  }));
