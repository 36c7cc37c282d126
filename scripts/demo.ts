/**
 * `npm run demo`: the main job, told as a story on the local stack.
 *
 * 1. Start (or reuse) three Supabase environments without Docker.
 * 2. Give each a release team: an operator and two approvers (Supabase Auth users + ops roles).
 * 3. Check the plumbing: the functions gateway and RLS (`/ops/me`), pg_cron → pg_net → ops-worker.
 * 4. Staging and production start with the catalog (plain promotions, once).
 * 5. The team changes development: a price, a config value and a secret.
 * 6. The merge to `staging` releases it there: `stagecoach release --to staging` (schema
 *    check, db push, function secrets, functions deploy with the real CLI, the promotion,
 *    validation), as `release-staging.yml` runs it; staging needs no approval.
 * 7. The merge to `main` plans production: `release --to production` records the plan and
 *    waits (exit 3); the planner cannot approve their own plan; two approvers approve; the
 *    release goes on (`--promotion`, as the dispatched workflow runs it): a verified backup
 *    first, the watch after apply (seconds here, 10 minutes by default); run again, nothing
 *    changes.
 * 8. Roll the release back (`release rollback`: planned as a high-risk promotion, two approvers,
 *    then the promotion reverted from its snapshots and Stripe with it), and again (nothing
 *    changes); a direct edit of production is refused by the database, whoever tries.
 * 9. Staging's Stripe account matches its catalog (scope `stripe`, synced by the release).
 * 10. Copy development's users into staging, anonymized on the way.
 * 11. Verify every environment's audit chain, and 12. print the status.
 *
 * Re-running it tells the same story (the changes it makes are fixed values).
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { type LocalEnv, localEnvs, stackOptionsFromEnv } from "./local/config.ts";
import { ensureUser, userToken } from "./local/auth.ts";
import { startStack } from "./local/stack.ts";
import { collectStatus, printStatus } from "./local/status.ts";
import { waitFor } from "./local/process.ts";
import { ApiCallError, requestOps } from "./cli/api.ts";
import type { Plan } from "../supabase/functions/_shared/promotion/plan.ts";
import { renderPlan } from "../supabase/functions/_shared/promotion/render.ts";
import { demoRollout } from "./demo_rollout.ts";

/** Password of the demo's team members on the local stack (never used outside it). */
const DEMO_PASSWORD = "stagecoach-demo";
/** The demo's backup key (a real operator keeps theirs in STAGECOACH_BACKUP_KEY or a file). */
const DEMO_BACKUP_KEY = "stagecoach-demo-backup-key-not-for-real-use";

const OLIVIA = "olivia.operator@stagecoach.test";
const ADA = "ada.approver@stagecoach.test";
const BRUNO = "bruno.approver@stagecoach.test";
const TEAM = [
  { email: OLIVIA, role: "operator" as const },
  { email: ADA, role: "approver" as const },
  { email: BRUNO, role: "approver" as const },
];

const tty = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const bold = (s: string) => tty ? `\x1b[1m${s}\x1b[0m` : s;
const dim = (s: string) => tty ? `\x1b[2m${s}\x1b[0m` : s;

function headline(text: string): void {
  console.log(`\n${bold(`== ${text}`)}`);
}

function say(text: string): void {
  console.log(`   ${text}`);
}

interface Promotion {
  id: string;
  status: string;
  risk: string;
  required_approvals: unknown;
  plan_hash: string;
  plan?: Plan;
  failure?: unknown;
}

async function main(): Promise<void> {
  const opts = stackOptionsFromEnv();
  const envs = localEnvs(opts);
  const [dev, staging, production] = envs;
  headline("1. Start the local stack: three Supabase projects, no Docker");
  await startStack(opts, (line) => say(dim(line)));

  const sql = Object.fromEntries(
    envs.map((env) => [env.name, postgres(env.dbUrl, { max: 2, onnotice: () => {} })]),
  );
  const tokens = new Map<string, string>();
  async function as(env: LocalEnv, email: string): Promise<string> {
    const key = `${env.name}/${email}`;
    if (!tokens.has(key)) {
      tokens.set(key, (await userToken(sql[env.name], env, { email })).access_token);
    }
    return tokens.get(key)!;
  }
  // The story drives the wire itself: answers are read as the shapes it expects.
  const api = async <T>(env: LocalEnv, who: string, path: string, body?: unknown) =>
    (await requestOps(env, path, { token: await as(env, who), body })).body as unknown as T;

  try {
    headline("2. A release team in every environment (Supabase Auth users with ops roles)");
    for (const env of envs) {
      const made = [];
      for (const member of TEAM) {
        const user = await ensureUser(sql[env.name], { ...member, password: DEMO_PASSWORD });
        made.push(`${user.email.split(".")[0]} (${user.ops_role})`);
      }
      say(`${env.name.padEnd(12)} ${made.join(", ")}`);
    }

    headline("3. The plumbing: gateway + RLS, and pg_cron → net.http_post → ops-worker");
    for (const env of envs) {
      const me = await api<{ email: string; role: string }>(env, OLIVIA, "/me");
      const anon = await fetch(`${env.functionsUrl}/ops/me`);
      await anon.body?.cancel();
      const db = sql[env.name];
      const [job] = await db`select command from cron.job where jobname = 'ops-worker'`;
      const [{ t0 }] = await db`select clock_timestamp() as t0`;
      await db.unsafe(job.command); // the job's own SQL, now rather than at the next minute
      await waitFor("the ops-worker heartbeat", async () => {
        const [fresh] = await db`
          select from ops.heartbeats where component = 'ops-worker' and beat_at >= ${t0}`;
        return fresh !== undefined;
      }, { timeoutMs: 20_000 });
      say(
        `${env.name.padEnd(12)} /ops/me as ${me.email} → role ${me.role}; without a token → ` +
          `${anon.status}; ops-worker heartbeat ✓`,
      );
    }

    headline("4. Where we start: staging and production have the catalog (plain promotions)");
    for (const [source, target] of [[dev, staging], [staging, production]] as const) {
      const [{ tiers }] = await sql[target.name]`
        select count(*)::int as tiers from public.membership_tiers`;
      if (tiers > 0) {
        say(`${target.name} already has the catalog`);
        continue;
      }
      const out = await api<{ promotion: Promotion }>(target, OLIVIA, "/promotions", {
        source: source.name,
      });
      const p = out.promotion;
      if (p.status === "awaiting_approval") {
        await api(target, ADA, `/promotions/${p.id}/approve`, { plan_hash: p.plan_hash });
      }
      const done = await api<{ promotion: Promotion; validation: Check[] }>(
        target,
        OLIVIA,
        `/promotions/${p.id}/apply`,
        {},
      );
      say(
        `${source.name} → ${target.name}: ${p.plan!.changes.length} changes (${
          summary(p.plan!)
        }), ${done.promotion.status}; ${checks(done.validation)}`,
      );
    }

    headline("5. The team merges a change in development");
    await sql
      .development`update public.tier_prices set unit_amount = 1500 where lookup_key = 'pro_monthly'`;
    await sql
      .development`update public.app_config set value = '30' where key = 'billing.trial_days'`;
    const secret = (await requestOps(
      dev,
      "/config/secrets/stripe.api_key",
      {
        token: await as(dev, OLIVIA),
        method: "PUT",
        body: {
          value: "sk_test_demo_51Hxyz_never_printed",
          description: "Stripe key of the checkout",
        },
      },
    )).body as { fingerprint: string };
    say("in development: Pro monthly 12.00 → 15.00 USD, billing.trial_days 14 → 30,");
    say(
      `                secret stripe.api_key set (fingerprint ${secret.fingerprint}; the value is never shown)`,
    );

    headline("6. The merge to `staging` releases it there (what release-staging.yml runs)");
    const toStaging = await stagecoach(["release", "--to", "staging", "--as", OLIVIA]);
    showRelease(toStaging, "staging");
    const [staged] = await sql.staging`
      select unit_amount from public.tier_prices where lookup_key = 'pro_monthly'`;
    say(`staging pro_monthly is now ${staged.unit_amount}`);

    headline("7. The merge to `main` plans production; two approvers; the release goes on");
    // Production is watched 10 minutes after a release by default; the demo cannot wait that long.
    // Shortening it weakens production's policy: only the owner, under break glass (audited).
    await sql.production.begin(async (tx) => {
      await tx`select ops.break_glass('demo: watch production for seconds, not minutes')`;
      await tx`update ops.environments
        set watch_window = '6 seconds', watch_every = '2 seconds' where name = 'production'`;
    });
    say(dim("(production's watch after apply shortened for the demo under break glass: 6 s)"));
    const planned = await stagecoach(["release", "--to", "production", "--as", OLIVIA]);
    // A demo run again meets the release an earlier run rolled back (step 8): refused.
    let releaseLine = planned.lines.find((l) => /was rolled back; fix forward/.test(l));
    if (releaseLine) {
      say(`an earlier run rolled this commit's release back → ${releaseLine}`);
    } else {
      const [row] = await sql.production`
        select promotion_id::text as id from ops.releases
        where promotion_id is not null order by created_at desc limit 1`;
      const [p] = await sql.production<Promotion[]>`
        select id::text, status::text, risk, required_approvals, plan_hash, plan
        from ops.promotions where id = ${row.id}`;
      if (planned.code === 3) {
        console.log();
        console.log(
          renderPlan(p.plan!, { color: tty, hash: p.plan_hash }).split("\n").map((l) => `   ${l}`)
            .join("\n"),
        );
        say("");
        say(
          `release waits (exit 3): promotion ${p.id} needs ${p.required_approvals} approvals (risk ${p.risk})`,
        );
        try {
          await api(production, OLIVIA, `/promotions/${p.id}/approve`, { plan_hash: p.plan_hash });
        } catch (err) {
          if (!(err instanceof ApiCallError)) throw err;
          say(`Olivia, who planned it, tries to approve → ${err.status}: ${err.message}`);
        }
        for (const [name, email] of [["Ada", ADA], ["Bruno", BRUNO]]) {
          const d = await api<{ promotion: Promotion }>(
            production,
            email,
            `/promotions/${p.id}/approve`,
            { plan_hash: p.plan_hash, comment: "reviewed the diff" },
          );
          say(`${name} approves plan ${p.plan_hash.slice(0, 12)} → ${d.promotion.status}`);
        }
      } else {say(`production release: ${
          planned.lines.findLast((l) => l.startsWith("release ")) ?? ""
        }`);}
      const released = await stagecoach([
        "release",
        "--to",
        "production",
        "--promotion",
        p.id,
        "--as",
        OLIVIA,
      ]);
      showRelease(released, "production");
      releaseLine = released.lines.findLast((l) => l.startsWith("release "))!;
      const prices = await sql.production`
        select coalesce(lookup_key, '(archived)') as key, unit_amount, active from public.tier_prices
        where lookup_key = 'pro_monthly' or (lookup_key is null and unit_amount = 1200)
        order by active desc`;
      say(
        `production prices now: ${
          prices.map((r) => `${r.key} ${r.unit_amount} ${r.active ? "active" : "inactive"}`).join(
            ", ",
          )
        }`,
      );
      const again = await stagecoach(["release", "--to", "production", "--as", OLIVIA]);
      say(`the same release run again → ${again.lines.find((l) => /already/.test(l)) ?? "?"}`);
    }

    headline("8. Roll the release back: a high-risk change, so two approvers first; then again");
    const releaseId = releaseLine.match(/release ([0-9a-f-]{36})/)![1];
    const rollback = (who: string) =>
      stagecoach(["release", "rollback", releaseId, "--env", "production", "--as", who]);
    const asked = await rollback(OLIVIA);
    if (asked.code !== 3) {
      // An earlier run of the demo rolled it back already.
      say(asked.lines.find((l) => /already rolled back/.test(l)) ?? asked.lines.join(" "));
    } else {
      for (const line of asked.lines.filter((l) => /^(planned|waiting)/.test(l))) say(line);
      const [rb] = await sql.production<Promotion[]>`
        select id::text, status::text, risk, required_approvals, plan_hash from ops.promotions
        where 'rollback' = any (scope) order by created_at desc limit 1`;
      for (const [name, email] of [["Ada", ADA], ["Bruno", BRUNO]]) {
        const d = await api<{ promotion: Promotion }>(
          production,
          email,
          `/promotions/${rb.id}/approve`,
          { plan_hash: rb.plan_hash, comment: "roll it back" },
        );
        say(`${name} approves the rollback ${rb.plan_hash.slice(0, 12)} → ${d.promotion.status}`);
      }
      const back = await rollback(OLIVIA);
      for (const line of back.lines.filter((l) => /^(data|schema|release )/.test(l))) say(line);
      if (back.code !== 0) throw new Error("Cannot continue the demo: the release rollback failed");
      const twice = await rollback(OLIVIA);
      say(`again → ${twice.lines.find((l) => /already rolled back/.test(l)) ?? "?"}`);
    }
    const [price] = await sql.production`
      select unit_amount from public.tier_prices where lookup_key = 'pro_monthly'`;
    say(`production pro_monthly is ${price.unit_amount} again`);

    headline("8b. No back door: production changes only through an approved plan");
    const [olivia] = await sql.production`select id::text from auth.users where email = ${OLIVIA}`;
    for (
      const [who, role, claims] of [
        ["Olivia with her own token (as the Data API runs it)", "authenticated", {
          sub: olivia.id,
          role: "authenticated",
        }],
        ["the service-role key", "service_role", { role: "service_role" }],
        ["postgres in the SQL editor", null, null],
      ] as const
    ) {
      try {
        await sql.production.begin(async (tx) => {
          if (claims) {
            await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
            await tx.unsafe(`set local role ${role}`);
          }
          await tx`update public.tier_prices set unit_amount = 1 where lookup_key = 'pro_monthly'`;
        });
        say(`${who}: the edit went through (unexpected)`);
      } catch (err) {
        say(`${who} edits the price directly → ${(err as Error).message.split(";")[0]}`);
      }
    }

    headline("8c. A flag rolled out in production in stages, halted by its health query");
    await demoRollout({
      production,
      sql: sql.production,
      say,
      stagecoach,
      operator: OLIVIA,
      approvers: [ADA, BRUNO],
      async approve(who, p) {
        const d = await api<{ promotion: Promotion }>(
          production,
          who,
          `/promotions/${p.id}/approve`,
          { plan_hash: p.plan_hash, comment: "reviewed the rollout plan" },
        );
        return d.promotion.status;
      },
    });

    headline("9. The Stripe catalog: staging's Stripe account has its tiers and prices");
    const catalog = await api<{ promotion?: Promotion; plan: Plan }>(
      staging,
      OLIVIA,
      "/promotions",
      {
        source: dev.name,
        scope: ["stripe"],
      },
    );
    if (catalog.promotion) {
      const c = catalog.promotion;
      say(
        `planned ${c.plan!.changes.length} Stripe changes (${
          summary(c.plan!)
        }): products by tier, prices by lookup key, the webhook endpoint`,
      );
      const done = await api<{ promotion: Promotion; validation: Check[] }>(
        staging,
        OLIVIA,
        `/promotions/${c.id}/apply`,
        {},
      );
      say(
        `applied (idempotency keys per change): ${done.promotion.status}; ${
          checks(done.validation)
        }`,
      );
    } else say("nothing to do: the staging release already synced the catalog (scope stripe)");
    const [{ linked, total }] = await sql.staging`
      select count(*) filter (where stripe_price_id is not null)::int as linked,
             count(*)::int as total
      from public.tier_prices where active`;
    say(`${linked} of ${total} active staging prices now point at their Stripe price`);

    headline("10. Realistic users for staging, anonymized on the way (users copy)");
    const copy = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "scripts/stagecoach.ts",
        "users",
        "copy",
        "--from",
        dev.name,
        "--to",
        staging.name,
      ],
      env: {
        STAGECOACH_ANON_KEY: "demo-anonymization-key-never-use-in-production",
        STAGECOACH_TEST_PASSWORD: DEMO_PASSWORD,
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(copy.stdout) + new TextDecoder().decode(copy.stderr);
    for (const line of out.trim().split("\n").slice(-3)) say(dim(line));
    if (!copy.success) throw new Error("Cannot continue the demo: the users copy failed");
    const [original] = await sql.development`
      select email from auth.users where email like '%@example.com' order by email limit 1`;
    const [copies] = await sql.staging`
      select count(*)::int as n,
             count(*) filter (where encrypted_password = extensions.crypt(${DEMO_PASSWORD}, encrypted_password))::int as can_log_in,
             count(*) filter (where email = ${original?.email ?? ""})::int as leaked
      from auth.users where email not like '%@stagecoach.test'`;
    say(
      `staging has ${copies.n} copied users; ${copies.can_log_in} log in with the test password; ` +
        `${copies.leaked} carry a real email (e.g. ${original?.email ?? "-"} is not there)`,
    );

    headline("11. The audit trail: a hash chain per environment");
    for (const env of envs) {
      const v = await api<{ intact: boolean; entries: unknown }>(env, OLIVIA, "/audit/verify");
      say(`${env.name.padEnd(12)} ${v.intact ? "intact" : "BROKEN"} (${v.entries} entries)`);
    }
  } finally {
    await Promise.all(Object.values(sql).map((db) => db.end()));
  }

  headline("12. Status");
  const statuses = await collectStatus(opts);
  printStatus(statuses, { json: false });
  console.log(
    `\nEvery team member's password is "${DEMO_PASSWORD}". Try the CLI yourself, e.g.:\n` +
      `  npm run stagecoach -- promote plan --from staging --to production --as ${OLIVIA}\n` +
      `  npm run stagecoach -- audit verify --env production --as ${ADA}`,
  );
  if (!statuses.every((s) => s.healthy)) {
    console.error("\ndemo: an environment is unhealthy (see above)");
    Deno.exit(1);
  }
}

/** Shows a release's step lines and outcome; a failed release ends the demo. */
function showRelease(r: { code: number; lines: string[] }, env: string): void {
  for (
    const line of r.lines.filter((l) =>
      /^\w+: (succeeded|skipped|done)|already|^watch \w+: sample/.test(l)
    )
  ) {
    say(dim(line));
  }
  say(r.lines.findLast((l) => l.startsWith("release ")) ?? "");
  if (r.code !== 0) throw new Error(`Cannot continue the demo: the ${env} release failed`);
}

/** Runs the CLI as a person would; its output lines and exit code. */
async function stagecoach(args: string[]): Promise<{ code: number; lines: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/stagecoach.ts", ...args],
    // A production release backs up first, encrypted under the operator's key.
    env: {
      NO_COLOR: "1",
      STAGECOACH_BACKUP_KEY: Deno.env.get("STAGECOACH_BACKUP_KEY") ?? DEMO_BACKUP_KEY,
      STAGECOACH_BACKUP_DIR: join(stackOptionsFromEnv().home, "backups"),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, lines: text.split("\n") };
}

interface Check {
  name: string;
  passed: boolean;
}

function checks(results: Check[]): string {
  const failed = results.filter((r) => !r.passed);
  return failed.length
    ? `checks FAILED: ${failed.map((f) => f.name).join(", ")}`
    : `all ${results.length} checks pass`;
}

function summary(plan: Plan): string {
  return Object.entries(plan.summary).filter(([, n]) => n > 0).map(([a, n]) => `${n} ${a}`).join(
    ", ",
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    if (err instanceof ApiCallError) console.error(JSON.stringify(err.details, null, 2));
    Deno.exit(1);
  }
}
