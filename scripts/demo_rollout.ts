/**
 * The rollout step of the demo (issue 14, part 5, step 8c of `npm run demo`): a flag rolled out
 * in production in stages, halted by a health query going bad. About 15 s (stages of 2 s, samples
 * every second, two CLI runs). `deno run -A scripts/demo_rollout.ts` runs it alone on a running
 * local stack.
 *
 * 1. `new_checkout` is at 0 % in production; the demo's checkout attempts (400 pro and team
 *    users — the flag targets those tiers — none failing) are a table here, and who is inside
 *    the rollout is `flags.evaluate`'s answer.
 * 2. `rollout start … --plan`: a promotion of scope `rollout` naming the plan (stages 1,5,25,50,
 *    100 every 2 s; the health queries of `supabase/health` plus the flag's own, comparing payment
 *    failures inside the rollout with those outside); two approvers approve it.
 * 3. `rollout start … --promotion <id> --follow` raises the flag stage by stage; at 25 % the
 *    failures inside the rollout climb; two unhealthy samples in a row return the flag to 0 %,
 *    notified (`rollout.rolled_back`) and audited. `rollout status` shows it.
 *
 * Re-running it tells the same story (an earlier rollout of the flag is aborted first).
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import { type LocalEnv, localEnv } from "./local/config.ts";
import { ensureUser, userToken } from "./local/auth.ts";
import { requestOps } from "./cli/api.ts";

const FLAG = "new_checkout";

/** What the step needs from the demo around it. */
export interface RolloutDemoDeps {
  production: LocalEnv;
  /** Production's database as its owner. */
  sql: postgres.Sql;
  say(text: string): void;
  /** Runs the CLI; its output lines and exit code. */
  stagecoach(args: string[]): Promise<{ code: number; lines: string[] }>;
  /** The operator who plans (an email the CLI's `--as` knows). */
  operator: string;
  /** Approves a promotion as `who` (an approver); returns its status. */
  approve(who: string, promotion: { id: string; plan_hash: string }): Promise<string>;
  approvers: string[];
}

/** The flag's own health query: payment failures inside the rollout against those outside. */
export const PAYMENT_FAILURES_SQL =
  `-- Payment failure rate of users inside the rollout minus that of users outside it; who is
-- inside is what the app sees: flags.evaluate with the user id as the targeting key.
-- threshold: 0.2
-- direction: above
select coalesce(avg(failed::int) filter (where inside), 0)
     - coalesce(avg(failed::int) filter (where not inside), 0)
from (select a.failed,
             (flags.evaluate('new_checkout',
                jsonb_build_object('targeting_key', a.user_id::text, 'tier', a.tier))
                ->> 'enabled')::boolean as inside
      from demo_rollout.checkout_attempts a) s;
`;

/**
 * Rolls `new_checkout` out in production in stages until a health query halts it.
 *
 * @throws {Error} "Cannot continue the demo: …" when a step does not end as the story says
 */
export async function demoRollout(d: RolloutDemoDeps): Promise<void> {
  const { sql, say } = d;
  // Production samples every 30 s and breaches after 3 by default; the demo has seconds. Changing
  // them weakens production's policy: only the owner, under break glass (audited).
  const [before] = await sql<{ every: string; after: number }[]>`
    select watch_every::text as every, watch_breach_after as after
    from ops.environments where name = 'production'`;
  await sql.begin(async (tx) => {
    await tx`select ops.break_glass('demo: a rollout with samples of seconds')`;
    await tx`update ops.environments set watch_every = '1 second', watch_breach_after = 2
             where name = 'production'`;
    await tx`select ops.halt_rollout(id, 'abort', '{"by": "demo: start again"}')
             from ops.flag_rollouts where flag_key = ${FLAG} and status in ('running', 'paused')`;
    await tx`insert into public.feature_flags (key, description, enabled, rollout_percent)
             values (${FLAG}, 'The new checkout', true, 0)
             on conflict (key) do update set enabled = true, rollout_percent = 0`;
  });
  await sql.unsafe(`create schema if not exists demo_rollout;
    create table if not exists demo_rollout.checkout_attempts (
      user_id uuid not null default gen_random_uuid(), tier text not null,
      failed boolean not null);
    truncate demo_rollout.checkout_attempts;
    insert into demo_rollout.checkout_attempts (tier, failed)
    select (array['pro', 'team'])[1 + g % 2], false from generate_series(1, 400) as g;`);
  const dir = await Deno.makeTempDir({ prefix: "stagecoach-demo-rollout-" });
  const health = join(dir, "new_checkout_payment_failures.sql");
  await Deno.writeTextFile(health, PAYMENT_FAILURES_SQL);
  say(`${FLAG} is at 0 % in production; its health query compares payment failures in and out`);
  try {
    const start = [
      "rollout",
      "start",
      FLAG,
      "--env",
      "production",
      "--stages",
      "1,5,25,50,100",
      "--every",
      "2s",
      "--health",
      health,
      "--on-breach",
      "rollback",
    ];
    const planned = await d.stagecoach([...start, "--plan", "--as", d.operator, "--json"]);
    const line = planned.lines.find((l) => l.startsWith("{"));
    if (!line) throw new Error(`Cannot continue the demo: ${planned.lines.join(" ")}`);
    const p = JSON.parse(line).promotion as { id: string; plan_hash: string; status: string };
    say(`rollout planned as promotion ${p.id} (scope rollout, high risk): ${p.status}`);
    for (const who of d.approvers) {
      say(`${who.split(".")[0]} approves → ${await d.approve(who, p)}`);
    }
    const follow = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/stagecoach.ts", ...start, "--promotion", p.id, "--follow"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // At 25 % the new checkout starts failing for the users inside the rollout.
    for (const t0 = Date.now();;) {
      const [f] = await sql<{ p: number; ended: boolean }[]>`
        select f.rollout_percent as p, exists (select 1 from ops.flag_rollouts r
          where r.promotion_id = ${p.id}::uuid and r.status <> 'running') as ended
        from public.feature_flags f where f.key = ${FLAG}`;
      if (f.ended) throw new Error("Cannot continue the demo: the rollout stopped before 25 %");
      if (f.p >= 25) break;
      if (Date.now() - t0 > 60_000) throw new Error("Cannot continue the demo: no 25 % stage");
      await new Promise((r) => setTimeout(r, 200));
    }
    await sql`update demo_rollout.checkout_attempts set failed = true
              where (flags.evaluate(${FLAG},
                       jsonb_build_object('targeting_key', user_id::text, 'tier', tier))
                       ->> 'enabled')::boolean`;
    say("at 25 %: payment failures inside the rollout climb");
    const out = await follow.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    for (const l of text.split("\n").filter((l) => /^\s*rollout \w{8}: /.test(l))) {
      say(l.trim());
    }
    if (out.code !== 3) throw new Error(`Cannot continue the demo: the rollout ended ${out.code}`);
    const status = await d.stagecoach(["rollout", "status", FLAG, "--env", "production"]);
    for (const l of status.lines.filter(Boolean).slice(0, 4)) say(l);
    const [n] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.notification_outbox where event_type = 'rollout.rolled_back'`;
    say(`rollout.rolled_back queued for ${n.n} notification endpoint(s); every step audited`);
  } finally {
    await sql.unsafe(`drop schema if exists demo_rollout cascade`);
    await sql.begin(async (tx) => {
      await tx`select ops.break_glass('demo: production samples as before')`;
      await tx`update ops.environments
               set watch_every = ${before.every}::interval, watch_breach_after = ${before.after}
               where name = 'production'`;
    });
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const production = localEnv("production");
  const sql = postgres(production.dbUrl, { max: 2, onnotice: () => {} });
  const password = "stagecoach-demo";
  const team = {
    operator: "olivia.operator@stagecoach.test",
    approvers: ["ada.approver@stagecoach.test", "bruno.approver@stagecoach.test"],
  };
  try {
    await ensureUser(sql, { email: team.operator, role: "operator", password });
    for (const email of team.approvers) {
      await ensureUser(sql, { email, role: "approver", password });
    }
    await demoRollout({
      production,
      sql,
      say: (text) => console.log(`   ${text}`),
      async stagecoach(args) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "scripts/stagecoach.ts", ...args],
          env: { NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        return { code: out.code, lines: text.split("\n") };
      },
      operator: team.operator,
      approvers: team.approvers,
      async approve(who, p) {
        const { access_token: token } = await userToken(sql, production, { email: who });
        const res = await requestOps(production, `/promotions/${p.id}/approve`, {
          token,
          body: { plan_hash: p.plan_hash, comment: "reviewed the rollout plan" },
        });
        return (res.body as { promotion: { status: string } }).promotion.status;
      },
    });
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    Deno.exitCode = 1;
  } finally {
    await sql.end();
  }
}
