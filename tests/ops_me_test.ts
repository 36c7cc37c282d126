/**
 * `GET /functions/v1/ops/me` on the running development stack: each user sees their own id,
 * email and ops role, read as the caller under RLS.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { localEnv, readKeys } from "../scripts/local/config.ts";
import { signAccessToken } from "../scripts/local/jwt.ts";

async function createUser(sql: postgres.Sql, label: string) {
  const id = crypto.randomUUID();
  const email = `${label}-${id.slice(0, 8)}@ops-me.test`;
  await sql`
    insert into auth.users (
      instance_id, id, aud, role, email, email_confirmed_at,
      raw_app_meta_data, raw_user_meta_data, created_at, updated_at
    ) values (
      '00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${email},
      now(), ${sql.json({ provider: "email", providers: ["email"] })}, ${sql.json({})}, now(), now()
    )`;
  return { id, email };
}

Deno.test("ops /me returns each caller's own id, email and ops role", async () => {
  const env = localEnv("development");
  const keys = await readKeys(env);
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const created: string[] = [];
  try {
    const approver = await createUser(sql, "approver");
    created.push(approver.id);
    const outsider = await createUser(sql, "outsider");
    created.push(outsider.id);
    await sql`insert into ops.members (user_id, role) values (${approver.id}, 'approver')`;

    for (
      const [user, role] of [[approver, "approver"], [outsider, null]] as const
    ) {
      const token = await signAccessToken(keys.jwt_secret, user, {
        apiUrl: env.apiUrl,
        sessionId: crypto.randomUUID(),
      });
      const res = await fetch(`${env.functionsUrl}/ops/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200, user.email);
      assert.deepEqual(await res.json(), { id: user.id, email: user.email, role });
    }
  } finally {
    if (created.length) await sql`delete from auth.users where id in ${sql(created)}`;
    await sql.end();
  }
});

Deno.test("ops /me refuses the anon key: it is not a user", async () => {
  const env = localEnv("development");
  const keys = await readKeys(env);
  const res = await fetch(`${env.functionsUrl}/ops/me`, {
    headers: { authorization: `Bearer ${keys.anon_key}` },
  });
  assert.equal(res.status, 401);
  const body = await res.json();
  assert.equal(body.error.code, "unauthorized");
  assert.deepEqual(body.error.details, { reason: "not_a_user" });
});
