/**
 * The ops-worker on the running development stack, called directly and as pg_cron calls it
 * (cron job command → net.http_post → gateway → function → ops.heartbeats).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, readKeys } from "../scripts/local/config.ts";

Deno.test("ops-worker records a heartbeat when called with the service-role key", async () => {
  const env = localEnv("development");
  const keys = await readKeys(env);
  const res = await fetch(`${env.functionsUrl}/ops-worker`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${keys.service_role_key}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ source: "integration_test" }),
  });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.ok, true);
  assert.ok(Math.abs(Date.parse(body.beat_at) - Date.now()) < 60_000, body.beat_at);
});

Deno.test("ops-worker refuses the anon key with 403", async () => {
  const env = localEnv("development");
  const keys = await readKeys(env);
  const res = await fetch(`${env.functionsUrl}/ops-worker`, {
    method: "POST",
    headers: { authorization: `Bearer ${keys.anon_key}` },
  });
  assert.equal(res.status, 403);
  assert.equal((await res.json()).error.code, "forbidden");
});

Deno.test("the ops-worker cron job's command reaches the worker, which records a fresh heartbeat", async () => {
  const env = localEnv("development");
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const [job] = await sql<{ command: string }[]>`
      select command from cron.job where jobname = 'ops-worker'`;
    assert.ok(job, "the ops-worker cron job is scheduled");
    const [{ started }] = await sql<{ started: Date }[]>`select now() as started`;
    // The job's command queues the request; it is delivered once this statement commits.
    const [queued] = await sql.unsafe(job.command);
    const requestId = String(Object.values(queued)[0]);

    const deadline = Date.now() + 20_000;
    let response: { status_code: number | null; error_msg: string | null } | undefined;
    while (!response && Date.now() < deadline) {
      [response] = await sql<{ status_code: number | null; error_msg: string | null }[]>`
        select status_code, error_msg from net._http_response where id = ${requestId}`;
      if (!response) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(response, `request ${requestId} was delivered`);
    assert.equal(response.status_code, 200, response.error_msg ?? "");

    const [beat] = await sql<{ beat_at: Date; details: { source: string; env: string } }[]>`
      select beat_at, details from ops.heartbeats
      where component = 'ops-worker' and beat_at >= ${started}`;
    assert.ok(beat, "a heartbeat newer than the call");
    assert.deepEqual(beat.details, { source: "pg_cron", env: "development" });
  } finally {
    await sql.end();
  }
});
