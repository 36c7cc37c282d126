/**
 * `stagecoach users copy` as an operator runs it (the CLI as a child process) against the
 * running stack: production → staging anonymized, staging → production faithful. Each test
 * seeds its own users (emails under a random domain) and selects them with --where, so tests
 * never see each other's rows.
 */
import assert from "node:assert/strict";
import {
  ensureTiers,
  recordApprovedPlan,
} from "../supabase/functions/_shared/promotion/fixtures_test.ts";
import { join } from "node:path";
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import { createJobRegistry, type JobHost } from "../supabase/functions/_shared/jobs/registry.ts";
import { runJob, runSlice } from "../supabase/functions/_shared/jobs/runner.ts";
import { createUsersCopyKind } from "../supabase/functions/_shared/users/copy_job.ts";
import { keyFingerprint, sqlKey } from "../supabase/functions/_shared/users/key.ts";
import { manifestHash, SHIPPED_MANIFEST } from "../supabase/functions/_shared/users/manifest.ts";
import { mappedUserIdSelect } from "../supabase/functions/_shared/users/mask_sql.ts";
import type { ValidationReport } from "../supabase/functions/_shared/users/validate.ts";

const KEY_A = "users-copy-test-key-A-0123456789abcdef";
const KEY_B = "users-copy-test-key-B-0123456789abcdef";
const TEST_PASSWORD = "staging-test-password";

type Sql = postgres.Sql;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cliCommand(args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "scripts/stagecoach.ts"), ...args],
    env: {
      NO_COLOR: "1",
      STAGECOACH_ANON_KEY: KEY_A,
      STAGECOACH_TEST_PASSWORD: TEST_PASSWORD,
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  });
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const out = await cliCommand(args, env).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function db(name: "staging" | "production"): Sql {
  return postgres(localEnv(name).dbUrl, { max: 2, onnotice: () => {} });
}

const tag = () => `t${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
const whereOf = (t: string) => `u.email like '%@${t}.example.com'`;

/** Runs a test with pools on production (source) and staging (target) and a fresh tag. */
async function withProductionAndStaging(
  fn: (source: Sql, target: Sql, t: string) => Promise<void>,
): Promise<void> {
  const source = db("production"), target = db("staging");
  try {
    await fn(source, target, tag());
  } finally {
    await source.end();
    await target.end();
  }
}

/** Tiers by slug in both databases, then `n` users of domain `<t>.example.com` in `source`. */
async function seedUsers(source: Sql, target: Sql, t: string, n: number): Promise<void> {
  for (const sql of [source, target]) await ensureTiers(sql, ["free", "pro"]);
  await source.begin(async (tx) => {
    await tx`
      insert into auth.users (
        instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
        raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
        confirmation_token, recovery_token, email_change_token_new, email_change, phone
      )
      select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated',
             'authenticated', 'person' || g || '@' || ${t} || '.example.com',
             extensions.crypt('own-password-' || g, extensions.gen_salt('bf', 4)), now(),
             '{"provider": "email", "providers": ["email"]}',
             jsonb_build_object('full_name', 'Realname Person' || g || ' ' || ${t},
                                'display_name', 'Realname' || g || ${t}),
             now() - g * interval '1 hour', now(), '', '', '', '',
             case when g % 3 = 0 then '4470' || ${
      String(Math.floor(Math.random() * 1e6)).padStart(6, "0")
    } || lpad(g::text, 5, '0') end
      from generate_series(1, ${n}::int) as g`;
    const where = `%@${t}.example.com`;
    await tx`
      insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
      select u.id::text, u.id,
             jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
             'email', now(), now(), now()
      from auth.users as u where u.email like ${where}`;
    await tx`
      update public.profiles as p
      set phone = '+45' || lpad(x.n::text, 8, '0') || right(${t}, 3),
          date_of_birth = date '1970-01-01' + (x.n * 97 % 15000)::int,
          address = jsonb_build_object('line1', x.n || ' Realstreet ' || ${t}, 'city', 'Copenhagen',
                                       'postal_code', '2200', 'country', 'DK'),
          metadata = jsonb_build_object('theme', 'dark', 'contacts', jsonb_build_array(
            jsonb_build_object('name', 'Contact Realperson ' || x.n || ${t},
                               'email', 'contact' || x.n || '@' || ${t} || '.example.net',
                               'relation', 'spouse')))
      from (select u.id, row_number() over (order by u.email) as n
            from auth.users as u where u.email like ${where}) as x
      where p.id = x.id`;
    await tx`
      insert into public.memberships (user_id, tier_id, status, stripe_customer_id, stripe_subscription_id)
      select u.id, (select id from public.membership_tiers where slug = 'pro'), 'active',
             'cus_live' || substr(md5(u.id::text), 1, 12), 'sub_live' || substr(md5(u.id::text), 1, 12)
      from auth.users as u where u.email like ${where}`;
    await tx`
      insert into public.memberships (user_id, tier_id, status, stripe_customer_id)
      select u.id, (select id from public.membership_tiers where slug = 'free'), 'canceled',
             'cus_live' || substr(md5(u.id::text), 1, 12)
      from auth.users as u
      where u.email like ${where} and substr(md5(u.id::text), 1, 1) in ('0', '1', '2', '3', '4')`;
  });
}

/** Ids the copy gives the tag's users in the target (computed on the source with the key). */
async function mappedIds(source: Sql, t: string, key: string | null): Promise<string[]> {
  const q = mappedUserIdSelect(
    { id: { rule: key ? "uuid" : "keep" } },
    key ? "anonymized" : "faithful",
  );
  return await source.begin(async (tx) => {
    if (key) await tx`select set_config('stagecoach.anon_key', ${await sqlKey(key)}, true)`;
    const rows = await tx.unsafe(`${q.sql} where t.email like '%@${t}.example.com' order by 1`);
    return rows.map((r) => String(r.id));
  });
}

/** Every copied row of those users in the target, as text, in a stable order. */
async function snapshot(target: Sql, ids: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (
    const [table, col] of [
      ["auth.users", "id"],
      ["auth.identities", "user_id"],
      ["public.profiles", "id"],
      ["public.memberships", "user_id"],
    ]
  ) {
    const rows = await target.unsafe(
      `select t::text as r from ${table} as t where ${col} = any ($1::uuid[]) order by t::text`,
      [ids],
    );
    out[table] = rows.map((r) => String(r.r));
  }
  return out;
}

async function removeUsers(target: Sql, ids: string[]): Promise<void> {
  await target`delete from auth.users where id = any (${ids}::uuid[])`;
}

function copyArgs(t: string, ...more: string[]): string[] {
  return [
    "users",
    "copy",
    "--from",
    "production",
    "--to",
    "staging",
    "--where",
    whereOf(t),
    ...more,
  ];
}

Deno.test("two runs with the same key give identical targets; a re-run changes nothing", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 12);
    const first = await cli(copyArgs(t, "--json"));
    assert.equal(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout);
    assert.equal(result.status, "succeeded");
    assert.equal(result.counts["auth.users"], 12);
    const ids = await mappedIds(source, t, KEY_A);
    const one = await snapshot(target, ids);
    assert.equal(one["auth.users"].length, 12);

    const again = await cli(copyArgs(t, "--json"));
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).result.changed, {
      "auth.users": 0,
      "auth.identities": 0,
      "public.profiles": 0,
      "public.memberships": 0,
    });

    await removeUsers(target, ids);
    const third = await cli(copyArgs(t, "--json"));
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(await snapshot(target, ids), one, "a fresh run writes exactly the same rows");

    const text = JSON.stringify(one);
    assert.doesNotMatch(text, new RegExp(`${t}\\.example|Realname|Realstreet|cus_live|sub_live`));
    const [audit] = await target`
    select details from ops.audit_log
    where action = 'users.copy' and subject_id = ${JSON.parse(third.stdout).job_id}`;
    assert.match(audit.details.key_fingerprint, /^[0-9a-f]{16}$/);
    assert.match(audit.details.manifest_hash, /^[0-9a-f]{64}$/);
    assert.equal(audit.details.source_env, "production");
    assert.ok(!JSON.stringify(audit.details).includes(KEY_A), "the key is never stored");
    const [exported] = await source`
    select 1 from ops.audit_log
    where action = 'users.copy.export' and subject_id = ${JSON.parse(third.stdout).job_id}`;
    assert.ok(exported, "the source records the export");
  }));

Deno.test("a different key gives different values", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 5);
    assert.equal((await cli(copyArgs(t))).code, 0);
    const b = await cli(copyArgs(t), { STAGECOACH_ANON_KEY: KEY_B });
    assert.equal(b.code, 0, b.stderr);
    const facts = async (key: string) =>
      await target`
      select u.id::text, u.email, p.full_name, p.phone
      from auth.users as u join public.profiles as p on p.id = u.id
      where u.id = any (${await mappedIds(source, t, key)}::uuid[])`;
    const a = await facts(KEY_A);
    const b2 = await facts(KEY_B);
    assert.equal(a.length, 5);
    assert.equal(b2.length, 5);
    for (const column of ["id", "email", "full_name", "phone"]) {
      const seen = new Set(a.map((r) => r[column]));
      assert.ok(b2.every((r) => !seen.has(r[column])), `${column} values differ under another key`);
    }
  }));

Deno.test("an unmapped column stops the copy before anything is written, naming it", async () => {
  const source = db("production"), target = db("staging");
  const t = tag();
  const column = `added_${t}`;
  try {
    await seedUsers(source, target, t, 3);
    // As if a migration added a column the shipped manifest has no rule for.
    await source.unsafe(`alter table public.profiles add column ${column} text`);
    const [{ n: jobsBefore }] = await target`select count(*)::int as n from ops.jobs`;
    const r = await cli(copyArgs(t));
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`Cannot copy users: public\\.profiles\\.${column} has no rule in the manifest`),
    );
    const [{ n: jobsAfter }] = await target`select count(*)::int as n from ops.jobs`;
    assert.equal(jobsAfter, jobsBefore, "no job was created");
    assert.deepEqual(
      await snapshot(target, await mappedIds(source, t, KEY_A)),
      { "auth.users": [], "auth.identities": [], "public.profiles": [], "public.memberships": [] },
    );
  } finally {
    await source.unsafe(`alter table public.profiles drop column if exists ${column}`);
    await source.end();
    await target.end();
  }
});

Deno.test("a run killed with SIGKILL mid-copy resumes and ends identical to a clean run", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 200);
    const child = cliCommand(copyArgs(t, "--batch-size", "10")).spawn();
    let jobId: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!jobId && Date.now() < deadline) {
      const [row] = await target`
      select id from ops.jobs
      where kind = 'users.copy' and params -> 'selection' ->> 'where' = ${whereOf(t)}
        and status = 'running' and (counts ->> 'auth.users')::int > 0`;
      if (row) jobId = row.id;
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(jobId, "the copy started");
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    const [killed] = await target`select status, counts from ops.jobs where id = ${jobId}`;
    assert.equal(killed.status, "running", "killed mid-copy: the job still looks running");
    const total = Object.values(killed.counts as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(total > 0 && total < 200 * 4, `killed after ${total} rows`);
    await child.stdout.cancel();
    await child.stderr.cancel();

    const resumed = await cli(["users", "copy", "--to", "staging", "--resume", jobId!, "--json"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const body = JSON.parse(resumed.stdout);
    assert.equal(body.status, "succeeded");
    // The batches before and after the kill stored their fingerprints: none missing, the leak
    // scan used them (and removed them).
    const [done] = await target`
      select result -> 'validation' -> 'leak_scan' ->> 'fingerprints' as fingerprints,
             (select count(*)::int from private.users_copy_fingerprints where job_id = ${jobId!}) as left
      from ops.jobs where id = ${jobId!}`;
    assert.deepEqual({ ...done }, { fingerprints: "stored", left: 0 });
    const ids = await mappedIds(source, t, KEY_A);
    const afterResume = await snapshot(target, ids);
    const sourceMemberships = await source`
    select count(*)::int as n from public.memberships as m join auth.users as u on u.id = m.user_id
    where u.email like ${`%@${t}.example.com`}`;
    assert.equal(afterResume["auth.users"].length, 200, "no gaps, no duplicates");
    assert.equal(afterResume["public.memberships"].length, sourceMemberships[0].n);

    await removeUsers(target, ids);
    const clean = await cli(copyArgs(t));
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(await snapshot(target, ids), afterResume);
  }));

/**
 * Runs a copy under a leaky manifest (phones kept). `loseFingerprints`: once the copy is done,
 * the fingerprints its batches stored are deleted, as a crash of the target would (the table is
 * unlogged), so the leak scan has to read the source again.
 */
async function leakyCopy(loseFingerprints: boolean) {
  const source = db("production"), target = db("staging");
  const t = tag();
  try {
    await seedUsers(source, target, t, 4);
    // A code change that leaks: this kind's manifest keeps phones. The database refuses to
    // queue a job for another manifest than the shipped one, so the test writes the row as
    // the owner, and runs it with a kind built around the leaky manifest.
    const leaky = structuredClone(SHIPPED_MANIFEST);
    leaky.tables["public.profiles"].phone = { rule: "keep", pii: true };
    const registry = createJobRegistry();
    registry.register(createUsersCopyKind({
      manifest: leaky,
      manifestHash: await manifestHash(leaky),
    }));
    const [job] = await target`
      insert into ops.jobs (kind, params, executor)
      values ('users.copy', ${
      target.json({
        source_env: "production",
        target_env: "staging",
        mode: "anonymized",
        selection: { where: whereOf(t) },
        batch_size: 100,
        parallel: 2,
        key_fingerprint: await keyFingerprint(KEY_A),
        manifest_hash: await manifestHash(leaky),
        promotion_id: null,
      })
    }, 'cli')
      returning id`;
    const host: JobHost = {
      owner: "users-copy-test",
      dbUrl: (env) => localEnv(env as "production").dbUrl,
      secret: (name) =>
        name === "STAGECOACH_ANON_KEY"
          ? KEY_A
          : name === "STAGECOACH_TEST_PASSWORD"
          ? TEST_PASSWORD
          : undefined,
    };
    if (loseFingerprints) {
      let phase = "copy";
      for (let i = 0; i < 300 && phase === "copy"; i++) {
        const slice = await runSlice(target, job.id, {
          host,
          registry,
          deadlineMs: 40,
          marginMs: 0,
        });
        phase = String(slice.job?.state.phase);
      }
      assert.equal(phase, "validate");
      const gone = await target`
        delete from private.users_copy_fingerprints where job_id = ${job.id} returning 1`;
      assert.ok(gone.length > 0, "the batches stored fingerprints");
    }
    const r = await runJob(target, job.id, { host, registry });
    assert.equal(r.status, "failed");
    assert.equal(r.job?.error?.code, "leak_detected");
    const scan = (r.job?.error?.details as { validation: ValidationReport }).validation.leak_scan!;
    assert.equal(scan.fingerprints, loseFingerprints ? "source" : "stored");
    assert.ok(scan.source_values >= 4 * 3, `${scan.source_values} source values`);
    const left = await target`
      select 1 from private.users_copy_fingerprints where job_id = ${job.id}`;
    assert.equal(left.length, 0, "the job's fingerprints are removed");
    assert.match(
      r.job?.error?.message ?? "",
      /4 source personal values appear in public\.profiles\.phone/,
    );
    assert.ok(!JSON.stringify(r.job?.error).includes("+45"), "the leaked values are never stored");
    assert.deepEqual(
      (await snapshot(target, await mappedIds(source, t, KEY_A)))["auth.users"],
      [],
      "the copied users were removed again",
    );
    const [audit] = await target`
      select 1 from ops.audit_log where action = 'users.copy.failed' and subject_id = ${job.id}`;
    assert.ok(audit);
  } finally {
    await source.end();
    await target.end();
  }
}

Deno.test("the leak scan catches a deliberately unmasked column and removes what was copied", () =>
  leakyCopy(false));

Deno.test("the leak scan still catches it when the stored fingerprints were lost", () =>
  leakyCopy(true));

Deno.test("a sample carries its users' identities, profiles and memberships", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 60);
    const r = await cli(copyArgs(t, "--sample", "30", "--json"));
    assert.equal(r.code, 0, r.stderr);
    const counts = JSON.parse(r.stdout).counts as Record<string, number>;
    const picked = await source`
    select u.id,
           (select count(*)::int from auth.identities where user_id = u.id) as identities,
           (select count(*)::int from public.memberships where user_id = u.id) as memberships
    from auth.users as u
    where u.email like ${`%@${t}.example.com`}
      and ('x' || substr(md5(u.id::text), 1, 8))::bit(32)::bigint < ${Math.floor(0.3 * 2 ** 32)}`;
    assert.ok(picked.length > 5 && picked.length < 40, `sampled ${picked.length} of 60`);
    assert.equal(counts["auth.users"], picked.length);
    assert.equal(counts["public.profiles"], picked.length);
    assert.equal(counts["auth.identities"], picked.reduce((a, p) => a + p.identities, 0));
    assert.equal(counts["public.memberships"], picked.reduce((a, p) => a + p.memberships, 0));
    const ids = await mappedIds(source, t, KEY_A);
    const snap = await snapshot(target, ids);
    assert.equal(snap["auth.users"].length, picked.length, "only sampled users");
    assert.equal(snap["public.memberships"].length, counts["public.memberships"]);
    const [orphans] = await target`
    select count(*)::int as n from public.memberships as m
    where m.user_id = any (${ids}::uuid[])
      and (not exists (select 1 from auth.users where id = m.user_id)
           or not exists (select 1 from public.membership_tiers where id = m.tier_id))`;
    assert.equal(orphans.n, 0, "memberships point to copied users and the target's tiers");
  }));

Deno.test("anonymized users log in with the test password, not their own; Stripe ids are gone", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 3);
    const r = await cli(copyArgs(t));
    assert.equal(r.code, 0, r.stderr);
    const ids = await mappedIds(source, t, KEY_A);
    const rows = await target`
    select encrypted_password = extensions.crypt(${TEST_PASSWORD}, encrypted_password) as test_pw,
           encrypted_password = extensions.crypt('own-password-1', encrypted_password) as own_pw
    from auth.users where id = any (${ids}::uuid[])`;
    assert.equal(rows.length, 3);
    assert.ok(rows.every((x) => x.test_pw && !x.own_pw));
    const [stripe] = await target`
    select count(*)::int as n from public.memberships
    where user_id = any (${ids}::uuid[]) and (stripe_customer_id is not null or stripe_subscription_id is not null)`;
    assert.equal(stripe.n, 0);
    const [tier] = await target`
    select bool_and(m.tier_id = t.id) as ok from public.memberships as m
    join public.membership_tiers as t on t.slug = 'pro'
    where m.user_id = any (${ids}::uuid[]) and m.status = 'active'`;
    assert.equal(tier.ok, true, "re-pointed to the target's pro tier");
  }));

async function approvedPromotion(production: Sql, scope: string[]): Promise<string> {
  const p = await recordApprovedPlan(production, {
    source: "staging",
    target: "production",
    scope,
  });
  assert.equal(p.status, "approved");
  return p.id;
}

Deno.test("faithful mode keeps password hashes, and only runs through an approved promotion", async () => {
  const staging = db("staging"), production = db("production");
  const t = tag();
  try {
    await seedUsers(staging, production, t, 3);
    const args = [
      "users",
      "copy",
      "--from",
      "staging",
      "--to",
      "production",
      "--mode",
      "faithful",
      "--where",
      whereOf(t),
    ];
    const noPromotion = await cli(args);
    assert.equal(noPromotion.code, 1);
    assert.match(
      noPromotion.stderr,
      /a faithful copy needs --promotion <id> of an approved promotion/,
    );
    const wrongScope = await approvedPromotion(production, ["config"]);
    const refused = await cli([...args, "--promotion", wrongScope]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /its scope \(config\) does not include users/);
    const intoStaging = await cli([
      "users",
      "copy",
      "--from",
      "production",
      "--to",
      "staging",
      "--mode",
      "faithful",
      "--where",
      whereOf(t),
    ]);
    assert.match(
      intoStaging.stderr,
      /Cannot copy users faithfully into staging: it is a staging environment/,
    );
    const anonymizedIntoProd = await cli([
      "users",
      "copy",
      "--from",
      "staging",
      "--to",
      "production",
      "--where",
      whereOf(t),
    ]);
    assert.match(
      anonymizedIntoProd.stderr,
      /Cannot copy users anonymized into production: it is a production environment/,
    );
    assert.equal(
      (await snapshot(production, await mappedIds(staging, t, null)))["auth.users"].length,
      0,
    );

    const promotion = await approvedPromotion(production, ["users"]);
    const ok = await cli([...args, "--promotion", promotion, "--json"], {
      STAGECOACH_ANON_KEY: "",
    });
    assert.equal(ok.code, 0, ok.stderr);
    const ids = await mappedIds(staging, t, null);
    const rows = await production`
      select u.email, u.encrypted_password = extensions.crypt('own-password-' || substring(u.email from 'person(\\d+)@'), u.encrypted_password) as own_pw,
             m.stripe_customer_id
      from auth.users as u join public.memberships as m on m.user_id = u.id and m.status = 'active'
      where u.id = any (${ids}::uuid[])`;
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => r.own_pw), "users log in with their own passwords");
    assert.ok(rows.every((r) => String(r.email).endsWith(`@${t}.example.com`)));
    assert.ok(rows.every((r) => String(r.stripe_customer_id).startsWith("cus_live")));
  } finally {
    await staging.end();
    await production.end();
  }
});

Deno.test("--dry-run checks everything, shows masked samples and writes nothing", () =>
  withProductionAndStaging(async (source, target, t) => {
    await seedUsers(source, target, t, 3);
    const [{ n: jobsBefore }] = await target`select count(*)::int as n from ops.jobs`;
    const r = await cli(copyArgs(t, "--dry-run"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dry run: nothing was written/);
    assert.match(r.stdout, /auth\.users: 3 rows selected/);
    assert.match(r.stdout, /email: p…\(\d+\) → [a-z]+\.[0-9a-f]{16}@anon\.stagecoach\.test/);
    const samples = r.stdout.slice(r.stdout.indexOf("samples"));
    assert.ok(!samples.includes(`${t}.example.com`), "raw values never leave the source");
    assert.ok(!samples.includes("Realname"), "raw values never leave the source");
    const [{ n: jobsAfter }] = await target`select count(*)::int as n from ops.jobs`;
    assert.equal(jobsAfter, jobsBefore);
    assert.equal(
      (await snapshot(target, await mappedIds(source, t, KEY_A)))["auth.users"].length,
      0,
    );
  }));

Deno.test("bad input is refused with exit 2 and a clear message, writing nothing", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [copyArgs("x", "--sample", "0"), {}, /Cannot use --sample: 0 is not a percentage/],
    [
      [
        "users",
        "copy",
        "--from",
        "production",
        "--to",
        "staging",
        "--where",
        "true; drop table auth.users",
      ],
      {},
      /Cannot use --where: it contains ';'/,
    ],
    [
      copyArgs("x"),
      { STAGECOACH_ANON_KEY: "" },
      /no key given \(set STAGECOACH_ANON_KEY or pass --key-file/,
    ],
    [copyArgs("x"), { STAGECOACH_ANON_KEY: "too-short" }, /shorter than 32 characters/],
    [copyArgs("x", "--mode", "sideways"), {}, /Invalid --mode/],
    [["users", "copy", "--from", "nowhere", "--to", "staging"], {}, /Invalid --from/],
  ];
  for (const [args, env, message] of cases) {
    const r = await cli(args, env);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(!r.stderr.includes("too-short"), "the key is never echoed");
  }
});
