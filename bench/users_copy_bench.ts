/**
 * The anonymized user copy against a plain data move, measured in the same run on the same
 * stack: production gets `STAGECOACH_BENCH_USERS` users (default 1,000,000) with an identity,
 * a profile and a membership each (about 4 million rows); then
 *
 * - **baseline**: `pg_dump --data-only --disable-triggers` of the four tables piped into
 *   `psql` on the emptied staging (no masking, no checks);
 * - **users copy**: `stagecoach users copy --from production --to staging` (anonymized) as an
 *   operator runs it, into the emptied staging again.
 *
 * Reported: rows/s of each (the copy's COPY phase, and end to end with preflight, collision
 * checks, validation and leak scan), and the client processes' peak memory (`/usr/bin/time`).
 * Nothing passes or fails on time.
 *
 * @module
 */
import postgres from "postgres";
import { localEnv, REPO_ROOT } from "../scripts/local/config.ts";
import type { BenchContext } from "./run.ts";

const TABLES = ["auth.users", "auth.identities", "public.profiles", "public.memberships"];

/** Generates `users` users with identity, profile and membership in a database; returns its total rows. */
export async function generate(url: string, users: number): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      // The sign-up trigger is skipped (replica): profiles are generated with their details.
      await tx`set local session_replication_role = replica`;
      await tx`
        insert into public.membership_tiers (slug, name) values ('free', 'Free'), ('pro', 'Pro')
        on conflict (slug) do nothing`;
      await tx`
        insert into auth.users (
          instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
          raw_app_meta_data, raw_user_meta_data, created_at, updated_at,
          confirmation_token, recovery_token, email_change_token_new, email_change, phone
        )
        select '00000000-0000-0000-0000-000000000000', md5('bench-user-' || g)::uuid,
               'authenticated', 'authenticated', 'member' || g || '@bench-mail.example.com',
               '$2a$10$abcdefghijklmnopqrstuu1Ci4k4d2hJ3JrVnG4cMwX1x0Y3bJ2lW', now(),
               '{"provider": "email", "providers": ["email"]}',
               jsonb_build_object('full_name', 'Benchmark Member' || g, 'display_name', 'Member' || g),
               now() - (g % 1000) * interval '1 day', now(), '', '', '', '',
               case when g % 4 = 0 then '1555' || lpad(g::text, 8, '0') end
        from generate_series(1, ${users}::int) as g`;
      await tx`
        insert into auth.identities (
          provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at
        )
        select u.id::text, u.id,
               jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true),
               'email', now(), now(), now()
        from auth.users as u where u.email like '%@bench-mail.example.com'`;
      await tx`
        insert into public.profiles (
          id, display_name, full_name, phone, date_of_birth, address, marketing_opt_in, metadata
        )
        select u.id, 'Member' || g, 'Benchmark Member' || g, '+4412' || lpad(g::text, 8, '0'),
               date '1950-01-01' + (g % 20000),
               jsonb_build_object('line1', g || ' Benchmark Road', 'city', 'Benchtown',
                                  'postal_code', lpad((g % 99999)::text, 5, '0'), 'country', 'GB'),
               g % 2 = 0, '{"theme": "dark"}'
        from generate_series(1, ${users}::int) as g
        join auth.users as u on u.id = md5('bench-user-' || g)::uuid`;
      await tx`
        insert into public.memberships (
          user_id, tier_id, status, stripe_customer_id, stripe_subscription_id, current_period_end
        )
        select u.id, t.id, 'active', 'cus_bench' || substr(md5(u.id::text), 1, 14),
               'sub_bench' || substr(md5(u.id::text), 1, 14), now() + interval '20 days'
        from auth.users as u
        join public.membership_tiers as t on t.slug = case when get_byte(uuid_send(u.id), 0) % 2 = 0 then 'free' else 'pro' end
        where u.email like '%@bench-mail.example.com'`;
    });
    for (const t of TABLES) await sql.unsafe(`vacuum analyze ${t}`);
    const [{ n }] = await sql.unsafe(
      `select (select count(*) from auth.users) + (select count(*) from auth.identities)
            + (select count(*) from public.profiles) + (select count(*) from public.memberships) as n`,
    );
    return Number(n);
  } finally {
    await sql.end();
  }
}

async function emptyTarget(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`truncate ${TABLES.join(", ")} cascade`);
    await sql`insert into public.membership_tiers (slug, name) values ('free', 'Free'), ('pro', 'Pro')
              on conflict (slug) do nothing`;
    await sql`checkpoint`;
  } finally {
    await sql.end();
  }
}

/** Runs a shell pipeline; returns wall seconds and the peak RSS (MB) of each timed process. */
async function timed(script: string, env: Record<string, string> = {}) {
  const memFile = await Deno.makeTempFile();
  const t0 = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", script.replaceAll("%MEM%", memFile)],
    cwd: REPO_ROOT,
    env: { ...Deno.env.toObject(), ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const mem = (await Deno.readTextFile(memFile)).trim().split("\n").filter(Boolean)
    .map((l) => Number(l.split(" ").at(-1)) / 1024);
  await Deno.remove(memFile);
  const dec = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`bench: command failed (${out.code}): ${dec.decode(out.stderr).slice(-2000)}`);
  }
  return { seconds, memMb: mem, stdout: dec.decode(out.stdout) };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/**
 * Runs the benchmark on a running stack.
 *
 * @param ctx the stack (production is the source, staging the target)
 */
export async function run(ctx: BenchContext): Promise<void> {
  const users = Number(Deno.env.get("STAGECOACH_BENCH_USERS") ?? "1000000");
  const prod = localEnv("production", ctx.stack);
  const staging = localEnv("staging", ctx.stack);
  console.log(`users_copy: generating ${fmt(users)} users with identity, profile, membership…`);
  const g0 = performance.now();
  const rows = await generate(prod.dbUrl, users);
  console.log(
    `users_copy: ${fmt(rows)} source rows in ${((performance.now() - g0) / 1000).toFixed(0)} s`,
  );

  await emptyTarget(staging.dbUrl);
  const dump = `pg_dump --data-only --disable-triggers ${
    TABLES.map((t) => `-t ${t}`).join(" ")
  } -d ${prod.dbUrl}`;
  const baseline = await timed(
    `/usr/bin/time -a -o %MEM% -f "pg_dump %M" ${dump} | /usr/bin/time -a -o %MEM% -f "psql %M" psql -q -v ON_ERROR_STOP=1 -d ${staging.dbUrl} > /dev/null`,
  );

  await emptyTarget(staging.dbUrl);
  const env = {
    STAGECOACH_HOME: ctx.stack.home,
    STAGECOACH_PORT_OFFSET: String(ctx.stack.portOffset),
    STAGECOACH_ANON_KEY: "bench-key-" + "0123456789abcdef".repeat(3),
    STAGECOACH_TEST_PASSWORD: "bench-test-password",
    NO_COLOR: "1",
  };
  const copy = await timed(
    `/usr/bin/time -a -o %MEM% -f "stagecoach %M" ${Deno.execPath()} run -A scripts/stagecoach.ts users copy --from production --to staging --json`,
    env,
  );
  const result = JSON.parse(copy.stdout) as { job_id: string; status: string };
  const sql = postgres(staging.dbUrl, { max: 1, onnotice: () => {} });
  let copyPhase = NaN;
  let validation = NaN;
  try {
    const [job] = await sql<{ started: Date; copied: string; validated: string; created: Date }[]>`
      select started_at as started, state ->> 'copied_at' as copied,
             state ->> 'validated_at' as validated, created_at as created
      from ops.jobs where id = ${result.job_id}`;
    copyPhase = (Date.parse(job.copied) - job.started.getTime()) / 1000;
    validation = (Date.parse(job.validated) - Date.parse(job.copied)) / 1000;
  } finally {
    await sql.end();
  }
  const baseRate = rows / baseline.seconds;
  const copyRate = rows / copyPhase;
  const totalRate = rows / copy.seconds;
  const peak = Math.max(...copy.memMb);
  console.log(
    `users_copy: ${fmt(rows)} rows (${fmt(users)} users), job ${result.job_id} ${result.status}`,
  );
  console.log(
    `  baseline  pg_dump --data-only | psql   ${baseline.seconds.toFixed(1)} s  ${
      fmt(baseRate)
    } rows/s  peak ${baseline.memMb.map((m) => m.toFixed(0)).join(" + ")} MB (pg_dump + psql)`,
  );
  console.log(
    `  users copy (COPY phase)                ${copyPhase.toFixed(1)} s  ${fmt(copyRate)} rows/s  ${
      (copyRate / baseRate * 100).toFixed(0)
    } % of baseline`,
  );
  console.log(
    `  users copy end to end (preflight, collision checks, copy, validation ${
      validation.toFixed(1)
    } s incl. leak scan)  ${copy.seconds.toFixed(1)} s  ${fmt(totalRate)} rows/s  ${
      (totalRate / baseRate * 100).toFixed(0)
    } % of baseline  peak ${peak.toFixed(0)} MB`,
  );
}
