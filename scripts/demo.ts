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

  const envs = localEnvs(opts);
  const sql = Object.fromEntries(
    envs.map((env) => [env.name, postgres(env.dbUrl, { max: 2, onnotice: () => {} })]),
  );
  try {
    headline("2. The release team in each environment (Supabase Auth users + ops roles)");
    for (const env of envs) {
      for (const member of TEAM) {
        const user = await ensureUser(sql[env.name], { ...member, password: DEMO_PASSWORD });
        console.log(
          `   ${env.name.padEnd(12)} ${user.created ? "created" : "exists "} ` +
            `${user.email.padEnd(34)} ${user.ops_role}`,
        );
      }
    }

    headline("3. GET /functions/v1/ops/me: the gateway checks the JWT, RLS answers as the caller");
    for (const env of envs) {
      const { access_token } = await userToken(sql[env.name], env, { email: TEAM[0].email });
      const res = await fetch(`${env.functionsUrl}/ops/me`, {
        headers: { Authorization: `Bearer ${access_token}` },
      });
      console.log(`   ${env.name.padEnd(12)} operator token → ${res.status} ${await res.text()}`);
      const anon = await fetch(`${env.functionsUrl}/ops/me`);
      console.log(`   ${env.name.padEnd(12)} no token       → ${anon.status} ${await anon.text()}`);
    }

    headline("4. pg_cron's ops-worker job → net.http_post → the ops-worker function");
    for (const env of envs) {
      const db = sql[env.name];
      const [job] = await db`select schedule, command from cron.job where jobname = 'ops-worker'`;
      const [{ t0 }] = await db`select clock_timestamp() as t0`;
      // Run the job's own SQL now instead of waiting for the next minute.
      await db.unsafe(job.command);
      await waitFor("the ops-worker heartbeat", async () => {
        const [fresh] = await db`
          select from ops.heartbeats where component = 'ops-worker' and beat_at >= ${t0}`;
        return fresh !== undefined;
      }, { timeoutMs: 20_000 });
      const [beat] = await db`
        select beat_at, details from ops.heartbeats where component = 'ops-worker'`;
      console.log(
        `   ${env.name.padEnd(12)} job '${job.schedule}' → heartbeat ` +
          `${beat.beat_at.toISOString()} ${JSON.stringify(beat.details)}`,
      );
    }
  } finally {
    await Promise.all(Object.values(sql).map((db) => db.end()));
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
