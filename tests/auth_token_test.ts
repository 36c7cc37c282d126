/**
 * Supabase Auth's password sign-in on the running stack's development gateway:
 * `POST /auth/v1/token?grant_type=password`, as supabase-js `signInWithPassword` calls it.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient } from "@supabase/supabase-js";
import { localEnv, readKeys } from "../scripts/local/config.ts";
import { ensureUser } from "../scripts/local/auth.ts";
import { verifyJwt } from "../scripts/local/jwt.ts";

const env = localEnv("development");

async function withUser(run: (email: string, password: string) => Promise<void>): Promise<void> {
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const email = `signin-${crypto.randomUUID()}@stagecoach.test`;
  const password = `pw-${crypto.randomUUID()}`;
  try {
    await ensureUser(sql, { email, password, role: "viewer" });
    await run(email, password);
  } finally {
    await sql`delete from auth.users where email = ${email}`;
    await sql.end();
  }
}

function signIn(body: unknown, headers: Record<string, string>) {
  return fetch(`${env.apiUrl}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

Deno.test("password sign-in answers GoTrue's session with a token the gateway and ops accept", async () => {
  const keys = await readKeys(env);
  await withUser(async (email, password) => {
    const res = await signIn({ email, password }, { apikey: keys.anon_key });
    const session = await res.json();
    assert.equal(res.status, 200, JSON.stringify(session));
    assert.equal(session.token_type, "bearer");
    assert.equal(session.expires_in, 3600);
    assert.ok(Math.abs(session.expires_at - (Date.now() / 1000 + 3600)) < 60);
    assert.equal(typeof session.refresh_token, "string");
    assert.equal(session.user.email, email);
    const claims = await verifyJwt(keys.jwt_secret, session.access_token);
    assert.equal(claims.sub, session.user.id);
    assert.equal(claims.role, "authenticated");
    const me = await fetch(`${env.functionsUrl}/ops/me`, {
      headers: { authorization: `Bearer ${session.access_token}` },
    });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).role, "viewer");
  });
});

Deno.test("supabase-js signInWithPassword works against the gateway unmodified", async () => {
  const keys = await readKeys(env);
  await withUser(async (email, password) => {
    const client = createClient(env.apiUrl, keys.anon_key, {
      auth: { persistSession: false, autoRefreshToken: false },
    });
    const { data, error } = await client.auth.signInWithPassword({ email, password });
    assert.equal(error, null);
    assert.equal(data.user?.email, email);
    const wrong = await client.auth.signInWithPassword({ email, password: "nope" });
    assert.equal(wrong.error?.code, "invalid_credentials");
    assert.equal(wrong.error?.message, "Invalid login credentials");
  });
});

Deno.test("password sign-in refuses wrong passwords and unknown users alike, in GoTrue's shapes", async () => {
  const keys = await readKeys(env);
  await withUser(async (email) => {
    for (const who of [email, `nobody-${crypto.randomUUID()}@stagecoach.test`]) {
      const legacy = await signIn({ email: who, password: "wrong" }, { apikey: keys.anon_key });
      assert.equal(legacy.status, 400);
      assert.deepEqual(await legacy.json(), {
        code: 400,
        error_code: "invalid_credentials",
        msg: "Invalid login credentials",
      });
      const current = await signIn({ email: who, password: "wrong" }, {
        apikey: keys.anon_key,
        "x-supabase-api-version": "2024-01-01",
      });
      assert.equal(current.status, 400);
      assert.deepEqual(await current.json(), {
        code: "invalid_credentials",
        message: "Invalid login credentials",
      });
    }
    const noKey = await signIn({ email, password: "x" }, {});
    assert.equal(noKey.status, 401);
    assert.deepEqual(await noKey.json(), { message: "No API key found in request" });
  });
});
