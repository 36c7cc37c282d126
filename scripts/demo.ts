/**
 * `npm run demo`: the main job, told as a story on the local stack.
 *
 * For now (the foundation): start or reuse the three environments, give each an operator
 * and two approvers, call the `ops` function as one of them, let pg_cron's job reach the
 * `ops-worker` function through `net.http_post`, and print the status of the stack.
 * Later issues extend the story (promotions, Stripe, user copies).
 *
 * @module
 */
import postgres from "postgres";
import { localEnvs, stackOptionsFromEnv } from "./local/config.ts";
import { ensureUser, userToken } from "./local/auth.ts";
import { startStack } from "./local/stack.ts";
import { collectStatus, printStatus } from "./local/status.ts";
import { waitFor } from "./local/process.ts";

/** Password of the demo's team members on the local stack (never used outside it). */
const DEMO_PASSWORD = "stagecoach-demo";

const TEAM = [
  { email: "olivia.operator@stagecoach.test", role: "operator" as const },
  { email: "ada.approver@stagecoach.test", role: "approver" as const },
  { email: "bruno.approver@stagecoach.test", role: "approver" as const },
];

function headline(text: string): void {
  const bold = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m` : `\n== ${text}`);
}

async function main(): Promise<void> {
  const opts = stackOptionsFromEnv();
  headline("1. Start the local stack (three Supabase projects without Docker)");
  await startStack(opts, (line) => console.log(`   ${line}`));

  for (const env of localEnvs(opts)) {
    const sql = postgres(env.dbUrl, { max: 2, onnotice: () => {} });
    try {
      headline(`2. ${env.name}: the release team (Supabase Auth users + ops roles)`);
      for (const member of TEAM) {
        const user = await ensureUser(sql, { ...member, password: DEMO_PASSWORD });
        console.log(
          `   ${user.created ? "created" : "exists "} ${user.email.padEnd(34)} ${user.ops_role}`,
        );
      }

      headline(`3. ${env.name}: GET /functions/v1/ops/me as the operator (RLS decides)`);
      const { access_token } = await userToken(sql, env, { email: TEAM[0].email });
      const res = await fetch(`${env.functionsUrl}/ops/me`, {
        headers: { Authorization: `Bearer ${access_token}` },
      });
      console.log(`   ${res.status} ${await res.text()}`);
      const anon = await fetch(`${env.functionsUrl}/ops/me`);
      console.log(`   without a token: ${anon.status} ${await anon.text()}`);

      headline(`4. ${env.name}: pg_cron's ops-worker job → net.http_post → ops-worker`);
      const [job] = await sql`select command from cron.job where jobname = 'ops-worker'`;
      const [before] = await sql`
        select coalesce(max(beat_at), '-infinity') as at from ops.heartbeats
        where component = 'ops-worker'`;
      // Run the job's own SQL now instead of waiting for the next minute.
      await sql.unsafe(job.command);
      await waitFor("the ops-worker heartbeat", async () => {
        const [now] = await sql`
          select max(beat_at) as at from ops.heartbeats where component = 'ops-worker'`;
        return now.at !== null && new Date(now.at) > new Date(before.at);
      }, { timeoutMs: 20_000 });
      const [beat] = await sql`
        select beat_at, details from ops.heartbeats where component = 'ops-worker'`;
      console.log(`   heartbeat at ${beat.beat_at.toISOString()} ${JSON.stringify(beat.details)}`);
    } finally {
      await sql.end();
    }
  }

  headline("5. Status");
  const statuses = await collectStatus(opts);
  printStatus(statuses, { json: false });
  console.log(
    `\nSign in as any team member with password "${DEMO_PASSWORD}", or mint a token:\n` +
      `  npm run stagecoach -- token --env staging --email ${TEAM[1].email}`,
  );
  if (!statuses.every((s) => s.healthy)) {
    console.error("\ndemo: an environment is unhealthy (see above)");
    Deno.exit(1);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
