/**
 * supabase-js, unmodified, against the running stack's development API: `signInWithPassword`,
 * `getUser`, `refreshSession` (rotation and GoTrue's reuse rules), `signOut`, and
 * `functions.invoke` reaching `ops` with the user's session — what the console does.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { localConsoleOrigin, localEnv, readKeys } from "../scripts/local/config.ts";
import { ensureUser } from "../scripts/local/auth.ts";
import { verifyJwt } from "../scripts/local/jwt.ts";

const env = localEnv("development");

interface Fixture {
  sql: postgres.Sql;
  email: string;
  password: string;
  client: () => SupabaseClient;
}

async function withUser(run: (f: Fixture) => Promise<void>): Promise<void> {
  const keys = await readKeys(env);
  const sql = postgres(env.dbUrl, { max: 1, onnotice: () => {} });
  const email = `supabase-js-${crypto.randomUUID()}@stagecoach.test`;
  const password = `pw-${crypto.randomUUID()}`;
  try {
    await ensureUser(sql, { email, password, role: "viewer" });
    await run({
      sql,
      email,
      password,
      client: () =>
        createClient(env.apiUrl, keys.anon_key, {
          auth: { persistSession: false, autoRefreshToken: false },
        }),
    });
  } finally {
    await sql`delete from auth.users where email = ${email}`;
    await sql.end();
  }
}

/** Moves a refresh token's revocation into the past, beyond GoTrue's 10 s reuse interval. */
async function outlastReuseInterval(sql: postgres.Sql, token: string): Promise<void> {
  await sql`
    update auth.refresh_tokens set updated_at = now() - interval '1 minute' where token = ${token}`;
}

Deno.test("signInWithPassword stores a session and answers GoTrue's user; a wrong password is invalid_credentials", async () => {
  const keys = await readKeys(env);
  await withUser(async ({ sql, email, password, client }) => {
    const supabase = client();
    const wrong = await supabase.auth.signInWithPassword({ email, password: "nope" });
    assert.equal(wrong.error?.name, "AuthApiError");
    assert.equal(wrong.error?.code, "invalid_credentials");
    assert.equal(wrong.error?.status, 400);
    assert.equal(wrong.data.session, null);

    const { data, error } = await supabase.auth.signInWithPassword({ email, password });
    assert.equal(error, null);
    const session = data.session!;
    assert.match(session.refresh_token, /^[a-z0-9]{12}$/);
    assert.equal(data.user?.email, email);
    assert.equal(data.user?.aud, "authenticated");
    assert.equal(data.user?.identities?.[0]?.provider, "email");
    assert.ok(data.user?.email_confirmed_at);
    assert.ok(data.user?.last_sign_in_at);

    const claims = await verifyJwt(keys.jwt_secret, session.access_token);
    assert.equal(claims.sub, data.user?.id);
    const [stored] = await sql<{ user_id: string; revoked: boolean; parent: string | null }[]>`
      select s.user_id, rt.revoked, rt.parent
      from auth.sessions as s join auth.refresh_tokens as rt on rt.session_id = s.id
      where s.id = ${claims.session_id!} and rt.token = ${session.refresh_token}`;
    assert.deepEqual(stored, { user_id: data.user?.id, revoked: false, parent: null });
  });
});

Deno.test("getUser reads the signed-in user; functions.invoke reaches ops with the session", async () => {
  await withUser(async ({ email, password, client }) => {
    const supabase = client();
    await supabase.auth.signInWithPassword({ email, password });
    const { data, error } = await supabase.auth.getUser();
    assert.equal(error, null);
    assert.equal(data.user?.email, email);
    assert.equal(data.user?.role, "authenticated");
    assert.deepEqual(data.user?.app_metadata, { provider: "email", providers: ["email"] });

    const me = await supabase.functions.invoke("ops/me", { method: "GET" });
    assert.equal(me.error, null);
    assert.deepEqual(me.data, { id: data.user?.id, email, role: "viewer" });
  });
});

Deno.test("refreshSession rotates; the old token is handed the active one, then refused once the reuse interval passed", async () => {
  await withUser(async ({ sql, email, password, client }) => {
    const supabase = client();
    const first = (await supabase.auth.signInWithPassword({ email, password })).data.session!;
    const { data, error } = await supabase.auth.refreshSession();
    assert.equal(error, null);
    const second = data.session!;
    assert.notEqual(second.refresh_token, first.refresh_token);
    // Within the same second the access token may be byte for byte the first one (as GoTrue's
    // would): same user, same session, same iat.
    const keys = await readKeys(env);
    assert.equal(
      (await verifyJwt(keys.jwt_secret, second.access_token)).session_id,
      (await verifyJwt(keys.jwt_secret, first.access_token)).session_id,
    );
    const [child] = await sql<{ parent: string; old_revoked: boolean }[]>`
      select rt.parent, old.revoked as old_revoked
      from auth.refresh_tokens as rt join auth.refresh_tokens as old on old.token = rt.parent
      where rt.token = ${second.refresh_token}`;
    assert.deepEqual(child, { parent: first.refresh_token, old_revoked: true });

    // The client lost the answer: GoTrue hands the parent's holder the active token again.
    const again = await client().auth.refreshSession({ refresh_token: first.refresh_token });
    assert.equal(again.error, null);
    assert.equal(again.data.session?.refresh_token, second.refresh_token);

    // Rotate once more: the first token is now a grandparent, and its reuse interval is over.
    const third = (await supabase.auth.refreshSession()).data.session!;
    await outlastReuseInterval(sql, first.refresh_token);
    const reused = await client().auth.refreshSession({ refresh_token: first.refresh_token });
    assert.equal(reused.error?.name, "AuthApiError");
    assert.equal(reused.error?.code, "refresh_token_already_used");
    assert.equal(reused.error?.message, "Invalid Refresh Token: Already Used");
    // Reuse revoked the whole family: the latest token is refused too.
    await outlastReuseInterval(sql, third.refresh_token);
    const family = await client().auth.refreshSession({ refresh_token: third.refresh_token });
    assert.equal(family.error?.code, "refresh_token_already_used");
  });
});

Deno.test("signOut ends the session: its access token is refused by getUser and its refresh token by refresh", async () => {
  await withUser(async ({ email, password, client }) => {
    const supabase = client();
    const session = (await supabase.auth.signInWithPassword({ email, password })).data.session!;
    const { error } = await supabase.auth.signOut();
    assert.equal(error, null);

    // GoTrue answers 403 session_not_found; supabase-js reports it as a missing session.
    const user = await client().auth.getUser(session.access_token);
    assert.equal(user.error?.name, "AuthSessionMissingError");
    assert.equal(user.data.user, null);
    const raw = await fetch(`${env.apiUrl}/auth/v1/user`, {
      headers: {
        apikey: (await readKeys(env)).anon_key,
        authorization: `Bearer ${session.access_token}`,
        "x-supabase-api-version": "2024-01-01",
      },
    });
    assert.equal(raw.status, 403);
    assert.deepEqual(await raw.json(), {
      code: "session_not_found",
      message: "Session from session_id claim in JWT does not exist",
    });

    const refreshed = await client().auth.refreshSession({ refresh_token: session.refresh_token });
    assert.equal(refreshed.error?.code, "refresh_token_not_found");
    assert.equal(refreshed.error?.message, "Invalid Refresh Token: Refresh Token Not Found");
  });
});

Deno.test("signOut({ scope: 'others' }) ends the user's other sessions only", async () => {
  await withUser(async ({ email, password, client }) => {
    const mine = client();
    const other = client();
    await mine.auth.signInWithPassword({ email, password });
    const otherSession = (await other.auth.signInWithPassword({ email, password })).data.session!;
    assert.equal((await mine.auth.signOut({ scope: "others" })).error, null);
    assert.equal((await mine.auth.getUser()).error, null);
    const gone = await client().auth.getUser(otherSession.access_token);
    assert.equal(gone.error?.name, "AuthSessionMissingError");
    const refresh = await client().auth.refreshSession({
      refresh_token: otherSession.refresh_token,
    });
    assert.equal(refresh.error?.code, "refresh_token_not_found");
  });
});

Deno.test("ops answers the local console's origin with CORS through the gateway, and no other origin", async () => {
  const preflight = (origin: string) =>
    fetch(`${env.functionsUrl}/ops/me`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization,x-client-info,apikey,content-type",
      },
    });
  const allowed = await preflight(localConsoleOrigin());
  await allowed.body?.cancel();
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get("access-control-allow-origin"), localConsoleOrigin());
  const other = await preflight("http://127.0.0.1:1");
  await other.body?.cancel();
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});
